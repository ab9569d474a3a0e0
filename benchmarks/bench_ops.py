"""Time paddlexseg.ops at realistic LiDAR sizes beside a naive NumPy/Python version.

Wall time is the best of a few calls; "(cpu)" is the process CPU time of that call, a better
guide to the idle figure when other jobs share the machine (it sums threads: Paddle kernels
may use several). Sizes (full run): a 64 x 2048 range image with 123k points (SemanticKITTI), 120k points
pooled into 65k voxels x 64 channels, PointRend refining 8192 points of a 19-class 64x2048
mask. Each line also checks that the op and the naive version agree.

    python benchmarks/bench_ops.py            # full sizes (about a minute on 2 cores)
    python benchmarks/bench_ops.py --tiny     # seconds, for CI
"""
import argparse
import time

import numpy as np
import paddle

from paddlexseg.ops.gather import gather, index_select
from paddlexseg.ops.knn import gaussian_kernel, knn_backproject
from paddlexseg.ops.scatter import scatter
from paddlexseg.ops.segment import scatter_max, scatter_mean, scatter_sum
from paddlexseg.ops.unique import unique_rows
from paddlexseg.ops.voxelize import hard_voxelize, points_to_voxel_coords

FULL = dict(points=123000, height=64, width=2048, voxels=65000, channels=64, classes=20,
            refine=8192, repeats=3)
TINY = dict(points=3000, height=16, width=128, voxels=1500, channels=8, classes=5,
            refine=256, repeats=1)


def _time(fn, repeats):
    """((wall ms, process CPU ms) of the best of ``repeats`` calls after a warm-up, result).

    On a machine shared with other jobs the CPU time is closer to the idle wall time.
    """
    result = fn()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if wall < best:
            best, best_cpu = wall, cpu
    return (best * 1000.0, best_cpu * 1000.0), result


