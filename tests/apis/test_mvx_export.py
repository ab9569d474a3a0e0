"""MVX-Net export (apis/mvx_export.py): the front program (dynamic scatter inside) and the dense
program run by Paddle Inference equal dygraph within 1e-4 (of the largest value) on one tiny
synthetic frame, for PointFusion and a BEV-level variant (ChannelExchange); with ONNX installed
the dense part's model.onnx equals it too and the front's segment_pool is reported; modules
without a graph form are refused."""
import importlib.util
import os
import sys

import numpy as np
import paddle
import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from second_tiny import CAR, random_frame  # noqa: E402
from test_fusion_zoo import ZOO  # noqa: E402
from test_mvxnet import IMG_H, IMG_W, tiny_calib, tiny_mvx_cfg  # noqa: E402

from paddlexseg.apis.det_predict import image_settings, model_inputs  # noqa: E402
from paddlexseg.apis.export import export_model  # noqa: E402
from paddlexseg.apis.mvx_deploy import FusionRunner, run_named  # noqa: E402
from paddlexseg.apis.mvx_export import export_blockers, export_fusion_detector  # noqa: E402
from paddlexseg.engine.builder import build_model  # noqa: E402
from paddlexseg.models.fusion.projection import lidar2img  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402

VARIANTS = ["PointFusion", "ChannelExchange"]
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("paddle2onnx", "onnxruntime", "onnx"))


def variant_cfg(name):
    cfg = tiny_mvx_cfg()
    if name in ZOO and "bev_fusion" in ZOO[name]:
        cfg["pts_voxel_encoder"]["fusion_layer"] = None
        cfg["pts_middle_encoder"]["in_channels"] = 16
        cfg["bev_fusion"] = ZOO[name]["bev_fusion"]
    elif name in ZOO:
        cfg["pts_voxel_encoder"]["fusion_layer"] = ZOO[name]["pts_voxel_encoder"]["fusion_layer"]
    return {"model": cfg, "val_dataset": {"image_size": [IMG_W, IMG_H]}}


def _frame():
    rng = np.random.default_rng(0)
    pts = random_frame(rng, 800, CAR).numpy()
    pts = np.concatenate([pts, pts[:5] + [100, 0, 0, 0]]).astype(np.float32)   # 5 outside
    image = rng.integers(0, 255, (2 * IMG_H, 2 * IMG_W, 3)).astype(np.uint8)    # resized x0.5
    return pts, tiny_calib(), image


def _close(got, ref):
    """|got - ref| <= 1e-4 x the largest |ref| (maps of random-init models are small)."""
    scale = float(np.abs(ref).max())
    assert scale > 0 and np.abs(got - ref).max() <= 1e-4 * scale


@pytest.fixture(scope="module", params=VARIANTS)
def exported(request, tmp_path_factory):
    """(config, dygraph model in eval mode, export folder, Deploy dict) of one variant."""
    tmp = tmp_path_factory.mktemp(f"mvx_export_{request.param}")
    paddle.seed(0)
    cfg = variant_cfg(request.param)
    model = build_model(cfg)
    head = model.pts_bbox_head
    for conv in (head.conv_cls, head.conv_reg, head.conv_dir_cls):   # non-constant head maps
        conv.weight.set_value(paddle.randn(conv.weight.shape) * 0.1)
    weights = str(tmp / "w.pdparams")
    paddle.save(model.state_dict(), weights)
    save = str(tmp / "export")
    export_model(cfg, weights, save, fmt="onnx" if HAS_ONNX else "paddle")
    info = yaml.safe_load(open(os.path.join(save, "deploy.yaml")))["Deploy"]
    model.eval()
    return cfg, model, save, info


