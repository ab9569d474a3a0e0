"""nuScenes-lidarseg (Fong et al., 2021) with one of the six cameras per sample, for 2DPASS.

Reads the official folder and JSON layout directly (no nuscenes-devkit)::

    root/<version>/scene.json sample.json sample_data.json sensor.json calibrated_sensor.json
                   ego_pose.json lidarseg.json (lidarseg.json not needed in mode "test")
    root/samples/LIDAR_TOP/*.pcd.bin      float32 [N, 5] x, y, z, intensity, ring
    root/samples/CAM_*/*.jpg              camera images (1600 x 900)
    root/lidarseg/<version>/<token>_lidarseg.bin   uint8 [N] raw category index per point

Key frames (``is_key_frame``) of the selected scenes are the samples. Raw category indices
(0..31) are mapped to the 16 lidarseg classes (+ 0 = ignored) as in 2DPASS's
``config/label_mapping/nuscenes.yaml``. Points are projected into the chosen camera through
lidar -> ego (lidar time) -> global -> ego (camera time) -> camera -> intrinsics, keeping points
with positive depth strictly inside the image (2DPASS ``map_pointcloud_to_image``); the image
is resized to 400 x 240 with the pixel positions scaled along. The rest of the sample pipeline
is shared with :class:`~.semantickitti_fusion.SemanticKITTIFusion`.
"""
import json
import os

import numpy as np
import paddle

from ..registry import DATASETS, ConfigError
from ..transforms.fusion import FusionImageAugment, FusionPointAugment
from .errors import DataError
from .seeding import EpochSeeded
from .label_config import LabelConfig, load_label_config
from ..metrics.point_fill import check_unseen_mode
from .semantickitti_fusion import (build_fusion_sample, build_sub_config, collate_fusion,
                                   read_image, require_image_points)

__all__ = ["NuScenesLidarSeg", "nuscenes_label_config", "quaternion_to_matrix", "CAMERAS",
           "NUSCENES_LEARNING_MAP", "NUSCENES_CLASSES"]

CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT",
           "CAM_FRONT_LEFT")
NUSCENES_CLASSES = ("noise", "barrier", "bicycle", "bus", "car", "construction_vehicle",
                    "motorcycle", "pedestrian", "traffic_cone", "trailer", "truck",
                    "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade",
                    "vegetation")
# raw category index (category.json "index") -> learning id
NUSCENES_LEARNING_MAP = {0: 0, 1: 0, 2: 7, 3: 7, 4: 7, 5: 0, 6: 7, 7: 0, 8: 0, 9: 1, 10: 0,
                         11: 0, 12: 8, 13: 0, 14: 2, 15: 3, 16: 3, 17: 4, 18: 5, 19: 0, 20: 0,
                         21: 6, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 29: 0,
                         30: 16, 31: 0}
_RAW_NAMES = ("noise", "animal", "human.pedestrian.adult", "human.pedestrian.child",
              "human.pedestrian.construction_worker", "human.pedestrian.personal_mobility",
              "human.pedestrian.police_officer", "human.pedestrian.stroller",
              "human.pedestrian.wheelchair", "movable_object.barrier", "movable_object.debris",
              "movable_object.pushable_pullable", "movable_object.trafficcone",
              "static_object.bicycle_rack", "vehicle.bicycle", "vehicle.bus.bendy",
              "vehicle.bus.rigid", "vehicle.car", "vehicle.construction",
              "vehicle.emergency.ambulance", "vehicle.emergency.police", "vehicle.motorcycle",
              "vehicle.trailer", "vehicle.truck", "flat.driveable_surface", "flat.other",
              "flat.sidewalk", "flat.terrain", "static.manmade", "static.other",
              "static.vegetation", "vehicle.ego")
