"""Every record of a scan file, for evaluation that scores what the official evaluator scores.

The point readers drop NaN/inf records (:func:`~paddlexseg.datasets.semantickitti.read_scan`)
and the 2DPASS samples keep only the points inside the voxel volume; the official evaluators
score every record. :func:`scan_records` describes a whole scan as a
:class:`~paddlexseg.structures.ScanRecords` so that :mod:`paddlexseg.metrics.point_fill` can
give each record a prediction (val/test mode only).
"""
import os

import numpy as np

from ..metrics.point_fill import check_unseen_mode, nearest_valid_record
from ..structures import ScanRecords
from .semantickitti import read_label

__all__ = ["scan_records", "file_nonfinite"]


def file_nonfinite(scan_path, label_path=None, label_config=None):
    """The NaN/inf records of a KITTI ``.bin`` (which the reader drops).

    Args:
        scan_path: the ``.bin``. label_path: its ``.label`` or None. label_config: LabelConfig
            mapping raw ids to learning ids (needed with ``label_path``).

    Returns:
        (src int64 [K] nearest finite record in file order, as a row of the finite points;
        learning labels int64 [K] or None).
    """
    if not os.path.isfile(scan_path) or os.path.getsize(scan_path) % 16:
        return np.zeros(0, np.int64), None           # the reader reports such files
    raw = np.fromfile(scan_path, dtype=np.float32).reshape(-1, 4)
    valid = np.isfinite(raw).all(axis=1)
    if valid.all() or not valid.any():
        return np.zeros(0, np.int64), (None if label_path is None else np.zeros(0, np.int64))
    src = nearest_valid_record(valid)
    if label_path is None:
        return src, None
    semantic, _ = read_label(label_path, valid.shape[0])
    return src, label_config.map_labels(semantic[~valid], source=label_path)


def scan_records(points, labels, unseen="nearest", nonfinite=None):
    """:class:`ScanRecords` of a scan as the data set loaded it.

    Args:
        points: float [N, >=3] finite points. labels: int [N] or None.
        unseen: ``unseen_points`` mode (:data:`~paddlexseg.metrics.point_fill.UNSEEN_MODES`).
        nonfinite: ``(src, labels)`` of :func:`file_nonfinite`, or None (no dropped records,
            e.g. a corrupted scan whose points no longer match the file).
    """
    check_unseen_mode(unseen)
    src, nf_labels = (None, None) if nonfinite is None else nonfinite
    return ScanRecords(
        xyz=np.ascontiguousarray(np.asarray(points)[:, :3], dtype=np.float32),
        labels=None if labels is None else np.asarray(labels, np.int64).reshape(-1),
        nonfinite_src=np.zeros(0, np.int64) if src is None else np.asarray(src, np.int64),
        nonfinite_labels=None if nf_labels is None else np.asarray(nf_labels, np.int64),
        unseen=unseen)
