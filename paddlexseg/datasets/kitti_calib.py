"""KITTI object calibration files (``training/calib/NNNNNN.txt``) and the camera FOV crop.

A file holds one line per matrix, ``KEY: v1 v2 ...``: ``P0``..``P3`` (3 x 4 rectified camera
projections), ``R0_rect`` (3 x 3 rectifying rotation), ``Tr_velo_to_cam`` and
``Tr_imu_to_velo`` (3 x 4 rigid transforms). :func:`read_kitti_calib` returns each as a
4 x 4 float64 matrix (padded with the identity), so that a LiDAR point goes to pixels with
``P2 @ R0_rect @ Tr_velo_to_cam @ [x, y, z, 1]``.
"""
import os

import numpy as np

from ..boxes3d import project_to_image, rect_from_velo
from .errors import DataError

__all__ = ["read_kitti_calib", "write_kitti_calib", "fov_mask", "REQUIRED_KEYS", "SHAPES"]

SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3),
          "Tr_velo_to_cam": (3, 4), "Tr_imu_to_velo": (3, 4)}
REQUIRED_KEYS = ("P2", "R0_rect", "Tr_velo_to_cam")


def read_kitti_calib(path):
    """Parse a KITTI object calibration file.

    Returns:
        dict key -> float64 [4, 4] for every known key present (``P2``, ``R0_rect`` and
        ``Tr_velo_to_cam`` always; ``P0``, ``P1``, ``P3``, ``Tr_imu_to_velo`` when present).

    Raises:
        DataError: missing file, a non-numeric, NaN or infinite value, a matrix with the wrong
            number of values, or a missing required key (P2, R0_rect, Tr_velo_to_cam).
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: calibration file not found; expected a KITTI calib .txt with "
                        f"P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo")
    calib = {}
    with open(path, "r") as f:
        for lineno, line in enumerate(f, 1):
            if ":" not in line:
                continue
            key, rest = line.split(":", 1)
            key = key.strip()
            if key not in SHAPES:
                continue
            try:
                values = np.array([float(v) for v in rest.split()], dtype=np.float64)
            except ValueError:
                raise DataError(f"{path}: line {lineno} ('{key}') holds a non-numeric value; "
                                f"expected {np.prod(SHAPES[key])} numbers") from None
            rows, cols = SHAPES[key]
            if not np.isfinite(values).all():
                raise DataError(f"{path}: line {lineno} ('{key}') holds NaN or infinite values; "
                                f"points would project nowhere")
            if values.size != rows * cols:
                raise DataError(f"{path}: line {lineno} ('{key}') has {values.size} values; "
                                f"expected {rows * cols} (a {rows} x {cols} matrix)")
            mat = np.eye(4)
            mat[:rows, :cols] = values.reshape(rows, cols)
            calib[key] = mat
    missing = [k for k in REQUIRED_KEYS if k not in calib]
    if missing:
        raise DataError(f"{path}: no {', '.join(missing)} line; expected a KITTI object calib "
                        f"with P2, R0_rect and Tr_velo_to_cam (found {sorted(calib) or 'none'})")
    return calib


def write_kitti_calib(path, calib):
    """Write ``calib`` (key -> 3 x 4 / 3 x 3 / 4 x 4 matrices) in the KITTI object layout."""
    with open(path, "w") as f:
        for key in ("P0", "P1", "P2", "P3", "R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo"):
            if key not in calib:
                continue
            rows, cols = SHAPES[key]
            mat = np.asarray(calib[key], dtype=np.float64)[:rows, :cols]
            f.write(f"{key}: " + " ".join(f"{v:.12e}" for v in mat.ravel()) + "\n")


def fov_mask(points, calib, image_shape):
    """Points that project into the left colour image (what KITTI's ``velodyne_reduced`` keeps,
    OpenPCDet ``get_fov_flag``): positive depth and pixel inside ``image_shape`` (H, W).

    Args:
        points: float [N, >=3] velodyne points.
        calib: dict from :func:`read_kitti_calib`.
        image_shape: (H, W) of ``image_2``.

    Returns:
        bool [N].
    """
    xyz = np.asarray(points, dtype=np.float64)[:, :3]
    hom = np.concatenate([xyz, np.ones((xyz.shape[0], 1))], axis=1)
    rect = (hom @ rect_from_velo(calib).T)[:, :3]
    uv, depth = project_to_image(rect, calib["P2"])
    h, w = int(image_shape[0]), int(image_shape[1])
    with np.errstate(invalid="ignore"):
        return (depth >= 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & \
            (uv[:, 1] < h)
