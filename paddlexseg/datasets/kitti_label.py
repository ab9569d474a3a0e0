"""KITTI object ``label_2`` files: reading, writing and per-object difficulty.

One line per object, 15 fields (16 with a detection score)::

    type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]

``(x, y, z)`` is the bottom centre in the rectified camera frame. An annotation dict (what the
evaluator consumes, as OpenPCDet / mmdet3d ``get_label_anno``) holds NumPy arrays: ``name``
[N] str, ``truncated`` [N], ``occluded`` int [N], ``alpha`` [N], ``bbox`` [N, 4],
``dimensions`` [N, 3] **(l, h, w)** (the file's h w l reordered with ``[2, 0, 1]``),
``location`` [N, 3], ``rotation_y`` [N], ``score`` [N] (0 for ground truth) and
``difficulty`` int [N] (0 Easy, 1 Moderate, 2 Hard, -1 none of them).
"""
import os

import numpy as np

from .errors import DataError

__all__ = ["read_label", "write_label", "empty_anno", "compute_difficulty", "KITTI_CLASSES",
           "DIFFICULTY"]

KITTI_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram",
                 "Misc", "DontCare")
# KITTI devkit: min 2-D box height (px), max occlusion level, max truncation per difficulty
DIFFICULTY = {"min_height": (40, 25, 25), "max_occlusion": (0, 1, 2),
              "max_truncation": (0.15, 0.30, 0.50)}


def empty_anno():
    """An annotation dict with no object."""
    return {"name": np.zeros(0, dtype="<U16"), "truncated": np.zeros(0),
            "occluded": np.zeros(0, dtype=np.int64), "alpha": np.zeros(0),
            "bbox": np.zeros((0, 4)), "dimensions": np.zeros((0, 3)),
            "location": np.zeros((0, 3)), "rotation_y": np.zeros(0), "score": np.zeros(0),
            "difficulty": np.zeros(0, dtype=np.int64)}


def compute_difficulty(anno):
    """Per-object difficulty int [N]: the easiest of Easy (0) / Moderate (1) / Hard (2) whose
    KITTI limits the object meets (2-D height >= 40/25/25 px, occlusion <= 0/1/2,
    truncation <= 0.15/0.30/0.50), -1 if none (OpenPCDet ``add_difficulty_to_annos``)."""
    height = anno["bbox"][:, 3] - anno["bbox"][:, 1]
    out = np.full(height.shape[0], -1, dtype=np.int64)
    for level in (2, 1, 0):                       # hardest first; easier levels overwrite
        ok = (height >= DIFFICULTY["min_height"][level]) & \
             (anno["occluded"] <= DIFFICULTY["max_occlusion"][level]) & \
             (anno["truncated"] <= DIFFICULTY["max_truncation"][level])
        out[ok] = level
    return out


def read_label(path):
    """Parse a KITTI ``label_2`` file into an annotation dict (see the module docstring).

    DontCare (and any other) lines are kept. An empty file gives an empty annotation.

    Raises:
        DataError naming the file and line: missing file, a line with other than 15 or 16
        fields, a non-numeric value, or a non-DontCare object with a non-positive size.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: label file not found; expected one KITTI label_2 .txt per "
                        f"frame (or mode: test for unlabeled data)")
    names, rows = [], []
    with open(path, "r") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (15, 16):
                raise DataError(f"{path}: line {lineno} has {len(fields)} fields; expected 15 "
                                f"(type truncated occluded alpha x1 y1 x2 y2 h w l x y z "
                                f"rotation_y) or 16 with a score")
            try:
                values = [float(v) for v in fields[1:]] + ([0.0] if len(fields) == 15 else [])
            except ValueError:
                raise DataError(f"{path}: line {lineno} holds a non-numeric value; expected "
                                f"numbers after the object type '{fields[0]}'") from None
            if fields[0] != "DontCare" and min(values[7:10]) <= 0:
                raise DataError(f"{path}: line {lineno} ('{fields[0]}') has a non-positive "
                                f"size h w l = {values[7:10]}; expected positive metres")
            if not np.isfinite(values).all():
                raise DataError(f"{path}: line {lineno} holds a NaN/inf value")
            names.append(fields[0])
            rows.append(values)
    if not rows:
        return empty_anno()
    v = np.asarray(rows, dtype=np.float64)                                 # [N, 15]
    anno = {"name": np.asarray(names, dtype="<U16"), "truncated": v[:, 0],
            "occluded": v[:, 1].astype(np.int64), "alpha": v[:, 2], "bbox": v[:, 3:7],
            "dimensions": v[:, [9, 7, 8]],                                 # h w l -> l h w
            "location": v[:, 10:13], "rotation_y": v[:, 13], "score": v[:, 14]}
    anno["difficulty"] = compute_difficulty(anno)
    return anno


def write_label(path, anno, with_score=None, decimals=2):
    """Write an annotation dict as a KITTI ``label_2`` file.

    Args:
        path: output ``.txt``.
        anno: annotation dict (``dimensions`` in (l, h, w) order, written as h w l).
        with_score: write the 16th field (default: when ``anno`` has a ``score`` and any is
            non-zero, i.e. detections).
        decimals: decimals of the 3-D values and angles (KITTI's ground truth uses 2).
    """
    n = len(anno["name"])
    if with_score is None:
        with_score = "score" in anno and n > 0 and bool(np.any(anno["score"] != 0))
    d = int(decimals)
    lines = []
    for i in range(n):
        l, h, w = anno["dimensions"][i]
        fields = [str(anno["name"][i]), f"{float(anno['truncated'][i]):.2f}",
                  str(int(anno["occluded"][i])), f"{float(anno['alpha'][i]):.{d}f}"]
        fields += [f"{float(v):.2f}" for v in anno["bbox"][i]]
        fields += [f"{float(v):.{d}f}" for v in (h, w, l, *anno["location"][i],
                                                 anno["rotation_y"][i])]
        if with_score:
            fields.append(f"{float(anno['score'][i]):.4f}")
        lines.append(" ".join(fields) + "\n")
    with open(path, "w") as f:
        f.writelines(lines)
