"""Synthetic SemanticKITTI: a simulated spinning LiDAR driving down procedural streets.

:func:`generate_semantickitti` writes the exact SemanticKITTI odometry layout::

    root/sequences/NN/velodyne/000000.bin   float32 [N, 4] x, y, z, remission (sensor frame)
    root/sequences/NN/labels/000000.label   uint32 [N] raw semantic id | instance id << 16
    root/sequences/NN/calib.txt             P0..P3 and Tr (velodyne -> camera 0), 3x4 each
    root/sequences/NN/poses.txt             camera-0 pose of every scan in the first camera frame
    root/sequences/NN/times.txt             seconds since the first scan

The pieces are public so that other sensors (e.g. a camera writing ``image_2``) can render the
same scenes: :func:`build_sequence` returns the scene primitives and the velodyne poses of a
sequence, :func:`~paddlexseg.datasets.synthetic.primitives.raycast` intersects rays with them,
:data:`CALIB` holds the KITTI-like camera matrices. Everything is deterministic by
``(seed, sequence)``; each sequence draws from its own random streams, so generating one
sequence alone gives the same files as generating it together with others.
"""
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .hdl64 import (EGO_BODY, HDL64E_BLOCK_OFFSETS, HDL64E_S2_ELEVATIONS, ego_blocked,
                    mixed_pixels, remission_model)
from .primitives import MATERIALS, raycast
from .street import RAW, StreetScene, make_street_scene

__all__ = ["LidarSensor", "SequenceSpec", "build_sequence", "scan_lidar",
           "generate_semantickitti", "write_calib", "CALIB", "DEFAULT_SEQUENCES"]

DEFAULT_SEQUENCES = (0, 1, 2, 8)
FRAME_DT = 0.1                                       # 10 Hz spinning LiDAR

# KITTI odometry sequence-00-like calibration: rectified camera projections and velodyne -> cam0
_K = np.array([[718.856, 0.0, 607.1928], [0.0, 718.856, 185.2157], [0.0, 0.0, 1.0]])
CALIB = {
    "P0": np.hstack([_K, [[0.0], [0.0], [0.0]]]),
    "P1": np.hstack([_K, [[-386.1448], [0.0], [0.0]]]),
    "P2": np.hstack([_K, [[45.38225], [-0.1130887], [0.003779761]]]),
    "P3": np.hstack([_K, [[-337.2877], [2.369057], [0.004915215]]]),
    "Tr": np.array([[0.0, -1.0, 0.0, -0.01198], [0.0, 0.0, -1.0, -0.05404],
                    [1.0, 0.0, 0.0, -0.29220]]),
}
IMAGE_SIZE = (1241, 376)                             # width, height of KITTI odometry images


