"""SemanticKITTI (Behley et al., ICCV 2019) as spherical range images, RangeNet++ style.

Layout read: ``root/sequences/NN/velodyne/*.bin`` (float32 x, y, z, remission) and, except in
mode ``test``, ``root/sequences/NN/labels/*.label`` (uint32: lower 16 bits semantic raw id,
upper 16 bits instance id). Raw ids are mapped to learning ids with the label config.

Bad data raises :class:`~paddlexseg.datasets.errors.DataError` naming the file, except points
with NaN/inf values, which are dropped with a ``warnings.warn`` naming the file and the count.
"""
import os
import warnings

import numpy as np
import paddle

from ..registry import DATASETS, ConfigError, check_kwargs
from ..structures import RangeBatch, ScanPoints, to_tensor
from ..transforms.point_aug import PointAugment
from ..transforms.range_projection import RangeProjection
from .errors import DataError
from .seeding import EpochSeeded
from .label_config import load_label_config

__all__ = ["SemanticKITTI", "read_scan", "read_label", "list_scans"]

MODES = ("train", "val", "test")


def read_scan(path, return_valid=False):
    """Read a KITTI ``.bin`` scan.

    Rows with a NaN/inf value are dropped with a warning naming the file and the count.

    Args:
        path: the ``.bin`` file.
        return_valid: also return the bool mask [N_file] of the rows kept.

    Returns:
        float32 [N, 4] x, y, z, remission (and the mask if ``return_valid``).

    Raises:
        DataError: missing file, size not a multiple of 16 bytes, or no valid point.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: scan file not found; expected a KITTI .bin file")
    size = os.path.getsize(path)
    if size % 16:
        raise DataError(f"{path}: file size {size} bytes is not a multiple of 16; expected "
                        f"float32 (x, y, z, remission) records of 16 bytes per point")
    points = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
    valid = np.isfinite(points).all(axis=1)
    dropped = int(points.shape[0] - valid.sum())
    if dropped:
        warnings.warn(f"{path}: dropped {dropped} of {points.shape[0]} points with NaN/inf "
                      f"values", stacklevel=2)
        points = points[valid]
    if points.shape[0] == 0:
        raise DataError(f"{path}: scan has no valid points; expected at least one finite "
                        f"(x, y, z, remission) record")
    return (points, valid) if return_valid else points


def read_label(path, n_points):
    """Read a SemanticKITTI ``.label`` file.

    Args:
        path: the ``.label`` file.
        n_points: number of points of its scan (rows in the ``.bin``, before any dropping).

    Returns:
        (semantic int64 [n_points] raw ids, instance int64 [n_points]).

    Raises:
        DataError: missing file, size not a multiple of 4 bytes, or a count other than n_points.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: label file not found; expected one .label per .bin scan "
                        f"(or mode='test' for unlabeled data)")
    size = os.path.getsize(path)
    if size % 4:
        raise DataError(f"{path}: file size {size} bytes is not a multiple of 4; expected "
                        f"one uint32 per point")
    label = np.fromfile(path, dtype=np.uint32)
    if label.shape[0] != n_points:
        raise DataError(f"{path}: has {label.shape[0]} labels but its scan has {n_points} "
                        f"points; expected one uint32 label per point")
    return (label & 0xFFFF).astype(np.int64), (label >> 16).astype(np.int64)


def check_mode_and_sequences(mode, sequences, config_path):
    """Validate a dataset's ``mode`` and return ``sequences`` as a list of ints."""
    if mode not in MODES:
        raise ConfigError(f"{config_path}.mode: expected one of {MODES}, got {mode!r}")
    if isinstance(sequences, (int, str)):
        sequences = [sequences]
    try:
        return [int(s) for s in sequences]
    except (TypeError, ValueError):
        raise ConfigError(f"{config_path}.sequences: expected a list of sequence numbers, "
                          f"got {sequences!r}") from None


