import json
import os

import numpy as np
import pytest
from PIL import Image

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.nuscenes_lidarseg import (NuScenesLidarSeg, nuscenes_label_config,
                                                   quaternion_to_matrix)
from paddlexseg.registry import ConfigError

FRONT = [0.5, -0.5, 0.5, -0.5]            # camera -> ego: z forward, x right, y down
IMAGE = {"bottom_crop": None, "resize": [80, 48], "color_jitter": None, "flip_prob": 0.0}
# lidar-frame points: straight ahead of the camera, up-left of it, behind the car
POINTS = np.array([[11.5, 0.0, -0.3, 10.0, 0], [11.5, 2.0, 0.7, 20.0, 1],
                   [-5.0, 0.0, 0.0, 30.0, 2], [8.0, -1.0, -1.0, 40.0, 3]], np.float32)
RAW = np.array([17, 24, 0, 30], np.uint8)      # car, driveable_surface, noise, vegetation


def _write(folder, name, rows):
    with open(os.path.join(folder, name + ".json"), "w") as f:
        json.dump(rows, f)


def _rot_z(deg):
    h = np.deg2rad(deg) / 2
    return [float(np.cos(h)), 0.0, 0.0, float(np.sin(h))]


def _layout(root, with_lidarseg=True):
    """One scene, two key frames, LIDAR_TOP + CAM_FRONT; the car moves 0.5 m forward between
    the LiDAR and the camera timestamps, with a 90 degree heading in a global frame."""
    ver = os.path.join(root, "v1.0-mini")
    for sub in (ver, "samples/LIDAR_TOP", "samples/CAM_FRONT", "lidarseg/v1.0-mini"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    _write(ver, "scene", [{"token": "sc1", "name": "scene-0001"},
                          {"token": "sc2", "name": "scene-0002"}])
    _write(ver, "sensor", [{"token": "sl", "channel": "LIDAR_TOP", "modality": "lidar"},
                           {"token": "sc", "channel": "CAM_FRONT", "modality": "camera"}])
    _write(ver, "calibrated_sensor", [
        {"token": "cl", "sensor_token": "sl", "translation": [0, 0, 1.8],
         "rotation": [1, 0, 0, 0], "camera_intrinsic": []},
        {"token": "cc", "sensor_token": "sc", "translation": [1.5, 0, 1.5], "rotation": FRONT,
         "camera_intrinsic": [[100, 0, 80], [0, 100, 45], [0, 0, 1]]}])
    _write(ver, "ego_pose", [
        {"token": "el", "rotation": _rot_z(90), "translation": [100, 50, 0]},
        {"token": "ec", "rotation": _rot_z(90), "translation": [100, 50.5, 0]}])
    samples, data, seg = [], [], []
    for k, scene in enumerate(("sc1", "sc2")):
        samples.append({"token": f"s{k}", "scene_token": scene, "timestamp": k})
        data.append({"token": f"dl{k}", "sample_token": f"s{k}", "calibrated_sensor_token": "cl",
                     "ego_pose_token": "el", "filename": f"samples/LIDAR_TOP/l{k}.pcd.bin",
                     "is_key_frame": True})
        data.append({"token": f"dc{k}", "sample_token": f"s{k}", "calibrated_sensor_token": "cc",
                     "ego_pose_token": "ec", "filename": f"samples/CAM_FRONT/c{k}.jpg",
                     "is_key_frame": True})
        seg.append({"token": f"ls{k}", "sample_data_token": f"dl{k}",
                    "filename": f"lidarseg/v1.0-mini/dl{k}_lidarseg.bin"})
        POINTS.tofile(os.path.join(root, f"samples/LIDAR_TOP/l{k}.pcd.bin"))
        RAW.tofile(os.path.join(root, f"lidarseg/v1.0-mini/dl{k}_lidarseg.bin"))
        Image.fromarray(np.full((90, 160, 3), 100 + k, np.uint8)).save(
            os.path.join(root, f"samples/CAM_FRONT/c{k}.jpg"))
    _write(ver, "sample", samples)
    _write(ver, "sample_data", data)
    if with_lidarseg:
        _write(ver, "lidarseg", seg)
    return root


def _dataset(root, **kw):
    kw.setdefault("image", IMAGE)
    return NuScenesLidarSeg(str(root), version="v1.0-mini", mode=kw.pop("mode", "val"),
                            cameras=["CAM_FRONT"], **kw)


def test_quaternion():
    r = quaternion_to_matrix(FRONT)
    assert np.allclose(r @ [0, 0, 1], [1, 0, 0]) and np.allclose(r @ [1, 0, 0], [0, -1, 0])
    assert np.allclose(quaternion_to_matrix(_rot_z(90)) @ [1, 0, 0], [0, 1, 0])


def test_projection_through_ego_poses_and_labels(tmp_path):
    ds = _dataset(_layout(tmp_path))
    assert len(ds) == 2 and ds.num_classes == 17
    s = ds[0]
    assert s["labels"].tolist() == [4, 11, 0, 16]
    assert s["point2img_index"].tolist() == [0, 1, 3]
    # (row, col) = floor(v, u) scaled from 160 x 90 to 80 x 48; the camera sees the car
    # 0.5 m later, i.e. the point 9.5 m ahead: u = 80 - 100 * 2 / 9.5, v = 45 - 100 / 9.5
    expected = [[45 * 48 / 90, 80 / 2], [np.floor(45 - 100 / 9.5) * 48 / 90,
                                         np.floor(80 - 200 / 9.5) / 2]]
    assert np.array_equal(s["img_indices"][:2], np.asarray(expected).astype(np.int64))
    assert s["img"].shape == (3, 48, 80)
    batch = ds.collate([ds[0], ds[1]])
    assert batch.points.shape == [8, 4] and batch.img.shape == [2, 3, 48, 80]
    assert batch.point2img_index.numpy().tolist() == [0, 1, 3, 4, 5, 7]


def test_scenes_filter_and_test_mode(tmp_path):
    root = _layout(tmp_path, with_lidarseg=False)
    with pytest.raises(DataError, match="lidarseg.json"):
        _dataset(root)
    ds = _dataset(root, mode="test", scenes=["scene-0002"])
    assert len(ds) == 1 and ds[0]["labels"] is None
    (tmp_path / "val.txt").write_text("scene-0001\n")
    assert len(_dataset(root, mode="test", scenes=str(tmp_path / "val.txt"))) == 1
    with pytest.raises(ConfigError, match="scene-0009"):
        _dataset(root, mode="test", scenes=["scene-0009"])


def test_bad_files_name_the_file(tmp_path):
    root = _layout(tmp_path)
    np.zeros(3, np.uint8).tofile(os.path.join(root, "lidarseg/v1.0-mini/dl0_lidarseg.bin"))
    ds = _dataset(root)
    with pytest.raises(DataError, match="dl0_lidarseg.bin.*3 labels"):
        ds[0]
    os.remove(os.path.join(root, "samples/CAM_FRONT/c1.jpg"))
    with pytest.raises(DataError, match="c1.jpg"):
        ds[1]
    os.remove(os.path.join(root, "v1.0-mini/ego_pose.json"))
    with pytest.raises(DataError, match="ego_pose.json"):
        _dataset(root)


def test_label_config():
    cfg = nuscenes_label_config()
    assert cfg.class_names[4] == "car" and cfg.ignore == [0]
    assert cfg.map_labels(np.array([2, 3, 31, 30])).tolist() == [7, 7, 0, 16]
