"""IoU functions against the official evaluator's formulas, and the RangeIoU metric."""
import sys
import types

import numpy as np
import paddle
import pytest

from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.metrics.iou import RangeIoU, confusion_matrix, iou_from_confusion
from paddlexseg.registry import METRICS, ConfigError
from paddlexseg.structures import RangeBatch, ScanPoints


def official(pred, label, n, ignore, zero_rows=False):
    """semantic-kitti-api np_ioueval (zero_rows=False) / lidar-bonnetal ioueval (True)."""
    conf = np.zeros((n, n), np.int64)
    np.add.at(conf, (pred.reshape(-1), label.reshape(-1)), 1)
    conf = conf.astype(np.float64)
    conf[:, ignore] = 0
    if zero_rows:
        conf[ignore] = 0
    tp = np.diag(conf)
    fp = conf.sum(1) - tp
    fn = conf.sum(0) - tp
    include = [c for c in range(n) if c not in ignore]
    iou = tp / (tp + fp + fn + 1e-15)
    acc = tp.sum() / (tp[include].sum() + fp[include].sum() + 1e-15)
    return iou, iou[include].mean(), acc


def test_mock_problem_of_the_official_evaluator():
    label = np.zeros((7, 7), np.int64)
    pred = np.zeros((7, 7), np.int64)
    label[2:4, 2:4] = 1
    pred[3:5, 3:5] = 1
    iou, miou, acc = iou_from_confusion(confusion_matrix(pred, label, 2), ignore=())
    np.testing.assert_allclose(iou, [42 / 48, 1 / 7])
    assert miou == pytest.approx((42 / 48 + 1 / 7) / 2) and acc == pytest.approx(43 / 49)


@pytest.mark.parametrize("zero_rows", [False, True])
def test_random_against_reference(zero_rows):
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 6, 500)
    label = rng.integers(0, 6, 500)
    conf = confusion_matrix(pred, label, 6)
    assert conf.sum() == 500 and conf[2, 3] == np.sum((pred == 2) & (label == 3))
    got = iou_from_confusion(conf, ignore=(0, 4), zero_ignored_rows=zero_rows)
    want = official(pred, label, 6, [0, 4], zero_rows)
    np.testing.assert_allclose(got[0], want[0])
    assert got[1] == pytest.approx(want[1]) and got[2] == pytest.approx(want[2])


def test_predicting_the_ignored_class_is_a_miss_only_in_the_official_definition():
    label = np.array([1, 1, 2, 0])
    pred = np.array([1, 0, 2, 2])
    assert iou_from_confusion(confusion_matrix(pred, label, 3))[0][1] == pytest.approx(0.5)
    iou = iou_from_confusion(confusion_matrix(pred, label, 3), zero_ignored_rows=True)[0]
    assert iou[1] == pytest.approx(1.0) and iou[2] == pytest.approx(1.0)


def test_confusion_errors():
    with pytest.raises(ValueError, match="expected \\[0, 3\\)"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="2 predictions but 3 labels"):
        confusion_matrix(np.zeros(2), np.zeros(3), 3)


def one_hot_logits(argmax, num_classes):  # [B, H, W] -> [B, C, H, W]
    return paddle.to_tensor(np.eye(num_classes, dtype=np.float32)[argmax].transpose(0, 3, 1, 2))


def make_batch(rng, num_classes, b=2, h=2, w=4, n=10):
    labels = rng.integers(0, num_classes, size=(b, h, w))
    scans = []
    for i in range(b):
        px = rng.integers(0, w, n).astype(np.int32)
        py = rng.integers(0, h, n).astype(np.int32)
        px[-1] = py[-1] = -1  # a point outside the image
        scans.append(ScanPoints(proj_x=px, proj_y=py,
                                unproj_range=rng.uniform(1, 50, n).astype(np.float32),
                                labels=rng.integers(0, num_classes, n), path=f"scan{i}.bin"))
    return RangeBatch(range_img=paddle.zeros([b, 5, h, w]), labels=paddle.to_tensor(labels),
                      proj_mask=paddle.to_tensor((labels > 0).astype(np.int32)),
                      proj_range=paddle.to_tensor(rng.uniform(1, 50, (b, h, w)).astype(np.float32)),
                      scans=scans)


