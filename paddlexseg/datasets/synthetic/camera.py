"""A pinhole camera for the synthetic SemanticKITTI scenes: writes ``image_2/*.png``.

The camera sees the same street as the LiDAR of :mod:`.lidar_scenes`: rays through the pixel
centres of KITTI's left colour camera (``P2``, ``Tr`` of :data:`~.lidar_scenes.CALIB`) are cast
against the scene primitives (the nearest hit per pixel is a z-buffer), and each hit is shaded
with its material's albedo, a class-dependent texture (windows on buildings, tiles on
sidewalks, leaf noise on vegetation, tinted car windows ...), Lambertian sun light, an ambient
term and distance haze; misses show a sky gradient. Because pixels and LiDAR points come from
the same primitives, projecting a scan with ``P2 @ Tr`` lands its points on the matching
surfaces, so the 2DPASS pipeline can be trained and checked on synthetic data.

Rendering a full 1241 x 376 image takes a few seconds; ``scale < 1`` renders a smaller image
(rays through a proportionally scaled intrinsic matrix) and enlarges it by nearest neighbour.
"""
import os
import time

import numpy as np

from .lidar_scenes import CALIB, IMAGE_SIZE, LidarSensor, _rng, build_sequence
from .primitives import MATERIALS, raycast
from .street import RAW

__all__ = ["camera_rays", "shade_hits", "render_camera", "generate_kitti_images",
           "generate_semantickitti_fusion"]

_SUN = np.array([0.35, -0.25, 0.9]) / np.linalg.norm([0.35, -0.25, 0.9])
_SKY_TOP, _SKY_HORIZON = np.array([70.0, 120.0, 200.0]), np.array([185.0, 205.0, 225.0])


def camera_rays(calib=None, image_size=IMAGE_SIZE, scale=1.0):
    """Origin and unit ray directions of camera 2 in the velodyne frame.

    Args:
        calib: dict with ``P2`` [3, 4] and ``Tr`` [3, 4] (velodyne -> camera 0); default CALIB.
        image_size: (width, height) of the full image.
        scale: render resolution factor (the ray grid is ``round(size * scale)``).

    Returns:
        (origin float64 [3], dirs float64 [h * w, 3] row-major, (w, h) of the ray grid).
    """
    calib = CALIB if calib is None else calib
    p2 = np.asarray(calib["P2"], dtype=np.float64).reshape(3, 4)
    tr = np.asarray(calib["Tr"], dtype=np.float64).reshape(-1, 4)[:3]   # 3x4 or 4x4
    k = p2[:, :3]
    offset = np.linalg.solve(k, p2[:, 3])           # cam0 -> cam2 translation (rectified)
    w, h = max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))
    sx, sy = w / image_size[0], h / image_size[1]
    u, v = np.meshgrid((np.arange(w) + 0.5) / sx, (np.arange(h) + 0.5) / sy)
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)          # [h*w, 3]
    d_cam = np.linalg.solve(k, pix.T).T                                      # camera-2 axes
    rot, trans = tr[:, :3], tr[:, 3]
    dirs = d_cam @ rot                                    # R^T d: camera -> velodyne axes
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origin = rot.T @ (-offset - trans)
    return origin, dirs, (w, h)


def _hash(ix, iy, iz):
    """Deterministic pseudo-random value in [0, 1) per integer cell."""
    key = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ \
          (iz.astype(np.int64) * 83492791)
    return (key % 1021).astype(np.float64) / 1021.0


