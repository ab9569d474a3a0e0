import glob
import math
import os

import numpy as np
import paddle
import pytest

import paddlexseg
from paddlexseg.config import load_config
from paddlexseg.losses.composer import LossComposer
from paddlexseg.models.twodpass.model import TwoDPASS, scan_predictions, tta_views
from paddlexseg.registry import DATASETS, METRICS, MODELS, check_kwargs
from paddlexseg.structures import FusionBatch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "twodpass", "*.yml")))
TINY = dict(num_classes=6, hidden_size=8, spatial_shape=[40, 40, 8], min_volume=[-10, -10, -2],
            max_volume=[10, 10, 1])


def _inputs(n=400, seed=0):
    """Two scans, 32 x 48 images, 60 image points with their pixels and labels."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-10, -10, -2], [10, 10, 1], (n, 3))
    points = np.concatenate([xyz, rng.uniform(0, 1, (n, 1))], 1).astype(np.float32)
    p2i = np.sort(rng.choice(n, 60, replace=False))
    return {"points": paddle.to_tensor(points),
            "batch_idx": paddle.to_tensor(np.repeat([0, 1], n // 2)),
            "img": paddle.to_tensor(rng.normal(size=(2, 3, 32, 48)).astype(np.float32)),
            "img_indices": paddle.to_tensor(np.stack([rng.integers(0, 32, 60),
                                                      rng.integers(0, 48, 60)], 1)),
            "point2img_index": paddle.to_tensor(p2i)}, rng.integers(0, 6, n)


class _Batch:
    def __init__(self, labels, p2i):
        self.labels = paddle.to_tensor(labels)
        self.img_labels = paddle.to_tensor(labels[p2i])


def _losses():
    cfg = load_config(os.path.join(ROOT, "configs/twodpass/twodpass_4scale64_semantickitti.yml"))
    for entry in cfg["losses"]:
        if "class_counts" in entry:
            entry["class_counts"] = [0, 5, 4, 3, 2, 1]
    return LossComposer(cfg["losses"])


def test_training_outputs_losses_and_gradients():
    paddle.seed(0)
    model = TwoDPASS(**TINY)
    model.train()
    inputs, labels = _inputs()
    out = model(**inputs)
    assert out["logits"].shape == [400, 6] and out["fuse_logits"].shape == [60, 6]
    for key in ("scale_logits", "scale_inv", "scale_point_logits", "scale_fuse_logits"):
        assert len(out[key]) == 4
    assert all(t.shape == [60, 6] for t in out["scale_fuse_logits"])
    total, terms = _losses()(out, _Batch(labels, inputs["point2img_index"].numpy()))
    assert sorted(terms) == ["fuse_ce", "fuse_lovasz", "main_ce", "main_lovasz", "seg_2d",
                             "seg_3d", "xm"]
    assert all(np.isfinite(v.item()) for v in terms.values())
    total.backward()
    for name in ("model_2d.conv1.weight", "model_2d.deconv_layer4.0.weight",
                 "fusion.leaners.3.0.weight", "fusion.multihead_3d_classifier.0.2.weight",
                 "fusion.classifier.0.weight", "model_3d.spv_enc.0.v_enc.0.layers.0.weight"):
        param = dict(model.named_parameters())[name]
        assert param.grad is not None and float(param.grad.abs().sum()) > 0, name


def test_lidar_only_inference_baseline_and_errors():
    paddle.seed(1)
    model = TwoDPASS(**TINY)
    inputs, _ = _inputs(seed=1)
    model.eval()
    with paddle.no_grad():
        out = model(inputs["points"], inputs["batch_idx"])                 # no image at all
    assert list(out) == ["logits"] and out["logits"].shape == [400, 6]
    model.train()
    with pytest.raises(ValueError, match="baseline_only"):
        model(inputs["points"], inputs["batch_idx"])
    base = TwoDPASS(baseline_only=True, **TINY)
    assert not hasattr(base, "model_2d") and not hasattr(base, "fusion")
    base.train()
    assert list(base(**inputs)) == ["logits"]
    with pytest.raises(ValueError, match="no 2D features"):
        TwoDPASS(scale_list=[2, 3], **TINY)


def test_six_scales_share_the_coarsest_image_features():
    paddle.seed(2)
    model = TwoDPASS(scale_list=[2, 4, 8, 16, 16, 16], **TINY)
    model.train()
    inputs, _ = _inputs(seed=2)
    out = model(**inputs)
    assert len(out["scale_fuse_logits"]) == 6 and len(model.fusion.fcs1) == 6
    assert model.fusion.classifier[0].weight.shape == [8 * 6, 128]


def test_test_time_augmentation():
    views = tta_views(4)
    assert views[0] == (0.0, False, False, 1.0)
    assert [v[1:3] for v in views] == [(False, False), (True, False), (False, True),
                                       (True, True)]
    assert math.isclose(views[1][0], math.pi / 2)
    paddle.seed(3)
    model = TwoDPASS(baseline_only=True, **TINY)
    model.eval()
    inputs, _ = _inputs(seed=3)
    with paddle.no_grad():
        plain = model(inputs["points"], inputs["batch_idx"])["logits"].numpy()
        model.num_vote = 1
        assert np.allclose(model(inputs["points"], inputs["batch_idx"])["logits"].numpy(), plain)
        model.num_vote = 4
        voted = model(inputs["points"], inputs["batch_idx"])["logits"].numpy()
        # the mean of the four views, view 0 being the plain forward
        singles = [model.model_3d(_view(inputs["points"], v), inputs["batch_idx"], 2)["logits"]
                   .numpy() for v in views]
    assert voted.shape == plain.shape
    assert np.allclose(singles[0], plain, atol=1e-5)
    assert np.allclose(voted, np.mean(singles, axis=0), atol=1e-4)


def _view(points, view):
    from paddlexseg.models.twodpass.model import _apply_view
    return _apply_view(points, view)


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_configs_build(path):
    paddlexseg.load_all()
    cfg = load_config(path)
    LossComposer(cfg["losses"])
    METRICS.build(cfg["metric"], path="metric")
    model_cfg = dict(cfg["model"])
    check_kwargs(MODELS.get(model_cfg.pop("type")), model_cfg, "model")
    for key in ("train_dataset", "val_dataset"):
        ds_cfg = dict(cfg[key])
        check_kwargs(DATASETS.get(ds_cfg.pop("type")), ds_cfg, key)
    assert cfg["model"]["type"] == "TwoDPASS"


def test_no_image_points_and_full_length_predictions():
    paddle.seed(4)
    model = TwoDPASS(**TINY)
    model.train()
    inputs, labels = _inputs(seed=4)
    inputs["img_indices"] = paddle.zeros([0, 2], "int64")
    inputs["point2img_index"] = paddle.zeros([0], "int64")
    out = model(**inputs)
    assert out["fuse_logits"].shape == [0, 6]
    total, terms = _losses()(out, _Batch(labels, np.zeros(0, np.int64)))
    assert np.isfinite(total.item()) and terms["xm"].item() == 0.0
    batch = FusionBatch(points=inputs["points"], batch_idx=inputs["batch_idx"],
                        point_index=paddle.to_tensor(np.concatenate([np.arange(200) * 2,
                                                                     np.arange(200)])),
                        origin_lens=[401, 200], paths=["a.bin", "b.bin"])
    logits = paddle.to_tensor(np.eye(6, dtype=np.float32)[labels])
    preds = scan_predictions(logits, batch)
    assert [p for p, _, _ in preds] == ["a.bin", "b.bin"] and preds[0][1].shape == (401,)
    assert np.array_equal(preds[0][1][::2][:200], labels[:200]) and preds[0][1][1::2].max() == 0
    assert np.array_equal(preds[1][1], labels[200:])
