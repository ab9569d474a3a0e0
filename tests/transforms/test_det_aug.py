import numpy as np
import pytest

from paddlexseg.boxes3d import lidar_box_corners
from paddlexseg.ops.boxes import points_in_boxes
from paddlexseg.transforms.det_aug import (DetAugment, apply_ranges, flip_horizontal,
                                           objects_range_mask, points_range_mask,
                                           rotate_scale_translate, undo_points)


def _scene(rng, n_boxes=4):
    boxes = np.stack([rng.uniform(5, 40, n_boxes), rng.uniform(-15, 15, n_boxes),
                      rng.uniform(-2, -1, n_boxes), rng.uniform(1, 4, n_boxes),
                      rng.uniform(0.5, 2, n_boxes), rng.uniform(1, 2, n_boxes),
                      rng.uniform(-np.pi, np.pi, n_boxes)], 1)
    pts = rng.uniform([0, -20, -3, 0], [50, 20, 1, 1], (3000, 4)).astype(np.float32)
    return pts, boxes


def test_points_stay_in_their_boxes_and_corners_move_with_them():
    rng = np.random.default_rng(0)
    pts, boxes = _scene(rng)
    before = points_in_boxes(pts[:, :3].astype(np.float64), boxes)
    assert before.any()
    aug = DetAugment(flip_prob=1.0)
    record = []
    out, oboxes = aug.geometric(pts, boxes, np.random.default_rng(1), record)
    assert out.dtype == np.float32 and out.shape == pts.shape
    np.testing.assert_array_equal(out[:, 3], pts[:, 3])
    after = points_in_boxes(out[:, :3].astype(np.float64), oboxes)
    assert (before != after).sum() <= 2                  # float32 points on a box face may flip
    # corners of the moved boxes = the moved corners of the original boxes
    corners = lidar_box_corners(boxes).reshape(-1, 3)
    moved = corners.copy()
    for step in record:
        if step["op"] == "flip":
            moved[:, 1] *= -1
        elif step["op"] == "rotation":
            c, s = np.cos(step["angle"]), np.sin(step["angle"])
            moved[:, :2] = moved[:, :2] @ np.array([[c, -s], [s, c]]).T
        elif step["op"] == "scale":
            moved *= step["factor"]
        elif step["op"] == "translation":
            moved += step["offset"]
    got = lidar_box_corners(oboxes).reshape(-1, 8, 3)
    # a flipped box's corners come in mirrored order: compare as sets per box
    for g, m in zip(got, moved.reshape(-1, 8, 3)):
        d = np.linalg.norm(g[:, None] - m[None], axis=-1)
        assert d.min(1).max() < 1e-9
    np.testing.assert_allclose(undo_points(out[:, :3], record), pts[:, :3], atol=1e-4)


def test_hand_cases():
    pts = np.array([[1.0, 2.0, 0.5, 0.3]], np.float32)
    box = np.array([[1.0, 2.0, 0.0, 4.0, 2.0, 1.5, 0.3]])
    fp, fb = flip_horizontal(pts, box)
    np.testing.assert_allclose(fp[0, :3], [1, -2, 0.5])
    np.testing.assert_allclose(fb[0], [1, -2, 0, 4, 2, 1.5, -0.3])
    rp, rb = rotate_scale_translate(pts, box, np.pi / 2, 2.0, [1.0, 0.0, -1.0])
    np.testing.assert_allclose(rp[0, :3], [-4 + 1, 2, 0.0], atol=1e-6)
    np.testing.assert_allclose(rb[0], [-3, 2, -1, 8, 4, 3, 0.3 + np.pi / 2], atol=1e-12)


def test_range_filters_are_strict_and_record():
    r = [0, -40, -3, 70.4, 40, 1]
    pts = np.array([[0.0, 0, 0, 0], [0.01, 0, 0, 0], [70.4, 0, 0, 0], [5, 0, 1.0, 0],
                    [5, 0, 0.99, 0]], np.float32)
    np.testing.assert_array_equal(points_range_mask(pts, r), [False, True, False, False, True])
    boxes = np.array([[0.0, 0, 0, 1, 1, 1, 0], [1, 39.9, -5, 1, 1, 1, 4.0],
                      [1, 40, 0, 1, 1, 1, 0]])
    np.testing.assert_array_equal(objects_range_mask(boxes, r), [False, True, False])
    record = []
    p, b, lab = apply_ranges(pts, boxes, np.array([0, 1, 2]), r, record)
    assert len(p) == 2 and lab.tolist() == [1]
    np.testing.assert_allclose(b[0, 6], 4.0 - 2 * np.pi)      # yaw wrapped to [-pi, pi)
    assert [s["op"] for s in record] == ["point_range", "object_range"]