def _texture(label, points):
    """Multiplicative texture [n] and an RGB tint [n, 3] (added) for one primitive's hits."""
    n = points.shape[0]
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    mult, tint = np.ones(n), np.zeros((n, 3))
    if label in (RAW["road"], RAW["parking"], RAW["terrain"]):
        amp = 0.25 if label == RAW["terrain"] else 0.12
        mult += amp * (_hash(np.floor(x / 0.2), np.floor(y / 0.2), np.zeros(n)) - 0.5)
    elif label == RAW["sidewalk"]:
        grout = (np.mod(x, 0.6) < 0.04) | (np.mod(y, 0.6) < 0.04)
        mult = np.where(grout, 0.7, 1.0)
    elif label == RAW["building"]:
        along = np.mod(x + y, 3.0) / 3.0
        floor = np.mod(z, 3.2) / 3.2
        window = (along > 0.25) & (along < 0.75) & (floor > 0.35) & (floor < 0.8) & (z > 1.0)
        mult = np.where(window, 0.35, 1.0)
        tint[window] = (10.0, 25.0, 45.0)
    elif label == RAW["vegetation"]:
        cell = _hash(np.floor(x / 0.15), np.floor(y / 0.15), np.floor(z / 0.15))
        mult = 0.6 + 0.8 * cell
    elif label == RAW["trunk"]:
        mult = 0.8 + 0.4 * (np.mod(np.arctan2(y, x) * 8.0, 1.0) > 0.5)
    elif label == RAW["fence"]:
        mult = np.where(np.mod(x + y, 0.25) < 0.06, 0.55, 1.0)
    elif label in (RAW["car"], RAW["moving-car"]):
        window = z > 1.2                                  # the cabin: tinted glass
        mult = np.where(window, 0.3, 1.0)
        tint[window] = (15.0, 20.0, 30.0)
    elif label in (RAW["person"], RAW["moving-person"]):
        mult = np.where(z > 1.0, 1.25, 0.8)               # lighter top, darker trousers
    return mult, tint


def shade_hits(primitives, hits, origin, dirs, rng=None):
    """RGB float [R, 3] in 0..255 of the rays' nearest hits (sky for misses)."""
    n = dirs.shape[0]
    up = np.clip(dirs[:, 2], -1.0, 1.0)
    blend = np.clip(up * 4.0, 0.0, 1.0)[:, None]
    rgb = _SKY_HORIZON[None] * (1.0 - blend) + _SKY_TOP[None] * blend            # [R, 3]
    hit = hits.index >= 0
    if hit.any():
        t = hits.t[hit]
        pts = origin[None] + dirs[hit] * t[:, None]
        shade = 0.4 + 0.6 * np.clip(hits.normal[hit] @ _SUN, 0.0, 1.0)           # [H]
        color = np.zeros((pts.shape[0], 3))
        idx = hits.index[hit]
        for i in np.unique(idx):
            sel = idx == i
            prim = primitives[i]
            albedo = np.asarray(MATERIALS[prim.material].color, dtype=np.float64)
            if prim.remission is not None:                # per-object paint variation
                albedo = albedo * (0.6 + prim.remission)
            mult, tint = _texture(prim.label, pts[sel])
            color[sel] = albedo[None] * mult[:, None] + tint
        color *= shade[:, None]
        haze = (1.0 - np.exp(-t / 180.0))[:, None]
        rgb[hit] = color * (1.0 - haze) + _SKY_HORIZON[None] * haze
    if rng is not None:
        rgb = rgb + rng.normal(0.0, 2.0, size=(n, 3))     # sensor noise
    return np.clip(rgb, 0.0, 255.0)


