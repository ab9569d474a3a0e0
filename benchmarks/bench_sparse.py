"""Speed of paddlexseg.sparse against paddle.sparse on a LiDAR-like voxel set.

A simulated 64-beam scan (ground plane, cars/buildings as boxes, walls, poles) is voxelized
like 2DPASS/SemanticKITTI (range [-50, 50] x [-50, 50] x [-4, 2] m, 0.1 m voxels, grid
Z x Y x X = 60 x 1000 x 1000), so active voxels lie on surfaces, dense near the sensor and
sparse far away. Times (seconds, best and median of --repeats) for 64 -> 64 channels:

* rulebook building alone, a layer with a new rulebook, with a reused rulebook, and
  forward + backward, for SubMConv3d 3x3x3, SparseConv3d k3 s2 p1 and k2 s2, and the
  SparseInverseConv3d of k3 s2;
* paddle.sparse (coalesced input; unsorted input is 2-4x slower there) on crops (the voxels
  nearest the sensor) where it finishes in seconds, with ours timed on the same crop: its CPU
  rulebook grows about quadratically (SubmConv3D with a new rulebook took 745 s at 55.8k
  voxels of this scene; stride-2 Conv3D 5.9 s on a 16k random subsample).

Usage::

    python benchmarks/bench_sparse.py            # full size (about a minute)
    python benchmarks/bench_sparse.py --tiny     # seconds, for CI
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import paddle

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paddlexseg.sparse import (SparseConv3d, SparseInverseConv3d, SparseTensor,  # noqa: E402
                               SubMConv3d, get_conv_rulebook, get_subm_rulebook, set_backend)
from paddlexseg.sparse.execute import DEFAULT_WORKERS  # noqa: E402

GRID = (60, 1000, 1000)                       # Z, Y, X voxels
LOWER = np.array([-50.0, -50.0, -4.0])        # x, y, z of the grid corner (m)
VOXEL = 0.1                                   # m


def _ray_box(origin, inv_dir, lo, hi):
    """Entry distance of rays into an axis-aligned box (inf where missed)."""
    with np.errstate(invalid="ignore"):
        t1, t2 = (lo - origin) * inv_dir, (hi - origin) * inv_dir
        near = np.nanmax(np.minimum(t1, t2), axis=1)
        far = np.nanmin(np.maximum(t1, t2), axis=1)
    return np.where((far >= near) & (near > 0), near, np.inf)


def lidar_voxels(num_voxels, seed=0, beams=64, azimuths=2048):
    """Unique (z, y, x) voxels [M, 3] of a simulated scan; M <= num_voxels (farthest dropped).

    Rays of a spinning LiDAR 1.73 m above a ground plane hit boxes (cars, buildings), two
    street walls and poles; hits get 2 cm noise and are voxelized on GRID.
    """
    rng = np.random.default_rng(seed)
    elev = np.deg2rad(np.linspace(2.0, -24.8, beams))[:, None]
    az = np.linspace(-np.pi, np.pi, azimuths, endpoint=False)[None, :]
    dirs = np.stack(np.broadcast_arrays(np.cos(elev) * np.cos(az), np.cos(elev) * np.sin(az),
                                        np.sin(elev)), -1).reshape(-1, 3)       # [R, 3]
    origin = np.array([0.0, 0.0, 0.0])
    with np.errstate(divide="ignore"):
        inv_dir = 1.0 / dirs
        t = np.where(dirs[:, 2] < 0, -1.73 * inv_dir[:, 2], np.inf)           # ground z=-1.73
    centres = rng.uniform(-45, 45, (60, 2))
    centres = centres[np.linalg.norm(centres, axis=1) > 4]
    for (cx, cy), kind in zip(centres, rng.random(len(centres))):
        half = ((2.2, 0.9, 1.5) if kind < 0.6 else (0.15, 0.15, 4.0) if kind < 0.8
                else (6.0, 5.0, 6.0))                                         # car/pole/building
        lo = np.array([cx - half[0], cy - half[1], -1.73])
        hi = np.array([cx + half[0], cy + half[1], -1.73 + half[2]])
        t = np.minimum(t, _ray_box(origin, inv_dir, lo, hi))
    for wall_y in (-11.0, 14.0):                                               # street walls
        t = np.minimum(t, _ray_box(origin, inv_dir, np.array([-60, wall_y, -1.73]),
                                   np.array([60, wall_y + 0.3, 4.0])))
    hit = np.isfinite(t) & (t < 80)
    points = dirs[hit] * (t[hit] + rng.normal(0, 0.02, hit.sum()))[:, None]
    zyx = np.floor((points - LOWER) / VOXEL).astype(np.int64)[:, ::-1]
    zyx = np.unique(zyx[np.all((zyx >= 0) & (zyx < np.array(GRID)), axis=1)], axis=0)
    dist = np.abs(zyx[:, 1:] - np.array(GRID[1:]) // 2).max(axis=1)
    return zyx[np.argsort(dist, kind="stable")[:num_voxels]]


def scene_coords(num_voxels, seed=0, tiny=False):
    """int64 [N, 4] (batch 0, z, y, x) rows in voxelization (x, y, z) order, like 2DPASS."""
    if tiny:
        zyx = lidar_voxels(num_voxels, seed, beams=16, azimuths=512)
    else:                                   # more firings per turn until there are enough
        azimuths = 2048
        zyx = lidar_voxels(num_voxels, seed, azimuths=azimuths)
        while len(zyx) < num_voxels and azimuths < 2048 * 16:
            azimuths = int(azimuths * 1.25)
            zyx = lidar_voxels(num_voxels, seed, azimuths=azimuths)
    zyx = zyx[np.lexsort((zyx[:, 0], zyx[:, 1], zyx[:, 2]))]      # sorted by x, y, z
    return np.concatenate([np.zeros((len(zyx), 1), np.int64), zyx], axis=1)


def crop(coords, n):
    """The n voxels nearest the grid centre (Chebyshev in x, y): a dense compact subset."""
    dist = np.abs(coords[:, 2:] - np.array(GRID[1:]) // 2).max(axis=1)
    return coords[np.sort(np.argsort(dist, kind="stable")[:n])]


def timed(fn, repeats, warmup=1):
    """(best, median) seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    print(f"  measured in {sum(times):.2f} s", file=sys.stderr, flush=True)
    return min(times), float(np.median(times))