def test_draws_and_config_checks():
    aug = DetAugment()
    pts, boxes = _scene(np.random.default_rng(2))
    angles, scales, flips, offsets = [], [], [], []
    for k in range(200):
        rec = []
        aug.geometric(pts[:10], boxes, np.random.default_rng(k), rec)
        flips.append(rec[0]["horizontal"])
        angles.append(rec[1]["angle"])
        scales.append(rec[2]["factor"])
        offsets.append(rec[3]["offset"])
    assert max(np.abs(angles)) <= np.pi / 4 and max(np.abs(angles)) > 0.7
    assert 0.95 <= min(scales) and max(scales) <= 1.05
    assert 0.3 < np.mean(flips) < 0.7
    assert 0.15 < np.std(offsets) < 0.25
    rec = []
    shuffled = aug.shuffle_points(pts, np.random.default_rng(0), rec)
    assert rec == [{"op": "shuffle"}] and not np.array_equal(shuffled, pts)
    np.testing.assert_array_equal(np.sort(shuffled[:, 0]), np.sort(pts[:, 0]))
    for kw in ({"flip_prob": 2}, {"rot_range": (1, 0)}, {"scale_range": (0, 1)},
               {"translation_std": -1}):
        with pytest.raises(ValueError):
            DetAugment(**kw)


def test_object_noise_moves_points_with_their_boxes():
    from paddlexseg.ops.boxes import box_iou_bev
    from paddlexseg.transforms.det_aug import ObjectNoise
    rng = np.random.default_rng(5)
    boxes = np.array([[10.0, 0, -1.7, 4, 1.8, 1.5, 0.1], [10, 8, -1.7, 4, 1.8, 1.5, 1.0],
                      [20, -5, -1.7, 0.8, 0.6, 1.7, 0.0]])
    local = rng.uniform(-0.45, 0.45, (600, 3))
    pts = [np.c_[rng.uniform([0, -20, -3], [40, 20, 1], (2000, 3)), np.zeros(2000)]]
    for b in boxes:
        c, s = np.cos(b[6]), np.sin(b[6])
        xy = (local[:, :2] * b[3:5]) @ np.array([[c, s], [-s, c]]) + b[:2]
        pts.append(np.c_[xy, local[:, 2] * b[5] + b[2] + b[5] / 2, np.ones(600)])
    pts = np.concatenate(pts).astype(np.float32)
    before = points_in_boxes(pts[:, :3].astype(np.float64), boxes)
    record = []
    out, moved = ObjectNoise()(pts, boxes, np.random.default_rng(0), record)
    step = record[0]
    assert step["op"] == "object_noise" and len(step["rotation"]) == 3
    assert np.abs(step["rotation"]).max() <= np.pi / 4 and np.abs(step["rotation"]).min() > 0
    np.testing.assert_allclose(moved[:, 6] - boxes[:, 6], step["rotation"])
    np.testing.assert_allclose(moved[:, :3] - boxes[:, :3], step["translation"])
    np.testing.assert_array_equal(moved[:, 3:6], boxes[:, 3:6])
    after = points_in_boxes(out[:, :3].astype(np.float64), moved)
    for k in range(3):                                   # each object's points follow its box
        assert after[before[:, k], k].mean() > 0.99
    np.testing.assert_array_equal(out[~before.any(1)], pts[~before.any(1)])
    iou = box_iou_bev(moved, moved)
    np.fill_diagonal(iou, 0)
    assert iou.max() == 0
    again = ObjectNoise()(pts, boxes, np.random.default_rng(0), [])
    np.testing.assert_array_equal(again[0], out)
    # no free draw (two overlapping boxes that cannot move): both stay
    overlap = np.array([[0.0, 0, 0, 4, 2, 1.5, 0], [1.0, 0, 0, 4, 2, 1.5, 0]])
    rec = []
    p2, b2 = ObjectNoise(num_try=5, translation_std=0, rot_range=(0, 0))(
        pts, overlap, np.random.default_rng(0), rec)
    np.testing.assert_array_equal(b2, overlap)
    np.testing.assert_array_equal(p2, pts)
