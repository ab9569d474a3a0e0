"""Scan discovery, projection and the benchmark .label files of range-model predictions."""
import os
import shutil

import numpy as np
import pytest

from paddlexseg.apis.range_io import (RANGENET_KNN, backproject, build_projection,
                                      check_knn, load_scan, prediction_path, resolve_scans,
                                      write_label_file)
from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.semantickitti import read_label
from paddlexseg.registry import ConfigError


def _velodyne(root, seq="08"):
    return os.path.join(root, "sequences", seq, "velodyne")


def test_scan_in_the_kitti_layout_keeps_its_sequence_and_finds_its_labels(synthetic_kitti):
    scan = os.path.join(_velodyne(synthetic_kitti), "000001.bin")
    (item,) = resolve_scans(scan)
    assert (item.sequence, item.name) == ("08", "000001")
    assert item.label_path == os.path.join(synthetic_kitti, "sequences", "08", "labels",
                                           "000001.label")
    assert prediction_path("out", item) == os.path.join("out", "sequences", "08", "predictions",
                                                        "000001.label")


def test_loose_folder_gets_sequence_00_or_the_given_one(synthetic_kitti, tmp_path):
    loose = tmp_path / "scans"
    shutil.copytree(_velodyne(synthetic_kitti), loose)
    (loose / "notes.txt").write_text("not a scan")
    items = resolve_scans(str(loose))
    assert [i.name for i in items] == ["000000", "000001", "000002"]
    assert {i.sequence for i in items} == {"00"} and all(i.label_path is None for i in items)
    assert {i.sequence for i in resolve_scans(str(loose), sequence=5)} == {"05"}


def test_root_uses_the_given_sequences(synthetic_kitti):
    items = resolve_scans(synthetic_kitti, sequences=[8])
    assert len(items) == 3 and {i.sequence for i in items} == {"08"}
    assert len(resolve_scans(synthetic_kitti, sequences=[0, 8])) == 6
    with pytest.raises(ConfigError, match="val_dataset.sequences"):
        resolve_scans(synthetic_kitti)


def test_bad_inputs_name_the_file(synthetic_kitti, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"{empty}: folder holds no .bin scans"):
        resolve_scans(str(empty))
    with pytest.raises(DataError, match="no such file or folder"):
        resolve_scans(str(tmp_path / "missing"))
    txt = tmp_path / "scan.txt"
    txt.write_text("x")
    with pytest.raises(DataError, match="expected a KITTI .bin"):
        resolve_scans(str(txt))
    bad = tmp_path / "bad"
    bad.mkdir()
    data = open(os.path.join(_velodyne(synthetic_kitti), "000000.bin"), "rb").read()
    (bad / "000007.bin").write_bytes(data[:-5])  # truncated
    with pytest.raises(DataError, match=r"000007.bin: file size \d+ bytes is not a positive "
                                        r"multiple of 16"):
        resolve_scans(str(bad))


def test_load_scan_projects_and_maps_ground_truth(synthetic_kitti, label_config):
    (item,) = resolve_scans(os.path.join(_velodyne(synthetic_kitti), "000000.bin"))
    scan = load_scan(item, build_projection({"H": 16, "W": 64}), label_config)
    n = scan["points"].shape[0]
    assert scan["range_img"].shape == (5, 16, 64) and scan["proj_x"].shape == (n,)
    raw, _ = read_label(item.label_path, scan["valid"].shape[0])
    np.testing.assert_array_equal(scan["labels"], label_config.learning_map[raw[scan["valid"]]])
    assert load_scan(item, build_projection(None), None)["labels"] is None


def test_label_file_round_trips_through_learning_map_inv(tmp_path, label_config):
    rng = np.random.default_rng(0)
    learning = rng.integers(0, label_config.num_classes, 499)
    valid = np.ones(503, bool)
    valid[[3, 100, 101, 402]] = False  # records dropped for NaN/inf
    path = str(tmp_path / "sequences" / "08" / "predictions" / "000000.label")
    raw = write_label_file(path, learning, valid, label_config.learning_map_inv)
    semantic, instance = read_label(path, 503)
    np.testing.assert_array_equal(semantic, raw)
    # ... take the prediction of the nearest kept record in file order (the earlier on a tie)
    assert not instance.any()
    np.testing.assert_array_equal(semantic[[3, 100, 101, 402]], semantic[[2, 99, 102, 401]])
    zero = write_label_file(path, learning, valid, label_config.learning_map_inv,
                            fill="unlabeled")
    assert (zero[~valid] == 0).all() and np.array_equal(zero[valid], raw[valid])
    np.testing.assert_array_equal(semantic[valid], label_config.learning_map_inv[learning])
    np.testing.assert_array_equal(label_config.map_labels(semantic[valid]), learning)
    # e.g. learning id 1 (car) is raw id 10, learning id 9 (road) raw id 40
    assert label_config.learning_map_inv[1] == 10 and label_config.learning_map_inv[9] == 40
    with pytest.raises(ValueError, match="learning ids span"):
        write_label_file(path, np.array([0, 20]), np.ones(2, bool), label_config.learning_map_inv)
    with pytest.raises(ValueError, match="3 predictions for 2 kept points"):
        write_label_file(path, np.zeros(3), np.ones(2, bool), label_config.learning_map_inv)


def test_backproject_without_knn_reads_each_points_pixel():
    argmax = np.arange(12).reshape(3, 4)
    scan = {"proj_x": np.array([0, 3, 1], np.int32), "proj_y": np.array([0, 2, 1], np.int32)}
    np.testing.assert_array_equal(backproject(argmax, scan, 12), [0, 11, 5])


def test_check_knn():
    assert check_knn(None) is None
    assert check_knn(RANGENET_KNN) == {"k": 5, "search": 5, "sigma": 1.0, "cutoff": 1.0}
    with pytest.raises(ConfigError, match="metric.knn: expected null or a mapping"):
        check_knn({"k": 5})

