"""MVSEC event streams for visual place recognition (Event-VPR).

Preprocessed layout (what the datasets read; what :class:`SequenceWriter`,
:func:`convert_mvsec_hdf5` and the synthetic generator write)::

    root/
      outdoor_day1/                 one folder per sequence (traversal)
        1506117898.995635.npy       one sample: float64 [N, 4] events (t, x, y, p), sorted by t,
        ...                         named by its first event's timestamp in seconds
      outdoor_day2/ ...
      gps/outdoor_day1.npy          float64 [M, 3] track (x, y, t): metres, metres, seconds

The column order ``(t, x, y, p)`` is the one of the reproduction this follows (it reads
``x = events[:, 1]``, ``y = events[:, 2]``, ``p = events[:, 3]`` and feeds column 0 as time to
the voxel grid); other orders are read with ``column_order`` (MVSEC hdf5 stores ``xytp``).
Polarity may be 0/1 or -1/+1. A sample's position is the track linearly interpolated at its
file-name timestamp; samples outside the track's time range are left out with a warning.

Query/database split (``split``): ``random`` puts a seeded ``query_fraction`` of the samples of
``sequences`` in the query set (the reproduction: 30 % of outdoor_day2 for training, of
outdoor_day1 for testing); ``traversal`` uses all samples of ``sequences`` as the database and
those of ``query_sequences`` as queries (e.g. day2 database, day1 queries).

MVSEC hdf5 (optional, needs ``h5py``): :func:`convert_mvsec_hdf5` splits
``davis/<camera>/events`` (x, y, t, p) into samples and takes positions from the Cartographer
poses ``davis/<camera>/pose`` / ``pose_ts`` of the ``*_gt.hdf5`` file (the hdf5 files carry no
GPS; the poses are globally loop-closed, 2D: x, y by default).
"""
import os
import warnings

import numpy as np

from ..registry import DATASETS
from ..structures import EventBatch, TripletBatch, to_tensor
from ..transforms import events as event_tf  # module import: transforms import datasets.errors
from .errors import DataError

__all__ = ["SENSOR_SIZE", "read_events", "split_events", "interpolate_positions",
           "SequenceWriter", "write_track", "convert_mvsec_hdf5", "load_sequence",
           "build_places", "MVSECTriplet", "MVSECPlaces"]

SENSOR_SIZE = (260, 346)  # (height, width) of the DAVIS 346


def read_events(path, column_order="txyp", sensor_size=SENSOR_SIZE, on_outside="drop",
                on_unsorted="sort"):
    """Load one sample file -> float64 [N, 4] (t, x, y, p) checked by ``check_events``."""
    if sorted(column_order) != sorted("txyp"):
        raise ValueError(f"column_order must be a permutation of 'txyp', got {column_order!r}")
    try:
        raw = np.load(path)
    except (OSError, ValueError, EOFError) as e:  # EOFError: a zero-byte or cut file
        raise DataError(f"{path}: cannot read an events .npy file ({type(e).__name__}: "
                        f"{e or 'empty file'})") from None
    if raw.ndim != 2 or raw.shape[1] != 4:
        raise DataError(f"{path}: expected events of shape [N, 4] ({column_order}), "
                        f"got shape {list(raw.shape)}")
    events = raw[:, [column_order.index(c) for c in "txyp"]]
    _check_time_precision(events[:, 0], raw.dtype, path)
    return event_tf.check_events(events, sensor_size, path, on_outside, on_unsorted)


MAX_TIME_SPACING = 1e-4  # s: coarser float timestamps than this are refused


def _check_time_precision(t, dtype, path):
    """Refuse timestamps stored in a float type too narrow for their magnitude (float32
    Unix-epoch seconds are spaced 128 s apart: every event of a sample gets the same time)."""
    if not np.issubdtype(dtype, np.floating) or np.dtype(dtype).itemsize >= 8 or t.size == 0:
        return
    top = np.asarray(np.abs(t).max(), dtype=dtype)
    spacing = float(np.spacing(top))
    if spacing > MAX_TIME_SPACING:
        raise DataError(f"{path}: timestamps are stored as {np.dtype(dtype).name}, which at "
                        f"their magnitude ({float(top):.6g} s) resolves only {spacing:.3g} s; "
                        f"store the events as float64 (or times relative to the sequence start)")