def load_scan_labels(scan_path, label_path, label_config):
    """Points float32 [N, 4] (NaN/inf rows dropped) and their learning labels int64 [N]
    (None when ``label_path`` is None), mapped through ``label_config``."""
    points, valid = read_scan(scan_path, return_valid=True)
    if label_path is None:
        return points, None
    semantic, _ = read_label(label_path, valid.shape[0])
    return points, label_config.map_labels(semantic[valid], source=label_path)


def list_scans(root, sequences, with_labels=True, sequences_dir="sequences"):
    """Sorted (scan path, label path or None) pairs of the given sequences.

    ``sequences_dir`` is the folder under ``root`` holding the ``NN/`` sequence folders
    (``""`` for SynLiDAR's ``root/NN/velodyne``).

    Raises:
        DataError: a sequence folder, its velodyne folder or a label file is missing, or a
            sequence has no scan.
    """
    pairs = []
    for seq in sequences:
        name = f"{int(seq):02d}"
        folder = os.path.join(root, sequences_dir, name)
        velo = os.path.join(folder, "velodyne")
        if not os.path.isdir(folder):
            layout = os.path.join("<root>", sequences_dir, name, "velodyne", "*.bin")
            raise DataError(f"{folder}: sequence folder not found; expected "
                            f"{layout} under root {root}")
        if not os.path.isdir(velo):
            raise DataError(f"{velo}: velodyne folder not found; expected the .bin scans of "
                            f"sequence {name} there")
        scans = sorted(f for f in os.listdir(velo) if f.endswith(".bin"))
        if not scans:
            raise DataError(f"{velo}: no .bin scans; expected at least one scan in sequence "
                            f"{name}")
        for f in scans:
            label = None
            if with_labels:
                label = os.path.join(folder, "labels", f[:-4] + ".label")
                if not os.path.isfile(label):
                    raise DataError(f"{label}: label file not found for scan {f}; expected one "
                                    f".label per .bin (or mode='test' for unlabeled data)")
            pairs.append((os.path.join(velo, f), label))
    return pairs


def _sub_config(cfg, cls, path):
    """Check a nested config dict against ``cls``'s signature and build it."""
    if cfg is None:
        return cls()
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a mapping of {cls.__name__} arguments, got {cfg!r}")
    check_kwargs(cls, cfg, path)
    try:
        return cls(**cfg)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None