@dataclass
class LidarSensor:
    """A spinning multi-beam LiDAR (defaults: Velodyne HDL-64E S2 as mounted on the KITTI car;
    the sources of the figures are in :mod:`.hdl64`).

    Attributes:
        beams: number of lasers. 64 uses the HDL-64E S2 table (upper block in 1/3 deg steps,
            lower block in 1/2 deg steps, mapped onto [fov_down, fov_up]) with the lasers'
            heights ``laser_offsets``; other counts are spaced evenly, from the sensor origin.
        azimuth_steps: firings per revolution (columns).
        fov_up, fov_down: elevation of the top and bottom beam in degrees.
        height: mounting height above the ground (m).
        max_range: returns beyond this are lost (m). min_range: closer returns are dropped.
        range_noise: std of the Gaussian range noise (m).
        dropout: base probability of a lost return (grows with range and dark surfaces; each
            laser of a unit adds its own loss rate, see ``calibration``).
        outlier_rate: fraction of returns replaced by a multi-path echo farther along the ray
            (raw label 1, "outlier").
        label_range: returns farther than this are left unlabeled (raw label 0), as in
            SemanticKITTI, whose annotation thins out beyond ~50 m.
        laser_offsets: (upper, lower) block laser heights above the sensor origin (64 beams).
        ego_body: boxes of the ego car in the sensor frame; rays into them give no return.
            None (default): the KITTI car (:data:`.hdl64.EGO_BODY`) for the 64-beam HDL-64E
            and none for other sensors; ``()``: no ego car.
        mixed_pixel_rate: share of depth edges giving a return between the two surfaces.
    """
    beams: int = 64
    azimuth_steps: int = 2048
    fov_up: float = 2.0
    fov_down: float = -24.9
    height: float = 1.73
    max_range: float = 80.0
    min_range: float = 2.0
    range_noise: float = 0.02
    dropout: float = 0.002
    outlier_rate: float = 2e-4
    label_range: float = 52.0
    laser_offsets: tuple = HDL64E_BLOCK_OFFSETS
    ego_body: Optional[tuple] = None
    mixed_pixel_rate: float = 0.35

    def elevations(self):
        """Nominal beam elevations in degrees, top beam first: float64 [beams]."""
        if self.beams == 64:
            table = HDL64E_S2_ELEVATIONS
            unit = (table - table[-1]) / (table[0] - table[-1])
            return self.fov_down + unit * (self.fov_up - self.fov_down)
        return np.linspace(self.fov_up, self.fov_down, self.beams)

    def body(self):
        """The ego-car boxes in use (see ``ego_body``)."""
        if self.ego_body is None:
            return EGO_BODY if self.beams == 64 else ()
        return tuple(self.ego_body)

    def laser_heights(self):
        """Height (m) of each laser's origin above the sensor origin: float64 [beams]."""
        if self.beams == 64:
            return np.repeat(np.asarray(self.laser_offsets, dtype=np.float64), 32)
        return np.zeros(self.beams)

    def calibration(self, rng):
        """One unit's per-beam azimuth offsets (columns), elevation errors (deg) and extra
        return-loss rates (a few weak lasers), as a tuple of three float64 [beams]."""
        return (rng.uniform(-0.4, 0.4, self.beams), rng.normal(0.0, 0.03, self.beams),
                rng.beta(0.5, 100.0, self.beams))

    def directions(self, calibration, phase=0.0):
        """Unit ray directions in the sensor frame, beam-major: float64 [beams * azimuth_steps, 3].

        Column j looks at azimuth pi - (j + 0.5) * 2 pi / W (x forward, y left), so that
        the RangeNet++ projection puts it in column j.
        """
        az_offset, el_error = calibration[0], calibration[1]
        el = np.deg2rad(self.elevations() + el_error)[:, None]                 # [B, 1]
        cols = np.arange(self.azimuth_steps)[None, :] + 0.5 + az_offset[:, None] + phase
        az = np.pi - cols * (2.0 * np.pi / self.azimuth_steps)                 # [B, W]
        d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                      np.broadcast_to(np.sin(el), az.shape)], axis=-1)
        return d.reshape(-1, 3)

    def beam_of(self, dirs, calibration):
        """Beam index of each direction (nearest calibrated elevation): int64 [R]."""
        el = self.elevations() + calibration[1]                                # [B]
        ray_el = np.degrees(np.arcsin(np.clip(dirs[:, 2], -1.0, 1.0)))
        order = np.argsort(el)
        pos = np.clip(np.searchsorted(el[order], ray_el), 1, el.size - 1)
        lo, hi = order[pos - 1], order[pos]
        return np.where(np.abs(ray_el - el[lo]) <= np.abs(ray_el - el[hi]), lo, hi)


@dataclass
class SequenceSpec:
    """Everything needed to render a sequence with any sensor.

    Attributes:
        scene: the street (primitives at time 0; use ``scene.at_time(times[k])``).
        velo_poses: float64 [n, 4, 4] world <- velodyne transform of every scan.
        times: float64 [n] seconds since the first scan.
        sensor: the LiDAR.
        sensor_calibration: per-beam (azimuth offset, elevation error) of the LiDAR.
    """
    scene: StreetScene
    velo_poses: np.ndarray
    times: np.ndarray
    sensor: LidarSensor
    sensor_calibration: tuple = field(default=None)

    def camera_poses(self):
        """KITTI ``poses.txt`` matrices [n, 4, 4]: camera 0 of scan k in the frame of scan 0."""
        tr = np.vstack([CALIB["Tr"], [0, 0, 0, 1]])
        first_inv = np.linalg.inv(self.velo_poses[0])
        return np.stack([tr @ first_inv @ p @ np.linalg.inv(tr) for p in self.velo_poses])


