"""KITTI 3-D object detection (Geiger et al., CVPR 2012), as mmdetection3d / OpenPCDet read it.

Layout read under ``root``::

    ImageSets/{train,val,trainval,test}.txt     frame ids, one per line (3712 / 3769 split)
    training/velodyne/NNNNNN.bin                float32 x, y, z, intensity (LiDAR frame)
    training/image_2/NNNNNN.png                 left colour image
    training/calib/NNNNNN.txt                   P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    training/label_2/NNNNNN.txt                 objects (not read in mode "test")
    testing/...                                 the same without label_2 (split "test")

Points are cropped on the fly to the camera field of view (what ``velodyne_reduced`` holds).
Every calibration, label and image header is read when the dataset is built, so bad input
fails at once with one :class:`~paddlexseg.datasets.errors.DataError` naming the file (and a
data loader never raises inside ``__getitem__`` for a bad file).

Learning targets are the LiDAR boxes of the objects whose type is in ``class_names``; the full
annotation (all objects, DontCare / Van / Person_sitting included, camera frame, not augmented)
goes to the evaluator in ``DetBatch.gt_annos``.
"""
import os

import numpy as np
import paddle

from ..boxes3d import camera_boxes_to_lidar, limit_period
from ..registry import DATASETS, ConfigError
from ..structures import DetBatch, to_tensor
from ..transforms.det_aug import DetAugment, ObjectNoise, apply_ranges
from .errors import DataError
from .kitti_calib import fov_mask, read_kitti_calib
from .kitti_label import read_label
from .semantickitti import read_scan
from .semantickitti_fusion import build_sub_config
from .seeding import EpochSeeded

__all__ = ["KittiObject", "read_image_set", "image_size_of", "annotation_to_lidar",
           "DEFAULT_CLASSES", "MVX_IMAGE_MEAN"]

DEFAULT_CLASSES = ("Car", "Pedestrian", "Cyclist")
MODES = ("train", "val", "test")
MVX_IMAGE_MEAN = (103.530, 116.280, 123.675)          # mmdet3d MVX-Net img_norm_cfg (BGR)