def render_camera(primitives, velo_pose, calib=None, image_size=IMAGE_SIZE, scale=1.0,
                  max_range=200.0, rng=None, return_labels=False):
    """Render the left colour camera (KITTI camera 2) mounted with the LiDAR at ``velo_pose``.

    Args:
        primitives: scene primitives at the frame time (world frame).
        velo_pose: float [4, 4] world <- velodyne.
        calib: dict with ``P2`` and ``Tr`` (default :data:`CALIB`).
        image_size: (width, height) of the output image.
        scale: render at this fraction of the resolution, then enlarge (nearest neighbour).
        max_range: farther surfaces are sky.
        rng: numpy Generator for sensor noise (None: noise-free).
        return_labels: also return the raw label id per pixel (0 for sky).

    Returns:
        uint8 [height, width, 3] RGB (and int64 [height, width] raw labels).
    """
    pose = np.asarray(velo_pose, dtype=np.float64)
    origin, dirs, (w, h) = camera_rays(calib, image_size, scale)
    world_origin = pose[:3, :3] @ origin + pose[:3, 3]
    world_dirs = dirs @ pose[:3, :3].T
    hits = raycast(primitives, world_origin, world_dirs, max_range)
    rgb = shade_hits(primitives, hits, world_origin, world_dirs, rng).reshape(h, w, 3)
    rows = np.minimum((np.arange(image_size[1]) * h) // image_size[1], h - 1)
    cols = np.minimum((np.arange(image_size[0]) * w) // image_size[0], w - 1)
    image = np.round(rgb[rows][:, cols]).astype(np.uint8)
    if not return_labels:
        return image
    table = np.array([p.label for p in primitives] + [0], dtype=np.int64)
    labels = table[hits.index].reshape(h, w)              # index -1 -> the appended 0
    return image, labels[rows][:, cols]


def generate_kitti_images(root, sequences=None, seed=0, scale=0.5, max_range=80.0):
    """Write ``image_2/NNNNNN.png`` for every scan of a synthetic SemanticKITTI set.

    The scenes are rebuilt from ``(seed, sequence)`` exactly as
    :func:`~.lidar_scenes.generate_semantickitti` built them, so ``seed`` and ``max_range``
    must be the values the scans were generated with. The camera is the sequence's
    ``calib.txt`` (``P2``, ``Tr``), or :data:`CALIB` without one.

    Args:
        root: the generated data set (``root/sequences/NN/velodyne/*.bin``).
        sequences: sequence numbers (default: every folder under ``root/sequences``).
        seed: the generator's seed. scale: render resolution factor (see :func:`render_camera`).
        max_range: the LiDAR range the scans were generated with (sets the street length).

    Returns:
        dict: images written per sequence name and seconds taken.
    """
    from PIL import Image
    start = time.time()
    seq_root = os.path.join(str(root), "sequences")
    if not os.path.isdir(seq_root):
        raise FileNotFoundError(f"{seq_root}: not found; generate the scans first "
                                f"(generate_semantickitti)")
    if sequences is None:
        sequences = sorted(int(s) for s in os.listdir(seq_root) if s.isdigit())
    summary = {"root": str(root), "sequences": {}}
    sensor = LidarSensor(max_range=float(max_range))
    for seq in sequences:
        folder = os.path.join(seq_root, f"{int(seq):02d}")
        velo = os.path.join(folder, "velodyne")
        if not os.path.isdir(velo):
            raise FileNotFoundError(f"{velo}: not found; expected the scans of sequence {seq}")
        scans = sorted(f for f in os.listdir(velo) if f.endswith(".bin"))
        spec = build_sequence(seed, seq, len(scans), sensor)
        calib = None                                   # the sequence's calib.txt if present
        if os.path.isfile(os.path.join(folder, "calib.txt")):
            from ..semantickitti_fusion import read_calib
            calib = read_calib(os.path.join(folder, "calib.txt"))
        os.makedirs(os.path.join(folder, "image_2"), exist_ok=True)
        for k, name in enumerate(scans):
            image = render_camera(spec.scene.at_time(spec.times[k]), spec.velo_poses[k],
                                  calib=calib, scale=scale, rng=_rng(seed, seq, 3, k))
            Image.fromarray(image).save(os.path.join(folder, "image_2", name[:-4] + ".png"))
        summary["sequences"][f"{int(seq):02d}"] = len(scans)
    summary["seconds"] = round(time.time() - start, 2)
    return summary


def generate_semantickitti_fusion(root, sequences=(0, 1, 2, 8), scans_per_sequence=8, seed=0,
                                  beams=64, azimuth_steps=2048, scale=0.5):
    """Synthetic SemanticKITTI scans (:func:`~.lidar_scenes.generate_semantickitti`) plus their
    ``image_2`` camera images: the full input of 2DPASS. Returns the two summaries."""
    from .lidar_scenes import generate_semantickitti
    scans = generate_semantickitti(root, sequences=sequences,
                                   scans_per_sequence=scans_per_sequence, seed=seed, beams=beams,
                                   azimuth_steps=azimuth_steps)
    images = generate_kitti_images(root, sequences=sequences, seed=seed, scale=scale)
    return {"scans": scans, "images": images}
