"""SynLiDAR reader on a tiny synthetic SynLiDAR layout, and the raw-id statistics / check."""
import os
import subprocess
import sys

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.datasets.raw_stats import (check_raw_ids, learning_content, raw_content_yaml,
                                           raw_label_counts)
from paddlexseg.datasets.synlidar import SynLiDAR
from paddlexseg.registry import DATASETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "rangenet",
                   "rangenet_darknet21_synlidar2semantickitti_150e.yml")


def make_synlidar(root, raw_ids=range(33), scans=2, n=200, seed=0):
    """root/00/velodyne/00000N.bin + root/00/labels/00000N.label with the given raw ids."""
    rng = np.random.default_rng(seed)
    for sub in ("velodyne", "labels"):
        os.makedirs(os.path.join(root, "00", sub), exist_ok=True)
    ids = np.array(list(raw_ids))
    for s in range(scans):
        az = rng.uniform(-np.pi, np.pi, n)
        el = np.radians(rng.uniform(-24, 2, n))
        r = rng.uniform(2, 40, n)
        pts = np.stack([r * np.cos(el) * np.cos(az), r * np.cos(el) * np.sin(az), r * np.sin(el),
                        rng.uniform(0, 1, n)], 1).astype(np.float32)
        pts.tofile(os.path.join(root, "00", "velodyne", f"{s:06d}.bin"))
        sem = ids[np.arange(n) % len(ids)].astype(np.uint32)
        (sem | (np.uint32(7) << 16)).tofile(os.path.join(root, "00", "labels", f"{s:06d}.label"))
    return str(root)


def test_synlidar_reader_maps_onto_semantickitti(tmp_path):
    root = make_synlidar(tmp_path / "syn")
    ds = DATASETS.build({"type": "SynLiDAR", "root": root, "sequences": [0],
                         "projection": {"H": 16, "W": 64}})
    assert isinstance(ds, SynLiDAR) and len(ds) == 2 and ds.num_classes == 20
    points, labels = ds.load(0)
    raw = np.arange(200) % 33
    lc = ds.labels
    assert lc.class_names[6] == "person"
    assert (labels[np.isin(raw, [12, 13, 14, 15])] == 6).all()   # female/male/kid/crowd
    assert (labels[raw == 2] == lc.class_names.index("truck")).all()  # pick-up -> truck
    assert (labels[np.isin(raw, [19, 25, 27, 28, 29, 30, 31, 32])] == 0).all()
    assert (labels[raw == 24] == lc.class_names.index("pole")).all()
    sample = ds[0]
    assert sample["range_img"].shape == (5, 16, 64) and sample["point_labels"].shape == (200,)
    native = SynLiDAR(root, [0], label_config="synlidar", projection={"H": 16, "W": 64})
    np.testing.assert_array_equal(native.load(1)[1], raw)  # learning id = raw id
    assert native.num_classes == 33


def test_synlidar_layout_errors(tmp_path):
    with pytest.raises(DataError, match="SynLiDAR layout"):
        SynLiDAR(str(tmp_path / "none"), [0])
    root = make_synlidar(tmp_path / "syn")
    with pytest.raises(DataError, match="05: sequence folder not found"):
        SynLiDAR(root, [5])


def test_raw_counts_and_unmapped_ids(tmp_path):
    root = make_synlidar(tmp_path / "syn", raw_ids=[1, 1, 8, 40, 0], n=100)
    ds = SynLiDAR(root, [0], label_config="synlidar-semantickitti")
    raw = raw_label_counts(ds.files)
    assert raw.counts == {0: 40, 1: 80, 8: 40, 40: 40} and raw.scans == 2
    with pytest.raises(DataError, match=r"raw id\(s\) \[40\]: 40 \(40 points, e.g. .*000000"):
        check_raw_ids(raw, ds.labels)
    del raw.counts[40]
    check_raw_ids(raw, ds.labels)
    content = learning_content(raw, ds.labels)
    assert content[1] == pytest.approx(0.5) and content[9] == pytest.approx(0.25)
    text = raw_content_yaml(raw, ds.labels)
    assert "  1: 0.500000  # car" in text and "  8: 0.250000  # road" in text
    kitti = load_label_config("semantic-kitti")
    with pytest.raises(DataError, match=r"\[8\]"):  # 8 is not a SemanticKITTI raw id
        check_raw_ids(raw, kitti)


def _tool(args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dataset_stats.py")]
                          + args, capture_output=True, text=True, env=env, timeout=300)


def test_dataset_stats_tool(tmp_path):
    root = make_synlidar(tmp_path / "ok", raw_ids=[1, 8, 9, 20], n=80)
    opts = ["--opts", f"train_dataset.root={root}", "train_dataset.sequences=[0]"]
    proc = _tool(["--config", CFG] + opts)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "  20: 0.250000  # vegetation" in proc.stdout
    assert "class_weights: [" in proc.stdout
    bad = make_synlidar(tmp_path / "bad", raw_ids=[1, 77, 99], n=30)
    proc = _tool(["--config", CFG, "--opts", f"train_dataset.root={bad}",
                  "train_dataset.sequences=[0]"])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # paddle may warn on import first
    assert last.startswith("error:") and "raw id(s) [77, 99]" in last
