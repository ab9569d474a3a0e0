"""Synthetic KITTI 3-D object detection: street scenes seen by the synthetic LiDAR and camera.

:func:`generate_kitti3d` writes the exact KITTI object layout::

    root/ImageSets/{train,val,trainval}.txt
    root/training/velodyne/NNNNNN.bin   float32 [N, 4] x, y, z, intensity (velodyne frame)
    root/training/image_2/NNNNNN.png    1242 x 375 RGB (camera renderer, scaled rays)
    root/training/calib/NNNNNN.txt      P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo
    root/training/label_2/NNNNNN.txt    Car / Van / Truck / Pedestrian / Cyclist / DontCare

Each frame is an independent street (:func:`~.street.make_street_scene`) with extra cars,
vans, pedestrians and cyclists (:mod:`.kitti3d_objects`). Labels are exact: 3-D boxes from
the solids, 2-D boxes from projecting the 3-D box with P2 (clipped to the image), truncation
= the share of the projected box outside the image, occlusion from the camera's z-buffer
(visible share of the object's own pixels: >= 0.8 -> 0, >= 0.4 -> 1, else 2), alpha from ry
and the location. Objects whose 2-D box is under 15 px high become ``DontCare`` regions;
objects neither seen by the camera nor hit by 5 LiDAR points are left out. The LiDAR only
fires into a forward sector (``lidar_sector`` degrees, wider than the camera's ~81 degree
view), since KITTI detection uses the points in the camera's field of view.
Deterministic by (seed, frame index).
"""
import os
import time

import numpy as np

from ...boxes3d import alpha_from_ry, boxes_to_image_2d, lidar_boxes_to_camera
from ...ops.boxes import points_in_boxes
from ...registry import ConfigError
from ..kitti_calib import write_kitti_calib
from ..kitti_label import write_label
from .camera import camera_rays, shade_hits
from .kitti3d_objects import (Placer, SceneObject, fit_box, make_car, make_cyclist,
                              make_pedestrian, make_van, sidewalk_bands, street_objects)
from .lidar_scenes import LidarSensor, scan_lidar
from .primitives import raycast
from .street import make_street_scene

__all__ = ["KITTI_CALIB", "IMAGE_SHAPE", "build_frame", "render_frame", "generate_kitti3d",
           "TINY_KITTI3D"]

IMAGE_SHAPE = (375, 1242)                               # (H, W) of KITTI object images
# Small settings for tests: a few frames, coarse rays (about 1.5 s per frame on 2 cores)
TINY_KITTI3D = {"n_train": 3, "n_val": 2, "beams": 64, "azimuth_steps": 1024,
                "image_scale": 0.15}


def _orthonormal(mat):
    u, _, vt = np.linalg.svd(np.asarray(mat, dtype=np.float64))
    return u @ vt


def _kitti_calib():
    """KITTI ``training/calib/000000.txt`` with the rotations made exactly orthonormal (so the
    rendered camera and the projection with P2 agree to the pixel)."""
    k = [[7.215377e+02, 0.0, 6.095593e+02], [0.0, 7.215377e+02, 1.728540e+02], [0.0, 0.0, 1.0]]
    p = {name: np.hstack([k, np.reshape(off, (3, 1))]) for name, off in (
        ("P0", [0.0, 0.0, 0.0]), ("P1", [-3.875744e+02, 0.0, 0.0]),
        ("P2", [4.485728e+01, 2.163791e-01, 2.745884e-03]),
        ("P3", [-3.395242e+02, 2.199936e+00, 2.729905e-03]))}
    r0 = _orthonormal([[9.999239e-01, 9.837760e-03, -7.445048e-03],
                       [-9.869795e-03, 9.999421e-01, -4.278459e-03],
                       [7.402527e-03, 4.351614e-03, 9.999631e-01]])
    tr_r = _orthonormal([[7.533745e-03, -9.999714e-01, -6.166020e-04],
                         [1.480249e-02, 7.280733e-04, -9.998902e-01],
                         [9.998621e-01, 7.523790e-03, 1.480755e-02]])
    imu_r = _orthonormal([[9.999976e-01, 7.553071e-04, -2.035826e-03],
                          [-7.854027e-04, 9.998898e-01, -1.482298e-02],
                          [2.024406e-03, 1.482454e-02, 9.998881e-01]])
    out = {}
    for name, mat in p.items():
        out[name] = np.vstack([mat, [0, 0, 0, 1]])
    out["R0_rect"] = np.eye(4)
    out["R0_rect"][:3, :3] = r0
    for name, rot, t in (("Tr_velo_to_cam", tr_r, [-4.069766e-03, -7.631618e-02, -2.717806e-01]),
                         ("Tr_imu_to_velo", imu_r, [-8.086759e-01, 3.195559e-01, -7.997231e-01])):
        out[name] = np.eye(4)
        out[name][:3, :3], out[name][:3, 3] = rot, t
    return out


