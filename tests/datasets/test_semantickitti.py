import os
import shutil

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.semantickitti import SemanticKITTI, read_label, read_scan
from paddlexseg.registry import DATASETS, ConfigError
from paddlexseg.structures import RangeBatch

PROJ = {"H": 64, "W": 512}


def _dataset(root, **kw):
    kw.setdefault("projection", PROJ)
    return SemanticKITTI(root=root, sequences=kw.pop("sequences", [0]), **kw)


def _one_scan_copy(src_root, dst):
    """A sequence 00 holding a copy of the first synthetic scan, to corrupt."""
    for sub in ("velodyne", "labels"):
        os.makedirs(dst / "sequences" / "00" / sub)
    shutil.copy(f"{src_root}/sequences/00/velodyne/000000.bin", dst / "sequences/00/velodyne")
    shutil.copy(f"{src_root}/sequences/00/labels/000000.label", dst / "sequences/00/labels")
    return dst / "sequences/00/velodyne/000000.bin", dst / "sequences/00/labels/000000.label"


def test_sample_and_batch(synthetic_kitti):
    ds = _dataset(synthetic_kitti, sequences=[0, "08"], mode="val")
    assert len(ds) == 6 and ds.num_classes == 20
    s = ds[4]
    assert s["sequence"] == "08" and s["name"] == "000001"
    n = s["points"].shape[0]
    assert s["range_img"].shape == (5, 64, 512) and s["range_img"].dtype == np.float32
    assert s["proj_labels"].shape == (64, 512) and s["point_labels"].shape == (n,)
    assert s["proj_x"].shape == (n,) and s["unproj_range"].shape == (n,)
    # every occupied pixel shows the label of the nearest point that projects there
    rows, cols = np.nonzero(s["proj_mask"])
    assert (s["proj_labels"][s["proj_mask"] == 0] == 0).all()
    pix = s["proj_y"].astype(np.int64) * 512 + s["proj_x"]
    order = np.lexsort((s["unproj_range"], pix))
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
    np.testing.assert_array_equal(s["proj_labels"].ravel()[pix[first]], s["point_labels"][first])
    assert len(rows) == len(first)
    present = set(np.unique(s["point_labels"]).tolist())
    assert {1, 9, 11, 13}.issubset(present)                # car, road, sidewalk, building

    batch = SemanticKITTI.collate([ds[0], ds[1]])
    assert isinstance(batch, RangeBatch) and batch.batch_size == 2
    assert tuple(batch.range_img.shape) == (2, 5, 64, 512)
    assert tuple(batch.labels.shape) == (2, 64, 512) and str(batch.labels.dtype) == "paddle.int64"
    assert tuple(batch.proj_mask.shape) == (2, 64, 512)
    assert batch.scans[1].points.shape[1] == 4 and batch.scans[1].labels is not None
    assert list(batch.inputs()) == ["range_img"]


def test_test_mode_has_no_labels(synthetic_kitti, tmp_path):
    _one_scan_copy(synthetic_kitti, tmp_path)
    os.remove(tmp_path / "sequences/00/labels/000000.label")
    ds = _dataset(str(tmp_path), mode="test")
    batch = SemanticKITTI.collate([ds[0]])
    assert batch.labels is None and batch.scans[0].labels is None
    with pytest.raises(DataError, match=r"000000\.label: label file not found"):
        _dataset(str(tmp_path), mode="train")


def test_augmentation_is_seeded(synthetic_kitti):
    aug = {"rotate_z": 180, "dropout": 0.05}
    a = _dataset(synthetic_kitti, augment=aug, seed=3)
    b = _dataset(synthetic_kitti, augment=aug, seed=3)
    s1, s2 = a[0], b[0]
    np.testing.assert_array_equal(s1["points"], s2["points"])
    assert s1["points"].shape[0] == s1["point_labels"].shape[0]
    np.testing.assert_array_equal(a[0]["points"], s1["points"])  # same (seed, epoch, index)
    a.set_epoch(1)
    assert not np.array_equal(a[0]["points"], s1["points"])      # a new epoch draws anew
    val = _dataset(synthetic_kitti, augment=aug, mode="val")
    np.testing.assert_array_equal(val[0]["points"], read_scan(val.files[0][0]))


