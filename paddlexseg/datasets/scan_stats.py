"""Per-quantity statistics of a folder of LiDAR scans, to compare two data sets side by side
(``tools/compare_scans.py``), e.g. our synthetic scans against real SemanticKITTI ones.

Quantities: points per scan; range, z and remission percentiles; the elevation angle of each
point (``asin(z / range)``) grouped into beams; class frequencies when labels exist.

Beams are estimated in one of two ways, named in the table:

* ``scan order`` (used when every scan gives 8-256 rings): KITTI ``.bin`` files store the points
  laser by laser, each a full turn, so the unwrapped azimuth counts the turns and
  ``floor(|azimuth - azimuth_0| / 2 pi)`` is the ring (the "scan unfolding" of Triess et al.,
  IV 2020). A beam's elevation is the median over its points. Needed for real HDL-64E scans:
  its lasers have different origins, so per-beam elevations seen from the sensor origin spread
  and overlap and the elevation histogram alone does not separate them.
* ``elevation peaks`` (any point order): a 0.02 degree elevation histogram smoothed over 0.06
  degrees; local maxima holding at least ``min_beam_share`` of the points are beam centres and
  every point goes to its nearest centre.
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .errors import DataError
from .semantickitti import read_label, read_scan

__all__ = ["find_scans", "ScanStats", "scan_statistics", "estimate_beams", "compare_table"]

PERCENTILES = (5, 25, 50, 75, 95)


def find_scans(folder):
    """Sorted (scan, label or None) pairs of every ``.bin`` under ``folder`` (recursive). A
    scan's labels are ``../labels/<name>.label`` (SemanticKITTI) or ``<name>.label`` beside it."""
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: folder not found; expected scans in the SemanticKITTI layout")
    pairs = []
    for dirpath, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            if not f.endswith(".bin"):
                continue
            stem = f[:-4]
            label = None
            for cand in (os.path.join(os.path.dirname(dirpath), "labels", stem + ".label"),
                         os.path.join(dirpath, stem + ".label")):
                if os.path.isfile(cand):
                    label = cand
                    break
            pairs.append((os.path.join(dirpath, f), label))
    if not pairs:
        raise DataError(f"{folder}: no .bin scan found (searched recursively)")
    return pairs


def estimate_beams(elevation_deg, min_beam_share=0.002, bin_deg=0.02, smooth_deg=0.06):
    """Beam centres (degrees, descending) and the share of points nearest to each.

    Args:
        elevation_deg: float [N] elevation angles of the points.
        min_beam_share: a histogram peak must hold at least this fraction of the points.
        bin_deg, smooth_deg: histogram bin width and box-smoothing width.

    Returns:
        (centres float [K], shares float [K]) ordered from the top beam down.
    """
    e = np.asarray(elevation_deg, np.float64)
    if e.size == 0:
        return np.zeros(0), np.zeros(0)
    lo, hi = np.floor(e.min()) - 1, np.ceil(e.max()) + 1
    hist, edges = np.histogram(e, bins=max(int((hi - lo) / bin_deg), 1), range=(lo, hi))
    k = max(int(round(smooth_deg / bin_deg)), 1) | 1
    smooth = np.convolve(hist, np.ones(k) / k, mode="same")
    left = np.r_[-1, smooth[:-1]]
    right = np.r_[smooth[1:], -1]
    peaks = np.nonzero((smooth > left) & (smooth >= right))[0]
    # a peak must hold min_beam_share of the points within +-2 smoothing widths
    window = 2 * k
    mass = np.array([hist[max(p - window, 0):p + window + 1].sum() for p in peaks])
    peaks = peaks[mass >= min_beam_share * e.size]
    if peaks.size == 0:
        return np.zeros(0), np.zeros(0)
    centres = (edges[peaks] + edges[peaks + 1]) / 2
    nearest = np.searchsorted((centres[1:] + centres[:-1]) / 2, e)  # centres ascend
    shares = np.bincount(nearest, minlength=centres.size) / e.size
    order = np.argsort(-centres)
    return centres[order], shares[order]


def ring_index(points, min_rings=8, max_rings=256):
    """Ring (laser) id per point from the scan order (see the module docstring), or None when
    the count of turns is not in [min_rings, max_rings] (points not stored ring by ring)."""
    if points.shape[0] < 2:
        return None
    yaw = np.unwrap(np.arctan2(points[:, 1], points[:, 0]).astype(np.float64))
    backward = np.diff(yaw) * np.sign(yaw[-1] - yaw[0]) < -0.1
    if backward.mean() > 0.01:  # not a sweep: points are not stored in ring order
        return None
    ring = np.floor(np.abs(yaw - yaw[0]) / (2 * np.pi)).astype(np.int64)
    return ring if min_rings <= ring.max() + 1 <= max_rings else None


def _beams_from_rings(elev_by_ring, total):
    rings = sorted(elev_by_ring)
    centres = np.array([np.median(np.concatenate(elev_by_ring[r])) for r in rings])
    shares = np.array([sum(a.size for a in elev_by_ring[r]) for r in rings]) / max(total, 1)
    order = np.argsort(-centres)
    return centres[order], shares[order]


@dataclass
class ScanStats:
    """Statistics of one folder (see :func:`scan_statistics`)."""
    folder: str
    scans: int
    points_per_scan: np.ndarray
    range_pct: np.ndarray
    z_pct: np.ndarray
    remission_pct: np.ndarray
    elevation_range: tuple
    beam_centres: np.ndarray
    beam_shares: np.ndarray
    beam_method: str = "elevation peaks"
    class_freq: Optional[Dict[str, float]] = None
    unknown_raw_ids: List[int] = field(default_factory=list)


