"""What makes a synthetic scan look like a real Velodyne HDL-64E on the KITTI car.

Sources of the numbers:

* Beam elevations: the nominal table of the Velodyne HDL-64E S2 (user's manual 63-HDL64ES2
  rev. D, 2011; data sheet: +2 to -24.8 deg, ~0.4 deg resolution): two blocks of 32 lasers,
  the upper block from +2.0 deg down to -8.33 deg in 1/3 deg steps, the lower block from
  -8.83 deg down to -24.33 deg in 1/2 deg steps. Each unit's ``db.xml`` calibration moves the
  lasers (e.g. the ROS velodyne driver's ``64e_utexas.yaml``: +2.02 .. -8.52 in 0.34 deg
  steps, -8.95 .. -24.71 in 0.51 deg steps) and spaces them a little unevenly;
  :meth:`~.lidar_scenes.LidarSensor.calibration` draws those per-laser errors per unit.
  KITTI's unit spans +2.0 to -24.9 deg (the usual figure; per-ring fits of real SemanticKITTI
  scans, elevation = e0 + offset / range, give about +1.9 for the top laser, -8.8 / -9.1 at
  the block boundary and -24.9 at the bottom), so :class:`~.lidar_scenes.LidarSensor` maps the
  table linearly onto [fov_down, fov_up] = [-24.9, 2.0].
* Laser origins: every laser fires from its own height in the housing; the published per-laser
  ``vert_offset_correction`` of HDL-64E S2/S3 ``db.xml`` files (e.g. the ROS velodyne driver's
  ``64e_s2.1-sztaki.yaml`` and ``64e_s3-xiesc.yaml``) is about 0.20-0.21 m for the upper block
  and 0.11-0.16 m for the lower one. Seen from the sensor origin a beam's elevation therefore
  grows by ``offset / range``, which is what per-ring elevations of real KITTI scans show.
* Mounting: KITTI's Velodyne sits 1.73 m above the ground (Geiger et al., "Vision meets
  Robotics: the KITTI dataset", IJRR 2013), on the roof of a VW Passat station wagon, whose
  roof, bonnet and boot hide the nearest ground (the ego-vehicle shadow, :data:`EGO_BODY`).
* Range noise: the data sheet gives < 2 cm (1 sigma) accuracy.
* Remission: KITTI stores a calibrated reflectance in [0, 0.99] (steps of 0.01) that is nearly
  independent of range up to ~20 m and fades beyond; dark paint, glass and thin metal often
  return 0. The per-material figures (:data:`~.primitives.MATERIALS`) were set so that the
  per-class medians and quartiles of synthetic scans match those ``tools/compare_scans.py``
  measures on real SemanticKITTI scans (see docs/custom_data.md).
"""
import numpy as np

__all__ = ["HDL64E_S2_ELEVATIONS", "HDL64E_BLOCK_OFFSETS", "EGO_BODY", "ego_blocked",
           "remission_model", "mixed_pixels"]

# upper block +2.0 .. -8.33 deg in 1/3 deg steps, lower block -8.83 .. -24.33 deg in 1/2 deg
HDL64E_S2_ELEVATIONS = np.concatenate([2.0 - np.arange(32) / 3.0, -8.83 - 0.5 * np.arange(32)])
HDL64E_BLOCK_OFFSETS = (0.21, 0.12)   # laser heights (m) above the sensor origin: upper, lower

# The ego car (VW Passat B6 wagon, 4.77 x 1.82 x 1.5 m; boxes fitted to the per-ring, per-azimuth
# gaps of real scans) in the sensor frame: x forward, y left, z up, ground at z = -1.73.
# Boxes as (x_min, x_max, y_min, y_max, z_min, z_max).
EGO_BODY = (
    (-0.85, 0.45, -0.65, 0.65, -1.40, -0.28),      # cabin and roof (top 1.45 m above ground)
    (-1.15, -0.85, -0.45, 0.45, -1.40, -0.30),     # rear of the roof
    (0.75, 1.60, -0.78, 0.78, -1.40, -0.85),       # bonnet
    (1.60, 2.30, -0.65, 0.65, -1.40, -0.88),       # front of the bonnet (rounded corners)
    (-2.00, -0.85, -0.78, 0.78, -1.40, -0.80),     # boot
    (-2.35, -2.00, -0.60, 0.60, -1.40, -0.85),     # tailgate
    (0.20, 0.40, -0.95, -0.75, -1.40, -0.22),      # a mount right of the sensor (seen in scans)
)


