"""SemanticKITTI with the left colour camera (``image_2``) for 2DPASS.

Yan et al., "2DPASS: 2D Priors Assisted Semantic Segmentation on LiDAR Point Clouds", ECCV 2022
(``dataloader/pc_dataset.py`` SemanticKITTI + ``dataloader/dataset.py``
point_image_dataset_semkitti). Layout read, per sequence ``root/sequences/NN``::

    velodyne/*.bin   float32 x, y, z, remission          labels/*.label  uint32 (not in test)
    image_2/*.png    RGB image of the same frame          calib.txt       P2 and Tr (3 x 4 each)

A sample: the points inside the voxel volume ([-50, 50]^2 x [-4, 2] m), in training randomly
thinned (dropout), projected into the image with ``P2 @ Tr`` on the un-augmented coordinates
(points with x > 0 strictly inside the image), then 3-D augmented (rotation, flips, x/y scale,
translation); the image is bottom-cropped to 480 x 320 with the image points that stay inside,
colour-jittered and flipped (training only) and normalized. ``collate`` builds a
:class:`~paddlexseg.structures.FusionBatch`. A missing image or calibration raises
:class:`~paddlexseg.datasets.errors.DataError` naming the file.
"""
import os

import numpy as np
import paddle

from ..registry import DATASETS, ConfigError, check_kwargs
from ..structures import FusionBatch, to_tensor
from ..transforms.fusion import FusionImageAugment, FusionPointAugment, project_to_image
from .errors import DataError
from .seeding import EpochSeeded
from .label_config import load_label_config
from .records import file_nonfinite, scan_records
from ..metrics.point_fill import check_unseen_mode
from .semantickitti import check_mode_and_sequences, list_scans, load_scan_labels

__all__ = ["SemanticKITTIFusion", "read_calib", "read_image", "build_fusion_sample",
           "collate_fusion", "build_sub_config", "check_image_size", "require_image_points"]



