"""Predict SemanticKITTI ``.label`` files with a point-cloud model (2DPASS).

2DPASS (Yan et al., ECCV 2022) needs the camera only for training: inference is LiDAR-only.
Per group of ``batch_size`` scans: read each ``.bin`` (records with NaN/inf values are dropped
with a warning), keep the points inside the config's voxel volume (``val_dataset.min_volume`` /
``max_volume``, like the data set), run the model on the concatenated points (a
:class:`~paddlexseg.structures.FusionBatch` without images), split the argmax per scan with the
model family's :func:`~paddlexseg.models.twodpass.model.scan_predictions`, map learning ids to
raw ids with ``learning_map_inv`` and write the benchmark layout of
:mod:`paddlexseg.apis.range_io`::

    save_dir/sequences/NN/predictions/<frame>.label       uint32 raw id per .bin record
    save_dir/visualization/NN/<frame>_bev.png             with ``bev``: points from above

Every record gets a prediction: with ``val_dataset.unseen_points: nearest`` (the default) a
point outside the volume takes the nearest fed point's class and a NaN/inf record the nearest
finite record's (:mod:`paddlexseg.metrics.point_fill`); ``unseen_points: unlabeled`` writes
raw id 0 (unlabeled, a miss for the benchmark) for them, as 2DPASS's test step leaves them.
Test-time augmentation is the model's: ``model.num_vote`` views
averaged (``--opts model.num_vote=12`` for the paper's setting). Input scans are KITTI
``.bin`` files (float32 x, y, z, remission), so the data set of the config must be
SemanticKITTI-like (:data:`POINT_DATASETS`).
"""
import os
import time
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import paddle
from tqdm import tqdm

from ..datasets.label_config import LabelConfig, load_label_config
from ..datasets.semantickitti import read_scan
from ..datasets.semantickitti_fusion import build_fusion_sample, collate_fusion
from ..models.twodpass.model import scan_predictions
from ..engine.logging import show_progress
from ..metrics.point_fill import check_unseen_mode, nearest_valid_record
from ..registry import ConfigError
from .families import dataset_config
from .range_io import prediction_path, resolve_scans, write_label_file
from .visualize import bev_picture, save_png

__all__ = ["PointSetup", "point_setup", "load_point_sample", "save_point_outputs",
           "predict_point", "POINT_DATASETS"]

# val_dataset.type values whose scans are KITTI .bin files with SemanticKITTI label ids
POINT_DATASETS = ("SemanticKITTIFusion",)
_DEFAULT_VOLUME = ((-50.0, -50.0, -4.0), (50.0, 50.0, 2.0))


@dataclass
class PointSetup:
    """What pre- and post-processing need, read once from a config.

    Attributes:
        volume: ((xmin, ymin, zmin), (xmax, ymax, zmax)) of the voxel volume.
        label_config: LabelConfig (``learning_map_inv``, ``colors``, ``num_classes``).
        sequences: the dataset's sequence numbers (for a SemanticKITTI root as input), or None.
        unseen: ``unseen_points`` of the data set ("nearest" or "unlabeled").
    """
    volume: tuple
    label_config: LabelConfig
    sequences: Optional[list] = None
    unseen: str = "nearest"


def _corner(data_cfg, key, default):
    value = data_cfg.get(key, default)
    try:
        corner = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        corner = ()
    if len(corner) != 3:
        raise ConfigError(f"val_dataset.{key}: expected three numbers (x, y, z), got {value!r}")
    return corner


def point_setup(cfg):
    """PointSetup from a training config's ``val_dataset`` (else ``train_dataset``).

    Raises:
        ConfigError: the data set is not one of :data:`POINT_DATASETS`, or the volume is
            malformed.
    """
    data_cfg = dataset_config(cfg)
    if data_cfg.get("type") not in POINT_DATASETS:
        raise ConfigError(f"val_dataset.type: point predictions read KITTI .bin scans and write "
                          f"SemanticKITTI .label files, so the data set must be one of "
                          f"{', '.join(POINT_DATASETS)}, got {data_cfg.get('type')!r} "
                          f"(evaluate it with tools/val.py)")
    lo = _corner(data_cfg, "min_volume", _DEFAULT_VOLUME[0])
    hi = _corner(data_cfg, "max_volume", _DEFAULT_VOLUME[1])
    if any(a >= b for a, b in zip(lo, hi)):
        raise ConfigError(f"val_dataset.min_volume/max_volume: expected min < max per axis, got "
                          f"{list(lo)} and {list(hi)}")
    label_config = load_label_config(data_cfg.get("label_config", "semantic-kitti"))
    unseen = check_unseen_mode(data_cfg.get("unseen_points", "nearest"),
                               "val_dataset.unseen_points")
    return PointSetup((lo, hi), label_config, data_cfg.get("sequences"), unseen)


def load_point_sample(item, volume, unseen="nearest"):
    """Read one scan and build its LiDAR-only, un-augmented sample.

    Args:
        item: ScanItem (:func:`~paddlexseg.apis.range_io.resolve_scans`).
        volume: ((xmin, ymin, zmin), (xmax, ymax, zmax)).
        unseen: prediction of the records the model is not fed ("nearest" / "unlabeled").

    Returns:
        (sample dict for :func:`~paddlexseg.datasets.semantickitti_fusion.collate_fusion`,
        points float32 [N, 4] finite records, valid bool [N_file] records kept).
    """
    points, valid = read_scan(item.scan_path, return_valid=True)
    sample = build_fusion_sample(points, None, np.random.default_rng(0), False, volume,
                                 point_aug=None, image_aug=None, unseen=unseen,
                                 nonfinite=(nearest_valid_record(valid), None))
    sample["origin_len"] = points.shape[0]
    sample["path"] = item.scan_path
    return sample, points, valid


