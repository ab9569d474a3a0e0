"""Side-by-side picture of an image model's prediction: image | ground truth | prediction.

``tools/predict.py`` writes ``save_dir/compare/<relative path>.png`` for every input image whose
ground truth it finds in the Cityscapes layout (``.../leftImg8bit/<split>/<city>/X_leftImg8bit.png``
-> ``.../gtFine/<split>/<city>/X_gtFine_labelTrainIds.png``, else ``X_gtFine_labelIds.png``
mapped to train ids). Ignored pixels (255) are black in the ground-truth panel.
"""
import os

import numpy as np
from PIL import Image

from ..metrics.colorize import side_by_side
from ..transforms.image import resize_nearest
from .visualize import save_png

__all__ = ["find_ground_truth", "compare_picture", "save_compare"]

IGNORE = 255


def find_ground_truth(image_path):
    """Train-id ground truth ``uint8 [H, W]`` of a Cityscapes-layout image, or None."""
    folder, name = os.path.split(os.path.abspath(image_path))
    if not name.endswith("_leftImg8bit.png"):
        return None
    parts = folder.split(os.sep)
    if "leftImg8bit" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("leftImg8bit")
    gt_folder = os.sep.join(parts[:i] + ["gtFine"] + parts[i + 1:])
    stem = name[:-len("_leftImg8bit.png")]
    train_ids = os.path.join(gt_folder, stem + "_gtFine_labelTrainIds.png")
    if os.path.isfile(train_ids):
        with Image.open(train_ids) as im:
            return np.asarray(im, dtype=np.uint8)
    label_ids = os.path.join(gt_folder, stem + "_gtFine_labelIds.png")
    if os.path.isfile(label_ids):
        from ..datasets.cityscapes import label_ids_to_train_ids
        with Image.open(label_ids) as im:
            return np.asarray(label_ids_to_train_ids(np.asarray(im), label_ids), dtype=np.uint8)
    return None


def compare_picture(image, gt, pred, colors):
    """``uint8 [H, 3W + 2, 3]``: the RGB image, the coloured ground truth, the coloured
    prediction (``pred`` resized to the image with nearest neighbour if needed)."""
    height, width = image.shape[:2]
    pred = np.asarray(pred)
    if pred.shape != (height, width):
        pred = resize_nearest(pred, (width, height))
    gt = np.asarray(gt)
    if gt.shape != (height, width):
        gt = resize_nearest(gt, (width, height))
    colors = np.asarray(colors, np.uint8)
    gt_rgb = colors[np.where(gt == IGNORE, 0, np.minimum(gt, len(colors) - 1))]
    gt_rgb[gt == IGNORE] = 0
    rgb = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
    return side_by_side([rgb, gt_rgb, colors[np.minimum(pred, len(colors) - 1)]])


def save_compare(save_dir, rel, image_path, image, pred, colors):
    """Write ``save_dir/compare/<rel>`` when the ground truth exists; returns the path or None."""
    gt = find_ground_truth(image_path)
    if gt is None:
        return None
    picture = compare_picture(image, gt, pred, colors)
    return save_png(os.path.join(save_dir, "compare", rel), picture)