def test_max_points(synthetic_kitti):
    ds = _dataset(synthetic_kitti, max_points=1000)
    assert ds[0]["points"].shape == (1000, 4)
    with pytest.raises(DataError, match="more than max_points=1000"):
        _dataset(synthetic_kitti, max_points=1000, mode="val")[0]


def test_config_errors_name_the_key(synthetic_kitti):
    cfg = {"type": "SemanticKITTI", "root": synthetic_kitti, "sequences": [0],
           "projection": {"H": 64, "fov_upp": 3.0}}
    with pytest.raises(ConfigError, match=r"train_dataset\.projection\.fov_upp: unknown key"):
        DATASETS.build(cfg, path="train_dataset", config_path="train_dataset")
    with pytest.raises(ConfigError, match=r"dataset\.augment\.rotate: unknown key"):
        _dataset(synthetic_kitti, augment={"rotate": 10})
    with pytest.raises(ConfigError, match=r"dataset\.projection: .*fov_up"):
        _dataset(synthetic_kitti, projection={"fov_up": -30.0})
    with pytest.raises(ConfigError, match=r"dataset\.mode"):
        _dataset(synthetic_kitti, mode="training")
    with pytest.raises(ConfigError, match=r"train_dataset\.depth: unknown key"):
        DATASETS.build({"type": "SemanticKITTI", "root": "x", "sequences": [0], "depth": 1},
                       path="train_dataset")
    ds = DATASETS.build({"type": "SemanticKITTI", "root": synthetic_kitti, "sequences": [8],
                         "mode": "val", "projection": PROJ}, path="val_dataset")
    assert len(ds) == 3


def test_missing_sequence_folder(synthetic_kitti):
    with pytest.raises(DataError, match=r"sequences/05: sequence folder not found"):
        _dataset(synthetic_kitti, sequences=[0, 5])
    with pytest.raises(DataError, match=r"sequences: folder not found"):
        _dataset(os.path.join(synthetic_kitti, "nothing"))


def test_bin_size_not_multiple_of_16(synthetic_kitti, tmp_path):
    scan, _ = _one_scan_copy(synthetic_kitti, tmp_path)
    with open(scan, "ab") as f:
        f.write(b"\0" * 8)
    with pytest.raises(DataError, match=r"000000\.bin: file size \d+ bytes is not a multiple "
                                        r"of 16"):
        _dataset(str(tmp_path))[0]


def test_label_count_mismatch(synthetic_kitti, tmp_path):
    _, label = _one_scan_copy(synthetic_kitti, tmp_path)
    np.fromfile(label, dtype=np.uint32)[:-3].tofile(label)
    with pytest.raises(DataError, match=r"000000\.label: has \d+ labels but its scan has "
                                        r"\d+ points"):
        _dataset(str(tmp_path))[0]


def test_nan_points_are_dropped_with_a_warning(synthetic_kitti, tmp_path):
    scan, label = _one_scan_copy(synthetic_kitti, tmp_path)
    pts = np.fromfile(scan, dtype=np.float32).reshape(-1, 4)
    raw = np.fromfile(label, dtype=np.uint32)
    pts[[0, 5]] = np.nan
    pts[9, 3] = np.inf
    pts.tofile(scan)
    with pytest.warns(UserWarning, match=r"000000\.bin: dropped 3 of \d+ points"):
        s = _dataset(str(tmp_path), mode="val")[0]
    keep = np.ones(len(pts), bool)
    keep[[0, 5, 9]] = False
    np.testing.assert_array_equal(s["points"], pts[keep])
    sem, inst = read_label(str(label), len(pts))
    np.testing.assert_array_equal(sem, raw & 0xFFFF)
    np.testing.assert_array_equal(inst, raw >> 16)


def test_empty_scan(synthetic_kitti, tmp_path):
    scan, label = _one_scan_copy(synthetic_kitti, tmp_path)
    open(scan, "wb").close()
    open(label, "wb").close()
    with pytest.raises(DataError, match=r"000000\.bin: scan has no valid points"):
        _dataset(str(tmp_path))[0]


def test_unknown_raw_class_id(synthetic_kitti, tmp_path):
    _, label = _one_scan_copy(synthetic_kitti, tmp_path)
    raw = np.fromfile(label, dtype=np.uint32)
    raw[7] = (3 << 16) | 123
    raw.tofile(label)
    with pytest.raises(DataError, match=r"000000\.label: raw class id\(s\) 123 are not defined"):
        _dataset(str(tmp_path))[0]
