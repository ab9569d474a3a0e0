"""Range-model input and output: which scans to read, projection, back-projection, ``.label`` files.

Shared by ``tools/predict.py`` (dygraph model) and ``deploy/python/infer.py`` (Paddle
Inference), so both pre-process and post-process a scan identically.

Output layout (the SemanticKITTI benchmark's submission layout)::

    save_dir/sequences/NN/predictions/<frame>.label   uint32 per point: raw semantic id
                                                     (learning_map_inv), instance bits 0

The sequence ``NN`` of a scan is read from its path when the scan lies in
``.../sequences/NN/velodyne/``; a loose scan gets the ``sequence`` argument (default ``00``).
Each ``.label`` has one entry per record of the ``.bin``: records dropped for NaN/inf values
get the prediction of the nearest kept record in file order (validation scores them so).
"""
import os
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..datasets.errors import DataError
from ..datasets.semantickitti import list_scans, read_label, read_scan
from ..registry import ConfigError, check_kwargs
from ..transforms.range_projection import RangeProjection

__all__ = ["ScanItem", "resolve_scans", "build_projection", "load_scan", "backproject",
           "check_knn", "require_knn_op", "write_label_file", "prediction_path",
           "RANGENET_KNN", "KNN_KEYS"]

# lidar-bonnetal darknet21.yaml / darknet53.yaml: post.KNN.params
RANGENET_KNN = {"k": 5, "search": 5, "sigma": 1.0, "cutoff": 1.0}
KNN_KEYS = ("k", "search", "sigma", "cutoff")
_SEQ_RE = re.compile(r"^\d+$")


@dataclass
class ScanItem:
    """One scan to predict.

    Attributes:
        scan_path: the ``.bin`` file.
        label_path: its ``.label`` ground truth, or None when there is none.
        sequence: two-digit sequence name used in the output layout.
        name: file stem (e.g. ``000042``).
    """
    scan_path: str
    label_path: Optional[str]
    sequence: str
    name: str


def _sequence_of(scan_path):
    """``NN`` when ``scan_path`` is ``.../sequences/NN/velodyne/X.bin``, else None."""
    velo = os.path.dirname(os.path.abspath(scan_path))
    seq_dir = os.path.dirname(velo)
    if (os.path.basename(velo) == "velodyne" and _SEQ_RE.match(os.path.basename(seq_dir))
            and os.path.basename(os.path.dirname(seq_dir)) == "sequences"):
        return f"{int(os.path.basename(seq_dir)):02d}"
    return None


def _label_of(scan_path):
    """The ``../labels/X.label`` beside a scan in the SemanticKITTI layout, if it exists."""
    velo = os.path.dirname(os.path.abspath(scan_path))
    if os.path.basename(velo) != "velodyne":
        return None
    stem = os.path.splitext(os.path.basename(scan_path))[0]
    label = os.path.join(os.path.dirname(velo), "labels", stem + ".label")
    return label if os.path.isfile(label) else None


def _item(scan_path, sequence):
    size = os.path.getsize(scan_path)
    if size % 16 or size == 0:  # checked up front so a long run does not fail half-way
        raise DataError(f"{scan_path}: file size {size} bytes is not a positive multiple of 16; "
                        f"expected float32 (x, y, z, remission) records of 16 bytes per point")
    seq = _sequence_of(scan_path) or sequence
    return ScanItem(scan_path=scan_path, label_path=_label_of(scan_path), sequence=seq,
                    name=os.path.splitext(os.path.basename(scan_path))[0])


def resolve_scans(input_path, sequences=None, sequence=None):
    """The scans named by ``input_path``.

    Args:
        input_path: a ``.bin`` scan, a folder of ``.bin`` scans, or a SemanticKITTI root
            (a folder holding ``sequences/``).
        sequences: sequence numbers read from a SemanticKITTI root (the config's
            ``val_dataset.sequences``); required for a root.
        sequence: sequence name for scans outside ``.../sequences/NN/velodyne/`` (default "00").

    Returns:
        list of ScanItem, sorted by path.

    Raises:
        DataError: the path does not exist, is not a ``.bin``, a folder holds no ``.bin``, or a
            scan's size is not a positive multiple of 16 bytes (truncated file).
    """
    sequence = "00" if sequence is None else f"{int(sequence):02d}"
    if not os.path.exists(input_path):
        raise DataError(f"{input_path}: no such file or folder; expected a .bin scan, a folder "
                        f"of .bin scans or a SemanticKITTI root holding sequences/")
    if os.path.isfile(input_path):
        if not input_path.endswith(".bin"):
            raise DataError(f"{input_path}: expected a KITTI .bin scan (float32 x, y, z, "
                            f"remission)")
        return [_item(input_path, sequence)]
    if os.path.isdir(os.path.join(input_path, "sequences")):
        if not sequences:
            raise ConfigError(f"{input_path} is a SemanticKITTI root: val_dataset.sequences must "
                              f"name the sequences to predict")
        pairs = list_scans(input_path, sequences, with_labels=False)
        return [_item(scan, sequence) for scan, _ in pairs]
    scans = sorted(f for f in os.listdir(input_path) if f.endswith(".bin"))
    if not scans:
        raise DataError(f"{input_path}: folder holds no .bin scans; expected KITTI .bin files "
                        f"or a SemanticKITTI root holding sequences/NN/velodyne/")
    return [_item(os.path.join(input_path, f), sequence) for f in scans]


