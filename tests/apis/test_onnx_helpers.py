"""ONNX export helpers that run without the onnx extra: attribute patch, names, clear errors."""
import sys

import pytest

from paddlexseg.apis import backends, onnx_export
from paddlexseg.apis.export import export_model
from paddlexseg.registry import ConfigError


def test_float_attributes_are_marked_32_bit():
    text = ('{"#":"1.leaky_relu","A":[{"AT":{"#":"0.a_f64","D":0.1},"N":"negative_slope"}]},'
            '{"#":"1.group_norm","A":[{"AT":{"#": "0.a_f64","D":1e-05},"N":"epsilon"},'
            '{"AT":{"#":"0.a_i32","D":4},"N":"groups"}]}')
    out = onnx_export.patch_float_attributes(text)
    assert "a_f64" not in out and out.count('"#":"0.a_f32"') == 2
    assert '"0.a_i32"' in out and '"D":0.1' in out and '"D":1e-05' in out


def test_output_names():
    assert onnx_export.output_names({"family": "range", "output_op": "argmax"}) == ["labels"]
    assert onnx_export.output_names({"family": "image", "output_op": "softmax"}) == ["probs"]
    assert onnx_export.output_names({"family": "range", "output_op": "none"}) == ["logits"]
    assert onnx_export.output_names({"family": "event", "output_op": "none"}) == ["descriptor"]
    # a family with several outputs names them in deploy.yaml
    multi = {"family": "detection", "output_op": "none", "output_names": ["cls", "box", "dir"]}
    assert onnx_export.output_names(multi) == ["cls", "box", "dir"]


def test_missing_extra_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install -e \.\[onnx\]"):
        onnx_export.require_onnx()
    with pytest.raises(ConfigError, match=r"--backend onnxruntime needs the onnx extra"):
        backends.require_onnxruntime()
    cfg = {"model": {"type": "EventVPR"}, "val_dataset": {"type": "MVSECPlaces"}}
    with pytest.raises(ConfigError, match=r"--format onnx needs the onnx extra"):
        export_model(cfg, None, "unused", fmt="onnx")


def test_unknown_format_and_est_input_are_rejected():
    cfg = {"model": {"type": "EventVPR", "quantization": "est"},
           "val_dataset": {"type": "MVSECPlaces"}}
    with pytest.raises(ConfigError, match="--format: expected one of paddle, onnx"):
        export_model(cfg, None, "unused", fmt="tflite")
    with pytest.raises(ConfigError, match="only 'fixed' .voxel grid input. is exported"):
        export_model(cfg, None, "unused")


def test_class_ids():
    import numpy as np
    scores = np.zeros((1, 3, 2, 2), np.float32)
    scores[0, 2, 0, 1] = 1.0
    ids = backends.class_ids(scores, "none")
    assert ids.dtype == np.int64 and ids.tolist() == [[[0, 2], [0, 0]]]
    labels = np.array([[[1, 2]]], np.int32)
    assert backends.class_ids(labels, "argmax").dtype == np.int64