def split_events(t, events_per_sample=15000, time_window=None, t0=None):
    """Cut a sorted event stream into complete samples.

    Args:
        t: float [N] sorted timestamps (one chunk of a stream).
        events_per_sample: events per sample (used when ``time_window`` is None).
        time_window: sample duration in seconds; windows start at ``t0 + k * time_window``
            and empty windows are skipped.
        t0: start of the window grid (default ``t[0]``).

    Returns:
        (bounds, consumed): list of (start, end) index pairs of complete samples, and the
        index where the incomplete remainder begins (to be prepended to the next chunk).
    """
    n = len(t)
    if time_window is None:
        k = n // int(events_per_sample)
        return [(i * events_per_sample, (i + 1) * events_per_sample) for i in range(k)], \
            k * int(events_per_sample)
    if n == 0:
        return [], 0
    t0 = t[0] if t0 is None else t0
    k_first = int(np.floor((t[0] - t0) / time_window))
    k_last = int(np.floor((t[-1] - t0) / time_window))   # window of the last event: incomplete
    edges = t0 + np.arange(k_first, k_last + 1) * time_window
    idx = np.searchsorted(t, edges, side="left")
    bounds = [(int(a), int(b)) for a, b in zip(idx[:-1], idx[1:]) if b > a]
    return bounds, int(idx[-1])


def interpolate_positions(track, timestamps):
    """Positions at ``timestamps`` from a track [M, 3] (x, y, t).

    Returns:
        (positions float64 [K, 2], inside bool [K]: timestamp within the track's time range).
    """
    order = np.argsort(track[:, 2], kind="stable")
    tt, xs, ys = track[order, 2], track[order, 0], track[order, 1]
    pos = np.stack([np.interp(timestamps, tt, xs), np.interp(timestamps, tt, ys)], axis=1)
    inside = (timestamps >= tt[0]) & (timestamps <= tt[-1])
    return pos, inside


class SequenceWriter:
    """Write a stream, chunk by chunk, as one sample file per complete sample.

    Args:
        out_root: dataset root; samples go to ``out_root/name/<t_first>.npy``.
        name: sequence name.
        events_per_sample: events per sample (when ``time_window`` is None).
        time_window: seconds per sample instead of a fixed count.
    """

    def __init__(self, out_root, name, events_per_sample=15000, time_window=None):
        self.folder = os.path.join(out_root, name)
        os.makedirs(self.folder, exist_ok=True)
        self.events_per_sample = int(events_per_sample)
        self.time_window = time_window
        self.paths = []
        self._rest = np.zeros((0, 4), np.float64)
        self._t0 = None

    def add(self, events):
        """Append float [n, 4] (t, x, y, p) events, sorted and later than those added before."""
        events = np.concatenate([self._rest, np.asarray(events, np.float64)], axis=0)
        if self._t0 is None and len(events):
            self._t0 = events[0, 0]
        bounds, consumed = split_events(events[:, 0], self.events_per_sample, self.time_window,
                                        self._t0)
        for a, b in bounds:
            path = os.path.join(self.folder, f"{events[a, 0]:.6f}.npy")
            np.save(path, events[a:b])
            self.paths.append(path)
        self._rest = events[consumed:]
        return self

    def close(self):
        """Drop the incomplete last sample; returns the written paths."""
        self._rest = np.zeros((0, 4), np.float64)
        return self.paths


def write_track(out_root, name, track):
    """Save a track [M, 3] (x, y, t) as ``out_root/gps/<name>.npy``."""
    os.makedirs(os.path.join(out_root, "gps"), exist_ok=True)
    path = os.path.join(out_root, "gps", f"{name}.npy")
    np.save(path, np.asarray(track, np.float64))
    return path