def save_point_outputs(save_dir, item, points, valid, point_pred, learning_map_inv, colors,
                       bev=False, bev_extent=50.0, bev_resolution=0.1, nonfinite_pred=None):
    """Write a scan's ``.label`` and optionally its bird's-eye-view PNG.

    Args:
        save_dir: output root. item: ScanItem.
        points: float32 [N, 4] finite records of the scan.
        valid: bool [N_file] records of the ``.bin`` kept.
        point_pred: int [N] learning id per finite record.
        nonfinite_pred: int [K] learning id per NaN/inf record (``~valid``), or None to write
            them as 0.
        learning_map_inv: int [C] LUT learning id -> raw id. colors: uint8 [C, 3].
        bev: also write ``visualization/NN/<name>_bev.png``.
        bev_extent, bev_resolution: its half side and pixel size in metres.

    Returns:
        dict of written paths (``label``, ``bev_png``).
    """
    out = {"label": prediction_path(save_dir, item)}
    valid = np.asarray(valid, bool)
    if nonfinite_pred is not None and (~valid).any():
        every = np.zeros(valid.shape[0], np.int64)
        every[valid] = point_pred
        every[~valid] = nonfinite_pred
        write_label_file(out["label"], every, np.ones_like(valid), learning_map_inv)
    else:
        write_label_file(out["label"], point_pred, valid, learning_map_inv, fill="unlabeled")
    if bev:
        picture = bev_picture(points, point_pred, colors, bev_extent, bev_resolution)
        out["bev_png"] = save_png(os.path.join(save_dir, "visualization", item.sequence,
                                               item.name + "_bev.png"), picture)
    return out


def _predict_group(model, loaded, num_classes):
    """(learning ids [origin_len], ids of the NaN/inf records) per loaded scan of one group
    (empty scans: all 0)."""
    preds = [(np.zeros(int(s["origin_len"]), np.int64), None) for s, _, _ in loaded]
    used = [i for i, (s, _, _) in enumerate(loaded) if s["points"].shape[0] > 0]
    for i in set(range(len(loaded))) - set(used):
        warnings.warn(f"{loaded[i][0]['path']}: no point inside the voxel volume; every point "
                      f"is written as unlabeled", stacklevel=3)
    if not used:
        return preds
    batch = collate_fusion([loaded[i][0] for i in used])
    with paddle.no_grad():
        logits = model(**batch.inputs())["logits"]  # [N, C]
    if logits.shape[1] != num_classes:
        raise ConfigError(f"model.num_classes: the model predicts {logits.shape[1]} classes but "
                          f"the label config has {num_classes}")
    for i, (_, full, nonfinite) in zip(used, scan_predictions(logits, batch)):
        preds[i] = (full, nonfinite)  # [origin_len], [K]
    return preds


def predict_point(model, cfg, input_path, save_dir, bev=False, sequence=None, progress=True,
                  items=None, batch_size=1):
    """Predict every scan named by ``input_path`` with a dygraph point model.

    Args:
        model: a point model (2DPASS) whose ``forward(points, batch_idx, ...)`` returns
            ``logits`` [N, C]; put in eval mode here (its ``num_vote`` sets the TTA views).
        cfg: the resolved config (volume and label config of ``val_dataset``).
        input_path: a ``.bin``, a folder of ``.bin`` or a SemanticKITTI root (then the
            config's ``val_dataset.sequences`` are predicted).
        save_dir: output root.
        bev: also write bird's-eye-view PNGs.
        sequence: sequence name for loose scans (default "00").
        progress: show a tqdm bar.
        items: the ScanItems, when already resolved from ``input_path``.
        batch_size: scans per forward pass.

    Returns:
        dict: ``scans`` (count), ``points`` (records written), ``outside`` (finite records
        outside the volume), ``unseen_points`` (how those and the NaN/inf records were
        labelled), ``seconds``, ``outputs`` (list of path dicts).
    """
    setup = point_setup(cfg)
    if items is None:
        items = resolve_scans(input_path, setup.sequences, sequence)
    if int(batch_size) < 1:
        raise ValueError(f"predict_point: batch_size must be >= 1, got {batch_size}")
    labels = setup.label_config
    start, outputs, points_written, outside = time.time(), [], 0, 0
    model.eval()
    groups = [items[i:i + int(batch_size)] for i in range(0, len(items), int(batch_size))]
    for group in tqdm(groups, desc="predict", disable=not show_progress(progress),
                      mininterval=2):
        loaded = [load_point_sample(item, setup.volume, setup.unseen) for item in group]
        preds = _predict_group(model, loaded, labels.num_classes)
        for item, (sample, points, valid), (pred, nonfinite) in zip(group, loaded, preds):
            outputs.append(save_point_outputs(save_dir, item, points, valid, pred,
                                              labels.learning_map_inv, labels.colors, bev=bev,
                                              nonfinite_pred=nonfinite))
            points_written += int(valid.shape[0])
            outside += int(points.shape[0] - sample["points"].shape[0])
    return {"scans": len(items), "points": points_written, "outside": outside,
            "unseen_points": setup.unseen, "seconds": time.time() - start, "outputs": outputs}