@DATASETS.register()
class SemanticKITTI(EpochSeeded, paddle.io.Dataset):
    """SemanticKITTI scans projected to range images (RangeNet++, SqueezeSegV3 input).

    Args:
        root: folder holding ``sequences/``.
        sequences: sequence numbers, e.g. ``[0, 1, 2]`` (ints or strings like "08").
        mode: "train" (labels + augmentation), "val" (labels) or "test" (no labels).
        label_config: bundled label config name or YAML path.
        projection: dict of :class:`RangeProjection` arguments (H, W, fov_up, fov_down, means,
            stds); None = the HDL-64E defaults (64 x 2048).
        augment: dict of :class:`PointAugment` arguments, applied in mode "train" only; None = off.
        max_points: upper bound on points per scan (RangeNet++'s ``max_points``). A larger scan
            is randomly subsampled in mode "train" and raises DataError otherwise.
        seed: seed of the augmentation / subsampling random streams.
        config_path: key path used in config error messages (e.g. "train_dataset").
    """

    sequences_dir = "sequences"  # root/<sequences_dir>/NN/velodyne
    layout_name = "SemanticKITTI"

    def __init__(self, root, sequences, mode="train", label_config="semantic-kitti",
                 projection=None, augment=None, max_points=None, seed=0,
                 config_path="dataset"):
        super().__init__()
        self.sequences = check_mode_and_sequences(mode, sequences, config_path)
        if max_points is not None and int(max_points) < 1:
            raise ConfigError(f"{config_path}.max_points: expected a positive integer or null, "
                              f"got {max_points!r}")
        self.root = str(root)
        self.mode = mode
        self.max_points = None if max_points is None else int(max_points)
        self.seed = int(seed)
        self.labels = load_label_config(label_config)
        self.projection = _sub_config(projection, RangeProjection, f"{config_path}.projection")
        self.augment = None
        if augment is not None:
            self.augment = _sub_config(augment, PointAugment, f"{config_path}.augment")
        if not os.path.isdir(os.path.join(self.root, self.sequences_dir)):
            raise DataError(f"{os.path.join(self.root, self.sequences_dir)}: folder not found; "
                            f"expected the {self.layout_name} layout "
                            f"{os.path.join('<root>', self.sequences_dir, 'NN', 'velodyne')}")
        self.files = list_scans(self.root, self.sequences, with_labels=mode != "test",
                                sequences_dir=self.sequences_dir)
        self.epoch = 0

    @property
    def num_classes(self):
        return self.labels.num_classes

    def __len__(self):
        return len(self.files)

    def load(self, index):
        """Points float32 [N, 4] and learning labels int64 [N] (None in mode test) of a scan."""
        return load_scan_labels(*self.files[index], self.labels)

    def __getitem__(self, index):
        scan_path, _ = self.files[index]
        points, labels = self.load(index)
        rng = self._rng(index) if self.mode == "train" else None
        if self.max_points is not None and points.shape[0] > self.max_points:
            if self.mode != "train":
                raise DataError(f"{scan_path}: has {points.shape[0]} points, more than "
                                f"max_points={self.max_points}; raise max_points")
            keep = np.sort(rng.choice(points.shape[0], self.max_points, replace=False))
            points = points[keep]
            labels = None if labels is None else labels[keep]
        if self.augment is not None and self.mode == "train":
            points, labels = self.augment(points, labels, rng)
        proj = self.projection(points, labels)
        folder, name = os.path.split(scan_path)
        sample = {
            "range_img": proj["range_img"],            # float32 [5, H, W]
            "proj_mask": proj["proj_mask"],            # int32 [H, W]
            "proj_range": proj["proj_range"],          # float32 [H, W]
            "proj_x": proj["proj_x"], "proj_y": proj["proj_y"],        # int32 [N]
            "unproj_range": proj["unproj_range"],      # float32 [N]
            "points": points,                          # float32 [N, 4]
            "path": scan_path,
            "sequence": os.path.basename(os.path.dirname(folder)),
            "name": name[:-4],
        }
        if labels is not None:
            sample["proj_labels"] = proj["proj_labels"]    # int64 [H, W]
            sample["point_labels"] = labels.astype(np.int64)   # int64 [N]
            if self.mode != "train" and getattr(self.load, "__func__", None) is \
                    SemanticKITTI.load:        # NaN/inf records, scored as the benchmark does
                from .records import file_nonfinite
                sample["nonfinite"] = file_nonfinite(scan_path, self.files[index][1],
                                                     self.labels)
        return sample

    @staticmethod
    def collate(samples):
        """Stack samples into a :class:`~paddlexseg.structures.RangeBatch`."""
        if not samples:
            raise ValueError("SemanticKITTI.collate: got an empty list of samples")
        has_labels = all("proj_labels" in s for s in samples)
        scans = [ScanPoints(proj_x=s["proj_x"], proj_y=s["proj_y"],
                            unproj_range=s["unproj_range"],
                            labels=s.get("point_labels") if has_labels else None,
                            path=s["path"], points=s["points"],
                            nonfinite_src=s["nonfinite"][0] if "nonfinite" in s else None,
                            nonfinite_labels=s["nonfinite"][1] if "nonfinite" in s else None)
                 for s in samples]
        return RangeBatch(
            range_img=to_tensor(np.stack([s["range_img"] for s in samples])),   # [B, 5, H, W]
            labels=to_tensor(np.stack([s["proj_labels"] for s in samples]))
            if has_labels else None,                                             # [B, H, W]
            proj_mask=to_tensor(np.stack([s["proj_mask"] for s in samples])),    # [B, H, W]
            proj_range=to_tensor(np.stack([s["proj_range"] for s in samples])),  # [B, H, W]
            scans=scans)
