"""KITTI evaluator: perfect detections, single false positives / misses and each ignore rule."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kitti_ap_fixtures import anno, obj, perfect_scene  # noqa: E402

from paddlexseg.metrics.kitti_ap import kitti_eval  # noqa: E402
from paddlexseg.metrics.kitti_match import frame_overlaps, get_thresholds  # noqa: E402
from paddlexseg.ops.boxes import box_iou_3d, box_iou_bev  # noqa: E402


def _changed(base, other):
    return {k for k in base if abs(base[k] - other[k]) > 1e-9}


@pytest.fixture(scope="module")
def perfect():
    gts, dts = perfect_scene()
    table, results = kitti_eval(gts, dts)
    return gts, dts, table, results


def test_perfect_detections_give_100_everywhere(perfect):
    _, _, table, results = perfect
    assert len(results) == 4 * 4 * 2 * 3  # (3 classes + mAP) x 4 metrics x 2 modes x 3 levels
    assert all(abs(v - 100.0) < 1e-9 for v in results.values()), results
    assert "Car AP40@0.70, 0.70, 0.70:" in table and "Overall AP11@easy, moderate, hard:" in table
    assert "Pedestrian AP11@0.50, 0.50, 0.50:" in table


def _with(gts, dts, frame, gt_rows=(), dt_rows=()):
    """Copy of the scene with extra ground-truth / detection rows in one frame."""
    gts, dts = list(gts), list(dts)
    for key, rows, store in (("gt", gt_rows, gts), ("dt", dt_rows, dts)):
        if not rows:
            continue
        old = store[frame]
        new = anno(list(rows), with_score=key == "dt")
        store[frame] = {k: np.concatenate([old[k], new[k]]) for k in old}
    return gts, dts


def _run(gts, dts):
    return kitti_eval(gts, dts)[1]


def test_false_positive_changes_all_car_cells(perfect):
    gts, dts, _, base = perfect
    # confident Car detection far from everything, 2D height 60 px: counted at every level
    fp = obj("Car", 20.0, 40.0, u=700.0, score=0.99)
    res = _run(*_with(gts, dts, 3, dt_rows=[fp]))
    changed = _changed(base, res)
    assert changed == {k for k in base if k.split("/")[0] in ("Car", "mAP")}
    assert all(res[k] < base[k] for k in changed)
    # 30 px high: ignored at easy (< 40 px), a false positive at moderate and hard
    res = _run(*_with(gts, dts, 3, dt_rows=[obj("Car", 20.0, 40.0, u=700.0, height_px=30,
                                               score=0.99)]))
    assert _changed(base, res) == {k for k in base if k.split("/")[0] in ("Car", "mAP")
                                   and not k.endswith("easy")}
    # 20 px high: ignored at every level; a low-scoring one never reaches a threshold
    res = _run(*_with(gts, dts, 3, dt_rows=[obj("Car", 20.0, 40.0, u=700.0, height_px=20,
                                               score=0.99)]))
    assert not _changed(base, res)
    res = _run(*_with(gts, dts, 3, dt_rows=[dict(fp, score=0.01)]))
    assert not _changed(base, res)


def test_missed_hard_object_changes_only_hard_cells(perfect):
    gts, dts, _, base = perfect
    hard_car = obj("Car", 10.0, 30.0, u=700.0, height_px=30, trunc=0.4, occ=2)
    res = _run(*_with(gts, dts, 5, gt_rows=[hard_car]))
    changed = _changed(base, res)
    assert changed == {k for k in base if k.split("/")[0] in ("Car", "mAP") and k.endswith("hard")}
    assert all(res[k] < base[k] for k in changed)


@pytest.mark.parametrize("case,expect", [
    ("height_30", "moderate_hard"),  # too small for easy
    ("occluded_1", "moderate_hard"),  # partly occluded: not easy
    ("truncated_04", "hard"),  # truncation 0.4: hard only
    ("occluded_3", "none"),  # occlusion 3 (unknown) exceeds every level
])
def test_difficulty_rules_for_missed_cars(perfect, case, expect):
    gts, dts, _, base = perfect
    kwargs = {"height_30": dict(height_px=30), "occluded_1": dict(occ=1),
              "truncated_04": dict(trunc=0.4), "occluded_3": dict(occ=3)}[case]
    res = _run(*_with(gts, dts, 2, gt_rows=[obj("Car", 10.0, 30.0, u=700.0, **kwargs)]))
    levels = {"moderate_hard": ("moderate", "hard"), "hard": ("hard",), "none": ()}[expect]
    assert _changed(base, res) == {k for k in base if k.split("/")[0] in ("Car", "mAP")
                                   and k.split("/")[-1] in levels}


@pytest.mark.parametrize("gt_name,det_name,neutral", [
    ("Van", "Car", True), ("Truck", "Car", False),
    ("Person_sitting", "Pedestrian", True), ("Cyclist", "Pedestrian", False)])
def test_neighbour_classes_are_ignored(perfect, gt_name, det_name, neutral):
    gts, dts, _, base = perfect
    gt = obj(gt_name, 12.0, 35.0, ry=0.5, u=700.0)
    det = dict(obj(det_name, 12.0, 35.0, ry=0.5, u=700.0, score=0.99))
    det["dimensions"] = gt["dimensions"]
    # the neighbour-class object, missed, costs nothing; a detection on it is no false positive
    res_miss = _run(*_with(gts, dts, 4, gt_rows=[gt]))
    if gt_name == "Cyclist":  # a real Cyclist missed does cost Cyclist AP
        assert {k.split("/")[0] for k in _changed(base, res_miss)} == {"Cyclist", "mAP"}
    else:
        assert not _changed(base, res_miss)
    res = _run(*_with(gts, dts, 4, gt_rows=[gt], dt_rows=[det]))
    changed = {k.split("/")[0] for k in _changed(base, res)}
    if neutral:
        assert not changed
    else:
        assert det_name in changed


def test_dontcare_region_only_excuses_2d_false_positives(perfect):
    gts, dts, _, base = perfect
    # a confident Car detection whose 2D box lies inside the DontCare region (u = 900)
    det = obj("Car", 20.0, 40.0, u=905.0, height_px=50, score=0.99)
    det["bbox"] = [905.0, 105.0, 935.0, 155.0]
    res = _run(*_with(gts, dts, 1, dt_rows=[det]))
    changed = _changed(base, res)
    # the devkit removes DontCare matches in the 2D evaluation only (bbox and aos)
    assert changed == {k for k in base if k.split("/")[0] in ("Car", "mAP")
                       and k.split("/")[1] in ("bev", "3d")}


def test_aos_skipped_without_alpha_and_options(perfect):
    gts, dts, _, _ = perfect
    no_alpha = [dict(d, alpha=np.full_like(d["alpha"], -10.0)) for d in dts]
    _, res = kitti_eval(gts, no_alpha, classes=("Car",), ap_mode=("AP40",))
    assert set(res) == {f"{c}/{m}/AP40/{d}" for c in ("Car", "mAP") for m in ("bbox", "bev", "3d")
                        for d in ("easy", "moderate", "hard")}
    # flipped heading: 2D / BEV / 3D unchanged, AOS 0
    flipped = [dict(d, alpha=d["alpha"] + np.pi) for d in dts]
    _, res = kitti_eval(gts, flipped, classes=("Car",), metrics=("bbox", "aos"))
    assert res["Car/bbox/AP40/easy"] == pytest.approx(100.0) and res["Car/aos/AP40/easy"] < 1e-6
    # loose set: a Car shifted by 0.6 m along x fails 0.7 3D IoU but passes 0.5
    shifted = [dict(d, location=d["location"] + np.array([0.6, 0.0, 0.0])) for d in dts]
    _, strict = kitti_eval(gts, shifted, classes=("Car",), metrics=("3d",))
    _, loose = kitti_eval(gts, shifted, classes=("Car",), metrics=("3d",), overlap_set="loose")
    assert strict["Car/3d/AP40/easy"] == 0.0 and loose["Car/3d/AP40/easy"] == pytest.approx(100)
    with pytest.raises(ValueError, match="overlap_set"):
        kitti_eval(gts, dts, overlap_set="medium")
    with pytest.raises(ValueError, match="frames"):
        kitti_eval(gts, dts[:-1])
    with pytest.raises(ValueError, match="score"):
        kitti_eval(gts, gts)
    with pytest.raises(ValueError, match="class"):
        kitti_eval(gts, dts, classes=("Bus",))


def test_camera_overlaps_match_lidar_iou():
    """3D / BEV IoU in the camera frame equals the LiDAR-frame IoU of the converted boxes."""
    rng = np.random.default_rng(0)
    rows = [obj("Car", x, z, ry=r) for x, z, r in zip(rng.uniform(-2, 2, 6), rng.uniform(9, 12, 6),
                                                      rng.uniform(-3, 3, 6))]
    for r, dy in zip(rows, rng.uniform(-0.5, 0.5, 6)):
        r["location"] = [r["location"][0], r["location"][1] + dy, r["location"][2]]
    cam = anno(rows)
    loc, (l, h, w) = cam["location"], cam["dimensions"].T
    # rect camera (x right, y down, z forward, bottom centre) -> LiDAR-like (x fwd, y left, z up)
    lidar = np.column_stack([loc[:, 2], -loc[:, 0], -loc[:, 1], l, w, h,
                             -cam["rotation_y"] - np.pi / 2])
    np.testing.assert_allclose(frame_overlaps(cam, cam, "3d"), box_iou_3d(lidar, lidar), atol=1e-9)
    np.testing.assert_allclose(frame_overlaps(cam, cam, "bev"), box_iou_bev(lidar, lidar),
                               atol=1e-9)
    assert (frame_overlaps(cam, cam, "3d") > 0).sum() > 6  # some boxes overlap each other


def test_get_thresholds_samples_recall():
    np.testing.assert_allclose(get_thresholds(np.linspace(1, 0.01, 100), 100),
                               np.linspace(1, 0.01, 100)[np.r_[0, 2:100:2.5].astype(int)][:41],
                               atol=0.02)
    np.testing.assert_allclose(get_thresholds([0.8, 0.9], 2), [0.9, 0.8])
    # 3 true positives of 1000 objects: the second does not reach the next recall sample
    np.testing.assert_allclose(get_thresholds([0.7, 0.9, 0.8], 1000), [0.9, 0.7])