def point_predictions(argmax, scans):
    preds = []
    for b, s in enumerate(scans):
        pred = np.zeros(len(s.proj_x), np.int64)
        inside = s.proj_x >= 0
        pred[inside] = argmax[b, s.proj_y[inside], s.proj_x[inside]]
        preds.append(pred)
    return preds


def test_range_iou_point_and_pixel_metrics():
    cfg = load_label_config("semantic-kitti")
    n = cfg.num_classes
    rng = np.random.default_rng(3)
    metric = METRICS.build({"type": "RangeIoU", "label_config": "semantic-kitti"})
    all_pred, all_label, all_argmax, all_pix = [], [], [], []
    for _ in range(2):
        batch = make_batch(rng, n)
        argmax = rng.integers(0, n, size=(2, 2, 4))
        metric.update({"logits": one_hot_logits(argmax, n)}, batch)
        all_pred += point_predictions(argmax, batch.scans)
        all_label += [s.labels for s in batch.scans]
        all_argmax.append(argmax)
        all_pix.append(batch.labels.numpy())
    result = metric.compute()
    iou, miou, acc = official(np.concatenate(all_pred), np.concatenate(all_label), n, cfg.ignore)
    assert result["mIoU"] == pytest.approx(miou) and result["acc"] == pytest.approx(acc)
    assert result["IoU/car"] == pytest.approx(iou[cfg.class_names.index("car")])
    assert len([k for k in result if k.startswith("IoU/")]) == n - 1
    assert "IoU/unlabeled" not in result and "mIoU_noknn" not in result
    pixel = official(np.concatenate(all_argmax), np.concatenate(all_pix), n, cfg.ignore)
    assert result["range_mIoU"] == pytest.approx(pixel[1])
    report = metric.report()
    assert "car" in report and "range_img" in report and "mIoU" in report and "unlabeled" not in report

    picture = metric.images()["val/range_prediction"]
    assert picture.dtype == np.uint8 and picture.shape == (2 * 2 + 1, 4, 3)
    first_mask = all_pix[0][0] > 0
    expected_top = cfg.colors[np.where(first_mask, all_argmax[0][0], 0)]
    np.testing.assert_array_equal(picture[:2], expected_top)
    np.testing.assert_array_equal(picture[3:], cfg.colors[all_pix[0][0]])

    metric.reset()
    assert metric.images() == {} and metric.compute()["mIoU"] == 0.0


def test_range_iou_knn_path_uses_ops_knn(monkeypatch):
    calls = []

    def fake_knn(proj_range, unproj_range, proj_argmax, px, py, num_classes, k, search, sigma,
                 cutoff):
        calls.append((proj_range.shape, unproj_range.shape, proj_argmax.shape, px.shape,
                      num_classes, k, search, sigma, cutoff))
        return paddle.full(px.shape, 1, dtype="int64")  # every inside point -> class 1

    fake = types.ModuleType("paddlexseg.ops.knn")
    fake.knn_backproject = fake_knn
    monkeypatch.setitem(sys.modules, "paddlexseg.ops.knn", fake)
    knn = {"k": 5, "search": 5, "sigma": 1.0, "cutoff": 1.0}
    metric = RangeIoU(label_config="semantic-kitti", knn=knn)
    rng = np.random.default_rng(4)
    batch = make_batch(rng, 20)
    for s in batch.scans:
        s.labels[:] = 1
    argmax = rng.integers(2, 20, size=(2, 2, 4))  # never class 1
    metric.update({"logits": one_hot_logits(argmax, 20)}, batch)
    assert calls == [([2, 4], [9], [2, 4], [9], 20, 5, 5, 1.0, 1.0)] * 2
    result = metric.compute()
    assert result["IoU/car"] == pytest.approx(18 / 20)  # the 2 outside points are misses
    assert result["mIoU_noknn"] == 0.0


def test_range_iou_errors():
    with pytest.raises(ConfigError, match="metric.knn"):
        RangeIoU(knn={"k": 5})
    metric = RangeIoU()
    batch = make_batch(np.random.default_rng(5), 20)
    with pytest.raises(KeyError, match="logits"):
        metric.update({"probs": None}, batch)
    batch.scans = []
    with pytest.raises(ValueError, match="scans"):
        metric.update({"logits": paddle.zeros([2, 20, 2, 4])}, batch)
