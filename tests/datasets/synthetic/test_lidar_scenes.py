import importlib.util
import os

import numpy as np

from paddlexseg.datasets.synthetic.lidar_scenes import (LidarSensor, build_sequence,
                                                        generate_semantickitti, scan_lidar)
from paddlexseg.datasets.synthetic.street import RAW

THINGS = {RAW[k] for k in ("car", "bicycle", "truck", "person", "moving-car", "moving-person")}
SMALL = {"scans_per_sequence": 2, "azimuth_steps": 256, "beams": 32}


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_layout_labels_and_side_files(synthetic_kitti, label_config):
    seq = os.path.join(synthetic_kitti, "sequences", "08")
    assert sorted(os.listdir(seq)) == ["calib.txt", "labels", "poses.txt", "times.txt",
                                       "velodyne"]
    assert sorted(os.listdir(os.path.join(seq, "velodyne"))) == [f"{k:06d}.bin" for k in range(3)]
    pts = np.fromfile(os.path.join(seq, "velodyne", "000002.bin"), np.float32).reshape(-1, 4)
    lab = np.fromfile(os.path.join(seq, "labels", "000002.label"), np.uint32)
    assert lab.shape[0] == pts.shape[0] > 10000
    sem, inst = lab & 0xFFFF, lab >> 16
    assert (label_config.learning_map[sem] >= 0).all()
    assert {10, 40, 48, 50}.issubset(set(sem.tolist()))
    assert set(sem[inst > 0].tolist()) <= THINGS and (inst[np.isin(sem, [40, 50])] == 0).all()
    rng = np.linalg.norm(pts[:, :3], axis=1)
    assert rng.max() < 81 and rng.min() > 1.9
    assert 0 <= pts[:, 3].min() and pts[:, 3].max() < 1
    assert -2.0 < np.median(pts[:, 2]) < 0.0                  # sensor 1.73 m above the ground
    calib = dict(line.split(":", 1) for line in open(os.path.join(seq, "calib.txt")))
    assert sorted(calib) == ["P0", "P1", "P2", "P3", "Tr"]
    assert all(len(v.split()) == 12 for v in calib.values())
    poses = np.loadtxt(os.path.join(seq, "poses.txt")).reshape(-1, 3, 4)
    assert poses.shape[0] == 3
    np.testing.assert_allclose(poses[0], np.eye(4)[:3], atol=1e-9)
    assert poses[2, 2, 3] > poses[1, 2, 3] > 0.5               # camera moves forward (+z)
    np.testing.assert_allclose(np.loadtxt(os.path.join(seq, "times.txt")), [0.0, 0.1, 0.2])


def test_deterministic_by_seed_and_per_sequence(tmp_path):
    generate_semantickitti(str(tmp_path / "a"), sequences=(1, 3), seed=7, **SMALL)
    generate_semantickitti(str(tmp_path / "b"), sequences=(3,), seed=7, **SMALL)
    generate_semantickitti(str(tmp_path / "c"), sequences=(3,), seed=8, **SMALL)
    a, b, c = (_files(tmp_path / k) for k in "abc")
    assert len(a) == 2 * (2 * 2 + 3)
    assert all(a[k] == v for k, v in b.items())                # seq 03 alone == seq 03 of (1, 3)
    key = os.path.join("sequences", "03", "velodyne", "000001.bin")
    assert c[key] != b[key]


def test_sensor_beams_and_scene_api():
    sensor = LidarSensor(beams=16, azimuth_steps=360, fov_up=15.0, fov_down=-15.0)
    el = sensor.elevations()
    assert el.shape == (16,) and el[0] == 15.0 and el[-1] == -15.0
    hdl = LidarSensor().elevations()
    assert hdl.shape == (64,) and np.diff(hdl[:32]).mean() > np.diff(hdl[32:]).mean()
    spec = build_sequence(seed=0, sequence=4, scans=2, sensor=sensor)
    labels = {p.label for p in spec.scene.primitives}
    assert {40, 48, 50, 72, 80, 10}.issubset(labels)
    assert spec.velo_poses.shape == (2, 4, 4) and spec.camera_poses().shape == (2, 4, 4)
    scan = scan_lidar(spec.scene.at_time(0.0), spec.velo_poses[0], sensor,
                      spec.sensor_calibration, np.random.default_rng(0))
    assert 0 < scan["points"].shape[0] <= 16 * 360 * 1.01
    assert scan["points"].dtype == np.float32 and scan["semantic"].dtype == np.uint32


def test_cli(tmp_path, capsys):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tools",
                        "generate_synthetic.py")
    spec = importlib.util.spec_from_file_location("generate_synthetic", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(["--kind", "semantickitti", "--out", str(tmp_path), "--sequences", "2",
               "--scans", "1", "--azimuth_steps", "128", "--beams", "16"])
    assert "wrote semantickitti" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "sequences" / "02" / "labels" / "000000.label")