def read_image_set(path):
    """Frame ids (str) of an ``ImageSets/*.txt`` file; DataError if missing or empty."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: split file not found; expected ImageSets/<split>.txt with "
                        f"one frame id per line")
    with open(path, "r") as f:
        ids = [line.strip() for line in f if line.strip()]
    if not ids:
        raise DataError(f"{path}: split file lists no frame; expected one frame id per line")
    return ids


def image_size_of(path):
    """(H, W) of an image file from its header; DataError naming it when missing/unreadable."""
    from PIL import Image
    if not os.path.isfile(path):
        raise DataError(f"{path}: camera image not found; expected image_2/<frame>.png (the "
                        f"FOV crop and the 2-D evaluation need it)")
    try:
        with Image.open(path) as img:
            return int(img.size[1]), int(img.size[0])
    except OSError as err:
        raise DataError(f"{path}: cannot read the image ({err}); expected a PNG") from None


def annotation_to_lidar(anno, calib, class_names):
    """LiDAR boxes float64 [M, 7] and labels int64 [M] (index into ``class_names``, -1 for
    other types) of the non-DontCare objects of ``anno``."""
    keep = anno["name"] != "DontCare"
    loc, dims, ry = anno["location"][keep], anno["dimensions"][keep], anno["rotation_y"][keep]
    boxes_cam = np.concatenate([loc, dims, ry[:, None]], axis=1).reshape(-1, 7)
    lookup = {n: i for i, n in enumerate(class_names)}
    labels = np.array([lookup.get(str(n), -1) for n in anno["name"][keep]], dtype=np.int64)
    return camera_boxes_to_lidar(boxes_cam, calib), labels


@DATASETS.register()
class KittiObject(EpochSeeded, paddle.io.Dataset):
    """KITTI object frames for LiDAR (SECOND) or LiDAR + camera (MVX-Net) detection.

    Args:
        root: folder holding ``ImageSets/``, ``training/`` (and ``testing/``).
        split: name of the ``ImageSets`` file (``train``, ``val``, ``trainval``, ``test``).
        mode: "train" (augmentation), "val" (labels, no augmentation) or "test" (no labels).
        class_names: object types learned, in label order (default Car, Pedestrian, Cyclist).
        fov_crop: keep only points that project into the image (KITTI ``velodyne_reduced``).
        point_range: (x_min, y_min, z_min, x_max, y_max, z_max) point filter in every mode
            (and object filter in mode "train"); None = no filter.
        augment: :class:`~paddlexseg.transforms.det_aug.DetAugment` arguments (mode "train";
            None = no augmentation).
        object_noise: :class:`~paddlexseg.transforms.det_aug.ObjectNoise` arguments (mode
            "train", after GT sampling; None = off; SECOND: ``{}``).
        gt_sampler: :class:`~paddlexseg.datasets.gt_database.GTSampler` arguments (mode
            "train"; None = no GT sampling). A relative ``info_path`` is taken under ``root``.
        load_image: also load ``image_2`` as BGR float32 [3, H, W] (MVX-Net).
        image_size: (W, H) to resize images to (None = original size); recorded in metas.
        image_mean, image_std: BGR normalisation (default mmdet3d MVX-Net: mean only).
        seed: seed of the augmentation streams (per seed, epoch and frame index).
        config_path: key path used in config error messages.
    """

    def __init__(self, root, split="train", mode="train", class_names=DEFAULT_CLASSES,
                 fov_crop=True, point_range=None, augment=None, gt_sampler=None,
                 object_noise=None, load_image=False, image_size=None,
                 image_mean=MVX_IMAGE_MEAN, image_std=(1.0, 1.0, 1.0), seed=0,
                 config_path="dataset"):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"{config_path}.mode: expected one of {MODES}, got {mode!r}")
        if isinstance(class_names, str) or not class_names:
            raise ConfigError(f"{config_path}.class_names: expected a list of KITTI types, "
                              f"got {class_names!r}")
        if point_range is not None and (len(point_range) != 6 or any(
                point_range[i] >= point_range[i + 3] for i in range(3))):
            raise ConfigError(f"{config_path}.point_range: expected [x_min, y_min, z_min, "
                              f"x_max, y_max, z_max] with min < max, got {point_range}")
        if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
            raise ConfigError(f"{config_path}.image_size: expected [width, height], got "
                              f"{image_size}")
        self.root, self.split, self.mode, self.seed = str(root), str(split), mode, int(seed)
        self.class_names = tuple(str(c) for c in class_names)
        self.fov_crop, self.load_image = bool(fov_crop), bool(load_image)
        self.point_range = None if point_range is None else [float(v) for v in point_range]
        self.image_size = None if image_size is None else (int(image_size[0]),
                                                           int(image_size[1]))
        self.image_mean = np.asarray(image_mean, np.float32).reshape(3, 1, 1)
        self.image_std = np.asarray(image_std, np.float32).reshape(3, 1, 1)
        self.augment = build_sub_config(augment, DetAugment, f"{config_path}.augment")
        self.object_noise = build_sub_config(object_noise, ObjectNoise,
                                             f"{config_path}.object_noise")
        self.sampler = None
        if gt_sampler is not None and mode == "train":
            from .gt_database import GTSampler
            if not isinstance(gt_sampler, dict):
                raise ConfigError(f"{config_path}.gt_sampler: expected a mapping of GTSampler "
                                  f"arguments, got {gt_sampler!r}")
            cfg = dict(gt_sampler, class_names=self.class_names)
            cfg.setdefault("root", self.root)
            self.sampler = build_sub_config(cfg, GTSampler, f"{config_path}.gt_sampler")
        folder = os.path.join(self.root, "testing" if self.split == "test" else "training")
        self.folder = folder
        self.ids = read_image_set(os.path.join(self.root, "ImageSets", f"{self.split}.txt"))
        self.frames = [self._index_frame(fid) for fid in self.ids]
        self.epoch = 0

    def _path(self, sub, fid, ext):
        return os.path.join(self.folder, sub, f"{fid}.{ext}")

    def _index_frame(self, fid):
        """Check the frame's files and read its calib, label and image size (DataError)."""
        velo = self._path("velodyne", fid, "bin")
        if not os.path.isfile(velo):
            raise DataError(f"{velo}: velodyne file not found for frame '{fid}' listed in "
                            f"ImageSets/{self.split}.txt")
        size = os.path.getsize(velo)
        if size % 16 or size == 0:
            raise DataError(f"{velo}: file size {size} bytes is not a positive multiple of 16; "
                            f"expected float32 (x, y, z, intensity) records")
        calib = read_kitti_calib(self._path("calib", fid, "txt"))
        image_shape = None
        if self.fov_crop or self.load_image:
            image_shape = image_size_of(self._path("image_2", fid, "png"))
        anno = None if self.mode == "test" else read_label(self._path("label_2", fid, "txt"))
        return {"frame_id": fid, "velodyne": velo, "calib": calib, "image_shape": image_shape,
                "anno": anno}

    def __len__(self):
        return len(self.frames)

    def load_points(self, index):
        """Points float32 [N, 4] of frame ``index``, FOV-cropped when ``fov_crop``."""
        frame = self.frames[index]
        points = read_scan(frame["velodyne"])
        if self.fov_crop:
            points = points[fov_mask(points, frame["calib"], frame["image_shape"])]
        return points

    def _load_image(self, frame, flip, meta):
        from PIL import Image
        path = self._path("image_2", frame["frame_id"], "png")
        with Image.open(path) as img:
            img = img.convert("RGB")
            w0, h0 = img.size
            if self.image_size is not None and self.image_size != (w0, h0):
                img = img.resize(self.image_size, Image.BILINEAR)
            rgb = np.asarray(img, dtype=np.float32)
        if flip:
            rgb = rgb[:, ::-1]
        image = rgb[:, :, ::-1].transpose(2, 0, 1)                          # BGR [3, H, W]
        image = (image - self.image_mean) / self.image_std
        meta.update(img_shape=(rgb.shape[0], rgb.shape[1]), flip=bool(flip),
                    scale_factor=(rgb.shape[1] / w0, rgb.shape[0] / h0))
        return np.ascontiguousarray(image, dtype=np.float32)

    def image_of(self, index, flip=False):
        """The camera image of frame ``index`` as the model sees it (BGR, resized, normalised,
        float32 [3, H, W], mirrored with ``flip``) and its meta entries (img_shape, flip,
        scale_factor)."""
        meta = {}
        return self._load_image(self.frames[index], flip, meta), meta

    def __getitem__(self, index):
        frame = self.frames[index]
        points = self.load_points(index)
        anno = frame["anno"]
        if anno is None:
            boxes, labels = np.zeros((0, 7)), np.zeros(0, dtype=np.int64)
        else:
            boxes, labels = annotation_to_lidar(anno, frame["calib"], self.class_names)
        record = []
        train = self.mode == "train"
        rng = self._rng(index)
        if train and self.sampler is not None:
            points, boxes, labels = self.sampler(points, boxes, labels, self.class_names, rng,
                                                 record)
        if train and self.object_noise is not None:
            points, boxes = self.object_noise(points, boxes, rng, record)
        if train and self.augment is not None:
            points, boxes = self.augment.geometric(points, boxes, rng, record)
        if self.point_range is not None:
            points, boxes, labels = apply_ranges(points, boxes, labels, self.point_range,
                                                 record, objects=train)
        if train and self.augment is not None:
            points = self.augment.shuffle_points(points, rng, record)
        keep = labels >= 0                                   # mmdet3d ObjectNameFilter
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7).copy()
        boxes[:, 6] = limit_period(boxes[:, 6])             # yaw in [-pi, pi) in every case
        meta = {"frame_id": frame["frame_id"], "calib": frame["calib"],
                "image_shape": frame["image_shape"], "augmentation": record,
                "pcd_horizontal_flip": any(s["op"] == "flip" and s["horizontal"]
                                           for s in record),
                "pcd_rotation_angle": sum(s["angle"] for s in record if s["op"] == "rotation"),
                "pcd_scale_factor": float(np.prod([s["factor"] for s in record
                                                   if s["op"] == "scale"])),
                "pcd_trans": np.sum([s["offset"] for s in record if s["op"] == "translation"]
                                    or [[0.0, 0.0, 0.0]], axis=0).tolist(),
                "velodyne": frame["velodyne"]}
        sample = {"points": np.ascontiguousarray(points, dtype=np.float32),
                  "gt_boxes": np.asarray(boxes[keep], dtype=np.float32).reshape(-1, 7),
                  "gt_labels": labels[keep].astype(np.int64),
                  "anno": {} if anno is None else anno, "meta": meta}
        if self.load_image:
            sample["image"] = self._load_image(frame, meta["pcd_horizontal_flip"], meta)
        return sample

    @staticmethod
    def collate(samples):
        """Samples -> :class:`~paddlexseg.structures.DetBatch` (images zero-padded to the
        largest height and width of the batch)."""
        if not samples:
            raise ValueError("KittiObject.collate: got an empty list of samples")
        batch = DetBatch(points=[to_tensor(s["points"]) for s in samples],           # [Ni, 4]
                         gt_boxes=[to_tensor(s["gt_boxes"]) for s in samples],       # [Mi, 7]
                         gt_labels=[to_tensor(s["gt_labels"]) for s in samples],     # [Mi]
                         metas=[s["meta"] for s in samples],
                         gt_annos=[s["anno"] for s in samples])
        if all("image" in s for s in samples):
            h = max(s["image"].shape[1] for s in samples)
            w = max(s["image"].shape[2] for s in samples)
            images = np.zeros((len(samples), 3, h, w), dtype=np.float32)
            for i, s in enumerate(samples):
                images[i, :, :s["image"].shape[1], :s["image"].shape[2]] = s["image"]
                s["meta"]["pad_shape"] = (h, w)
            batch.images = to_tensor(images)                                       # [B, 3, H, W]
        return batch
