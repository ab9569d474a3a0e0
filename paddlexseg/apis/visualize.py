"""Prediction pictures: coloured range images, bird's-eye views of labelled points, PNG files.

Images are uint8 ``[H, W, 3]`` RGB NumPy arrays; colours come from a ``[C, 3]`` table indexed
by learning id (``LabelConfig.colors``) or train id (Cityscapes).
"""
import os

import numpy as np
from PIL import Image

from ..metrics.colorize import colorize_labels, stack_images

__all__ = ["range_picture", "bev_picture", "save_png", "palette"]


def range_picture(pred, mask, colors, gt=None):
    """The predicted range image in colour, above the ground truth when there is one.

    Args:
        pred: int [H, W] predicted learning ids.
        mask: [H, W] 1 where a point landed; empty pixels are drawn as class 0.
        colors: uint8 [C, 3] RGB per learning id.
        gt: optional int [H, W] projected ground truth (0 where empty).

    Returns:
        uint8 [H, W, 3], or [2H + 1, W, 3] with the ground truth below a white line.
    """
    top = colorize_labels(pred, colors, mask=mask)
    if gt is None:
        return top
    return stack_images([top, colorize_labels(gt, colors, mask=mask)])


def bev_picture(points, labels, colors, extent=50.0, resolution=0.1):
    """Bird's-eye view of labelled points: x forward is up, y left is left, sensor centred.

    Points are drawn from the lowest to the highest, so the top of each column shows. Pixels
    without a point are black; the sensor is a white 3x3 square.

    Args:
        points: float [N, >=3] x, y, z in the sensor frame (metres).
        labels: int [N] class ids indexing ``colors``.
        colors: uint8 [C, 3] RGB.
        extent: half side of the square shown (metres).
        resolution: metres per pixel.

    Returns:
        uint8 [S, S, 3] with ``S = round(2 * extent / resolution)``.
    """
    if extent <= 0 or resolution <= 0:
        raise ValueError(f"bev_picture: extent and resolution must be positive, got {extent} "
                         f"and {resolution}")
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if points.ndim != 2 or points.shape[1] < 3 or points.shape[0] != labels.shape[0]:
        raise ValueError(f"bev_picture: expected points [N, >=3] and labels [N], got "
                         f"{points.shape} and {labels.shape}")
    size = int(round(2.0 * extent / resolution))
    image = np.zeros((size, size, 3), dtype=np.uint8)
    rows = np.floor((extent - points[:, 0]) / resolution).astype(np.int64)  # x forward -> up
    cols = np.floor((extent - points[:, 1]) / resolution).astype(np.int64)  # y left -> left
    inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    order = np.argsort(points[inside, 2], kind="stable")  # low -> high: the highest is last
    rows, cols, labs = rows[inside][order], cols[inside][order], labels[inside][order]
    image[rows, cols] = colorize_labels(labs, colors)
    c = size // 2
    image[max(c - 1, 0):c + 2, max(c - 1, 0):c + 2] = 255
    return image


def palette(num_classes, seed=0):
    """A fixed pseudo-random colour table for datasets without one (uint8 [num_classes, 3])."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 256, size=(num_classes, 3)).astype(np.uint8)


def save_png(path, image):
    """Write a uint8 [H, W, 3] RGB or [H, W] grey image as PNG (folders are created)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"save_png({path}): expected uint8 [H, W] or [H, W, 3], got "
                         f"{image.dtype} {image.shape}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(image).save(path)
    return path
