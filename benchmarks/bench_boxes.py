"""Time the box ops at KITTI sizes beside plain per-pair / per-point Python or NumPy versions.

Rows (full run): rotated BEV IoU of 1000 x 1000 boxes, spread over the KITTI range (most pairs
apart, as for a frame's detections) and packed into 12 x 12 m (nearly every pair clipped, the
worst case); greedy rotated NMS of 1000 candidates around 60 objects (mmdet3d's test-time input
before ``nms_pre``); dynamic voxelization + DynamicScatter (mean, and max with backward) of a
120k-point scan at SECOND's voxel size; points-in-boxes of 120k points x 30 boxes. The naive
versions are per-pair Sutherland-Hodgman clipping in Python (timed on a sample of pairs and
scaled, marked "est."), a greedy loop computing each IoU on demand, and ``np.unique`` +
``np.add.at``/``np.maximum.at`` pooling. Each row also checks that both agree. Wall time is the
best of a few calls; "(cpu)" the process CPU time of that call; the load average is printed
because the machine may be shared.

    python benchmarks/bench_boxes.py            # full sizes (about a minute on 2 cores)
    python benchmarks/bench_boxes.py --tiny     # seconds, for CI
"""
import argparse
import os
import time

import numpy as np
import paddle

from paddlexseg.ops.box_iou import rect_iou
from paddlexseg.ops.boxes import box_iou_bev, nms_bev, points_in_boxes
from paddlexseg.ops.dynamic_scatter import dynamic_scatter, dynamic_voxelize

VOXEL = (0.05, 0.05, 0.1)
RANGE = (0.0, -40.0, -3.0, 70.4, 40.0, 1.0)
FULL = dict(boxes=1000, nms=1000, objects=60, points=120000, pib_boxes=30, channels=4,
            sample_pairs=3000, repeats=3)
TINY = dict(boxes=60, nms=80, objects=8, points=3000, pib_boxes=5, channels=4, sample_pairs=200,
            repeats=1)


def _time(fn, repeats):
    """((wall ms, cpu ms) of the best of ``repeats`` calls after a warm-up, result)."""
    result = fn()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if wall < best:
            best, best_cpu = wall, cpu
    return (best * 1000.0, best_cpu * 1000.0), result


def _boxes(rng, num, low, high):
    xy = rng.uniform(low, high, (num, 2))
    size = rng.uniform([0.6, 0.5, 1.4], [4.5, 2.0, 2.0], (num, 3))
    return np.column_stack([xy, rng.uniform(-2, -1, num), size, rng.uniform(-np.pi, np.pi, num)])


def _corners(r):
    c, s = np.cos(r[4]), np.sin(r[4])
    local = [(r[2] / 2, r[3] / 2), (-r[2] / 2, r[3] / 2), (-r[2] / 2, -r[3] / 2),
             (r[2] / 2, -r[3] / 2)]
    return [(r[0] + c * x - s * y, r[1] + s * x + c * y) for x, y in local]