KITTI_CALIB = _kitti_calib()


def _place(rng, prims, objects, placer, name, maker, draw, tries=12):
    """Try ``tries`` random poses from ``draw()`` until the object fits; True if placed."""
    for _ in range(tries):
        x, y, z0, yaw = draw()
        new = maker(rng, x, y, z0, yaw)
        box = fit_box(new, yaw, z0)
        if placer.free(box[0], box[1], box[3], box[4], yaw):
            first = len(prims)
            prims.extend(new)
            objects.append(SceneObject(name, box, list(range(first, len(prims)))))
            placer.add(box)
            return True
    return False


def build_frame(rng, sensor_height=1.73):
    """One street with extra objects and the ego pose.

    Returns:
        (primitives, objects [SceneObject, world frame], pose float64 [4, 4] world <- velodyne).
    """
    street = make_street_scene(rng, (-15.0, 85.0), parking=(0.65, 0.5))   # many cars
    prims, objects = street_objects(street.primitives)
    hw, lane = street.road_half_width, street.lane_y
    placer = Placer(prims, objects)
    placer.add(np.array([0.0, lane, 0.0, 6.0, 2.5, 1.6, 0.0]))        # the ego car
    bands = sidewalk_bands(prims)

    def heading(flip_prob=0.5, std=0.05):
        return (np.pi if rng.random() < flip_prob else 0.0) + rng.normal(0, std)

    def on_road():
        side = rng.choice([-1.0, 1.0])
        return (rng.uniform(6, 50), side * hw / 2 + rng.normal(0, 0.25), 0.0,
                heading(0.8 if side > 0 else 0.2))

    def van_pose():
        if rng.random() < 0.5:
            return on_road()
        side = rng.choice([-1.0, 1.0])
        return rng.uniform(8, 45), side * (hw + 1.2), 0.0, heading()

    def ped_pose():
        sides = sorted(bands)
        if sides and rng.random() < 0.75:
            y0, y1, z = bands[sides[rng.integers(len(sides))]]
            return rng.uniform(6, 35), rng.uniform(y0 + 0.4, y1 - 0.4), z, rng.uniform(-np.pi,
                                                                                       np.pi)
        return (rng.uniform(6, 30), rng.uniform(-hw + 0.5, hw - 0.5), 0.0,
                rng.choice([-1.0, 1.0]) * np.pi / 2 + rng.normal(0, 0.3))

    def cyclist_pose():
        side = rng.choice([-1.0, 1.0])
        return (rng.uniform(6, 40), side * (hw - 0.8) + rng.normal(0, 0.15), 0.0,
                heading(0.8 if side > 0 else 0.2, 0.1))

    for _ in range(rng.integers(2, 5)):
        _place(rng, prims, objects, placer, "Car", make_car, on_road)
    if rng.random() < 0.5:
        _place(rng, prims, objects, placer, "Van", make_van, van_pose)
    for _ in range(rng.integers(2, 6)):
        _place(rng, prims, objects, placer, "Pedestrian", make_pedestrian, ped_pose)
    for _ in range(rng.integers(1, 4)):
        _place(rng, prims, objects, placer, "Cyclist", make_cyclist, cyclist_pose)
    yaw = rng.normal(0.0, 0.02)
    pose = np.eye(4)
    pose[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    pose[:3, 3] = (0.0, lane + rng.normal(0, 0.15), sensor_height)
    return prims, objects, pose


def _to_velodyne(box, pose):
    """World box [7] -> velodyne box [7] (the pose only turns about z)."""
    xyz = pose[:3, :3].T @ (box[:3] - pose[:3, 3])
    yaw = box[6] - np.arctan2(pose[1, 0], pose[0, 0])
    return np.concatenate([xyz, box[3:6], [yaw]])


def _occlusion(prims, obj, hits, origin, dirs, grid, box2d, shape):
    """(visible pixels, own pixels) of ``obj`` in the rendered ray grid inside its 2-D box."""
    (w, h), (H, W) = grid, shape
    c0, c1 = int(np.floor(box2d[0] * w / W)), int(np.ceil(box2d[2] * w / W)) + 1
    r0, r1 = int(np.floor(box2d[1] * h / H)), int(np.ceil(box2d[3] * h / H)) + 1
    rows, cols = np.meshgrid(np.arange(max(r0, 0), min(r1, h)), np.arange(max(c0, 0), min(c1, w)))
    idx = (rows * w + cols).ravel()
    if idx.size == 0:
        return 0, 0
    own = raycast([prims[i] for i in obj.prims], origin, dirs[idx], 200.0).index >= 0
    visible = np.isin(hits.index[idx], obj.prims) & own
    return int(visible.sum()), int(own.sum())


def render_frame(prims, objects, pose, rng, sensor, calib=KITTI_CALIB, image_scale=0.25):
    """Scan, image and KITTI annotation of one frame.

    Returns:
        (points float32 [N, 4], image uint8 [H, W, 3], annotation dict (see kitti_label)).
    """
    H, W = IMAGE_SHAPE
    scan = scan_lidar(prims, pose, sensor, sensor.calibration(rng), rng)
    points = scan["points"]
    cam = {"P2": calib["P2"][:3], "Tr": calib["R0_rect"] @ calib["Tr_velo_to_cam"]}
    origin, dirs, grid = camera_rays(cam, (W, H), image_scale)
    world_origin = pose[:3, :3] @ origin + pose[:3, 3]
    world_dirs = dirs @ pose[:3, :3].T
    hits = raycast(prims, world_origin, world_dirs, 200.0)
    rgb = shade_hits(prims, hits, world_origin, world_dirs, rng).reshape(grid[1], grid[0], 3)
    rows = np.minimum((np.arange(H) * grid[1]) // H, grid[1] - 1)
    cols = np.minimum((np.arange(W) * grid[0]) // W, grid[0] - 1)
    image = np.round(rgb[rows][:, cols]).astype(np.uint8)

    boxes = np.array([_to_velodyne(o.box, pose) for o in objects]).reshape(-1, 7)
    counts = np.asarray(points_in_boxes(points[:, :3].astype(np.float64), boxes)).sum(0) \
        if len(objects) else np.zeros(0)
    # the label file keeps 2 decimals: project the box it will hold, so 2-D and 3-D agree
    cam_boxes = np.round(lidar_boxes_to_camera(boxes, calib), 2)
    box2d, raw = boxes_to_image_2d(cam_boxes, calib["P2"], IMAGE_SHAPE, return_unclipped=True)
    rows_out = []
    for i, obj in enumerate(objects):
        b = box2d[i]
        if b[0] < 0 or b[2] - b[0] < 1 or b[3] - b[1] < 1:
            continue                                     # behind the camera or outside
        vis, own = _occlusion(prims, obj, hits, world_origin, world_dirs, grid, b, IMAGE_SHAPE)
        if vis == 0 and counts[i] < 5:
            continue                                     # nobody sees it
        area_raw = (raw[i, 2] - raw[i, 0]) * (raw[i, 3] - raw[i, 1])
        trunc = float(np.clip(1.0 - (b[2] - b[0]) * (b[3] - b[1]) / max(area_raw, 1e-9), 0, 1))
        frac = vis / own if own else 1.0
        occ = 0 if frac >= 0.8 else (1 if frac >= 0.4 else 2)
        name = obj.name if b[3] - b[1] >= 15 else "DontCare"
        rows_out.append((name, trunc, occ, b, cam_boxes[i]))
    anno = _anno(rows_out)
    return points, image, anno


def _anno(rows):
    """Annotation dict from (name, truncation, occlusion, box2d, camera box) rows; DontCare
    rows get KITTI's placeholder 3-D values (-1 size, -1000 location, -10 rotation)."""
    n = len(rows)
    anno = {"name": np.array([r[0] for r in rows], dtype="<U16"),
            "truncated": np.array([r[1] for r in rows], dtype=np.float64),
            "occluded": np.array([r[2] for r in rows], dtype=np.int64),
            "bbox": np.array([r[3] for r in rows], dtype=np.float64).reshape(n, 4),
            "score": np.zeros(n)}
    cb = np.array([r[4] for r in rows], dtype=np.float64).reshape(n, 7)
    dc = anno["name"] == "DontCare"
    anno["location"] = np.where(dc[:, None], -1000.0, cb[:, :3])
    anno["dimensions"] = np.where(dc[:, None], -1.0, cb[:, 3:6])          # l, h, w
    anno["rotation_y"] = np.where(dc, -10.0, cb[:, 6])
    anno["alpha"] = np.where(dc, -10.0, alpha_from_ry(cb[:, 6], cb[:, :3]))
    anno["truncated"] = np.where(dc, -1.0, anno["truncated"])
    anno["occluded"] = np.where(dc, -1, anno["occluded"])
    return anno


def generate_kitti3d(root, n_train=100, n_val=50, seed=0, beams=64, azimuth_steps=2048,
                     lidar_sector=100.0, image_scale=0.25):
    """Write a synthetic KITTI object set under ``root`` (see the module docstring).

    Args:
        root: output folder (files are overwritten).
        n_train, n_val: frames listed in ImageSets/train.txt and val.txt (ids 0.. in order).
        seed: global seed; frame k depends only on (seed, k) and the settings.
        beams, azimuth_steps: LiDAR (HDL-64E: 64 beams; steps per full turn).
        lidar_sector: horizontal width (degrees) of the forward sector the LiDAR fires into.
        image_scale: camera ray grid as a fraction of 1242 x 375 (the PNG keeps the full size).

    Returns:
        dict: root, frames per split, objects per type, points, seconds.
    """
    from PIL import Image
    if int(n_train) < 1 or int(n_val) < 0:
        raise ConfigError(f"generate_kitti3d: need n_train >= 1 and n_val >= 0, got "
                         f"{n_train} and {n_val}")
    start = time.time()
    sensor = _SectorLidar(beams=int(beams), azimuth_steps=int(azimuth_steps),
                          sector=float(lidar_sector))
    train = os.path.join(str(root), "training")
    for sub in ("velodyne", "image_2", "calib", "label_2"):
        os.makedirs(os.path.join(train, sub), exist_ok=True)
    os.makedirs(os.path.join(str(root), "ImageSets"), exist_ok=True)
    ids = [f"{k:06d}" for k in range(int(n_train) + int(n_val))]
    summary = {"root": str(root), "frames": {"train": int(n_train), "val": int(n_val)},
               "objects": {}, "points": 0}
    for k, fid in enumerate(ids):
        rng = np.random.default_rng([int(seed), k])
        prims, objects, pose = build_frame(rng)
        points, image, anno = render_frame(prims, objects, pose, rng, sensor,
                                           image_scale=float(image_scale))
        points.tofile(os.path.join(train, "velodyne", f"{fid}.bin"))
        Image.fromarray(image).save(os.path.join(train, "image_2", f"{fid}.png"))
        write_kitti_calib(os.path.join(train, "calib", f"{fid}.txt"), KITTI_CALIB)
        write_label(os.path.join(train, "label_2", f"{fid}.txt"), anno, with_score=False,
                    decimals=4)
        summary["points"] += int(points.shape[0])
        for name in anno["name"]:
            summary["objects"][str(name)] = summary["objects"].get(str(name), 0) + 1
    for split, names in (("train", ids[:int(n_train)]), ("val", ids[int(n_train):]),
                         ("trainval", ids)):
        with open(os.path.join(str(root), "ImageSets", f"{split}.txt"), "w") as f:
            f.writelines(f"{n}\n" for n in names)
    summary["seconds"] = round(time.time() - start, 2)
    return summary


class _SectorLidar(LidarSensor):
    """The spinning LiDAR, firing only within +-sector/2 degrees of straight ahead."""

    def __init__(self, sector=100.0, **kwargs):
        super().__init__(**kwargs)
        self.sector = float(sector)

    def directions(self, calibration, phase=0.0):
        d = super().directions(calibration, phase)
        keep = np.abs(np.degrees(np.arctan2(d[:, 1], d[:, 0]))) <= self.sector / 2
        return d[keep]


def main(argv=None):
    """CLI of ``tools/generate_synthetic.py --kind kitti3d`` (flags after the common ones)."""
    import argparse
    p = argparse.ArgumentParser(description="synthetic KITTI 3-D object detection set")
    p.add_argument("--root", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (output is deterministic)")
    p.add_argument("--n_train", type=int, default=100, help="frames in ImageSets/train.txt")
    p.add_argument("--n_val", type=int, default=50, help="frames in ImageSets/val.txt")
    p.add_argument("--beams", type=int, default=64, help="LiDAR beams")
    p.add_argument("--azimuth_steps", type=int, default=2048, help="LiDAR steps per turn")
    p.add_argument("--lidar_sector", type=float, default=100.0,
                   help="width (degrees) of the forward sector the LiDAR fires into")
    p.add_argument("--image_scale", type=float, default=0.25,
                   help="camera ray grid as a fraction of 1242 x 375 (PNG keeps full size)")
    p.add_argument("--tiny", action="store_true", help="the tiny test set (3 train, 2 val)")
    args = p.parse_args(argv)
    kwargs = dict(n_train=args.n_train, n_val=args.n_val, beams=args.beams,
                  azimuth_steps=args.azimuth_steps, lidar_sector=args.lidar_sector,
                  image_scale=args.image_scale)
    if args.tiny:
        kwargs.update(TINY_KITTI3D)
    s = generate_kitti3d(args.root, seed=args.seed, **kwargs)
    objects = ", ".join(f"{k} {v}" for k, v in sorted(s["objects"].items()))
    print(f"wrote kitti3d to {s['root']} ({s['frames']['train']} train / {s['frames']['val']} "
          f"val frames; {objects}; {s['points']} points) in {s['seconds']} s")
    return s
