import json
import os

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.gt_database import GTSampler
from paddlexseg.datasets.kitti_object import KittiObject
from paddlexseg.ops.boxes import box_iou_bev, points_in_boxes
from paddlexseg.registry import ConfigError

CLASSES = ("Car", "Pedestrian", "Cyclist")


def _infos(root):
    with open(os.path.join(root, "kitti_dbinfos_train.json")) as f:
        return json.load(f)["infos"]


def test_database_holds_each_objects_points(synthetic_kitti3d):
    infos = _infos(synthetic_kitti3d)
    assert {"Car", "Pedestrian", "Cyclist"} <= set(infos) and "DontCare" not in infos
    plain = KittiObject(synthetic_kitti3d, split="train", mode="val", class_names=CLASSES)
    frames = {plain.ids[i]: plain[i] for i in range(len(plain))}
    total = 0
    for name, items in infos.items():
        for info in items:
            pts = np.fromfile(os.path.join(synthetic_kitti3d, info["path"]),
                              np.float32).reshape(-1, 4)
            assert pts.shape[0] == info["num_points_in_gt"]
            box = np.array(info["box3d_lidar"])
            s = frames[info["frame_id"]]
            expect = s["points"][points_in_boxes(s["points"][:, :3], box[None])[:, 0]]
            np.testing.assert_allclose(pts[:, :3] + box[:3].astype(np.float32), expect[:, :3],
                                       atol=1e-5)
            total += 1
    assert total == len({(i["frame_id"], i["gt_idx"]) for v in infos.values() for i in v})


def test_sampling_tops_up_without_collisions(synthetic_kitti3d):
    sampler = GTSampler(root=synthetic_kitti3d, class_names=CLASSES,
                        sample_groups={"Car": 15, "Pedestrian": 6, "Cyclist": 6},
                        min_points={"Car": 5, "Pedestrian": 5, "Cyclist": 5})
    for pool in sampler.pools.values():
        assert all(i["num_points_in_gt"] >= 5 and i["difficulty"] != -1 for i in pool)
    ds = KittiObject(synthetic_kitti3d, split="val", mode="val")
    s = ds[0]
    pts, boxes, labels = s["points"], s["gt_boxes"].astype(np.float64), s["gt_labels"]
    record = []
    out_p, out_b, out_l = sampler(pts, boxes, labels, CLASSES, np.random.default_rng(0), record)
    n = record[0]["num"]
    assert record[0]["op"] == "gt_sample" and n > 0 and len(out_b) == len(boxes) + n
    np.testing.assert_array_equal(out_l[:len(labels)], labels)
    for c, name in enumerate(CLASSES):
        assert (out_l == c).sum() <= max(sampler.sample_groups[name], (labels == c).sum())
    iou = box_iou_bev(out_b, out_b)
    np.fill_diagonal(iou, 0)
    assert iou[len(boxes):].max() == 0                         # sampled boxes touch nothing
    # the database points come first; no original point is left inside a sampled box
    chosen = sampler.sample(boxes, labels, np.random.default_rng(0))
    n_db = sum(c["num_points_in_gt"] for c in chosen)
    sampled = out_b[len(boxes):]
    kept = ~points_in_boxes(pts[:, :3], sampled).any(1)
    assert out_p.shape[0] == n_db + kept.sum()
    np.testing.assert_array_equal(out_p[n_db:], pts[kept])
    assert points_in_boxes(out_p[:n_db, :3], sampled).any(1).all()
    # deterministic by the generator
    again = sampler(pts, boxes, labels, CLASSES, np.random.default_rng(0), [])
    np.testing.assert_array_equal(again[1], out_b)


def test_dataset_with_sampler_and_errors(synthetic_kitti3d, tmp_path):
    cfg = dict(root=synthetic_kitti3d, split="train", mode="train", augment={}, seed=2,
               gt_sampler={"sample_groups": {"Car": 20, "Pedestrian": 8, "Cyclist": 8}},
               point_range=[0, -40, -3, 70.4, 40, 1], object_noise={})
    a, b = KittiObject(**cfg)[0], KittiObject(**cfg)[0]
    assert [s["op"] for s in a["meta"]["augmentation"]] == [
        "gt_sample", "object_noise", "flip", "rotation", "scale", "translation", "point_range",
        "object_range", "shuffle"]
    assert a["meta"]["augmentation"][0]["num"] > 0
    np.testing.assert_array_equal(a["points"], b["points"])
    np.testing.assert_array_equal(a["gt_boxes"], b["gt_boxes"])
    assert KittiObject(**dict(cfg, mode="val")).sampler is None
    with pytest.raises(DataError, match="GT database index not found"):
        GTSampler(info_path="none.json", root=str(tmp_path), class_names=CLASSES)
    with pytest.raises(ConfigError, match="'Van' is not one of"):
        KittiObject(**dict(cfg, gt_sampler={"sample_groups": {"Van": 3}}))