def build_projection(projection, path="val_dataset.projection"):
    """A :class:`RangeProjection` from a config mapping (None: the HDL-64E defaults)."""
    if projection is None:
        return RangeProjection()
    if not isinstance(projection, dict):
        raise ConfigError(f"{path}: expected a mapping of RangeProjection arguments, got "
                          f"{projection!r}")
    check_kwargs(RangeProjection, projection, path)
    try:
        return RangeProjection(**projection)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from None


def load_scan(item, projection, label_config=None):
    """Read and project one scan.

    Args:
        item: ScanItem.
        projection: RangeProjection.
        label_config: LabelConfig used to map the ground truth (None: ignore ground truth).

    Returns:
        dict with ``points`` float32 [N, 4] (finite records only), ``valid`` bool [N_file]
        (records kept), ``labels`` int64 [N] learning ids or None, and the projection's
        outputs (``range_img`` [5, H, W], ``proj_mask``, ``proj_range``, ``proj_x``,
        ``proj_y``, ``unproj_range``, ``proj_labels`` with labels).
    """
    points, valid = read_scan(item.scan_path, return_valid=True)
    labels = None
    if item.label_path is not None and label_config is not None:
        semantic, _ = read_label(item.label_path, valid.shape[0])
        labels = label_config.map_labels(semantic[valid], source=item.label_path)
    out = projection(points, labels)
    out.update(points=points, valid=valid, labels=labels)
    return out


def check_knn(knn, path="metric.knn"):
    """Validate a KNN settings mapping (``k, search, sigma, cutoff``); returns a copy or None."""
    if knn is None:
        return None
    if not isinstance(knn, dict) or sorted(knn) != sorted(KNN_KEYS):
        raise ConfigError(f"{path}: expected null or a mapping with exactly the keys "
                          f"{', '.join(KNN_KEYS)}, got {knn!r}")
    return dict(knn)


def require_knn_op():
    """Import ``paddlexseg.ops.knn.knn_backproject`` or raise ConfigError saying how to go on."""
    try:
        from ..ops.knn import knn_backproject
    except ImportError as err:
        raise ConfigError(f"KNN post-processing needs paddlexseg.ops.knn.knn_backproject, which "
                          f"cannot be imported ({err}); predict with --no-knn or set "
                          f"metric.knn: null") from None
    return knn_backproject


def backproject(proj_argmax, scan, num_classes, knn=None):
    """Per-point learning ids from a range-image prediction.

    Args:
        proj_argmax: int [H, W] predicted class per pixel (NumPy or paddle Tensor).
        scan: dict from :func:`load_scan` (``proj_x``, ``proj_y``, ``proj_range``,
            ``unproj_range``).
        num_classes: number of learning classes.
        knn: None to give each point its pixel's class, or ``{k, search, sigma, cutoff}`` for
            RangeNet++'s KNN post-processing (``paddlexseg.ops.knn.knn_backproject``).

    Returns:
        int64 [N] learning id per projected point.
    """
    px = np.asarray(scan["proj_x"]).astype(np.int64)  # [N]
    py = np.asarray(scan["proj_y"]).astype(np.int64)  # [N]
    argmax = proj_argmax if isinstance(proj_argmax, np.ndarray) else proj_argmax.numpy()
    argmax = np.asarray(argmax).astype(np.int64)  # [H, W]
    if knn is None:
        return argmax[py, px]
    knn_backproject = require_knn_op()
    out = knn_backproject(np.asarray(scan["proj_range"], np.float32),
                          np.asarray(scan["unproj_range"], np.float32), argmax, px, py,
                          int(num_classes), knn["k"], knn["search"], knn["sigma"], knn["cutoff"])
    out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
    return out.reshape(-1).astype(np.int64)


def prediction_path(save_dir, item):
    """``save_dir/sequences/NN/predictions/<name>.label`` for a ScanItem."""
    return os.path.join(save_dir, "sequences", item.sequence, "predictions", item.name + ".label")


def write_label_file(path, learning, valid, learning_map_inv, fill="nearest"):
    """Write a benchmark ``.label``: raw ids (uint32) for every record of the ``.bin``.

    Args:
        path: output file (folders are created).
        learning: int [N] learning ids of the kept records.
        valid: bool [N_file] records of the ``.bin`` that were kept (NaN/inf ones were not).
        learning_map_inv: int [num_classes] LUT learning id -> raw id.
        fill: the records not kept get the prediction of the nearest kept record in file
            order ("nearest", the earlier on a tie; what validation scores) or raw id 0
            ("unlabeled").

    Returns:
        uint32 [N_file] the raw ids written.
    """
    learning = np.asarray(learning).astype(np.int64)
    lut = np.asarray(learning_map_inv).astype(np.int64)
    if learning.size and (learning.min() < 0 or learning.max() >= lut.shape[0]):
        raise ValueError(f"write_label_file({path}): learning ids span [{learning.min()}, "
                         f"{learning.max()}] but learning_map_inv has {lut.shape[0]} entries")
    valid = np.asarray(valid).astype(bool)
    if int(valid.sum()) != learning.shape[0]:
        raise ValueError(f"write_label_file({path}): {learning.shape[0]} predictions for "
                         f"{int(valid.sum())} kept points")
    raw = np.zeros(valid.shape[0], dtype=np.uint32)
    raw[valid] = lut[learning].astype(np.uint32)
    if fill == "nearest" and learning.size and not valid.all():
        from ..metrics.point_fill import nearest_valid_record
        raw[~valid] = raw[valid][nearest_valid_record(valid)]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    raw.tofile(path)
    return raw
