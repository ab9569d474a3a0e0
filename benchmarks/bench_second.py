"""SECOND speed on CPU: one training step and per-frame inference at the full KITTI range.

The model is ``configs/second/second_hv_secfpn_kitti-3d-3class.yml`` (sparse grid
41 x 1600 x 1408, BEV 200 x 176, 3 classes). The frame is a simulated 64-beam scan of a street
in the camera's field of view (ground at z = -1.73 m, building walls, parked cars, pedestrians),
about KITTI's ``velodyne_reduced`` size (~20k points, ~16k voxels). Reported: wall time and
process CPU time (all threads), median of ``--repeats`` after one warm-up, with
``os.getloadavg()`` (the machine is shared, so wall times are inflated by other jobs).

Usage::

    python benchmarks/bench_second.py            # full KITTI size (a few minutes on 2 cores)
    python benchmarks/bench_second.py --tiny     # tiny model and range, seconds
"""
import argparse
import os
import sys
import time
from pathlib import Path

# AMD CPUs: MKL's fast path (the machine of docs/detection.md; no effect on Intel). Set before
# Paddle runs its first matmul; export MKL_DEBUG_CPU_TYPE= (empty) to measure without it.
os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")

import numpy as np  # noqa: E402
import paddle  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paddlexseg.config import load_config  # noqa: E402
from paddlexseg.engine.builder import build_model  # noqa: E402
from paddlexseg.losses.composer import LossComposer  # noqa: E402
from paddlexseg.structures import DetBatch  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs/second/second_hv_secfpn_kitti-3d-3class.yml"


def _ray_boxes(origin, dirs, boxes):
    """Distance along each ray to the nearest axis-aligned box [K, 6] (inf if none)."""
    inv = 1.0 / np.where(np.abs(dirs) < 1e-9, 1e-9, dirs)
    best = np.full(dirs.shape[0], np.inf)
    for b in boxes:
        t0 = (b[:3] - origin) * inv
        t1 = (b[3:] - origin) * inv
        near = np.minimum(t0, t1).max(axis=1)
        far = np.maximum(t0, t1).min(axis=1)
        hit = (far >= near) & (near > 0)
        best = np.where(hit & (near < best), near, best)
    return best


def simulated_scan(seed=0, beams=64, azimuth_step=0.0025):
    """A 64-beam scan inside +-45 degrees of x (the camera's view), float32 [N, 4], and the
    LiDAR boxes of its cars/pedestrians [M, 7] with labels (0 Ped, 1 Cyc, 2 Car)."""
    rng = np.random.default_rng(seed)
    elev = np.radians(np.linspace(-24.8, 2.0, beams))
    azim = np.arange(-np.pi / 4, np.pi / 4, azimuth_step)
    e, a = np.meshgrid(elev, azim, indexing="ij")
    dirs = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)
    origin = np.zeros(3)
    ground = np.where(dirs[:, 2] < 0, 1.73 / np.maximum(-dirs[:, 2], 1e-9), np.inf)
    objs, gt, labels = [], [], []
    for x in np.arange(6.0, 66.0, 7.0):                 # parked cars on both sides
        for y in (-4.5, 4.5):
            if rng.random() < 0.7:
                cx, cy = x + rng.uniform(-1, 1), y + rng.uniform(-0.3, 0.3)
                objs.append([cx - 1.95, cy - 0.8, -1.73, cx + 1.95, cy + 0.8, -0.2])
                gt.append([cx, cy, -1.73, 3.9, 1.6, 1.53, 0.0])
                labels.append(2)
    for _ in range(6):                                   # pedestrians on the pavements
        cx, cy = rng.uniform(5, 40), rng.choice([-7.0, 7.0])
        objs.append([cx - 0.4, cy - 0.3, -1.73, cx + 0.4, cy + 0.3, 0.0])
        gt.append([cx, cy, -1.73, 0.8, 0.6, 1.73, 0.0])
        labels.append(0)
    walls = [[0, -40, -1.73, 80, -12, 3], [0, 12, -1.73, 80, 40, 3]]
    dist = np.minimum(ground, _ray_boxes(origin, dirs, np.asarray(objs + walls, float)))
    keep = dist < 80
    pts = dirs[keep] * dist[keep, None] + rng.normal(0, 0.01, (int(keep.sum()), 3))
    pts = np.c_[pts, rng.uniform(0, 1, len(pts))].astype(np.float32)
    return pts, np.asarray(gt, np.float32), np.asarray(labels, np.int64)