def _clip_area(a, b):
    """Sutherland-Hodgman clip of rectangle a by rectangle b, shoelace area (pure Python)."""
    poly = _corners(a)
    clip = _corners(b)
    for k in range(4):
        (x1, y1), (x2, y2) = clip[k], clip[(k + 1) % 4]
        side = [((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) for px, py in poly]
        out = []
        for i in range(len(poly)):
            p, q, sp, sq = poly[i], poly[(i + 1) % len(poly)], side[i], side[(i + 1) % len(poly)]
            if sp >= 0:
                out.append(p)
            if (sp >= 0) != (sq >= 0):
                t = sp / (sp - sq)
                out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
        poly = out
        if not poly:
            return 0.0
    return 0.5 * abs(sum(poly[i][0] * poly[(i + 1) % len(poly)][1]
                         - poly[(i + 1) % len(poly)][0] * poly[i][1] for i in range(len(poly))))


def _naive_iou(a, b):
    inter = _clip_area(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _iou_row(name, boxes, cfg, rng):
    n = boxes.shape[0]
    (ours, ours_cpu), iou = _time(lambda: box_iou_bev(boxes, boxes), cfg["repeats"])
    rects = boxes[:, [0, 1, 3, 4, 6]]
    pairs = rng.integers(0, n, (cfg["sample_pairs"], 2))
    (naive, naive_cpu), ref = _time(lambda: [_naive_iou(rects[i], rects[j]) for i, j in pairs], 1)
    scale = n * n / len(pairs)
    agree = bool(np.allclose(iou[pairs[:, 0], pairs[:, 1]], ref, atol=1e-9))
    return dict(op=name, size=f"{n} x {n} boxes", ours_ms=ours, ours_cpu_ms=ours_cpu,
                naive_ms=naive * scale, naive_cpu_ms=naive_cpu * scale, agree=agree,
                note=f"naive est. from {len(pairs)} pairs")


def _naive_nms(rects, scores, thr):
    order = np.argsort(-scores, kind="stable")
    keep = []
    for i in order:
        if all(_naive_iou(rects[i], rects[k]) < thr for k in keep):
            keep.append(i)
    return np.asarray(keep)


def _nms_row(cfg, rng):
    centres = _boxes(rng, cfg["objects"], [0, -40], [70, 40])
    pick = rng.integers(0, cfg["objects"], cfg["nms"])
    boxes = centres[pick] + rng.normal(0, [0.3, 0.3, 0.05, 0.1, 0.05, 0.05, 0.1], (cfg["nms"], 7))
    scores = rng.random(cfg["nms"])
    (ours, ours_cpu), keep = _time(lambda: nms_bev(boxes, scores, 0.1), cfg["repeats"])
    rects = boxes[:, [0, 1, 3, 4, 6]]
    (naive, naive_cpu), ref = _time(lambda: _naive_nms(rects, scores, 0.1), 1)
    return dict(op="nms_bev", size=f"{cfg['nms']} boxes, thr 0.1", ours_ms=ours,
                ours_cpu_ms=ours_cpu, naive_ms=naive, naive_cpu_ms=naive_cpu,
                agree=bool(np.array_equal(keep, ref)), note=f"{len(keep)} kept")


def _scan(rng, num):
    r = rng.uniform(2, 75, num)
    phi = rng.uniform(-np.pi / 4, np.pi / 4, num)
    z = rng.uniform(-2.5, 0.8, num)
    xyzi = np.column_stack([r * np.cos(phi), r * np.sin(phi), z, rng.random(num)])
    return xyzi.astype(np.float32)


def _naive_pool(points, coords, reduce):
    keep = np.all(coords >= 0, axis=1)
    uniq, inverse = np.unique(coords[keep], axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    feats = points[keep]
    if reduce == "mean":
        out = np.zeros((len(uniq), feats.shape[1]))
        np.add.at(out, inverse, feats)
        out /= np.bincount(inverse)[:, None]
    else:
        out = np.full((len(uniq), feats.shape[1]), -np.inf)
        np.maximum.at(out, inverse, feats)
    return out.astype(np.float32), uniq


def _scatter_rows(cfg, rng):
    points = _scan(rng, cfg["points"])
    tensor = paddle.to_tensor(points)
    rows = []
    for reduce in ("mean", "max"):
        def ours():
            feats = paddle.to_tensor(points, stop_gradient=False)
            coords = dynamic_voxelize(tensor, VOXEL, RANGE)
            out, vox = dynamic_scatter(feats, coords, reduce)
            if reduce == "max":
                out.sum().backward()
            return out, vox
        (t, t_cpu), (out, vox) = _time(ours, cfg["repeats"])

        def naive():
            coords = np.floor((points[:, :3] - np.float32(RANGE[:3])) / np.float32(VOXEL))
            coords = coords.astype(np.int64)[:, ::-1]
            grid = np.array([40, 1600, 1408])
            coords[np.any((coords < 0) | (coords >= grid), axis=1)] = -1
            return _naive_pool(points, coords, reduce)
        (n, n_cpu), (ref, ref_vox) = _time(naive, 1)
        agree = bool(np.array_equal(vox.numpy(), ref_vox) and np.allclose(out.numpy(), ref,
                                                                            atol=1e-5))
        label = "+ backward" if reduce == "max" else "forward"
        rows.append(dict(op=f"dynamic voxelize+{reduce}", size=f"{cfg['points']} pts, {label}",
                         ours_ms=t, ours_cpu_ms=t_cpu, naive_ms=n, naive_cpu_ms=n_cpu,
                         agree=agree, note=f"{vox.shape[0]} voxels"))
    return rows


def _pib_row(cfg, rng):
    points = _scan(rng, cfg["points"])
    boxes = _boxes(rng, cfg["pib_boxes"], [5, -15], [40, 15])
    (t, t_cpu), got = _time(lambda: points_in_boxes(points, boxes), cfg["repeats"])

    def naive():
        out = np.zeros((len(points), len(boxes)), bool)
        for k, b in enumerate(boxes):  # one box at a time, float64
            d = points[:, :3].astype(np.float64) - b[:3]
            c, s = np.cos(b[6]), np.sin(b[6])
            out[:, k] = ((np.abs(d[:, 2] - b[5] / 2) <= b[5] / 2)
                         & (np.abs(d[:, 0] * c + d[:, 1] * s) < b[3] / 2)
                         & (np.abs(-d[:, 0] * s + d[:, 1] * c) < b[4] / 2))
        return out
    (n, n_cpu), ref = _time(naive, 1)
    # float32 vs float64 may differ for points within ~1e-6 m of a face
    agree = bool((got != ref).sum() <= 2)
    return dict(op="points_in_boxes", size=f"{cfg['points']} pts x {cfg['pib_boxes']} boxes",
                ours_ms=t, ours_cpu_ms=t_cpu, naive_ms=n, naive_cpu_ms=n_cpu, agree=agree,
                note=f"{int(got.any(axis=1).sum())} pts inside")


def run(cfg):
    rng = np.random.default_rng(0)
    n = cfg["boxes"]
    rows = [_iou_row("box_iou_bev (KITTI spread)", _boxes(rng, n, [0, -40], [70.4, 40]), cfg, rng),
            _iou_row("box_iou_bev (packed)", _boxes(rng, n, [0, 0], [12, 12]), cfg, rng)]
    packed = _boxes(rng, n, [0, 0], [12, 12])[:, [0, 1, 3, 4, 6]]
    (t64, _), i64 = _time(lambda: rect_iou(packed, packed), 1)
    (t32, c32), i32 = _time(lambda: rect_iou(packed, packed, dtype=np.float32), 1)
    rows.append(dict(op="rect_iou float32", size=f"{n} x {n} packed", ours_ms=t32,
                     ours_cpu_ms=c32, naive_ms=t64, naive_cpu_ms=t64,
                     agree=bool(np.abs(i64 - i32).max() < 1e-3),
                     note="'naive' = the float64 default"))
    rows.append(_nms_row(cfg, rng))
    rows += _scatter_rows(cfg, rng)
    rows.append(_pib_row(cfg, rng))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, runs in seconds")
    args = parser.parse_args(argv)
    paddle.set_device("cpu")
    load_before = os.getloadavg()
    rows = run(TINY if args.tiny else FULL)
    print(f"load average before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"{'op':27s} {'size':26s} {'ours ms':>9s} {'(cpu)':>8s} {'naive ms':>10s} "
          f"{'(cpu)':>9s} {'speedup':>8s}  agree  note")
    for row in rows:
        speedup = row["naive_ms"] / row["ours_ms"] if row["ours_ms"] > 0 else float("nan")
        print(f"{row['op']:27s} {row['size']:26s} {row['ours_ms']:9.1f} {row['ours_cpu_ms']:8.1f} "
              f"{row['naive_ms']:10.1f} {row['naive_cpu_ms']:9.1f} {speedup:8.1f}  "
              f"{str(row['agree']):5s}  {row['note']}")
    return rows


if __name__ == "__main__":
    main()
