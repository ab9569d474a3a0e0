"""LiDAR corruptions at three severities, in the spirit of SemanticKITTI-C / Robo3D.

Kong et al., "Robo3D: Towards Robust and Reliable 3D Perception against Corruptions", ICCV 2023
(``create/semantickitti_c``), and Yan et al., "Benchmarking the Robustness of LiDAR Semantic
Segmentation Models" (2023). Every corruption is ``f(points, labels, severity, rng, ctx) ->
(points, labels)`` on float32 [N, 4] (x, y, z, intensity) and int64 [N] learning labels (or
None); ``severity`` is 1 (light), 2 (moderate) or 3 (heavy); ``rng`` a numpy Generator, so a
seed fixes the result. Rows may be dropped (their labels with them), moved or re-labelled.

* ``beam_missing``, ``crosstalk``, ``motion_blur``, ``incomplete_echo`` and ``cross_sensor``
  follow Robo3D's generators and severities (16/32/48 of 64 beams; 0.6/0.8/1.0 % of points
  with N(0, 3) noise on all four channels; translation std 0.20/0.25/0.30 m plus per-point
  jitter; 75/85/95 % of vehicle points dropped; 16/32/48 beams dropped on a fixed pattern and
  every second point kept).
* ``fog``, ``snow`` and ``wet_ground`` replace Robo3D's physical simulations (lookup tables of
  Hahner et al.) with simple parametric models: fog attenuates intensities by ``exp(-2 a R)``
  and turns a range-dependent share of returns into back-scatter near the sensor; snow loses
  returns with range and turns a share into snowflake returns within 15 m; a water film on the
  ground (the label config's road/parking/sidewalk/other-ground classes, or points near the
  lowest height without labels) darkens ground returns and loses grazing ones. Scatter and
  snowflake returns are not surfaces, so they get label 0 (ignored); crosstalk keeps labels
  as Robo3D does.
"""
import numpy as np

__all__ = ["CORRUPTIONS", "SEVERITIES", "CorruptionContext", "corrupt", "ring_ids"]

SEVERITIES = (1, 2, 3)
GROUND_NAMES = ("road", "parking", "sidewalk", "other-ground", "driveable_surface",
                "other_flat")
VEHICLE_NAMES = ("car", "bicycle", "motorcycle", "truck", "other-vehicle", "bus",
                 "construction_vehicle", "trailer")


class CorruptionContext:
    """What a corruption needs to know about the data set.

    Args:
        class_names: learning class names (index = learning id), to find ground and vehicle
            classes; None without a label config.
        beams: lasers of the sensor (64 for KITTI's HDL-64E, 32 for nuScenes).
    """

    def __init__(self, class_names=None, beams=64):
        names = list(class_names or [])
        self.ground_ids = [i for i, n in enumerate(names) if n in GROUND_NAMES]
        self.vehicle_ids = [i for i, n in enumerate(names) if n in VEHICLE_NAMES]
        self.beams = int(beams)


def _ranges(points):
    return np.linalg.norm(points[:, :3], axis=1)


def ring_ids(points, beams=64):
    """Laser (ring) index of every point of a scan stored ring by ring (KITTI file order).

    A new ring starts where the azimuth column ``0.5 * (1 - atan2(y, x) / pi)`` wraps from
    above 0.8 to below 0.2 (Robo3D's ``get_kitti_ringID``). When the order shows fewer than
    ``beams / 4`` rings (an unordered cloud), rings are equal-width elevation bins instead.

    Returns:
        int64 [N] in [0, beams).
    """
    col = 0.5 * (1.0 - np.arctan2(points[:, 1], points[:, 0]) / np.pi)
    starts = np.nonzero((col[1:] < 0.2) & (col[:-1] > 0.8))[0] + 1
    if starts.size + 1 >= beams / 4:
        ring = np.zeros(points.shape[0], np.int64)
        ring[starts] = 1
        return np.clip(np.cumsum(ring), 0, beams - 1)
    elev = np.arctan2(points[:, 2], np.linalg.norm(points[:, :2], axis=1))
    lo, hi = elev.min(), elev.max()
    bins = np.floor((hi - elev) / max(hi - lo, 1e-9) * beams).astype(np.int64)
    return np.clip(bins, 0, beams - 1)


def _take(points, labels, keep):
    return points[keep], (None if labels is None else labels[keep])


def fog(points, labels, severity, rng, ctx):
    """Attenuation ``exp(-2 a R)`` of intensities, back-scatter for a share of returns."""
    alpha = (0.005, 0.02, 0.06)[severity - 1]                     # extinction (1/m)
    points = points.copy()
    r = _ranges(points)
    points[:, 3] *= np.exp(-2.0 * alpha * r).astype(np.float32)
    scatter = rng.random(r.size) < 0.5 * (1.0 - np.exp(-alpha * r))
    new_r = np.maximum(r[scatter] * rng.beta(2.0, 5.0, int(scatter.sum())), 1.0)
    points[scatter, :3] *= (new_r / np.maximum(r[scatter], 1e-6))[:, None]
    points[scatter, 3] = rng.uniform(0.0, 0.05, int(scatter.sum()))
    if labels is not None:
        labels = labels.copy()
        labels[scatter] = 0
    return points, labels


