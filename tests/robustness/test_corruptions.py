import numpy as np
import pytest

from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.datasets.semantickitti import SemanticKITTI, read_label, read_scan
from paddlexseg.registry import ConfigError
from paddlexseg.robustness.corruptions import (CORRUPTIONS, CorruptionContext, corrupt,
                                               ring_ids)
from paddlexseg.robustness.dataset import CorruptedScans


@pytest.fixture(scope="module")
def scan(synthetic_kitti):
    """The first synthetic scan (64 beams, stored ring by ring) with learning labels."""
    cfg = load_label_config("semantic-kitti")
    path = f"{synthetic_kitti}/sequences/00/velodyne/000000.bin"
    points = read_scan(path)
    raw, _ = read_label(path.replace("velodyne", "labels")[:-3] + "label", points.shape[0])
    return points, cfg.map_labels(raw), CorruptionContext(cfg.class_names, beams=64)


def _run(scan, name, severity, seed=0):
    points, labels, ctx = scan
    return corrupt(points, labels, name, severity, np.random.default_rng(seed), ctx)


def test_ring_ids_of_an_ordered_and_a_shuffled_scan(scan):
    points = scan[0]
    ring = ring_ids(points)
    assert np.all(np.diff(ring) >= 0) and len(np.unique(ring)) == 64
    elev = np.arctan2(points[:, 2], np.linalg.norm(points[:, :2], axis=1))
    means = np.array([elev[ring == r].mean() for r in range(64)])
    assert np.all(np.diff(means) < 0)                               # top beam first
    shuffled = points[np.random.default_rng(0).permutation(points.shape[0])]
    fallback = ring_ids(shuffled)
    assert fallback.min() >= 0 and fallback.max() == 63


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_deterministic_aligned_and_changing(scan, name):
    points, labels, _ = scan
    a_pts, a_lab = _run(scan, name, 2, seed=5)
    b_pts, b_lab = _run(scan, name, 2, seed=5)
    assert np.array_equal(a_pts, b_pts) and np.array_equal(a_lab, b_lab)
    assert a_pts.dtype == np.float32 and a_pts.shape[1] == 4 and a_lab.shape == (a_pts.shape[0],)
    changed = a_pts.shape != points.shape or not np.array_equal(a_pts, points)
    assert changed
    if name != "cross_sensor":                    # its drop pattern is fixed, not random
        c_pts, _ = _run(scan, name, 2, seed=6)
        assert c_pts.shape != a_pts.shape or not np.array_equal(c_pts, a_pts)


def test_severity_grows(scan):
    points, labels, ctx = scan
    count = {name: [_run(scan, name, s)[0].shape[0] for s in (1, 2, 3)]
             for name in ("beam_missing", "cross_sensor", "snow", "wet_ground")}
    for name, n in count.items():
        assert n[0] > n[1] > n[2], (name, n)
    assert count["cross_sensor"][0] < points.shape[0] / 2
    cars = [int((_run(scan, "incomplete_echo", s)[1] == 1).sum()) for s in (1, 2, 3)]
    assert (labels == 1).sum() > cars[0] > cars[1] > cars[2]
    fog0 = [int((_run(scan, "fog", s)[1] == 0).sum()) for s in (1, 2, 3)]
    assert (labels == 0).sum() < fog0[0] < fog0[1] < fog0[2]
    shift = [np.abs(_run(scan, "motion_blur", s, seed=1)[0][:, :3] - points[:, :3]).mean()
             for s in (1, 2, 3)]
    assert shift[0] < shift[1] < shift[2]
    moved = (_run(scan, "crosstalk", 3)[0] != points).any(axis=1).sum()
    assert moved == int(0.01 * points.shape[0])


def test_errors_and_unlabeled_input(scan):
    points = scan[0]
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(points, None, "rain", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="severity"):
        corrupt(points, None, "fog", 4, np.random.default_rng(0))
    out, lab = corrupt(points, None, "wet_ground", 3, np.random.default_rng(0))
    assert lab is None and out.shape[0] < points.shape[0]


def test_wrapper_corrupts_range_images(synthetic_kitti):
    inner = {"type": "SemanticKITTI", "root": synthetic_kitti, "sequences": [8], "mode": "val",
             "projection": {"H": 64, "W": 512}}
    clean = SemanticKITTI(synthetic_kitti, [8], mode="val", projection={"H": 64, "W": 512})
    same = CorruptedScans(inner, corruption=None)
    assert np.array_equal(same[0]["range_img"], clean[0]["range_img"])
    ds = CorruptedScans(inner, corruption="beam_missing", severity=3, seed=1)
    s = ds[0]
    assert s["proj_mask"].sum() < 0.5 * clean[0]["proj_mask"].sum()
    assert s["point_labels"].shape[0] == s["points"].shape[0]
    assert np.array_equal(ds[0]["points"], s["points"])             # fixed per index
    batch = ds.collate([s])
    assert batch.range_img.shape == [1, 5, 64, 512]
    with pytest.raises(ConfigError, match="corruption"):
        CorruptedScans(inner, corruption="rain")
    with pytest.raises(ConfigError, match="severity"):
        CorruptedScans(inner, corruption="fog", severity=0)
