"""SECOND's dense part (BEV features -> head maps) exported to ONNX equals dygraph in ONNX Runtime."""
import os
import sys

import numpy as np
import paddle
import pytest
import yaml

pytest.importorskip("onnxruntime")
pytest.importorskip("paddle2onnx")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from second_tiny import tiny_model_cfg  # noqa: E402

from paddlexseg.apis.export import export_model  # noqa: E402
from paddlexseg.apis.det_export import DenseDetector  # noqa: E402
from paddlexseg.engine import builder  # noqa: E402
from paddlexseg.engine.checkpoint import load_model_weights  # noqa: E402


def test_second_dense_part_onnx_equals_dygraph(tmp_path):
    import onnxruntime as ort
    paddle.seed(0)
    cfg = {"model": tiny_model_cfg(), "val_dataset": {"class_names": ["Car"]}}
    model = builder.build_model(cfg)
    weights = str(tmp_path / "w.pdparams")
    paddle.save(model.state_dict(), weights)
    save = str(tmp_path / "export")
    export_model(cfg, weights, save, fmt="onnx")
    info = yaml.safe_load(open(os.path.join(save, "deploy.yaml")))["Deploy"]
    assert info["onnx"]["output_names"] == info["output_names"]
    shape = [2] + list(info["input_shape"][1:])
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(os.path.join(save, "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    got = session.run(info["output_names"], {info["input_name"]: x})
    ref_model = builder.build_model(cfg)
    load_model_weights(ref_model, weights)
    ref_model.eval()
    with paddle.no_grad():
        ref = DenseDetector(ref_model)(paddle.to_tensor(x))
    assert len(got) == 3
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r.numpy(), rtol=1e-4, atol=1e-5)
