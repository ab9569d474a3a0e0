"""Paddle Inference on oneDNN (paddlexseg.apis.inference) against the dygraph models."""
import os

import numpy as np
import paddle
import pytest

import paddlexseg.models  # noqa: F401  (registers models and backbones)
from paddlexseg.apis import inference
from paddlexseg.apis.export import ExportWrapper, _save_static_layer
from paddlexseg.registry import MODELS, ConfigError

# every exportable family on tiny shapes: (model config, input name, input shape)
FAMILIES = {
    "rangenet": ({"type": "RangeNet", "num_classes": 20,
                  "backbone": {"type": "DarkNet", "layers": 21, "width_mult": 0.125}},
                 "range_img", [2, 5, 8, 64]),
    "squeezesegv3": ({"type": "SqueezeSegV3", "num_classes": 6,
                      "backbone": {"type": "SACNet", "layers": 21}}, "range_img", [1, 5, 4, 32]),
    "pointrend": ({"type": "PointRendFPN", "backbone": {"type": "ResNet", "depth": 18},
                   "num_classes": 19, "fpn_channels": 32, "head_conv_dims": 32, "fc_dim": 16,
                   "subdivision_steps": 2, "subdivision_num_points": 256},
                  "image", [1, 3, 64, 96]),
    "event_vpr": ({"type": "EventVPR", "in_bins": 3, "backbone": {"type": "ResNet", "depth": 18},
                   "crop_size": 32, "num_clusters": 4, "dim": 512}, "voxels", [2, 3, 30, 40]),
}


def _model(name, seed=0):
    cfg, input_name, shape = FAMILIES[name]
    paddle.seed(seed)
    model = MODELS.build(dict(cfg))
    model.eval()
    x = paddle.to_tensor(np.random.default_rng(seed).standard_normal(shape).astype("float32"))
    return model, input_name, x


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_onednn_inference_equals_dygraph(name):
    model, input_name, x = _model(name)
    with paddle.no_grad():
        expected = model(**{input_name: x})
    wrapped = inference.InferenceModel(model, onednn=True)
    try:
        got = wrapped(**{input_name: x})
        assert list(got) == list(expected)
        for key in expected:
            np.testing.assert_allclose(got[key].numpy(), expected[key].numpy(), rtol=1e-4,
                                       atol=2e-5, err_msg=f"{name}: output {key}")
        if "logits" in expected:  # class decisions identical
            np.testing.assert_array_equal(got["logits"].numpy().argmax(1),
                                          expected["logits"].numpy().argmax(1))
        # DarkNet has no resize, and event VPR resizes by index gathers (ops/resize.py): full
        # oneDNN placement; the others resize (F.interpolate)
        program = os.path.join(wrapped.workdir, "model_0", "model.json")
        passes = inference.onednn_passes_to_delete(program)
        assert ("onednn_placement_pass" in passes) == (name not in ("rangenet", "event_vpr"))
        if name == "rangenet":  # another batch size reuses the predictor
            x2 = paddle.concat([x, x * 0.5])
            again = wrapped(**{input_name: x2})
            assert len(wrapped._predictors) == 1
            with paddle.no_grad():
                ref2 = model(**{input_name: x2})["logits"]
            np.testing.assert_allclose(again["logits"].numpy(), ref2.numpy(), rtol=1e-4,
                                       atol=2e-5)
    finally:
        wrapped.close()


def test_conv_leaky_relu_on_onednn(tmp_path):
    """conv + LeakyReLU, the pattern whose oneDNN fuse pass segfaults: on and off agree."""
    input_name = "range_img"
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal([1, 5, 4, 8]).astype("float32"))
    spec = [paddle.static.InputSpec([None, 5, 4, 8], "float32", name=input_name)]

    class Conv(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.conv = paddle.nn.Conv2D(5, 4, 3, padding=1)

        def forward(self, range_img):
            return {"logits": paddle.nn.functional.leaky_relu(self.conv(range_img), 0.1)}

    conv = Conv()
    _save_static_layer(lambda: ExportWrapper(conv, input_name, output_op="none"),
                       str(tmp_path / "conv" / "model"), spec)
    path = str(tmp_path / "conv" / "model.json")
    assert inference.program_ops(path) >= {"conv2d", "leaky_relu"}
    assert inference.onednn_passes_to_delete(path) == ["conv_activation_onednn_fuse_pass"]
    outs = [inference.run_predictor(inference.create_predictor(
        path, str(tmp_path / "conv" / "model.pdiparams"), threads=1, onednn=flag),
        [x.numpy()])[0] for flag in (True, False)]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0], conv(x)["logits"].numpy(), rtol=1e-5, atol=1e-6)


def test_with_backend_and_eval_only():
    model, _, _ = _model("rangenet")
    assert inference.with_backend(model, "dygraph") is model
    wrapped = inference.with_backend(model, "inference")
    assert isinstance(wrapped, inference.InferenceModel) and not wrapped.training
    assert wrapped.eval() is wrapped and wrapped.num_classes == 20  # model attributes pass
    with pytest.raises(RuntimeError, match="eval mode only"):
        wrapped.train()
    wrapped.close()
    with pytest.raises(ConfigError, match="--backend: expected one of dygraph, inference"):
        inference.with_backend(model, "onnx")