_COLORS = ((0, 0, 0), (255, 120, 50), (255, 192, 203), (255, 255, 0), (0, 150, 245),
           (0, 255, 255), (255, 127, 0), (255, 0, 0), (255, 240, 150), (135, 60, 0),
           (160, 32, 240), (255, 0, 255), (139, 137, 137), (75, 0, 75), (150, 240, 80),
           (230, 230, 250), (0, 175, 0))
_TABLES = ("scene", "sample", "sample_data", "sensor", "calibrated_sensor", "ego_pose")


def nuscenes_label_config():
    """The 17-class (0 = ignored) nuScenes-lidarseg LabelConfig used by 2DPASS."""
    lut = np.array([NUSCENES_LEARNING_MAP[i] for i in range(32)], dtype=np.int64)
    inv = np.array([0] + [next(r for r in range(32) if lut[r] == c) for c in range(1, 17)],
                   dtype=np.int64)
    return LabelConfig(name="nuscenes", path="<built-in nuscenes>", num_classes=17,
                       class_names=list(NUSCENES_CLASSES),
                       colors=np.array(_COLORS, dtype=np.uint8), learning_map=lut,
                       learning_map_inv=inv, content=np.ones(17), ignore=[0],
                       raw_names=dict(enumerate(_RAW_NAMES)))


def quaternion_to_matrix(q):
    """Rotation matrix [3, 3] of a unit quaternion (w, x, y, z) (pyquaternion convention)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _pose(record):
    """4x4 matrix of a record with ``rotation`` (w, x, y, z) and ``translation``."""
    m = np.eye(4)
    m[:3, :3] = quaternion_to_matrix(record["rotation"])
    m[:3, 3] = record["translation"]
    return m


def _read_scene_list(path):
    """Scene names, one per line, from a text file (e.g. the devkit's split lists)."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: scene list not found; expected a text file with one scene "
                        f"name (e.g. scene-0001) per line")
    with open(path, "r") as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise DataError(f"{path}: the scene list is empty")
    return names


def _read_table(folder, name):
    path = os.path.join(folder, name + ".json")
    if not os.path.isfile(path):
        raise DataError(f"{path}: nuScenes table not found; expected {name}.json in the "
                        f"version folder")
    try:
        with open(path, "r") as f:
            rows = json.load(f)
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of records")
    return rows