def ego_blocked(origins, dirs, body=EGO_BODY):
    """Rays that hit the ego car (no return): bool [R].

    Args:
        origins: float [R, 3] ray origins in the sensor frame. dirs: float [R, 3] unit dirs.
        body: boxes (x_min, x_max, y_min, y_max, z_min, z_max) in the sensor frame.
    """
    blocked = np.zeros(dirs.shape[0], dtype=bool)
    horiz = np.hypot(dirs[:, 0], dirs[:, 1])
    for box in np.asarray(body, np.float64).reshape(-1, 6):
        lo, hi = box[0::2], box[1::2]
        # only rays that come down to the box top within its horizontal reach can hit it
        reach = np.hypot(np.abs(box[:2]).max(), np.abs(box[2:4]).max())
        with np.errstate(divide="ignore", invalid="ignore"):
            at_top = (origins[:, 2] - hi[2]) / -dirs[:, 2] * horiz
        cand = np.nonzero((origins[:, 2] <= hi[2]) | ((dirs[:, 2] < 0) & (at_top <= reach)))[0]
        o, d = origins[cand], dirs[cand]
        d = np.where(np.abs(d) < 1e-12, 1e-12, d)
        t1, t2 = (lo - o) / d, (hi - o) / d                                # [C, 3]
        tmin = np.minimum(t1, t2).max(axis=1)
        tmax = np.maximum(t1, t2).min(axis=1)
        blocked[cand] |= (tmax >= tmin) & (tmax > 0)
    return blocked


def remission_model(mean, std, zero_rate, cos_inc, rng_m, rng):
    """Remission of each return (KITTI scale: [0, 0.99], steps of 0.01).

    ``mean * incidence(cos_inc) * fade(range) + N(0, std)``, where the incidence term is weak
    (0.55 + 0.45 sqrt(cos)), the range fade is 1 / (1 + (r / 50)^3), and a return is 0 with
    probability ``zero_rate`` (dark paint, glass) plus a share that grows beyond 40 m (weak
    far echoes).

    Args:
        mean, std, zero_rate: float [R] per-ray material figures.
        cos_inc: float [R] cosine of the incidence angle. rng_m: float [R] range (m).
        rng: numpy Generator.
    """
    n = mean.shape[0]
    inc = 0.55 + 0.45 * np.sqrt(np.clip(cos_inc, 0.0, 1.0))
    fade = 1.0 / (1.0 + (rng_m / 50.0) ** 3)
    rem = mean * inc * fade + rng.normal(size=n) * std * np.sqrt(fade)
    far_zero = 0.55 / (1.0 + np.exp(-(rng_m - 48.0) / 6.0))
    zero = rng.random(n) < zero_rate + far_zero
    rem = np.where(zero, 0.0, rem)
    return np.round(np.clip(rem, 0.0, 0.99), 2)


def mixed_pixels(t, beam, rng, jump=0.6, rate=0.35):
    """Mixed returns at depth edges: a beam footprint half on a near and half on a far surface
    returns a range in between. Rays are in scan order (beam-major); each ray is compared with
    the next ray of the same beam.

    Args:
        t: float [R] true range (inf for a miss). beam: int [R] beam of each ray.
        rng: numpy Generator. jump: minimum depth step (m). rate: share of edges affected.

    Returns:
        (t_mixed float [R], source int [R]): the new range and the index of the ray whose
        surface is nearer to it (its label goes with the point).
    """
    n = t.shape[0]
    src = np.arange(n)
    out = t.copy()
    if n < 2:
        return out, src
    finite = np.isfinite(t)
    a, b = np.where(finite, t, -1e9)[:-1], np.where(finite, t, 1e9)[1:]
    edge = (beam[:-1] == beam[1:]) & finite[:-1] & finite[1:] & (np.abs(a - b) > jump)
    edge &= rng.random(n - 1) < rate
    i = np.nonzero(edge)[0]
    w = rng.uniform(0.1, 0.9, i.size)
    out[i] = a[i] * (1 - w) + b[i] * w
    src[i] = np.where(w < 0.5, i, i + 1)
    return out, src
