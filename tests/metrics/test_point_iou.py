import numpy as np
import paddle
import pytest

from paddlexseg.metrics.point_iou import PointIoU
from paddlexseg.registry import ConfigError
from paddlexseg.structures import FusionBatch


def _batch(labels, points=None):
    n = len(labels)
    points = np.zeros((n, 4), np.float32) if points is None else points
    return FusionBatch(points=paddle.to_tensor(points), batch_idx=paddle.zeros([n], "int64"),
                       labels=paddle.to_tensor(np.asarray(labels, np.int64)), paths=["a"])


def _logits(pred, c):
    return {"logits": paddle.to_tensor(np.eye(c, dtype=np.float32)[np.asarray(pred)])}


def test_perfect_and_partial_prediction():
    metric = PointIoU(label_config=None, class_names=["unl", "a", "b", "c"])
    labels = [1, 1, 2, 2, 3, 0]
    metric.update(_logits([1, 1, 2, 2, 3, 3], 4), _batch(labels))
    res = metric.compute()
    assert res["mIoU"] == pytest.approx(1.0) and res["IoU/a"] == pytest.approx(1.0)
    metric.reset()
    metric.update(_logits([1, 2, 2, 2, 3, 1], 4), _batch(labels))
    res = metric.compute()
    # a: tp 1, fn 1 -> 0.5; b: tp 2, fp 1 -> 2/3; c: 1
    assert res["IoU/a"] == pytest.approx(0.5) and res["IoU/b"] == pytest.approx(2 / 3)
    assert res["mIoU"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert "IoU/unl" not in res and "unl" not in metric.report().split("\n")[1]


def test_predictions_of_ignored_class_dropped_like_2dpass():
    labels = [1, 1, 2]
    pred = [0, 1, 2]                      # a point predicted as the ignored class 0
    crop = PointIoU(label_config=None, class_names=["u", "a", "b"], zero_ignored_rows=True)
    bench = PointIoU(label_config=None, class_names=["u", "a", "b"], zero_ignored_rows=False)
    for m in (crop, bench):
        m.update(_logits(pred, 3), _batch(labels))
    assert crop.compute()["IoU/a"] == pytest.approx(1.0)      # 2DPASS fast_hist_crop
    assert bench.compute()["IoU/a"] == pytest.approx(0.5)     # official benchmark: a miss


def test_label_config_images_and_errors():
    metric = PointIoU(label_config="semantic-kitti")
    assert metric.num_classes == 20 and metric.ignore == [0]
    rng = np.random.default_rng(0)
    pts = rng.uniform(-40, 40, (50, 4)).astype(np.float32)
    labels = rng.integers(0, 20, 50)
    metric.update(_logits(labels, 20), _batch(labels, pts))
    img = metric.images()["val/bev_prediction"]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    with pytest.raises(KeyError, match="logits"):
        metric.update({"out": None}, _batch(labels))
    with pytest.raises(ValueError, match="labels"):
        metric.update(_logits([1], 20), FusionBatch(points=paddle.zeros([1, 4]),
                                                     batch_idx=paddle.zeros([1], "int64")))
    with pytest.raises(ConfigError, match="label_config or class_names"):
        PointIoU(label_config=None)