def read_calib(path):
    """Read a KITTI odometry ``calib.txt``.

    Returns:
        dict with ``P2`` float64 [3, 4] and ``Tr`` float64 [4, 4] (velodyne -> camera 0).

    Raises:
        DataError: missing file, or no valid P2 / Tr line.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: calibration file not found; expected a KITTI calib.txt with "
                        f"P2 and Tr lines next to the velodyne folder")
    values = {}
    with open(path, "r") as f:
        for line in f:
            if ":" not in line:
                continue
            key, rest = line.split(":", 1)
            try:
                values[key.strip()] = np.array([float(v) for v in rest.split()])
            except ValueError:
                raise DataError(f"{path}: line '{key.strip()}' holds non-numeric values; "
                                f"expected 12 numbers") from None
    for key in ("P2", "Tr"):
        if key not in values or values[key].size != 12:
            raise DataError(f"{path}: expected a '{key}:' line with 12 numbers (a 3 x 4 "
                            f"matrix), found keys {sorted(values)}")
        if not np.isfinite(values[key]).all():
            raise DataError(f"{path}: the '{key}:' line holds NaN or infinite values; points "
                            f"cannot be projected into the image (2DPASS's 2D branch)")
    tr = np.eye(4)
    tr[:3] = values["Tr"].reshape(3, 4)
    return {"P2": values["P2"].reshape(3, 4), "Tr": tr}


def read_image(path):
    """uint8 RGB [H, W, 3] of an image file; DataError naming it when missing or unreadable."""
    from PIL import Image
    if not os.path.isfile(path):
        raise DataError(f"{path}: camera image not found; expected one image per scan (or "
                        f"use_image: false for LiDAR-only data)")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except OSError as err:
        raise DataError(f"{path}: cannot read the image ({err}); expected a PNG/JPEG "
                        f"file") from None


def check_image_size(image_path, size, principal, tolerance=0.2):
    """DataError when an image's (width, height) is far from what its calibration implies
    (KITTI's principal point lies near the image centre: size ~ 2 * (cx, cy)), e.g. an image
    resized after calibration: its points would land on the wrong pixels or none."""
    implied = 2.0 * np.asarray(principal, dtype=np.float64)
    ratio = np.asarray(size, dtype=np.float64) / np.maximum(implied, 1e-9)
    if np.any(np.abs(ratio - 1.0) > tolerance):
        raise DataError(f"{image_path}: image is {size[0]} x {size[1]} pixels but the "
                        f"calibration's principal point ({principal[0]:.1f}, {principal[1]:.1f}) "
                        f"implies about {implied[0]:.0f} x {implied[1]:.0f}; use the original "
                        f"camera images (or matching P2)")


def require_image_points(sample, scan_path, image_path):
    """DataError when no point of the sample lands in its (cropped) image: 2DPASS would
    silently train without its 2D branch (seg_2d and xm losses of 0)."""
    if sample["img_indices"].shape[0] == 0:
        raise DataError(f"{scan_path}: no point projects into the camera image {image_path} "
                        f"(check calib.txt P2/Tr and the image); 2DPASS needs image points")


def build_sub_config(cfg, cls, path, default=None):
    """Build ``cls`` from a config mapping (None -> ``default``), naming ``path`` in errors."""
    if cfg is None:
        return default
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a mapping of {cls.__name__} arguments, got {cfg!r}")
    check_kwargs(cls, cfg, path)
    try:
        return cls(**cfg)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None


def build_fusion_sample(points, labels, rng, train, volume, point_aug, image_aug, image=None,
                        project=None, max_points=None, unseen="nearest", nonfinite=None):
    """The 2DPASS sample pipeline shared by the SemanticKITTI and nuScenes readers.

    Args:
        points: float32 [N, 4] the scan (x, y, z, intensity). labels: int64 [N] or None.
        rng: numpy Generator. train: apply dropout, 3-D augmentation, jitter and flip.
        volume: ((xmin, ymin, zmin), (xmax, ymax, zmax)); points outside are left out.
        point_aug: FusionPointAugment or None. image_aug: FusionImageAugment.
        image: uint8 [H, W, 3] or None (LiDAR only). project: ``xyz -> (keep [N], pixels)``.
        max_points: subsample scans with more points in training (None: keep all);
            validation and prediction always see every point of the volume.
        unseen, nonfinite: outside training, the sample's ``records``
            (:func:`~paddlexseg.datasets.records.scan_records`) so that every point of the scan
            is scored, the ones outside the volume and the dropped NaN/inf records included.

    Returns:
        dict of NumPy arrays (see :func:`collate_fusion`).
    """
    lo, hi = np.asarray(volume[0]), np.asarray(volume[1])
    xyz = points[:, :3]
    inside = np.all((xyz > lo) & (xyz < hi), axis=1)
    index = np.nonzero(inside)[0]                                   # [N'] rows of the file
    if train and point_aug is not None:
        index = index[point_aug.dropout(index.size, rng)]
    if train and max_points is not None and index.size > max_points:
        index = np.sort(rng.choice(index, int(max_points), replace=False))
    pts = np.ascontiguousarray(points[index], dtype=np.float32)
    sample = {"points": pts, "point_index": index.astype(np.int64),
              "labels": None if labels is None else labels[index].astype(np.int64)}
    if image is not None:
        keep, pixels = project(pts[:, :3])                          # un-augmented coordinates
        img, img_indices, kept = image_aug(image, pixels, rng, train=train)
        sample["img"] = img                                         # [3, h, w]
        sample["img_indices"] = img_indices                         # [M, 2] (row, col)
        sample["point2img_index"] = np.nonzero(keep)[0][kept].astype(np.int64)  # [M]
    if train and point_aug is not None:
        sample["points"] = point_aug(pts, rng)
    if not train:
        sample["records"] = scan_records(points, labels, unseen, nonfinite)
    return sample


def collate_fusion(samples):
    """Concatenate samples into a :class:`~paddlexseg.structures.FusionBatch`."""
    if not samples:
        raise ValueError("collate_fusion: got an empty list of samples")
    counts = [s["points"].shape[0] for s in samples]
    offsets = np.cumsum([0] + counts[:-1])
    has_labels = all(s["labels"] is not None for s in samples)
    has_image = all("img" in s for s in samples)
    labels = np.concatenate([s["labels"] for s in samples]) if has_labels else None
    batch = FusionBatch(
        points=to_tensor(np.concatenate([s["points"] for s in samples])),            # [N, 4]
        batch_idx=to_tensor(np.repeat(np.arange(len(samples)), counts).astype(np.int64)),
        labels=None if labels is None else to_tensor(labels),                       # [N]
        point_index=to_tensor(np.concatenate([s["point_index"] for s in samples])),
        origin_lens=[int(s["origin_len"]) for s in samples],
        paths=[s["path"] for s in samples],
        records=[s["records"] for s in samples] if all("records" in s for s in samples) else [])
    if has_image:
        shapes = {s["img"].shape for s in samples}
        if len(shapes) > 1:
            raise ValueError(f"collate_fusion: images of different sizes {sorted(shapes)} "
                             f"cannot be batched; configure bottom_crop or resize")
        p2i = np.concatenate([s["point2img_index"] + o for s, o in zip(samples, offsets)])
        batch.img = to_tensor(np.stack([s["img"] for s in samples]))                # [B, 3, h, w]
        batch.img_indices = to_tensor(np.concatenate([s["img_indices"] for s in samples])
                                      .reshape(-1, 2).astype(np.int64))             # [M, 2]
        batch.point2img_index = to_tensor(p2i.astype(np.int64))                     # [M]
        if labels is not None:
            batch.img_labels = to_tensor(labels[p2i])                               # [M]
    return batch


@DATASETS.register()
class SemanticKITTIFusion(EpochSeeded, paddle.io.Dataset):
    """SemanticKITTI scans with their ``image_2`` images and calibration (2DPASS input).

    Args:
        root: folder holding ``sequences/``.
        sequences: sequence numbers, e.g. ``[0, 1, 2]``.
        mode: "train" (labels, augmentation), "val" (labels) or "test" (no labels).
        label_config: bundled label config name or YAML path.
        min_volume, max_volume: (x, y, z) corners of the voxel volume; points outside are
            left out (2DPASS: [-50, -50, -4] and [50, 50, 2]).
        augment: dict of :class:`~paddlexseg.transforms.fusion.FusionPointAugment` arguments,
            used in mode "train" (None = no 3-D augmentation).
        image: dict of :class:`~paddlexseg.transforms.fusion.FusionImageAugment` arguments
            (None = its defaults: 480 x 320 bottom crop, jitter 0.4, flip 0.5, ImageNet norm).
        use_image: read images (False: LiDAR-only samples, e.g. for evaluation).
        max_points: randomly subsample scans with more points, in mode "train" only (None =
            keep all); val and test always see every point.
        unseen_points: prediction of the points the model is not fed (outside the volume, NaN/
            inf records), scored in val: "nearest" (the nearest fed point's / nearest finite
            record's) or "unlabeled" (class 0, a miss: the original 2DPASS);
            :mod:`paddlexseg.metrics.point_fill`.
        seed: seed of the random streams (per epoch, index and draw).
        config_path: key path used in config error messages.
    """

    def __init__(self, root, sequences, mode="train", label_config="semantic-kitti",
                 min_volume=(-50.0, -50.0, -4.0), max_volume=(50.0, 50.0, 2.0), augment=None,
                 image=None, use_image=True, max_points=None, unseen_points="nearest", seed=0,
                 config_path="dataset"):
        super().__init__()
        self.sequences = check_mode_and_sequences(mode, sequences, config_path)
        if len(min_volume) != 3 or len(max_volume) != 3 or \
                any(a >= b for a, b in zip(min_volume, max_volume)):
            raise ConfigError(f"{config_path}.min_volume/max_volume: expected two (x, y, z) "
                              f"corners with min < max, got {min_volume} and {max_volume}")
        self.root, self.mode, self.seed = str(root), mode, int(seed)
        self.volume = (tuple(map(float, min_volume)), tuple(map(float, max_volume)))
        self.max_points = None if max_points is None else int(max_points)
        self.unseen_points = check_unseen_mode(unseen_points, f"{config_path}.unseen_points")
        self.labels = load_label_config(label_config)
        self.point_aug = build_sub_config(augment, FusionPointAugment, f"{config_path}.augment")
        self.image_aug = build_sub_config(image, FusionImageAugment, f"{config_path}.image",
                                          default=FusionImageAugment())
        self.use_image = bool(use_image)
        if not os.path.isdir(os.path.join(self.root, "sequences")):
            raise DataError(f"{os.path.join(self.root, 'sequences')}: folder not found; "
                            f"expected the SemanticKITTI layout <root>/sequences/NN/velodyne")
        self.files = list_scans(self.root, self.sequences, with_labels=mode != "test")
        self.proj_matrix, self.principal = {}, {}
        if self.use_image:
            for seq in self.sequences:
                calib = read_calib(os.path.join(self.root, "sequences", f"{seq:02d}",
                                                "calib.txt"))
                self.proj_matrix[seq] = calib["P2"] @ calib["Tr"]       # [3, 4]
                self.principal[seq] = calib["P2"][:2, 2]               # (cx, cy) pixels
            for scan, _ in self.files:
                image = self.image_path(scan)
                if not os.path.isfile(image):
                    raise DataError(f"{image}: camera image not found for scan {scan}; expected "
                                    f"image_2/<frame>.png next to velodyne/ (or use_image: false)")
        self.epoch = 0

    @property
    def num_classes(self):
        return self.labels.num_classes

    def __len__(self):
        return len(self.files)

    @staticmethod
    def image_path(scan_path):
        """``.../NN/velodyne/000123.bin`` -> ``.../NN/image_2/000123.png``."""
        folder, name = os.path.split(scan_path)
        return os.path.join(os.path.dirname(folder), "image_2", name[:-4] + ".png")

    def load(self, index):
        """Points float32 [N, 4] and learning labels int64 [N] (None in mode test)."""
        return load_scan_labels(*self.files[index], self.labels)

    def __getitem__(self, index):
        scan_path, _ = self.files[index]
        points, labels = self.load(index)
        rng = self._rng(index)
        image = project = None
        if self.use_image:
            image = read_image(self.image_path(scan_path))
            seq = int(os.path.basename(os.path.dirname(os.path.dirname(scan_path))))
            size = (image.shape[1], image.shape[0])
            matrix = self.proj_matrix[seq]
            check_image_size(self.image_path(scan_path), size, self.principal[seq])

            def project(xyz):
                return project_to_image(xyz, matrix, size)
        nonfinite = None
        if self.mode != "train" and getattr(self.load, "__func__", None) is \
                SemanticKITTIFusion.load:   # the file's own points (not a corrupted copy)
            nonfinite = file_nonfinite(scan_path, self.files[index][1], self.labels)
        sample = build_fusion_sample(points, labels, rng, self.mode == "train", self.volume,
                                     self.point_aug, self.image_aug, image, project,
                                     self.max_points, self.unseen_points, nonfinite)
        if self.use_image:
            require_image_points(sample, scan_path, self.image_path(scan_path))
        sample["origin_len"] = points.shape[0]
        sample["path"] = scan_path
        return sample

    @staticmethod
    def collate(samples):
        """Stack samples into a :class:`~paddlexseg.structures.FusionBatch`."""
        return collate_fusion(samples)
