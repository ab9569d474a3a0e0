"""KittiDetMetric: ground-truth boxes given back as detections score 100; a shifted box does not."""
import numpy as np

from paddlexseg.datasets.kitti_object import KittiObject
from paddlexseg.metrics.kitti_ap import kitti_eval
from paddlexseg.metrics.kitti_metric import (KittiDetMetric, bev_boxes_picture,
                                             detections_to_kitti_anno)

NAMES = ["Pedestrian", "Cyclist", "Car"]


def _val_batch(root):
    ds = KittiObject(root, split="val", mode="val", class_names=NAMES)
    return KittiObject.collate([ds[i] for i in range(len(ds))])


def _dets(batch, shift=0.0):
    dets = []
    for boxes, labels in zip(batch.gt_boxes, batch.gt_labels):
        b = boxes.numpy().copy()
        b[:, 0] += shift
        dets.append({"boxes_3d": b, "scores_3d": np.linspace(0.9, 0.5, len(b)),
                     "labels_3d": labels.numpy()})
    return dets


def _gt_as_detections(annos):
    """The ground truth of the evaluated classes, as detection annotations (same scores)."""
    out = []
    for anno in annos:
        keep = np.isin(anno["name"], NAMES)
        dt = {k: np.asarray(v)[keep] for k, v in anno.items() if k != "difficulty"}
        dt["score"] = np.linspace(0.9, 0.5, int(keep.sum()))
        out.append(dt)
    return out


def test_metric_equals_evaluator_on_ground_truth(synthetic_kitti3d):
    batch = _val_batch(synthetic_kitti3d)
    # a wide limit: the synthetic frames have objects beyond KITTI's 70.4 m
    metric = KittiDetMetric(class_names=NAMES, pcd_limit_range=(0, -80, -5, 150, 80, 5))
    metric.update({"detections": _dets(batch)}, batch)
    results = metric.compute()
    # the ground-truth boxes given back through LiDAR -> camera conversion score exactly what
    # the evaluator gives the ground truth itself
    _, direct = kitti_eval(batch.gt_annos, _gt_as_detections(batch.gt_annos))
    for key in ("Car/3d/AP40/moderate", "Car/bev/AP11/easy", "Car/bbox/AP40/hard",
                "Pedestrian/3d/AP40/moderate", "mAP/3d/AP40/moderate"):
        assert abs(results[key] - direct[key]) < 1e-6, key
    assert results["Car/3d/AP40/moderate"] > 0
    assert "Car" in metric.report() and "AP40" in metric.report()
    (img,) = metric.images().values()
    assert img.dtype == np.uint8 and img.shape == (704, 800, 3) and (img[..., 1] == 255).any()
    metric.reset()
    metric.update({"detections": _dets(batch, shift=3.0)}, batch)
    assert metric.compute()["Car/3d/AP40/moderate"] < results["Car/3d/AP40/moderate"]


def test_conversion_round_trip_and_filters(synthetic_kitti3d):
    batch = _val_batch(synthetic_kitti3d)
    gt, meta = batch.gt_annos[0], batch.metas[0]
    det = _dets(batch)[0]
    anno = detections_to_kitti_anno(det, meta, NAMES, (0, -80, -5, 150, 80, 5))
    cars = gt["name"] == "Car"
    got = anno["name"] == "Car"
    np.testing.assert_allclose(np.sort(anno["location"][got][:, 2]),
                               np.sort(gt["location"][cars][:, 2]), atol=1e-4)
    np.testing.assert_allclose(np.sort(anno["rotation_y"][got]),
                               np.sort(gt["rotation_y"][cars]), atol=1e-4)
    # a box behind the sensor is outside the image and pcd range: dropped
    far = {"boxes_3d": np.array([[-10.0, 0, -1.7, 4, 1.6, 1.5, 0]], np.float32),
           "scores_3d": np.array([0.9]), "labels_3d": np.array([2])}
    assert len(detections_to_kitti_anno(far, meta, NAMES)["name"]) == 0
    pic = bev_boxes_picture(None, None, far["boxes_3d"], (0, -40, -3, 70.4, 40, 1))
    assert pic.shape == (704, 800, 3) and pic.max() == 0