def test_exported_programs_equal_dygraph(exported):
    cfg, model, save, info = exported
    runner = FusionRunner(save, info)
    pts, calib, image = _frame()
    inputs = model_inputs(model, pts, calib, image, image_settings(cfg))
    with paddle.no_grad():
        ref = model(**inputs)
        img_feats, pad = model.extract_img_feat(inputs["images"])
        kept, feats, coors = model.voxelize(inputs["points"])
        use = img_feats if model.pts_voxel_encoder.fusion_layer is not None else None
        voxel_feats, voxel_coors = model.pts_voxel_encoder(feats, coors, kept, use,
                                                           inputs["metas"], pad)
    img, meta = runner.camera(image, calib)
    front = dict(zip(runner.front_outputs, run_named(runner.front, {
        "points": pts, "image": img, "lidar2img": lidar2img(calib),
        "img_meta": np.asarray(meta["scale_factor"], np.float64)})))
    np.testing.assert_array_equal(front["voxel_coors"], voxel_coors.numpy())
    _close(front["voxel_feats"], voxel_feats.numpy())
    with paddle.no_grad():
        bev = runner.model.pts_middle_encoder(paddle.to_tensor(front["voxel_feats"]),
                                              paddle.to_tensor(front["voxel_coors"]), 1)
    feeds = dict(front, spatial_features=bev.numpy())
    maps = run_named(runner.dense, {k: feeds[k] for k in runner.dense_inputs})
    for key, got in zip(("cls_score", "bbox_pred", "dir_cls_pred"), maps):
        _close(got, ref[key].numpy())
    det, want = runner(pts, calib, image), ref["detections"][0]
    np.testing.assert_allclose(np.sort(det["scores_3d"]), np.sort(want["scores_3d"]),
                               atol=1e-4)


@pytest.mark.skipif(not HAS_ONNX, reason="needs paddle2onnx, onnx and onnxruntime")
def test_onnx_dense_part_equals_paddle_and_front_error_is_named(exported):
    import onnxruntime as ort
    _, _, save, info = exported
    section = info["onnx"]
    if section["front"] is None:          # paddle2onnx 2.1.0: no converter for segment_pool
        assert "segment_pool" in section["front_error"]
    rng = np.random.default_rng(2)
    feeds = {}
    for inp in ort.InferenceSession(os.path.join(save, "model.onnx"),
                                    providers=["CPUExecutionProvider"]).get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in inp.shape]
        feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    session = ort.InferenceSession(os.path.join(save, "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    got = session.run(section["output_names"], feeds)
    runner = FusionRunner(save, info)
    ref = run_named(runner.dense, feeds)
    assert len(got) == 3
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)


def test_learnable_align_graph_form_equals_eager():
    """LearnableAlign's traced branch (graph dynamic scatter) equals its eager forward, points
    outside its own range (their frame's extra voxel) included."""
    from paddlexseg.models.fusion.learnable_align import LearnableAlign

    class Wrap(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.la = LearnableAlign(img_channels=8, pts_channels=16, out_channels=16,
                                     embed_channels=8, img_levels=[0], voxel_size=[0.5] * 3,
                                     point_cloud_range=[0, -2, -3, 4, 2, 1])

        def forward(self, img, pts, feats, grid):
            return self.la([img], [pts], feats, [{"sample_grid": grid}], (16, 24))

    paddle.seed(0)
    rng = np.random.default_rng(1)
    pts = rng.uniform([-1, -3, -3, 0], [5, 3, 1, 1], (300, 4)).astype(np.float32)  # some out
    args = [paddle.to_tensor(a) for a in (rng.standard_normal((1, 8, 16, 24)), pts,
                                          rng.standard_normal((300, 16)),
                                          rng.uniform(-1.2, 1.2, (300, 2)))]
    args = [a.astype("float32") for a in args]
    layer = Wrap()
    layer.eval()
    with paddle.no_grad():
        ref = layer(*args).numpy()
    specs = [paddle.static.InputSpec([1, 8, 16, 24], "float32"),
             paddle.static.InputSpec([None, 4], "float32"),
             paddle.static.InputSpec([None, 16], "float32"),
             paddle.static.InputSpec([None, 2], "float32")]
    got = paddle.jit.to_static(layer, input_spec=specs, full_graph=True)(*args).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,where", [
    ("GraphBEVFusion-FusionGNN-aligned", "model.bev_fusion.pre_fusion")])
def test_modules_without_graph_form_are_named(name, where, tmp_path):
    cfg = variant_cfg(name)
    found = export_blockers(build_model(cfg))
    assert found and found[0][0] == where
    with pytest.raises(ConfigError, match=f"^{where}: .* cannot be exported: "):
        export_fusion_detector(cfg, None, str(tmp_path / "export"))
    assert not os.path.exists(tmp_path / "export")


def test_export_needs_an_image_size(tmp_path):
    cfg = variant_cfg("PointFusion")
    cfg["val_dataset"].pop("image_size")
    with pytest.raises(ConfigError, match="--input_shape"):
        export_fusion_detector(cfg, None, str(tmp_path / "export"))
