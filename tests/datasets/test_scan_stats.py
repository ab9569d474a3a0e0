"""Scan statistics of two tiny synthetic folders, and tools/compare_scans.py."""
import os
import subprocess
import sys

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.scan_stats import (compare_table, estimate_beams, find_scans,
                                            ring_index, scan_statistics)
from paddlexseg.datasets.synthetic.lidar_scenes import generate_semantickitti

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmp")
    a, b = str(base / "a"), str(base / "b")
    generate_semantickitti(a, sequences=(0,), scans_per_sequence=2, beams=16, azimuth_steps=128)
    generate_semantickitti(b, sequences=(0,), scans_per_sequence=1, beams=32, azimuth_steps=128,
                           fov_up=4.0, fov_down=-20.0, seed=1)
    return a, b


def test_statistics_match_numpy(two_folders):
    a, _ = two_folders
    pairs = find_scans(a)
    assert len(pairs) == 2 and all(lbl is not None for _, lbl in pairs)
    pts = [np.fromfile(s, np.float32).reshape(-1, 4) for s, _ in pairs]
    st = scan_statistics(a)
    assert st.scans == 2 and list(st.points_per_scan) == [p.shape[0] for p in pts]
    allp = np.concatenate(pts)
    r = np.linalg.norm(allp[:, :3], axis=1)
    np.testing.assert_allclose(st.range_pct, np.percentile(r, [5, 25, 50, 75, 95]), rtol=1e-5)
    np.testing.assert_allclose(st.remission_pct, np.percentile(allp[:, 3], [5, 25, 50, 75, 95]),
                               rtol=1e-5)
    assert st.beam_method == "scan order" and st.beam_centres.size == 16
    assert st.beam_centres[0] <= 2.0 + 0.3 and st.beam_centres[-1] >= -24.9 - 0.3
    assert np.all(np.diff(st.beam_centres) < 0)
    assert st.beam_shares.sum() == pytest.approx(1.0)
    assert sum(st.class_freq.values()) == pytest.approx(1.0) and st.class_freq["road"] > 0


def test_labels_beside_bins_and_elevation_peaks(tmp_path, two_folders):
    a, _ = two_folders
    scan, label = find_scans(a)[0]
    folder = tmp_path / "flat"
    folder.mkdir()
    pts = np.fromfile(scan, np.float32).reshape(-1, 4)
    perm = np.random.default_rng(0).permutation(pts.shape[0])  # no ring order any more
    pts[perm].tofile(str(folder / "000000.bin"))
    np.fromfile(label, np.uint32)[perm].tofile(str(folder / "000000.label"))
    assert find_scans(str(folder)) == [(str(folder / "000000.bin"), str(folder / "000000.label"))]
    assert ring_index(pts[perm]) is None
    st = scan_statistics(str(folder))
    assert st.beam_method == "elevation peaks" and st.class_freq is not None
    assert 12 <= st.beam_centres.size <= 16  # 16 beams, a few may merge or drop
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .bin scan"):
        find_scans(str(tmp_path / "empty"))


def test_estimate_beams_recovers_known_angles():
    rng = np.random.default_rng(0)
    true = np.array([2.0, 1.5, 0.5, -3.0, -10.0])
    e = np.concatenate([t + rng.normal(0, 0.02, 2000) for t in true])
    centres, shares = estimate_beams(e)
    np.testing.assert_allclose(centres, true, atol=0.05)
    np.testing.assert_allclose(shares, 0.2, atol=1e-6)


def test_compare_tool(two_folders):
    a, b = two_folders
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_scans.py"), a, b,
                           "--names", "sixteen", "thirtytwo"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "sixteen" in lines[0] and "thirtytwo" in lines[0]
    beams = [ln for ln in lines if ln.startswith("| beams estimated")][0]
    assert "16 (scan order)" in beams and "32 (scan order)" in beams
    assert any(ln.startswith("| beam 31 ") for ln in lines)
    assert any(ln.startswith("| class road") for ln in lines)
    st_a, st_b = scan_statistics(a), scan_statistics(b)
    assert compare_table(st_a, st_b, ("x", "y")).count("\n") == len(lines) - 1
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_scans.py"), a,
                           "/nonexistent_dir"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2 and "/nonexistent_dir" in proc.stderr.strip().splitlines()[-1]
