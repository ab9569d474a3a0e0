"""A prediction for every point of a scan, also for the points a point model was not fed.

A point model (2DPASS) sees only the finite points inside its voxel volume; the official
SemanticKITTI evaluator (``evaluate_semantics.py``) scores every record of the ``.bin``. Two
ways to label the records the model did not see (``unseen_points`` of the data set config):

* ``"nearest"`` (default): a finite point outside the volume takes the prediction of the
  nearest (3-D Euclidean) point the model was fed; a NaN/inf record, which the readers drop,
  takes the prediction of the nearest finite record in file order (the earlier one on a tie).
* ``"unlabeled"``: both get learning id 0, which the benchmark counts as a miss. This is what
  the original 2DPASS does (its test step leaves them at 0 logits) -- use it to reproduce its
  numbers.

Validation (:class:`~paddlexseg.metrics.point_iou.PointIoU`) and ``tools/predict.py`` use the
same functions, so ``val.py`` prints what the official evaluator reports on the written files.
"""
import numpy as np

__all__ = ["UNSEEN_MODES", "check_unseen_mode", "nearest_rows", "nearest_valid_record",
           "fill_scan"]

UNSEEN_MODES = ("nearest", "unlabeled")


def check_unseen_mode(mode, path="unseen_points"):
    """``mode`` if it is one of :data:`UNSEEN_MODES`; ConfigError naming ``path`` otherwise."""
    if mode not in UNSEEN_MODES:
        from ..registry import ConfigError
        raise ConfigError(f"{path}: expected one of {', '.join(UNSEEN_MODES)}, got {mode!r}")
    return mode


def nearest_rows(query, ref, chunk=2048):
    """Row of ``ref`` nearest to each row of ``query`` (Euclidean; ties: lowest row).

    Args:
        query: float [M, 3]. ref: float [R, 3], R >= 1.
        chunk: query rows per block (memory ``chunk * R``) of the NumPy fallback.

    Returns:
        int64 [M]. Uses ``scipy.spatial.cKDTree`` when SciPy is installed, else blocks of exact
        distances.
    """
    query = np.asarray(query, np.float64).reshape(-1, 3)
    ref = np.asarray(ref, np.float64).reshape(-1, 3)
    if ref.shape[0] == 0:
        raise ValueError("nearest_rows: no reference point")
    if query.shape[0] == 0:
        return np.zeros(0, np.int64)
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        cKDTree = None
    if cKDTree is not None:
        return np.asarray(cKDTree(ref).query(query, k=1)[1], np.int64)
    out = np.empty(query.shape[0], np.int64)
    ref_sq = (ref ** 2).sum(1)
    for s in range(0, query.shape[0], chunk):
        q = query[s:s + chunk]
        d2 = (q ** 2).sum(1)[:, None] - 2.0 * q @ ref.T + ref_sq[None]     # [m, R]
        out[s:s + chunk] = np.argmin(d2, axis=1)                           # first minimum
    return out


def nearest_valid_record(valid):
    """For each False entry of ``valid`` (a NaN/inf record), the row among the True entries
    (the finite records, in file order) nearest in file order; the earlier on a tie.

    Args:
        valid: bool [N_file], at least one True.

    Returns:
        int64 [K] rows in ``0 .. valid.sum() - 1``, K = number of False entries.
    """
    valid = np.asarray(valid, bool).reshape(-1)
    good = np.nonzero(valid)[0]
    bad = np.nonzero(~valid)[0]
    if bad.size == 0:
        return np.zeros(0, np.int64)
    if good.size == 0:
        raise ValueError("nearest_valid_record: the scan has no finite record")
    after = np.searchsorted(good, bad)                       # first finite record after each
    before = np.clip(after - 1, 0, good.size - 1)
    after = np.clip(after, 0, good.size - 1)
    take_before = np.abs(bad - good[before]) <= np.abs(good[after] - bad)
    return np.where(take_before, before, after).astype(np.int64)


def fill_scan(pred_fed, fed_rows, xyz, nonfinite_src=None, mode="nearest"):
    """Predictions for every finite point and every NaN/inf record of one scan.

    Args:
        pred_fed: int [F] learning id of each point the model was fed.
        fed_rows: int [F] row of each fed point in ``xyz``.
        xyz: float [N, 3] every finite point of the scan.
        nonfinite_src: int [K] :func:`nearest_valid_record` of the dropped records, or None.
        mode: one of :data:`UNSEEN_MODES`.

    Returns:
        (int64 [N] per finite point, int64 [K] per NaN/inf record).
    """
    check_unseen_mode(mode)
    pred_fed = np.asarray(pred_fed, np.int64).reshape(-1)
    fed_rows = np.asarray(fed_rows, np.int64).reshape(-1)
    xyz = np.asarray(xyz).reshape(-1, 3)
    src = np.zeros(0, np.int64) if nonfinite_src is None else np.asarray(nonfinite_src, np.int64)
    full = np.zeros(xyz.shape[0], np.int64)
    full[fed_rows] = pred_fed
    if mode == "unlabeled" or fed_rows.size == 0:
        return full, np.zeros(src.shape[0], np.int64)
    unseen = np.ones(xyz.shape[0], bool)
    unseen[fed_rows] = False
    rows = np.nonzero(unseen)[0]
    if rows.size:
        full[rows] = pred_fed[nearest_rows(xyz[rows], xyz[fed_rows])]
    return full, full[src]