@DATASETS.register()
class NuScenesLidarSeg(EpochSeeded, paddle.io.Dataset):
    """nuScenes-lidarseg key frames with a camera image each (2DPASS input).

    Args:
        root: the nuScenes folder (holding ``samples/``, ``lidarseg/`` and ``<version>/``).
        version: table folder, e.g. "v1.0-trainval", "v1.0-mini", "v1.0-test".
        scenes: scene names to use (e.g. the devkit's train/val split lists), a text file
            with one name per line, or None for all scenes of the version.
        mode: "train" (labels, augmentation), "val" (labels) or "test" (no labels).
        label_config: None for the built-in 16-class mapping, or a label YAML name/path.
        min_volume, max_volume: voxel volume corners (2DPASS: [-50, -50, -4], [50, 50, 3]).
        augment: FusionPointAugment arguments (mode "train"), None = off.
        image: FusionImageAugment arguments; None = resize to 400 x 240, jitter 0.4, flip 0.5.
        use_image: read images (False: LiDAR only).
        cameras: camera channels to draw from (a random one per sample in mode "train",
            the first one otherwise).
        max_points: randomly subsample larger scans in mode "train" (None = keep all).
        unseen_points: prediction of the points outside the volume, scored in val: "nearest"
            or "unlabeled" (the original 2DPASS); :mod:`paddlexseg.metrics.point_fill`.
        seed: seed of the random streams. config_path: key path used in errors.
    """

    def __init__(self, root, version="v1.0-trainval", scenes=None, mode="train",
                 label_config=None, min_volume=(-50.0, -50.0, -4.0),
                 max_volume=(50.0, 50.0, 3.0), augment=None, image=None, use_image=True,
                 cameras=CAMERAS, max_points=None, unseen_points="nearest", seed=0,
                 config_path="dataset"):
        super().__init__()
        if mode not in ("train", "val", "test"):
            raise ConfigError(f"{config_path}.mode: expected train, val or test, got {mode!r}")
        unknown = [c for c in cameras if c not in CAMERAS]
        if not cameras or unknown:
            raise ConfigError(f"{config_path}.cameras: expected channels from {CAMERAS}, "
                              f"got {list(cameras)}")
        self.root, self.version, self.mode, self.seed = str(root), version, mode, int(seed)
        self.cameras = tuple(cameras)
        self.volume = (tuple(map(float, min_volume)), tuple(map(float, max_volume)))
        self.max_points = None if max_points is None else int(max_points)
        self.unseen_points = check_unseen_mode(unseen_points, f"{config_path}.unseen_points")
        self.labels = (nuscenes_label_config() if label_config is None
                       else load_label_config(label_config))
        self.point_aug = build_sub_config(augment, FusionPointAugment, f"{config_path}.augment")
        self.image_aug = build_sub_config(
            image, FusionImageAugment, f"{config_path}.image",
            default=FusionImageAugment(bottom_crop=None, resize=(400, 240)))
        self.use_image = bool(use_image)
        if isinstance(scenes, str):
            scenes = _read_scene_list(scenes)
        self.samples = self._index(scenes, config_path)
        self.epoch = 0

    def _index(self, scenes, config_path):
        folder = os.path.join(self.root, self.version)
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: nuScenes version folder not found; expected "
                            f"<root>/{self.version}/sample.json ...")
        t = {name: _read_table(folder, name) for name in _TABLES}
        self.tables = {name: {r["token"]: r for r in rows} for name, rows in t.items()}
        channel = {}
        for cs in t["calibrated_sensor"]:
            sensor = self.tables["sensor"].get(cs["sensor_token"])
            if sensor is None:
                raise DataError(f"{folder}/calibrated_sensor.json: sensor_token "
                                f"{cs['sensor_token']} has no record in sensor.json")
            channel[cs["token"]] = sensor["channel"]
        by_sample = {}
        for sd in t["sample_data"]:
            if sd.get("is_key_frame", True):
                by_sample.setdefault(sd["sample_token"], {})[
                    channel[sd["calibrated_sensor_token"]]] = sd
        seg = {}
        if self.mode != "test":
            seg = {r["sample_data_token"]: r["filename"]
                   for r in _read_table(folder, "lidarseg")}
        names = {s["token"]: s["name"] for s in t["scene"]}
        if scenes is not None:
            missing = sorted(set(scenes) - set(names.values()))
            if missing:
                raise ConfigError(f"{config_path}.scenes: {missing[:5]} are not in "
                                  f"{folder}/scene.json")
        out = []
        for sample in t["sample"]:
            if scenes is not None and names.get(sample["scene_token"]) not in scenes:
                continue
            data = by_sample.get(sample["token"], {})
            if "LIDAR_TOP" not in data:
                raise DataError(f"{folder}/sample_data.json: sample {sample['token']} has no "
                                f"LIDAR_TOP key frame")
            lidar = data["LIDAR_TOP"]
            if self.mode != "test" and lidar["token"] not in seg:
                raise DataError(f"{folder}/lidarseg.json: no labels for LIDAR_TOP sample_data "
                                f"{lidar['token']}")
            cams = {c: data[c] for c in self.cameras if c in data}
            if self.use_image and len(cams) != len(self.cameras):
                raise DataError(f"{folder}/sample_data.json: sample {sample['token']} lacks "
                                f"camera(s) {sorted(set(self.cameras) - set(cams))}")
            out.append({"lidar": lidar, "cams": cams, "seg": seg.get(lidar["token"])})
        if not out:
            raise DataError(f"{folder}: no samples selected (scenes={scenes})")
        return out

    @property
    def num_classes(self):
        return self.labels.num_classes

    def __len__(self):
        return len(self.samples)

    def load(self, index):
        """Points float32 [N, 4] (x, y, z, intensity) and learning labels int64 [N] or None."""
        rec = self.samples[index]
        path = os.path.join(self.root, rec["lidar"]["filename"])
        if not os.path.isfile(path):
            raise DataError(f"{path}: LiDAR file not found; expected a .pcd.bin of float32 "
                            f"(x, y, z, intensity, ring) records")
        if os.path.getsize(path) % 20:
            raise DataError(f"{path}: size {os.path.getsize(path)} bytes is not a multiple of "
                            f"20; expected 5 float32 values per point")
        points = np.fromfile(path, dtype=np.float32).reshape(-1, 5)[:, :4]
        if rec["seg"] is None:
            return np.ascontiguousarray(points), None
        seg_path = os.path.join(self.root, rec["seg"])
        if not os.path.isfile(seg_path):
            raise DataError(f"{seg_path}: lidarseg label file not found")
        raw = np.fromfile(seg_path, dtype=np.uint8)
        if raw.shape[0] != points.shape[0]:
            raise DataError(f"{seg_path}: has {raw.shape[0]} labels but {path} has "
                            f"{points.shape[0]} points; expected one uint8 per point")
        return np.ascontiguousarray(points), self.labels.map_labels(raw, source=seg_path)

    def _projection(self, lidar, cam, size):
        """Function xyz [N, 3] -> (keep [N], pixels [M, 2] (row, col)) into camera ``cam``."""
        cs = self.tables["calibrated_sensor"]
        ego = self.tables["ego_pose"]
        lidar_to_global = _pose(ego[lidar["ego_pose_token"]]) @ _pose(
            cs[lidar["calibrated_sensor_token"]])
        cam_cs = cs[cam["calibrated_sensor_token"]]
        global_to_cam = np.linalg.inv(_pose(ego[cam["ego_pose_token"]]) @ _pose(cam_cs))
        m = global_to_cam @ lidar_to_global                              # [4, 4]
        k = np.asarray(cam_cs["camera_intrinsic"], dtype=np.float64)    # [3, 3]
        width, height = size

        def project(xyz):
            pc = xyz.astype(np.float64) @ m[:3, :3].T + m[:3, 3]        # camera frame
            depth = pc[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                uv = (pc @ k.T)[:, :2] / depth[:, None]
            keep = (depth > 0) & (uv[:, 0] > 0) & (uv[:, 0] < width) & (uv[:, 1] > 0) & \
                   (uv[:, 1] < height)
            return keep, np.ascontiguousarray(uv[keep][:, ::-1]).astype(np.float32)
        return project

    def __getitem__(self, index):
        rec = self.samples[index]
        points, labels = self.load(index)
        rng = self._rng(index)
        train = self.mode == "train"
        image = project = None
        if self.use_image:
            cam_name = self.cameras[rng.integers(len(self.cameras))] if train else self.cameras[0]
            cam = rec["cams"][cam_name]
            image = read_image(os.path.join(self.root, cam["filename"]))
            project = self._projection(rec["lidar"], cam, (image.shape[1], image.shape[0]))
        sample = build_fusion_sample(points, labels, rng, train, self.volume, self.point_aug,
                                     self.image_aug, image, project, self.max_points,
                                     self.unseen_points)
        if self.use_image:
            require_image_points(sample, os.path.join(self.root, rec["lidar"]["filename"]),
                                 os.path.join(self.root, cam["filename"]))
        sample["origin_len"] = points.shape[0]
        sample["path"] = rec["lidar"]["filename"]
        return sample

    @staticmethod
    def collate(samples):
        """Stack samples into a :class:`~paddlexseg.structures.FusionBatch`."""
        return collate_fusion(samples)