def _rng(seed, sequence, stream, *more):
    return np.random.default_rng([int(seed), int(sequence), int(stream), *map(int, more)])


def _rot(yaw, pitch, roll):
    """Rotation world <- vehicle for yaw (about z), pitch (about y, nose down > 0), roll."""
    cy, sy, cp, sp, cr, sr = (np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch),
                              np.cos(roll), np.sin(roll))
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


def build_sequence(seed, sequence, scans, sensor=None):
    """Scene, trajectory and sensor of one synthetic sequence (no ray casting).

    Args:
        seed: global seed. sequence: sequence number. scans: number of scans.
        sensor: LidarSensor (default HDL-64E).
    """
    sensor = sensor or LidarSensor()
    rng = _rng(seed, sequence, 0)
    speed = rng.uniform(6.0, 11.0)
    xs = speed * FRAME_DT * np.arange(scans)
    margin = sensor.max_range + 10.0
    scene = make_street_scene(rng, (-margin, xs[-1] + margin if scans else margin), speed)
    amp, freq = rng.uniform(0.0, 0.3), rng.uniform(0.05, 0.2)
    ys = scene.lane_y + amp * np.sin(freq * xs)
    yaws = np.arctan(amp * freq * np.cos(freq * xs))
    # the car pitches and rolls a little against the road (suspension, grade changes)
    pitch = np.deg2rad(rng.normal(0.0, 0.5) + rng.uniform(0.0, 0.5) * np.sin(freq * xs + 1.0))
    roll = np.deg2rad(rng.normal(0.0, 0.3) + 0.1 * np.cos(freq * xs))
    poses = np.tile(np.eye(4), (scans, 1, 1))
    for k in range(scans):
        poses[k, :3, :3] = _rot(yaws[k], pitch[k], roll[k])
        poses[k, :3, 3] = (xs[k], ys[k], sensor.height + scene.road_height(ys[k]))
    calibration = sensor.calibration(_rng(seed, sequence, 1))
    return SequenceSpec(scene=scene, velo_poses=poses, times=FRAME_DT * np.arange(scans),
                        sensor=sensor, sensor_calibration=calibration)


def _cast(primitives, pose, local, heights, max_range):
    """Ray-cast rays given in the sensor frame from their lasers' origins (``heights`` above
    the sensor origin; one call per height). Returns (t [R], index [R], normal [R, 3] in the
    world frame)."""
    n = local.shape[0]
    t, index, normal = np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.zeros((n, 3))
    world = local @ pose[:3, :3].T
    for h in np.unique(heights):
        sel = np.nonzero(heights == h)[0]
        hits = raycast(primitives, pose[:3, 3] + pose[:3, 2] * h, world[sel], max_range)
        t[sel], index[sel], normal[sel] = hits.t, hits.index, hits.normal
    return t, index, normal


def _scatter_in_volumes(primitives, pose, local, heights, t, index, normal, sensor, rng):
    """Returns of porous materials (foliage): some rays pass through to what lies behind,
    the others come back from a random depth inside the volume."""
    porosity = np.array([MATERIALS[p.material].porosity for p in primitives] + [0.0])
    pass_rate = np.array([MATERIALS[p.material].pass_rate for p in primitives] + [0.0])
    through = rng.random(t.shape[0]) < pass_rate[index]
    solid = [i for i, p in enumerate(primitives) if MATERIALS[p.material].pass_rate == 0]
    rays = np.nonzero(through)[0]
    if rays.size and solid:
        t2, i2, n2 = _cast([primitives[i] for i in solid], pose, local[rays], heights[rays],
                           sensor.max_range)
        t[rays], normal[rays] = t2, n2
        index[rays] = np.where(i2 >= 0, np.asarray(solid)[np.maximum(i2, 0)], -1)
    depth = porosity[index]
    inside = depth > 0
    t[inside] += np.minimum(rng.exponential(1.0, inside.sum()), 3.0) * depth[inside]
    return t, index, normal