def ours(coords, channels, repeats):
    """{row name: (best, median)} for our layers on coords [N, 4]."""
    rng = np.random.default_rng(1)
    feats = paddle.to_tensor(rng.standard_normal((len(coords), channels)).astype("float32"),
                             stop_gradient=False)
    coords_t = paddle.to_tensor(coords)

    def fresh():
        return SparseTensor(feats, coords_t, GRID, 1)

    subm = SubMConv3d(channels, channels, 3)
    down = SparseConv3d(channels, channels, 3, stride=2, padding=1, indice_key="down")
    down2 = SparseConv3d(channels, channels, 2, stride=2)
    up = SparseInverseConv3d(channels, channels, 3, indice_key="down")
    reused = fresh()
    subm(reused)
    low = down(fresh())            # its own graph is not re-run: a second backward through a
    low = low.replace_feature(low.feats.detach())    # PyLayer segfaults in Paddle 3.3.1
    low.feats.stop_gradient = False

    def fwd_bwd(layer, make):
        return lambda: layer(make()).feats.sum().backward()

    rows = {
        "subm3 rulebook": timed(lambda: get_subm_rulebook(fresh(), 3), repeats),
        "subm3 fwd, new rulebook": timed(lambda: subm(fresh()), repeats),
        "subm3 fwd, reused rulebook": timed(lambda: subm(reused), repeats),
        "subm3 fwd+bwd, reused": timed(fwd_bwd(subm, lambda: reused), repeats),
        "subm3 fwd+bwd, new rulebook": timed(fwd_bwd(subm, fresh), repeats),
        "k3s2 rulebook": timed(lambda: get_conv_rulebook(fresh(), 3, 2, 1), repeats),
        "k3s2 fwd, new rulebook": timed(lambda: down(fresh()), repeats),
        "k3s2 fwd+bwd, new rulebook": timed(fwd_bwd(down, fresh), repeats),
        "k2s2 fwd+bwd, new rulebook": timed(fwd_bwd(down2, fresh), repeats),
        "inverse k3s2 fwd+bwd": timed(fwd_bwd(up, lambda: low), repeats),
    }
    rb = get_subm_rulebook(reused, 3)
    info = {"pairs per voxel (subm3)": rb.num_pairs / max(len(coords), 1),
            "k3s2 output voxels": low.num_points}
    return rows, info


