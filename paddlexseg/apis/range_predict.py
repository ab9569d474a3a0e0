"""Predict SemanticKITTI ``.label`` files with a range-image model (RangeNet++, SqueezeSegV3).

Per scan (batch size 1, like lidar-bonnetal's ``user.py``): read the ``.bin``, project it,
run the model, take the per-pixel argmax, give every point a class (its pixel's, or by KNN
post-processing), map learning ids to raw ids with ``learning_map_inv`` and write the
benchmark ``.label`` (layout in :mod:`paddlexseg.apis.range_io`). Pictures go to
``save_dir/visualization/NN/<name>.png`` (range image: prediction above ground truth when the
scan has labels) and, with ``bev``, ``<name>_bev.png`` (points from above, predicted colours).
"""
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import paddle
from tqdm import tqdm

from ..datasets.label_config import LabelConfig, load_label_config
from ..engine.logging import show_progress
from ..registry import ConfigError
from ..structures import to_tensor
from ..transforms.range_projection import RangeProjection
from .families import dataset_config
from .range_io import (backproject, build_projection, load_scan, prediction_path,
                       resolve_scans, write_label_file)
from .visualize import bev_picture, range_picture, save_png

__all__ = ["RangeSetup", "range_setup", "save_scan_outputs", "predict_range"]


@dataclass
class RangeSetup:
    """What pre- and post-processing need, read once from a config.

    Attributes:
        projection: RangeProjection. label_config: LabelConfig. sequences: the dataset's
        sequence numbers (for a SemanticKITTI root as input), or None.
    """
    projection: RangeProjection
    label_config: LabelConfig
    sequences: Optional[list] = None


def range_setup(cfg):
    """RangeSetup from a training config's ``val_dataset`` (else ``train_dataset``)."""
    data_cfg = dataset_config(cfg)
    projection = build_projection(data_cfg.get("projection"))
    label_config = load_label_config(data_cfg.get("label_config", "semantic-kitti"))
    return RangeSetup(projection, label_config, data_cfg.get("sequences"))


def save_scan_outputs(save_dir, item, scan, proj_argmax, point_pred, learning_map_inv, colors,
                      bev=False, bev_extent=50.0, bev_resolution=0.1):
    """Write a scan's ``.label``, its range-image PNG and optionally its bird's-eye-view PNG.

    Args:
        save_dir: output root.
        item: ScanItem. scan: dict from ``load_scan``.
        proj_argmax: int [H, W] predicted learning id per pixel.
        point_pred: int [N] learning id per kept point.
        learning_map_inv: int [C] LUT learning id -> raw id (``LabelConfig.learning_map_inv``).
        colors: uint8 [C, 3] RGB per learning id (``LabelConfig.colors``).
        bev: also write ``<name>_bev.png``. bev_extent, bev_resolution: its size in metres.

    Returns:
        dict of written paths (``label``, ``range_png``, ``bev_png``).
    """
    out = {"label": prediction_path(save_dir, item)}
    write_label_file(out["label"], point_pred, scan["valid"], learning_map_inv)
    vis_dir = os.path.join(save_dir, "visualization", item.sequence)
    gt = scan.get("proj_labels") if scan.get("labels") is not None else None
    picture = range_picture(np.asarray(proj_argmax), scan["proj_mask"], colors, gt)
    out["range_png"] = save_png(os.path.join(vis_dir, item.name + ".png"), picture)
    if bev:
        picture = bev_picture(scan["points"], point_pred, colors, bev_extent, bev_resolution)
        out["bev_png"] = save_png(os.path.join(vis_dir, item.name + "_bev.png"), picture)
    return out


def predict_range(model, cfg, input_path, save_dir, knn=None, bev=False, sequence=None,
                  progress=True, items=None):
    """Predict every scan named by ``input_path`` with a dygraph range model.

    Args:
        model: a range model in eval mode whose ``forward(range_img)`` returns ``logits``.
        cfg: the resolved config (projection and label config of ``val_dataset``).
        input_path: a ``.bin``, a folder of ``.bin`` or a SemanticKITTI root (then the
            config's ``val_dataset.sequences`` are predicted).
        save_dir: output root.
        knn: None, or ``{k, search, sigma, cutoff}`` for KNN post-processing.
        bev: also write bird's-eye-view PNGs.
        sequence: sequence name for loose scans (default "00").
        progress: show a tqdm bar.
        items: the ScanItems, when already resolved from ``input_path``.

    Returns:
        dict: ``scans`` (count), ``points``, ``seconds``, ``outputs`` (list of path dicts).
    """
    setup = range_setup(cfg)
    if items is None:
        items = resolve_scans(input_path, setup.sequences, sequence)
    num_classes = setup.label_config.num_classes
    start, outputs, points = time.time(), [], 0
    model.eval()
    for item in tqdm(items, desc="predict", disable=not show_progress(progress),
                     mininterval=2):
        scan = load_scan(item, setup.projection, setup.label_config)
        with paddle.no_grad():
            logits = model(range_img=to_tensor(scan["range_img"][None]))["logits"]  # [1, C, H, W]
        if logits.shape[1] != num_classes:
            raise ConfigError(f"model.num_classes: the model predicts {logits.shape[1]} classes "
                              f"but the label config {setup.label_config.path} has "
                              f"{num_classes}")
        proj_argmax = logits.argmax(axis=1)[0]  # [H, W]
        point_pred = backproject(proj_argmax, scan, num_classes, knn)  # [N]
        outputs.append(save_scan_outputs(save_dir, item, scan, proj_argmax.numpy(), point_pred,
                                         setup.label_config.learning_map_inv,
                                         setup.label_config.colors, bev=bev))
        points += int(scan["valid"].shape[0])
    return {"scans": len(items), "points": points, "seconds": time.time() - start,
            "outputs": outputs}