def _naive_knn(proj_range, unproj_range, proj_argmax, px, py, classes, k=5, search=5):
    """RangeNet++'s KNN.forward written with NumPy: unfold the whole image, full sort."""
    height, width = proj_range.shape
    pad = search // 2
    padded_r, padded_a = np.pad(proj_range, pad), np.pad(proj_argmax, pad)
    wins = [(i, j) for i in range(search) for j in range(search)]
    unfold_r = np.stack([padded_r[i:i + height, j:j + width].ravel() for i, j in wins])
    unfold_a = np.stack([padded_a[i:i + height, j:j + width].ravel() for i, j in wins])
    idx = py * width + px
    ranges = unfold_r[:, idx]
    ranges[ranges < 0] = np.inf
    ranges[len(wins) // 2] = unproj_range
    dist = np.abs(ranges - unproj_range) * (1 - gaussian_kernel(search, 1.0)).reshape(-1, 1)
    nearest = np.argsort(dist, axis=0, kind="stable")[:k]
    votes = np.take_along_axis(unfold_a[:, idx], nearest, axis=0)
    votes[np.take_along_axis(dist, nearest, axis=0) > np.float32(1.0)] = classes
    onehot = np.zeros((classes + 1, len(px)))
    np.add.at(onehot, (votes, np.broadcast_to(np.arange(len(px)), votes.shape)), 1)
    return onehot[1:-1].argmax(axis=0) + 1


def _naive_hard_voxelize(points, voxel_size, pc_range, max_points, max_voxels):
    """mmcv's sequential CPU loop in Python; returns the per-voxel point counts."""
    grid = np.round((np.asarray(pc_range[3:]) - pc_range[:3]) / voxel_size).astype(int)
    coords = np.floor((points[:, :3] - np.float32(pc_range[:3])) / np.float32(voxel_size))
    table, counts = {}, []
    for c in coords.astype(int).tolist():
        if min(c) < 0 or c[0] >= grid[0] or c[1] >= grid[1] or c[2] >= grid[2]:
            continue
        key = tuple(c)
        if key not in table:
            if len(counts) >= max_voxels:
                continue
            table[key] = len(counts)
            counts.append(0)
        counts[table[key]] = min(counts[table[key]] + 1, max_points)
    return np.asarray(counts)


def _naive_scatter_max(src, index, size):
    values = np.full((size, src.shape[1]), -np.inf, src.dtype)
    np.maximum.at(values, index, src)
    hit = src == values[index]
    arg = np.full(values.shape, src.shape[0])
    np.minimum.at(arg, index, np.where(hit, np.arange(src.shape[0])[:, None], src.shape[0]))
    return np.where(np.isinf(values), 0, values), arg


def run(sizes):
    """Run every benchmark; return rows of dicts (op, size, ours_ms, naive_ms, agree)."""
    rng = np.random.default_rng(0)
    reps = sizes["repeats"]
    n, m, c = sizes["points"], sizes["voxels"], sizes["channels"]
    h, w, classes = sizes["height"], sizes["width"], sizes["classes"]
    rows = []

    def add(op, size, ours, naive, agree):
        rows.append(dict(op=op, size=size, ours_ms=ours[0], ours_cpu_ms=ours[1],
                         naive_ms=naive[0], naive_cpu_ms=naive[1], agree=bool(agree)))

    # PointRend refinement: scatter / gather along the last axis of [B, C, H*W]
    refined = rng.standard_normal((2, classes, h * w)).astype(np.float32)
    points = np.stack([rng.choice(h * w, sizes["refine"], replace=False) for _ in range(2)])
    idx = np.repeat(points[:, None, :], classes, axis=1)  # [B, C, P]
    logits = rng.standard_normal(idx.shape).astype(np.float32)
    rt, it, lt = paddle.to_tensor(refined), paddle.to_tensor(idx), paddle.to_tensor(logits)
    ours, out = _time(lambda: scatter(rt, 2, it, lt), reps)
    def naive_scatter():  # out of place, like ours
        copy = refined.copy()
        np.put_along_axis(copy, idx, logits, axis=2)
        return copy
    naive, ref = _time(naive_scatter, reps)
    add("scatter (PointRend)", f"2x{classes}x{h * w}, {sizes['refine']} pts", ours, naive,
        np.array_equal(out.numpy(), ref))
    ours, out = _time(lambda: gather(rt, 2, it), reps)
    naive, want = _time(lambda: np.take_along_axis(refined, idx, axis=2), reps)
    add("gather", f"2x{classes}x{h * w}", ours, naive, np.array_equal(out.numpy(), want))

    # point features -> voxel features
    feats = rng.standard_normal((n, c)).astype(np.float32)
    vox = rng.integers(0, m, n)
    ft, vt = paddle.to_tensor(feats), paddle.to_tensor(vox)
    ours, out = _time(lambda: index_select(ft, 0, vt[: m]), reps)
    naive, want = _time(lambda: feats[vox[:m]], reps)
    add("index_select", f"{n}x{c} -> {m}", ours, naive, np.array_equal(out.numpy(), want))
    label = f"{n}x{c} -> {m}"
    ours, out = _time(lambda: scatter_sum(ft, vt, dim=0, dim_size=m), reps)

    def naive_sum():
        total = np.zeros((m, c), np.float32)
        np.add.at(total, vox, feats)
        return total
    naive, want = _time(naive_sum, reps)
    add("scatter_sum", label, ours, naive, np.allclose(out.numpy(), want, atol=1e-4))
    ours, out = _time(lambda: scatter_mean(ft, vt, dim=0, dim_size=m), reps)
    count = np.maximum(np.bincount(vox, minlength=m), 1)[:, None]
    naive, want = _time(lambda: naive_sum() / count, reps)
    add("scatter_mean", label, ours, naive, np.allclose(out.numpy(), want, atol=1e-4))
    ours, (values, arg) = _time(lambda: scatter_max(ft, vt, dim=0, dim_size=m), reps)
    naive, (want_v, want_a) = _time(lambda: _naive_scatter_max(feats, vox, m), reps)
    add("scatter_max", label, ours, naive,
        np.array_equal(values.numpy(), want_v) and np.array_equal(arg.numpy(), want_a))
    ft_grad = paddle.to_tensor(feats, stop_gradient=False)

    def max_backward():
        ft_grad.clear_gradient()
        scatter_max(ft_grad, vt, dim=0, dim_size=m)[0].sum().backward()
        return ft_grad.grad
    ours, grad = _time(max_backward, reps)
    # every non-empty (voxel, channel) sends exactly one 1 back to its winner
    add("scatter_max fwd+bwd", label, ours, (float("nan"), float("nan")),
        grad.numpy().sum() == np.unique(vox).size * c)

    # range image and voxel grid of a scan
    scan = np.concatenate([rng.uniform([-50, -50, -3], [50, 50, 1], (n, 3)),
                           rng.random((n, 1))], axis=1).astype(np.float32)
    vsize, pc_range = (0.2, 0.2, 0.2), (-51.2, -51.2, -4.0, 51.2, 51.2, 2.4)
    ours, (coords, mask) = _time(lambda: points_to_voxel_coords(scan, vsize, pc_range), reps)
    add("points_to_voxel_coords", f"{n} pts", ours, (float("nan"), float("nan")), mask.any())
    batched = np.concatenate([np.zeros((int(mask.sum()), 1), np.int32), coords[mask]], axis=1)
    ours, (uniq, inverse, counts) = _time(lambda: unique_rows(batched), reps)
    naive, (want_u, want_i, want_c) = _time(
        lambda: np.unique(batched, axis=0, return_inverse=True, return_counts=True), reps)
    add("unique_rows", f"{batched.shape[0]}x4", ours, naive,
        np.array_equal(uniq, want_u) and np.array_equal(inverse, want_i.ravel()))
    ours, (_, _, num) = _time(lambda: hard_voxelize(scan, vsize, pc_range, 35, 20000), reps)
    naive, want = _time(lambda: _naive_hard_voxelize(scan, vsize, pc_range, 35, 20000), 1)
    add("hard_voxelize", f"{n} pts, 35 x 20000", ours, naive, np.array_equal(num, want))

    proj_range = rng.uniform(1, 60, (h, w)).astype(np.float32)
    proj_range[rng.random((h, w)) < 0.15] = -1.0
    proj_argmax = rng.integers(0, classes, (h, w))
    px, py = rng.integers(0, w, n), rng.integers(0, h, n)
    unproj = np.abs(np.where(proj_range[py, px] > 0, proj_range[py, px], 20.0)
                    + rng.normal(0, 0.5, n)).astype(np.float32)
    args = (proj_range, unproj, proj_argmax, px, py, classes)
    ours, labels = _time(lambda: knn_backproject(*args), reps)
    naive, want = _time(lambda: _naive_knn(*args), 1)
    add("knn_backproject", f"{h}x{w}, {n} pts", ours, naive, np.array_equal(labels, want))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, runs in seconds")
    args = parser.parse_args(argv)
    paddle.set_device("cpu")
    rows = run(TINY if args.tiny else FULL)
    print(f"{'op':22s} {'size':28s} {'ours ms':>8s} {'(cpu)':>7s} {'naive ms':>9s} "
          f"{'(cpu)':>7s} {'speedup':>7s}  agree")
    for row in rows:
        speedup = row["naive_ms"] / row["ours_ms"] if row["ours_ms"] > 0 else float("nan")
        print(f"{row['op']:22s} {row['size']:28s} {row['ours_ms']:8.1f} {row['ours_cpu_ms']:7.1f} "
              f"{row['naive_ms']:9.1f} {row['naive_cpu_ms']:7.1f} {speedup:7.1f}  {row['agree']}")
    return rows


if __name__ == "__main__":
    main()