def scan_statistics(folder, label_config="semantic-kitti", max_scans=None):
    """Statistics of the scans under ``folder`` (optionally the first ``max_scans``).

    Class frequencies are the fractions of labelled points per learning class of
    ``label_config`` (raw ids it does not define are listed in ``unknown_raw_ids``); None
    when no scan has labels.
    """
    from .label_config import load_label_config
    pairs = find_scans(folder)[:max_scans]
    lc = load_label_config(label_config)
    counts, ranges, zs, rems, elev = [], [], [], [], []
    class_counts = np.zeros(lc.num_classes, np.int64)
    unknown, labelled = set(), False
    by_ring, ordered = {}, True
    for scan, label in pairs:
        points, valid = read_scan(scan, return_valid=True)
        r = np.linalg.norm(points[:, :3], axis=1)
        ok = r > 1e-6
        counts.append(points.shape[0])
        ranges.append(r[ok])
        zs.append(points[ok, 2])
        rems.append(points[ok, 3])
        elev.append(np.degrees(np.arcsin(np.clip(points[ok, 2] / r[ok], -1, 1))))
        ring = ring_index(points[ok]) if ordered else None
        ordered = ring is not None
        if ordered:
            for rid in np.unique(ring):
                by_ring.setdefault(int(rid), []).append(elev[-1][ring == rid])
        if label is not None:
            semantic = read_label(label, valid.shape[0])[0][valid]
            lut = lc.learning_map
            known = (semantic < lut.shape[0]) & (lut[np.minimum(semantic, lut.shape[0] - 1)] >= 0)
            unknown.update(np.unique(semantic[~known]).tolist())
            class_counts += np.bincount(lut[semantic[known]], minlength=lc.num_classes)
            labelled = True
    ranges, zs, rems, elev = (np.concatenate(a) for a in (ranges, zs, rems, elev))
    if ordered:
        centres, shares = _beams_from_rings(by_ring, elev.size)
        method = "scan order"
    else:
        centres, shares = estimate_beams(elev)
        method = "elevation peaks"
    freq = None
    if labelled:
        total = max(int(class_counts.sum()), 1)
        freq = {name: class_counts[i] / total for i, name in enumerate(lc.class_names)}
    return ScanStats(folder=str(folder), scans=len(pairs),
                     points_per_scan=np.asarray(counts),
                     range_pct=np.percentile(ranges, PERCENTILES),
                     z_pct=np.percentile(zs, PERCENTILES),
                     remission_pct=np.percentile(rems, PERCENTILES),
                     elevation_range=(float(elev.min()), float(elev.max())),
                     beam_centres=centres, beam_shares=shares, beam_method=method,
                     class_freq=freq,
                     unknown_raw_ids=sorted(unknown))


def _pct(values):
    return " ".join(f"{v:.2f}" for v in values)


def _pps(s):
    n = s.points_per_scan
    return f"{n.mean():.0f} ({n.min()}-{n.max()})"


def _gaps(s):
    gaps = -np.diff(s.beam_centres)
    return f"{gaps.min():.2f} / {np.median(gaps):.2f} / {gaps.max():.2f}" if gaps.size else "-"


def compare_table(a, b, names=("A", "B")):
    """A plain-text table of two :class:`ScanStats` side by side (also valid Markdown)."""
    rows = [("scans", str(a.scans), str(b.scans)),
             ("points per scan, mean (min-max)", _pps(a), _pps(b))]
    p = "/".join(f"p{q}" for q in PERCENTILES)
    rows.append((f"range m {p}", _pct(a.range_pct), _pct(b.range_pct)))
    rows.append((f"z m {p}", _pct(a.z_pct), _pct(b.z_pct)))
    rows.append((f"remission {p}", _pct(a.remission_pct), _pct(b.remission_pct)))
    rows.append(("elevation deg min / max", _pct(a.elevation_range), _pct(b.elevation_range)))
    rows.append(("beams estimated (method)", f"{a.beam_centres.size} ({a.beam_method})",
                 f"{b.beam_centres.size} ({b.beam_method})"))
    rows.append(("beam spacing deg min / median / max", _gaps(a), _gaps(b)))
    for i in range(max(a.beam_centres.size, b.beam_centres.size)):
        cells = []
        for s in (a, b):
            cells.append(f"{s.beam_centres[i]:+.2f} deg {100 * s.beam_shares[i]:.2f}%"
                         if i < s.beam_centres.size else "-")
        rows.append((f"beam {i} (from top): elevation, share", *cells))
    if a.class_freq is not None or b.class_freq is not None:
        classes = list((a.class_freq or b.class_freq).keys())
        for name in classes:
            cells = [f"{100 * s.class_freq[name]:.2f}%" if s.class_freq and name in s.class_freq
                     else "-" for s in (a, b)]
            rows.append((f"class {name}", *cells))
    for s, n in zip((a, b), names):
        if s.unknown_raw_ids:
            rows.append((f"raw ids unknown to the label config ({n})",
                         str(s.unknown_raw_ids), ""))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(max(len(r[1]) for r in rows), len(names[0]))
    w2 = max(max(len(r[2]) for r in rows), len(names[1]))
    lines = [f"| {'quantity':<{w0}} | {names[0]:<{w1}} | {names[1]:<{w2}} |",
             f"|{'-' * (w0 + 2)}|{'-' * (w1 + 2)}|{'-' * (w2 + 2)}|"]
    lines += [f"| {r[0]:<{w0}} | {r[1]:<{w1}} | {r[2]:<{w2}} |" for r in rows]
    return "\n".join(lines)
