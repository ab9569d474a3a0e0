"""Cross-dataset evaluation: predicted classes mapped onto another class set (official IoU)."""
import numpy as np
import paddle
import pytest

from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.metrics.class_map import PredClassMap, read_pred_class_map
from paddlexseg.metrics.iou import confusion_matrix, iou_from_confusion
from paddlexseg.registry import METRICS, ConfigError
from paddlexseg.structures import RangeBatch, ScanPoints


def _logits(pred, c):
    return paddle.to_tensor(np.eye(c, dtype=np.float32)[np.asarray(pred)])


def test_hand_case_point_iou_official():
    # source classes: 0 unlabeled, 1 A1, 2 A2, 3 B, 4 C (no target); target: 0, 1 A, 2 B
    metric = METRICS.build({"type": "PointIoU", "class_names": ["unlabeled", "A", "B"],
                            "zero_ignored_rows": False,
                            "pred_class_map": {1: 1, 2: 1, 3: 2}})
    pred = [1, 2, 3, 4, 1, 3, 0]
    gt = [1, 1, 2, 1, 2, 0, 2]
    batch = type("B", (), {"labels": paddle.to_tensor(gt)})()
    metric.update({"logits": _logits(pred, 5)}, batch)
    # mapped [1, 1, 2, 0, 1, 2, 0]; the point with gt 0 is dropped.
    # A: tp 2 fp 1 (pred A, gt B) fn 1 (pred C -> 0): 2/4. B: tp 1 fp 0 fn 2: 1/3.
    result = metric.compute()
    assert result["IoU/A"] == pytest.approx(0.5)
    assert result["IoU/B"] == pytest.approx(1 / 3)
    assert result["mIoU"] == pytest.approx((0.5 + 1 / 3) / 2)
    assert result["acc"] == pytest.approx(3 / 4)


def test_range_iou_maps_20_classes_onto_coarse(tmp_path):
    coarse = load_label_config("semantic-kitti-coarse")
    metric = METRICS.build({"type": "RangeIoU", "label_config": "semantic-kitti-coarse",
                            "pred_class_map": "semantic-kitti_to_coarse"})
    rng = np.random.default_rng(0)
    argmax = rng.integers(0, 20, size=(1, 2, 4))  # 20-class predictions
    n = 12
    px, py = rng.integers(0, 4, n).astype(np.int32), rng.integers(0, 2, n).astype(np.int32)
    labels = rng.integers(0, coarse.num_classes, n)
    scan = ScanPoints(proj_x=px, proj_y=py, unproj_range=np.ones(n, np.float32), labels=labels)
    batch = RangeBatch(range_img=paddle.zeros([1, 5, 2, 4]),
                       labels=paddle.to_tensor(rng.integers(0, 6, (1, 2, 4))), scans=[scan])
    logits = paddle.to_tensor(np.eye(20, dtype=np.float32)[argmax].transpose(0, 3, 1, 2))
    metric.update({"logits": logits}, batch)
    kitti = load_label_config("semantic-kitti")
    # expected: the coarse learning id of each predicted fine class, via the raw ids
    fine_to_coarse = coarse.learning_map[kitti.learning_map_inv]
    pred = fine_to_coarse[argmax[0, py, px]]
    expected = iou_from_confusion(confusion_matrix(pred, labels, 6), [0])
    assert metric.compute()["mIoU"] == pytest.approx(expected[1])
    assert metric.compute()["IoU/vehicle"] == pytest.approx(expected[0][1])


def test_map_files_and_errors(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("pred_class_map: {1: 2, 3: 1}\n")
    assert read_pred_class_map(str(f)) == {1: 2, 3: 1}
    f.write_text("learning_map: {0: 0, 5: 1}\n")
    assert read_pred_class_map(str(f)) == {0: 0, 5: 1}
    syn = read_pred_class_map("synlidar_to_semantic-kitti")
    assert len(syn) == 33 and syn[12] == syn[13] == 6 and syn[19] == 0
    with pytest.raises(ConfigError, match="neither a mapping file"):
        read_pred_class_map("nope")
    with pytest.raises(ConfigError, match="integer class ids"):
        read_pred_class_map({"car": 1})
    with pytest.raises(ConfigError, match="outside the ground truth"):
        PredClassMap({1: 7}, num_dst=3)
    with pytest.raises(ConfigError, match="predicted ids \\[9\\] do not exist"):
        PredClassMap({9: 1}, num_dst=3)(np.zeros(3), num_src=5)
    lut = PredClassMap({1: 2, 2: 2}, num_dst=3).lut(4)
    np.testing.assert_array_equal(lut, [0, 2, 2, 0])