def paddle_sparse(coords, channels, repeats, strided):
    """{row name: (best, median)} for paddle.sparse on coalesced coords [N, 4]."""
    import paddle.sparse.nn as spnn
    coords = coords[np.lexsort(coords.T[::-1])]          # coalesced: sorted by (b, z, y, x)
    rng = np.random.default_rng(1)
    values = paddle.to_tensor(rng.standard_normal((len(coords), channels)).astype("float32"),
                              stop_gradient=False)

    def make():
        return paddle.sparse.sparse_coo_tensor(paddle.to_tensor(coords.T), values,
                                               shape=[1, *GRID, channels], stop_gradient=False)
    if strided:
        conv = spnn.Conv3D(channels, channels, 3, stride=2, padding=1, bias_attr=False)
        return {"k3s2 fwd, new rulebook": timed(lambda: conv(make()), 1, warmup=0),
                "k3s2 fwd+bwd, new rulebook": timed(lambda: conv(make()).values().sum()
                                                    .backward(), 1, warmup=0)}
    conv = spnn.SubmConv3D(channels, channels, 3, padding=1, bias_attr=False, key="subm")
    conv_keyed = spnn.SubmConv3D(channels, channels, 3, padding=1, bias_attr=False, key="subm")
    x = make()
    new = timed(lambda: conv(make()), 1, warmup=0)
    with paddle.no_grad():                # a leaf carrying the rulebook under key "subm"
        first = conv(x)
    first.stop_gradient = False
    return {"subm3 fwd, new rulebook": new,
            "subm3 fwd, reused rulebook": timed(lambda: conv_keyed(first), repeats),
            "subm3 fwd+bwd, reused": timed(lambda: conv_keyed(first).values().sum()
                                           .backward(), repeats)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes for CI (seconds)")
    parser.add_argument("--voxels", type=int, default=60000)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="Paddle CPU math threads")
    parser.add_argument("--backend", default="auto", choices=["auto", "paddle", "numpy"])
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="threads of the NumPy backend")
    parser.add_argument("--ref-subm-voxels", type=int, default=8000,
                        help="paddle.sparse SubmConv3D crop size (0 skips)")
    parser.add_argument("--ref-conv-voxels", type=int, default=16000,
                        help="paddle.sparse stride-2 Conv3D crop size (0 skips)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.voxels, args.channels, args.repeats = 3000, 16, 1
        args.ref_subm_voxels, args.ref_conv_voxels = 1500, 800
    paddle.base.core.set_num_threads(args.threads)
    set_backend(args.backend, workers=args.workers)

    coords = scene_coords(args.voxels, tiny=args.tiny)
    n = len(coords)
    print(f"scene: {n} voxels on a {GRID[0]}x{GRID[1]}x{GRID[2]} grid, {args.channels} -> "
          f"{args.channels} channels, {args.threads} Paddle threads, backend {args.backend} "
          f"({args.workers} NumPy workers), best (median) of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows, info = ours(coords, args.channels, args.repeats)
    table = [{"layer": name, "voxels": n, "ours": t, "ref": None} for name, t in rows.items()]
    for size, strided in ((args.ref_subm_voxels, False), (args.ref_conv_voxels, True)):
        if not size:
            continue
        sub = crop(coords, min(size, n))
        ref = paddle_sparse(sub, args.channels, args.repeats, strided)
        if len(sub) == n:                        # same size: put the figures side by side
            for row in table:
                row["ref"] = ref.get(row["layer"], row["ref"])
        else:                                    # a crop: time ours on it too
            mine, _ = ours(sub, args.channels, args.repeats)
            table += [{"layer": name, "voxels": len(sub), "ours": mine[name], "ref": t}
                      for name, t in ref.items()]

    def fmt(t):
        return "-" if t is None else f"{t[0]:.3f} ({t[1]:.3f})"
    print(f"\n| {'layer':<28} | {'voxels':>7} | {'ours [s]':>15} | {'paddle.sparse [s]':>17} |")
    print(f"|{'-' * 30}|{'-' * 9}:|{'-' * 17}:|{'-' * 19}:|")
    for row in table:
        print(f"| {row['layer']:<28} | {row['voxels']:>7} | {fmt(row['ours']):>15} | "
              f"{fmt(row['ref']):>17} |")
    print("".join(f"\n{k}: {v:.2f}" if isinstance(v, float) else f"\n{k}: {v}"
                  for k, v in info.items()))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return table, info


if __name__ == "__main__":
    main()