def tiny_config(cfg):
    """Shrink the model and range for a seconds-long run (tests / CI)."""
    pc = [0, -6.4, -3, 12.8, 6.4, 1]
    cfg["model"]["voxel_layer"].update(point_cloud_range=pc, voxel_size=[0.1, 0.1, 0.1])
    cfg["model"]["middle_encoder"].update(sparse_shape=[41, 128, 128], base_channels=8,
                                          output_channels=16,
                                          encoder_channels=[[8], [16, 16], [16, 16], [16, 16]],
                                          encoder_paddings=[[1], [1, 1], [1, 1], [[0, 1, 1], 1]])
    cfg["model"]["backbone"].update(in_channels=32, out_channels=[32, 64], layer_nums=[1, 1])
    cfg["model"]["neck"].update(in_channels=[32, 64], out_channels=[32, 32])
    head = cfg["model"]["bbox_head"]
    head.update(in_channels=64, feat_channels=64)
    head["anchor_ranges"] = [[pc[0], pc[1], r[2], pc[3], pc[4], r[5]]
                             for r in head["anchor_ranges"]]
    return cfg


def _median_times(fn, repeats):
    walls, cpus = [], []
    fn()                                                  # warm-up
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny model and range (seconds)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=1, help="frames per training step")
    p.add_argument("--threads", type=int, default=2, help="Paddle CPU math threads")
    args = p.parse_args(argv)
    paddle.set_device("cpu")
    paddle.base.core.set_num_threads(int(args.threads))
    cfg = load_config(str(CONFIG))
    if args.tiny:
        cfg = tiny_config(cfg)
    paddle.seed(0)
    model = build_model(cfg)
    losses = LossComposer(cfg["losses"])
    opt = paddle.optimizer.AdamW(learning_rate=1e-4, parameters=model.parameters())
    scan, boxes, labels = simulated_scan(beams=16 if args.tiny else 64)
    voxels = model.voxelizer([scan], training=True)[0].shape[0]
    batch = DetBatch(points=[paddle.to_tensor(scan)] * args.batch_size,
                     gt_boxes=[paddle.to_tensor(boxes)] * args.batch_size,
                     gt_labels=[paddle.to_tensor(labels)] * args.batch_size)

    def train_step():
        model.train()
        total, _ = losses(model(**batch.inputs()), batch)
        total.backward()
        opt.step()
        opt.clear_grad()

    def infer():
        model.eval()
        with paddle.no_grad():
            model([paddle.to_tensor(scan)])

    print(f"SECOND {'tiny' if args.tiny else 'full KITTI'}: {scan.shape[0]} points, {voxels} "
          f"voxels, grid {model.middle_encoder.sparse_shape}, threads {args.threads}, "
          f"MKL_DEBUG_CPU_TYPE={os.environ.get('MKL_DEBUG_CPU_TYPE', '')!r}")
    rows = []
    for name, fn in ((f"train step (batch {args.batch_size})", train_step),
                     ("inference per frame (incl. decode + NMS)", infer)):
        load = os.getloadavg()[0]
        wall, cpu = _median_times(fn, args.repeats)
        rows.append((name, wall, cpu, load))
        print(f"{name:45s} wall {wall:7.3f} s  cpu {cpu:7.3f} s  load {load:.1f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