def scan_lidar(primitives, pose, sensor, calibration, rng):
    """Simulate one revolution of the LiDAR.

    Per ray: the ego car's shadow, the lasers' own origins, foliage that scatters
    (:func:`_scatter_in_volumes`), mixed pixels at depth edges, range noise, remission by
    material, range and incidence (:func:`.hdl64.remission_model`), random, per-laser and
    range-dependent dropout, and a few spurious returns.

    Args:
        primitives: scene primitives at the scan time (world frame).
        pose: float [4, 4] world <- velodyne.
        sensor: LidarSensor. calibration: from ``sensor.calibration``.
        rng: numpy Generator for noise, dropouts and outliers.

    Returns:
        dict with points float32 [N, 4] (x, y, z, remission in the sensor frame),
        semantic uint32 [N] raw label ids and instance uint32 [N].
    """
    pose = np.asarray(pose, dtype=np.float64)
    local = sensor.directions(calibration, phase=rng.uniform(0.0, 1.0))         # [R, 3]
    beam = sensor.beam_of(local, calibration)
    heights = sensor.laser_heights()[beam]
    n = local.shape[0]
    origins = np.zeros((n, 3))
    origins[:, 2] = heights
    body = sensor.body()
    free = ~ego_blocked(origins, local, body) if body else np.ones(n, dtype=bool)
    t, index, normal = np.full(n, np.inf), np.full(n, -1, dtype=np.int64), np.zeros((n, 3))
    sel = np.nonzero(free)[0]
    t[sel], index[sel], normal[sel] = _cast(primitives, pose, local[sel], heights[sel],
                                            sensor.max_range)
    t, index, normal = _scatter_in_volumes(primitives, pose, local, heights, t, index, normal,
                                           sensor, rng)
    t = np.where((t >= sensor.min_range) & (t <= sensor.max_range), t, np.inf)
    t, src = mixed_pixels(t, beam, rng, rate=sensor.mixed_pixel_rate)
    index = index[src]
    hit = np.isfinite(t)

    mats = [MATERIALS[p.material] for p in primitives]
    label_tab = np.array([p.label for p in primitives] + [RAW["unlabeled"]], dtype=np.int64)
    inst_tab = np.array([p.instance for p in primitives] + [0], dtype=np.int64)
    rem_tab = np.array([m.remission if p.remission is None else p.remission
                        for m, p in zip(mats, primitives)] + [0.0])
    std_tab = np.array([m.remission_std for m in mats] + [0.0])
    zero_tab = np.array([m.zero_rate for m in mats] + [0.0])
    cos_inc = np.abs(np.sum(normal[src] * (local @ pose[:3, :3].T), axis=1))
    t_safe = np.where(hit, t, sensor.max_range)
    rng_m = t_safe + rng.normal(0.0, sensor.range_noise, n)
    remission = remission_model(rem_tab[index], std_tab[index], zero_tab[index], cos_inc,
                                rng_m, rng)
    p_drop = sensor.dropout + calibration[2][beam] + \
        0.1 * (t_safe / sensor.max_range) ** 2 * (1.0 - remission)
    keep = hit & (rng.random(n) >= p_drop)
    semantic = label_tab[index]
    instance = inst_tab[index]
    far = rng_m > sensor.label_range
    semantic = np.where(far, RAW["unlabeled"], semantic)
    instance = np.where(far, 0, instance)

    # spurious returns: multi-path echoes, farther than the surface the ray hit
    outlier = hit & (rng.random(n) < sensor.outlier_rate)
    out_range = np.minimum(t_safe * rng.uniform(1.1, 2.5, n), sensor.max_range)
    rng_m = np.where(outlier, out_range, rng_m)
    semantic = np.where(outlier, RAW["outlier"], semantic)
    instance = np.where(outlier, 0, instance)
    remission = np.where(outlier, np.round(rng.uniform(0.0, 0.1, n), 2), remission)

    sel = keep | outlier
    xyz = local[sel] * rng_m[sel, None] + origins[sel]
    points = np.concatenate([xyz, remission[sel, None]], axis=1).astype(np.float32)
    return {"points": points, "semantic": semantic[sel].astype(np.uint32),
            "instance": instance[sel].astype(np.uint32)}