def snow(points, labels, severity, rng, ctx):
    """Range-dependent loss of returns plus snowflake returns within 15 m."""
    loss = (0.002, 0.005, 0.01)[severity - 1]
    flakes = (0.02, 0.05, 0.10)[severity - 1]
    r = _ranges(points)
    points, labels = _take(points, labels, rng.random(r.size) >= 1.0 - np.exp(-loss * r))
    points = points.copy()
    r = _ranges(points)
    flake = rng.random(r.size) < flakes
    new_r = np.minimum(rng.uniform(1.5, 15.0, int(flake.sum())), r[flake])
    points[flake, :3] *= (new_r / np.maximum(r[flake], 1e-6))[:, None]
    points[flake, 3] = rng.uniform(0.0, 0.3, int(flake.sum()))
    if labels is not None:
        labels = labels.copy()
        labels[flake] = 0
    return points, labels


def wet_ground(points, labels, severity, rng, ctx):
    """A water film: darker ground returns, grazing ones lost (specular reflection)."""
    film = (0.3, 0.6, 0.9)[severity - 1]
    if labels is not None and ctx.ground_ids:
        ground = np.isin(labels, ctx.ground_ids)
    else:
        ground = points[:, 2] < np.percentile(points[:, 2], 5) + 0.25
    r = _ranges(points)
    cos_inc = np.clip(-points[:, 2] / np.maximum(r, 1e-6), 0.01, 1.0)
    points = points.copy()
    points[ground, 3] *= ((1.0 - film) + film * cos_inc[ground]).astype(np.float32)
    lost = ground & (rng.random(r.size) < film * (1.0 - cos_inc) ** 2)
    return _take(points, labels, ~lost)


def motion_blur(points, labels, severity, rng, ctx):
    """Robo3D: a global shift N(0, s) plus clipped per-point jitter (s = 0.20/0.25/0.30 m)."""
    std = (0.20, 0.25, 0.30)[severity - 1]
    points = points.copy()
    n = points.shape[0]
    points[:, :3] += rng.normal(0.0, std, 3).astype(np.float32)
    jitter = np.stack([rng.normal(0.0, std * 0.1, n), rng.normal(0.0, std * 0.1, n),
                       rng.normal(0.0, std * 0.05, n)], axis=1)
    points[:, :3] += np.clip(jitter, -3 * std, 3 * std).astype(np.float32)
    return points, labels


def beam_missing(points, labels, severity, rng, ctx):
    """Robo3D: drop 16/32/48 of 64 random beams (scaled to the sensor's beam count)."""
    beams = ctx.beams
    count = int(round(beams * (0.25, 0.5, 0.75)[severity - 1]))
    lo, hi = int(round(beams * 4 / 64)), int(round(beams * 59 / 64))
    dropped = rng.choice(np.arange(lo, hi), size=min(count, hi - lo), replace=False)
    return _take(points, labels, ~np.isin(ring_ids(points, beams), dropped))


def crosstalk(points, labels, severity, rng, ctx):
    """Robo3D: 0.6/0.8/1.0 % of the points get N(0, 1) * 3 noise on x, y, z and intensity."""
    share = (0.006, 0.008, 0.01)[severity - 1]
    points = points.copy()
    count = int(share * points.shape[0])
    idx = rng.choice(points.shape[0], count, replace=False)
    points[idx] += (rng.normal(size=(count, points.shape[1])) * 3.0).astype(np.float32)
    return points, labels


def incomplete_echo(points, labels, severity, rng, ctx):
    """Robo3D: drop 75/85/95 % of the points of each vehicle class (dark paint, no echo)."""
    if labels is None or not ctx.vehicle_ids:
        return points, labels
    ratio = (0.75, 0.85, 0.95)[severity - 1]
    keep = np.ones(points.shape[0], bool)
    for cls in ctx.vehicle_ids:
        idx = np.nonzero(labels == cls)[0]
        if idx.size > 10:
            keep[rng.choice(idx, int(idx.size * ratio), replace=False)] = False
    return _take(points, labels, keep)


def cross_sensor(points, labels, severity, rng, ctx):
    """Robo3D: a sparser sensor: drop 16/32/48 of 64 beams on a fixed pattern, keep every
    second point."""
    beams = ctx.beams
    step = (4.0, 2.0, 1.33)[severity - 1]
    dropped = np.unique(np.arange(1, beams, step * beams / 64).astype(np.int64))
    points, labels = _take(points, labels, ~np.isin(ring_ids(points, beams), dropped))
    return _take(points, labels, slice(None, None, 2))


CORRUPTIONS = {"fog": fog, "wet_ground": wet_ground, "snow": snow, "motion_blur": motion_blur,
               "beam_missing": beam_missing, "crosstalk": crosstalk,
               "incomplete_echo": incomplete_echo, "cross_sensor": cross_sensor}


def corrupt(points, labels, name, severity, rng, ctx=None):
    """Apply corruption ``name`` at ``severity`` (1..3).

    Args:
        points: float32 [N, >=4]. labels: int [N] or None. rng: numpy Generator.
        ctx: CorruptionContext (default: no class names, 64 beams).

    Returns:
        (float32 [M, C] points, labels [M] or None).
    """
    if name not in CORRUPTIONS:
        raise ValueError(f"corrupt: unknown corruption '{name}'; known: {sorted(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"corrupt: severity must be one of {SEVERITIES}, got {severity!r}")
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] < 4:
        raise ValueError(f"corrupt: expected points [N, >=4] (x, y, z, intensity), got "
                         f"{points.shape}")
    out, out_labels = CORRUPTIONS[name](points, labels, int(severity), rng,
                                        ctx or CorruptionContext())
    if out.shape[0] == 0:               # keep at least one point so that the scan stays valid
        out, out_labels = points[:1], None if labels is None else labels[:1]
    return np.ascontiguousarray(out, dtype=np.float32), out_labels