def convert_mvsec_hdf5(data_path, gt_path, out_root, name, events_per_sample=15000,
                       time_window=None, camera="left", pose_axes=(0, 1), chunk_size=5_000_000):
    """Convert an MVSEC ``*_data.hdf5`` / ``*_gt.hdf5`` pair to the preprocessed layout.

    Args:
        data_path: e.g. ``outdoor_day2_data.hdf5`` (``davis/<camera>/events``: x, y, t, p).
        gt_path: e.g. ``outdoor_day2_gt.hdf5`` (``davis/<camera>/pose`` [M, 4, 4], ``pose_ts``).
        out_root, name: output root and sequence name.
        events_per_sample, time_window: how samples are cut (see :func:`split_events`).
        camera: "left" or "right".
        pose_axes: translation components used as the planar (x, y) position.
        chunk_size: events read at a time.

    Returns:
        number of samples written.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("convert_mvsec_hdf5 needs h5py: pip install h5py") from None
    with h5py.File(gt_path, "r") as gt:
        key = f"davis/{camera}/pose"
        if key not in gt or key + "_ts" not in gt:
            raise DataError(f"{gt_path}: expected datasets '{key}' and '{key}_ts'")
        pose = np.asarray(gt[key], np.float64)
        track = np.stack([pose[:, pose_axes[0], 3], pose[:, pose_axes[1], 3],
                          np.asarray(gt[key + "_ts"], np.float64)], axis=1)
    write_track(out_root, name, track)
    writer = SequenceWriter(out_root, name, events_per_sample, time_window)
    with h5py.File(data_path, "r") as data:
        key = f"davis/{camera}/events"
        if key not in data:
            raise DataError(f"{data_path}: expected dataset '{key}' (x, y, t, p)")
        ds = data[key]
        for start in range(0, ds.shape[0], chunk_size):
            chunk = np.asarray(ds[start:start + chunk_size], np.float64)
            writer.add(chunk[:, [2, 0, 1, 3]])
    return len(writer.close())


def load_sequence(root, name, gps_root=None, stride=1):
    """Index one preprocessed sequence.

    Returns:
        dict with ``paths`` (list), ``timestamps`` float64 [K], ``positions`` float64 [K, 2]
        of the samples inside the track's time range, every ``stride``-th one.
    """
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: sequence folder not found; expected one .npy per sample")
    gps_path = os.path.join(gps_root or os.path.join(root, "gps"), f"{name}.npy")
    if not os.path.isfile(gps_path):
        raise DataError(f"{gps_path}: GPS track not found; expected float [M, 3] (x, y, t)")
    track = np.load(gps_path)
    if track.ndim != 2 or track.shape[1] != 3 or len(track) < 2:
        raise DataError(f"{gps_path}: expected a track of shape [M >= 2, 3] (x, y, t), "
                        f"got {list(track.shape)}")
    stamps = []
    for fname in os.listdir(folder):
        stem, ext = os.path.splitext(fname)
        if ext != ".npy":
            continue
        try:
            stamps.append((float(stem), os.path.join(folder, fname)))
        except ValueError:
            raise DataError(f"{os.path.join(folder, fname)}: sample files must be named by "
                            f"their timestamp in seconds, e.g. 1506117898.995635.npy") from None
    if not stamps:
        raise DataError(f"{folder}: no .npy sample files found")
    stamps.sort()
    ts = np.array([s for s, _ in stamps], np.float64)
    pos, inside = interpolate_positions(track.astype(np.float64), ts)
    if not inside.all():
        warnings.warn(f"{folder}: {int((~inside).sum())} of {len(ts)} samples lie outside the "
                      f"time range of {gps_path}; leaving them out", stacklevel=2)
    keep = np.flatnonzero(inside)[::max(1, int(stride))]
    return {"paths": [stamps[i][1] for i in keep], "timestamps": ts[keep], "positions": pos[keep]}


def build_places(root, sequences, split="random", query_fraction=0.3, query_sequences=None,
                 seed=0, gps_root=None, stride=1):
    """Sample table of a query/database split.

    Returns:
        dict with ``paths`` (list), ``timestamps`` [K], ``positions`` [K, 2] and
        ``is_query`` bool [K]; database samples first, then queries.
    """
    if split not in ("random", "traversal"):
        raise ValueError(f"split must be 'random' or 'traversal', got {split!r}")
    if isinstance(sequences, str) or not sequences:
        raise ValueError(f"sequences must be a non-empty list of sequence names, got {sequences!r}")
    if split == "traversal" and not query_sequences:
        raise ValueError("split 'traversal' needs query_sequences (the query traversals)")
    if split == "random" and query_sequences:
        raise ValueError("query_sequences is only used with split 'traversal'")
    seqs = [load_sequence(root, s, gps_root, stride) for s in sequences]
    table = {k: np.concatenate([np.asarray(s[k], dtype=object if k == "paths" else None)
                                for s in seqs]) for k in ("paths", "timestamps", "positions")}
    if split == "random":
        if not 0.0 < query_fraction < 1.0:
            raise ValueError(f"query_fraction must be in (0, 1), got {query_fraction}")
        perm = np.random.default_rng(seed).permutation(len(table["paths"]))
        n_query = int(len(perm) * query_fraction)
        order = np.concatenate([np.sort(perm[n_query:]), np.sort(perm[:n_query])])
        is_query = np.zeros(len(perm), bool)
        is_query[len(perm) - n_query:] = True
        table = {k: v[order] for k, v in table.items()}
    else:
        qs = [load_sequence(root, s, gps_root, stride) for s in query_sequences]
        n_db = len(table["paths"])
        for k in table:
            table[k] = np.concatenate([table[k]] + [np.asarray(q[k], dtype=table[k].dtype)
                                                     for q in qs])
        is_query = np.arange(len(table["paths"])) >= n_db
    table["paths"] = [str(p) for p in table["paths"]]
    table["is_query"] = is_query
    return table


class _EventPlaces:
    """Shared sample loading of the triplet and the evaluation datasets."""

    def _setup(self, num_bins, sensor_size, representation, column_order, on_outside,
               on_unsorted, normalize_voxel):
        if representation not in ("voxel", "events"):
            raise ValueError(f"representation must be 'voxel' or 'events', got {representation!r}")
        self.representation = representation
        self.read_args = dict(column_order=column_order, sensor_size=tuple(sensor_size),
                              on_outside=on_outside, on_unsorted=on_unsorted)
        self.voxel_grid = event_tf.EventVoxelGrid(num_bins, sensor_size, normalize_voxel)

    def _load(self, path):
        """-> voxel float32 [C, H, W], or events float32 [N, 4] (x, y, t in [0, 1], p)."""
        ev = read_events(path, **self.read_args)
        if self.representation == "voxel":
            return self.voxel_grid(ev)
        span = ev[-1, 0] - ev[0, 0]
        t = (ev[:, 0] - ev[0, 0]) / (span if span > 0 else 1.0)
        return np.stack([ev[:, 1], ev[:, 2], t, ev[:, 3]], axis=1).astype(np.float32)


def _stack_inputs(items, representation):
    """Per-sample loads -> (voxels [B, C, H, W] or None, events [M, 5] or None)."""
    if representation == "voxel":
        return to_tensor(np.stack(items).astype(np.float32)), None
    ev = np.concatenate([np.concatenate([e, np.full((len(e), 1), b, np.float32)], axis=1)
                         for b, e in enumerate(items)])
    return None, to_tensor(ev)


@DATASETS.register()
class MVSECTriplet(_EventPlaces):
    """Training triplets (anchor, positive, negatives) mined from positions.

    Anchors are queries with at least one database sample within ``pos_radius`` and at least
    ``num_negatives`` beyond ``neg_radius``; each item draws one positive and
    ``num_negatives`` distinct negatives at random (seeded, fresh on every access).
    (The reproduction compares squared distances with the radii; these are metres.)

    Args:
        root: dataset root (layout in the module docstring).
        sequences, split, query_fraction, query_sequences, seed, gps_root, stride: see
            :func:`build_places`.
        pos_radius, neg_radius: metres.
        num_negatives: negatives per anchor.
        num_bins: voxel-grid bins; sensor_size: (height, width).
        representation: "voxel" (fixed grid) or "events" (raw events, for ``quantization: est``).
        column_order, on_outside, on_unsorted: how sample files are read (:func:`read_events`).
        normalize_voxel: standardize non-zero voxel cells.
    """

    def __init__(self, root, sequences=("outdoor_day2",), split="random", query_fraction=0.3,
                 query_sequences=None, seed=0, pos_radius=10.0, neg_radius=25.0,
                 num_negatives=10, num_bins=5, sensor_size=SENSOR_SIZE, representation="voxel",
                 column_order="txyp", gps_root=None, stride=1, on_outside="drop",
                 on_unsorted="sort", normalize_voxel=False):
        self._setup(num_bins, sensor_size, representation, column_order, on_outside,
                    on_unsorted, normalize_voxel)
        if not 0 <= pos_radius <= neg_radius:
            raise ValueError(f"need 0 <= pos_radius <= neg_radius, got {pos_radius}, {neg_radius}")
        t = build_places(root, list(sequences), split, query_fraction, query_sequences, seed,
                         gps_root, stride)
        self.db_paths = [p for p, q in zip(t["paths"], t["is_query"]) if not q]
        self.db_pos = t["positions"][~t["is_query"]]
        q_paths = [p for p, q in zip(t["paths"], t["is_query"]) if q]
        q_pos = t["positions"][t["is_query"]]
        self.pos_radius, self.neg_radius = float(pos_radius), float(neg_radius)
        self.num_negatives = int(num_negatives)
        keep = []
        for i, p in enumerate(q_pos):
            d = np.linalg.norm(self.db_pos - p, axis=1)
            if (d < pos_radius).any() and (d > neg_radius).sum() >= self.num_negatives:
                keep.append(i)
        if not keep:
            raise DataError(f"{root}: no query of {list(sequences)} has a database sample within "
                            f"{pos_radius} m and {num_negatives} beyond {neg_radius} m")
        if len(keep) < len(q_paths):
            warnings.warn(f"{root}: {len(q_paths) - len(keep)} of {len(q_paths)} queries have "
                          f"no positive or too few negatives; not used as anchors", stacklevel=2)
        self.anchor_paths = [q_paths[i] for i in keep]
        self.anchor_pos = q_pos[keep]
        self.group_size = 2 + self.num_negatives
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.anchor_paths)

    def __getitem__(self, idx):
        d = np.linalg.norm(self.db_pos - self.anchor_pos[idx], axis=1)
        pos = self._rng.choice(np.flatnonzero(d < self.pos_radius))
        negs = self._rng.choice(np.flatnonzero(d > self.neg_radius), self.num_negatives,
                                replace=False)
        paths = [self.anchor_paths[idx], self.db_paths[pos]] + [self.db_paths[n] for n in negs]
        positions = np.concatenate([self.anchor_pos[idx:idx + 1], self.db_pos[[pos, *negs]]])
        return {"inputs": [self._load(p) for p in paths], "positions": positions,
                "paths": paths, "representation": self.representation,
                "group_size": self.group_size}

    @staticmethod
    def collate(samples):
        """-> TripletBatch with groups stacked in order: [B * (2 + n), ...]."""
        items = [x for s in samples for x in s["inputs"]]
        voxels, events = _stack_inputs(items, samples[0]["representation"])
        return TripletBatch(voxels=voxels, events=events, group_size=samples[0]["group_size"],
                            positions=np.concatenate([s["positions"] for s in samples]),
                            paths=[p for s in samples for p in s["paths"]])


@DATASETS.register()
class MVSECPlaces(_EventPlaces):
    """Evaluation samples: every database and query sample with its position and role.

    Args: as :class:`MVSECTriplet` without the mining settings.
    """

    def __init__(self, root, sequences=("outdoor_day1",), split="random", query_fraction=0.3,
                 query_sequences=None, seed=0, num_bins=5, sensor_size=SENSOR_SIZE,
                 representation="voxel", column_order="txyp", gps_root=None, stride=1,
                 on_outside="drop", on_unsorted="sort", normalize_voxel=False):
        self._setup(num_bins, sensor_size, representation, column_order, on_outside,
                    on_unsorted, normalize_voxel)
        self.table = build_places(root, list(sequences), split, query_fraction, query_sequences,
                                  seed, gps_root, stride)

    def __len__(self):
        return len(self.table["paths"])

    def __getitem__(self, idx):
        t = self.table
        return {"input": self._load(t["paths"][idx]), "position": t["positions"][idx],
                "is_query": bool(t["is_query"][idx]), "timestamp": float(t["timestamps"][idx]),
                "path": t["paths"][idx], "representation": self.representation}

    @staticmethod
    def collate(samples):
        """-> EventBatch (voxels [B, C, H, W] or events [M, 5], positions [B, 2], is_query [B])."""
        voxels, events = _stack_inputs([s["input"] for s in samples],
                                       samples[0]["representation"])
        return EventBatch(voxels=voxels, events=events,
                          positions=np.stack([s["position"] for s in samples]),
                          is_query=np.array([s["is_query"] for s in samples], bool),
                          timestamps=np.array([s["timestamp"] for s in samples], np.float64),
                          paths=[s["path"] for s in samples])