def _fmt(values):
    return " ".join(f"{v:.12e}" for v in np.asarray(values, dtype=np.float64).ravel())


def write_calib(path):
    """Write a KITTI odometry ``calib.txt`` (P0..P3, Tr) from :data:`CALIB`."""
    with open(path, "w") as f:
        for key in ("P0", "P1", "P2", "P3", "Tr"):
            f.write(f"{key}: {_fmt(CALIB[key])}\n")


def generate_semantickitti(root, sequences=DEFAULT_SEQUENCES, scans_per_sequence=8, seed=0,
                           beams=64, azimuth_steps=2048, max_range=80.0, fov_up=2.0,
                           fov_down=-24.9):
    """Write a synthetic SemanticKITTI data set under ``root``.

    The default (sequences 00, 01, 02 for training and 08 for validation, 8 scans each, a
    64-beam HDL-64E with 2048 azimuth steps) takes well under a minute on 2 CPU cores.

    Args:
        root: output folder (``root/sequences/NN/...`` is created; files are overwritten).
        sequences: sequence numbers.
        scans_per_sequence: scans per sequence.
        seed: global seed; output is a deterministic function of (seed, sequence, settings).
        beams, azimuth_steps, max_range, fov_up, fov_down: LiDAR settings (see LidarSensor).

    Returns:
        dict: root, scans per sequence name, total points, seconds taken.
    """
    from ...registry import ConfigError
    checks = {"scans_per_sequence (--scans)": (scans_per_sequence, 1),
              "beams (--beams)": (beams, 1), "azimuth_steps (--azimuth_steps)": (azimuth_steps, 8)}
    for name, (value, low) in checks.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"generate_semantickitti: {name} must be an integer >= {low}, "
                              f"got {value!r}")
    if any(int(s) < 0 for s in sequences) or len(set(int(s) for s in sequences)) == 0:
        raise ConfigError(f"generate_semantickitti: sequences must be numbers >= 0, got "
                          f"{list(sequences)!r}")
    if not (float(max_range) > 0 and float(fov_up) > float(fov_down)):
        raise ConfigError(f"generate_semantickitti: need max_range > 0 and fov_up > fov_down, "
                          f"got {max_range}, {fov_up}, {fov_down}")
    start = time.time()
    sensor = LidarSensor(beams=int(beams), azimuth_steps=int(azimuth_steps),
                         max_range=float(max_range), fov_up=float(fov_up),
                         fov_down=float(fov_down))
    summary = {"root": str(root), "sequences": {}, "points": 0}
    for seq in sequences:
        name = f"{int(seq):02d}"
        folder = os.path.join(str(root), "sequences", name)
        for sub in ("velodyne", "labels"):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
        spec = build_sequence(seed, seq, int(scans_per_sequence), sensor)
        for k in range(int(scans_per_sequence)):
            scan = scan_lidar(spec.scene.at_time(spec.times[k]), spec.velo_poses[k], sensor,
                              spec.sensor_calibration, _rng(seed, seq, 2, k))
            scan["points"].tofile(os.path.join(folder, "velodyne", f"{k:06d}.bin"))
            packed = (scan["instance"] << np.uint32(16)) | scan["semantic"]
            packed.astype(np.uint32).tofile(os.path.join(folder, "labels", f"{k:06d}.label"))
            summary["points"] += int(scan["points"].shape[0])
        write_calib(os.path.join(folder, "calib.txt"))
        with open(os.path.join(folder, "poses.txt"), "w") as f:
            for pose in spec.camera_poses():
                f.write(_fmt(pose[:3]) + "\n")
        with open(os.path.join(folder, "times.txt"), "w") as f:
            f.writelines(f"{t:.6e}\n" for t in spec.times)
        summary["sequences"][name] = int(scans_per_sequence)
    summary["seconds"] = round(time.time() - start, 2)
    return summary
