"""Point -> voxel coordinates, unique voxels and mmdet3d's hard voxelization.

Conventions (shared with ``paddlexseg.sparse``): voxel coordinates are ``(z, y, x)`` int32
columns, with a leading batch column ``(batch, z, y, x)`` once scans are batched; the grid of
a ``point_cloud_range = (x0, y0, z0, x1, y1, z1)`` and ``voxel_size = (vx, vy, vz)`` has
``round((x1 - x0) / vx)`` cells along x (mmdet3d's rule), listed as ``(D, H, W)`` = (z, y, x).
Coordinates are computed in the points' dtype (float32), ``floor((p - p0) / size)``, exactly as
mmcv's voxelization kernels do.
"""
import numpy as np
import paddle

from paddlexseg.ops._common import is_paddle, like, to_numpy
from paddlexseg.ops.unique import encode_coords, unique_rows

__all__ = ["voxel_grid_shape", "points_to_voxel_coords", "points_to_multiscale_voxel_coords",
           "voxelize_unique", "hard_voxelize"]


def _grid_args(voxel_size, point_cloud_range, op):
    voxel_size = [float(v) for v in voxel_size]
    point_cloud_range = [float(v) for v in point_cloud_range]
    if len(voxel_size) != 3 or len(point_cloud_range) != 6:
        raise ValueError(f"{op}: voxel_size must have 3 values (x, y, z) and "
                         f"point_cloud_range 6 (x0, y0, z0, x1, y1, z1), got {voxel_size} "
                         f"and {point_cloud_range}")
    if any(v <= 0 for v in voxel_size):
        raise ValueError(f"{op}: voxel_size must be positive, got {voxel_size}")
    if any(point_cloud_range[i + 3] <= point_cloud_range[i] for i in range(3)):
        raise ValueError(f"{op}: point_cloud_range {point_cloud_range} must have x1 > x0, "
                         f"y1 > y0 and z1 > z0")
    return voxel_size, point_cloud_range


def voxel_grid_shape(voxel_size, point_cloud_range, scale=1):
    """Grid size ``(D, H, W)`` (z, y, x) at ``scale``: ``ceil(round(extent / size) / scale)``."""
    voxel_size, pc_range = _grid_args(voxel_size, point_cloud_range, "voxel_grid_shape")
    xyz = [int(round((pc_range[i + 3] - pc_range[i]) / voxel_size[i])) for i in range(3)]
    return tuple(-(-n // int(scale)) for n in xyz[::-1])


def _base_coords(points, voxel_size, pc_range, op):
    """floor((p - p0) / size) as int64 [N, 3] in (x, y, z) order, and the in-grid mask."""
    grid_xyz = voxel_grid_shape(voxel_size, pc_range)[::-1]
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"{op}: points must be [N, >=3] (x, y, z, ...), got {list(points.shape)}")
    if is_paddle(points):
        xyz = points[:, :3]
        low = paddle.to_tensor(pc_range[:3], dtype=xyz.dtype, place=xyz.place)
        size = paddle.to_tensor(voxel_size, dtype=xyz.dtype, place=xyz.place)
        grid = paddle.to_tensor(grid_xyz, dtype="int64", place=xyz.place)
        coords = paddle.floor((xyz - low) / size).astype("int64")
        mask = paddle.logical_and(coords >= 0, coords < grid).all(axis=1)
        return coords, mask
    points = np.asarray(points)
    xyz = points[:, :3]
    dtype = xyz.dtype if np.issubdtype(xyz.dtype, np.floating) else np.float32
    coords = np.floor((xyz.astype(dtype, copy=False) - np.asarray(pc_range[:3], dtype))
                      / np.asarray(voxel_size, dtype)).astype(np.int64)
    mask = np.all((coords >= 0) & (coords < np.asarray(grid_xyz)), axis=1)
    return coords, mask


def _finish(coords_xyz, mask, scale):
    """Scale, reorder to (z, y, x), int32, -1 rows for points outside the grid."""
    if is_paddle(coords_xyz):
        scaled = paddle.floor_divide(coords_xyz, paddle.full([1], int(scale), "int64"))
        zyx = paddle.flip(scaled, axis=[1])
        zyx = paddle.where(mask.unsqueeze(1), zyx, paddle.full_like(zyx, -1))
        return zyx.astype("int32")
    zyx = (coords_xyz // int(scale))[:, ::-1]
    return np.where(mask[:, None], zyx, -1).astype(np.int32)


def points_to_voxel_coords(points, voxel_size, point_cloud_range, scale=1):
    """Voxel coordinates of points, as mmdet3d's dynamic voxelization computes them.

    At ``scale`` s the voxel is ``s`` base voxels wide and the coordinate is
    ``floor(base / s)``, so coarser grids nest exactly in finer ones (2DPASS instead divides the
    range into ``ceil(cells / s)`` parts; both agree when ``s`` divides the cell count).

    Args:
        points: float [N, >=3] (x, y, z, ...) NumPy array or paddle Tensor.
        voxel_size: base voxel size (vx, vy, vz).
        point_cloud_range: (x0, y0, z0, x1, y1, z1); points outside are masked out.
        scale: positive int multiple of the base voxel.

    Returns:
        (coords int32 [N, 3] in (z, y, x) order, -1 rows for masked points;
        mask bool [N], True where the point lies in the grid), same kind as ``points``.
    """
    op = "points_to_voxel_coords"
    voxel_size, pc_range = _grid_args(voxel_size, point_cloud_range, op)
    if int(scale) != scale or scale < 1:
        raise ValueError(f"{op}: scale must be a positive int, got {scale}")
    coords, mask = _base_coords(points, voxel_size, pc_range, op)
    return _finish(coords, mask, scale), mask


def points_to_multiscale_voxel_coords(points, voxel_size, point_cloud_range,
                                      scales=(1, 2, 4, 8)):
    """:func:`points_to_voxel_coords` at several scales from one pass over the points.

    Returns:
        (list of int32 [N, 3] (z, y, x) coords, one per scale; bool [N] mask shared by all
        scales, since a point inside the base grid is inside every coarser one).
    """
    op = "points_to_multiscale_voxel_coords"
    voxel_size, pc_range = _grid_args(voxel_size, point_cloud_range, op)
    if not scales or any(int(s) != s or s < 1 for s in scales):
        raise ValueError(f"{op}: scales must be positive ints, got {scales}")
    coords, mask = _base_coords(points, voxel_size, pc_range, op)
    return [_finish(coords, mask, s) for s in scales], mask


def voxelize_unique(coords_with_batch):
    """Unique voxels of batched point coordinates and each point's voxel.

    Mirrors ``torch.unique(coords, dim=0, return_inverse=True)`` as the sparse models use it.

    Args:
        coords_with_batch: int [N, 4] (batch, z, y, x) rows (NumPy or paddle), e.g. the
            in-range rows of :func:`points_to_voxel_coords` with a batch column prepended.

    Returns:
        (voxel coords [M, 4] sorted lexicographically (batch, z, y, x), same dtype;
        inverse int64 [N] point -> voxel row), same kind as the input.
    """
    if coords_with_batch.ndim != 2 or coords_with_batch.shape[1] != 4:
        raise ValueError("voxelize_unique: coords_with_batch must be [N, 4] (batch, z, y, x), "
                         f"got {list(coords_with_batch.shape)}")
    voxels, inverse, _ = unique_rows(coords_with_batch)
    return voxels, inverse


def hard_voxelize(points, voxel_size, point_cloud_range, max_points=35, max_voxels=20000):
    """mmcv/mmdet3d ``Voxelization(max_num_points, max_voxels)`` (hard voxelization).

    Semantics of mmcv's CPU kernel: points are visited in order; points outside the grid are
    skipped; voxels are numbered in order of their first point; once ``max_voxels`` voxels
    exist, points of new voxels are dropped; each voxel keeps its first ``max_points`` points.
    ``-1`` for either limit means unlimited. This is a pre-processing op (NumPy inside, no
    gradient).

    Args:
        points: float [N, C] (x, y, z, features...) NumPy array or paddle Tensor.
        voxel_size: (vx, vy, vz).
        point_cloud_range: (x0, y0, z0, x1, y1, z1).
        max_points: points kept per voxel.
        max_voxels: voxels kept.

    Returns:
        (voxels [M, max_points, C] points' dtype, zero-padded; coords int32 [M, 3] (z, y, x);
        num_points int32 [M]), same kind as ``points``.
    """
    op = "hard_voxelize"
    voxel_size, pc_range = _grid_args(voxel_size, point_cloud_range, op)
    pts = to_numpy(points, "points", op)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"{op}: points must be [N, >=3] (x, y, z, ...), got {list(pts.shape)}")
    for name, value in (("max_points", max_points), ("max_voxels", max_voxels)):
        if int(value) != value or (value < 1 and value != -1):
            raise ValueError(f"{op}: {name} must be a positive int or -1, got {value}")
    coords_xyz, mask = _base_coords(pts, voxel_size, pc_range, op)
    valid = np.flatnonzero(mask)  # [V] kept in input order
    zyx = np.take(coords_xyz, valid, axis=0)[:, ::-1]
    grid = voxel_grid_shape(voxel_size, pc_range)
    first, inverse, _ = _first_occurrence(encode_coords(zyx, grid, check=False))
    rank = np.empty(first.shape[0], dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.shape[0])
    voxel_id = rank[inverse]  # [V] voxel number in order of first appearance
    num_voxels = first.shape[0] if max_voxels == -1 else min(first.shape[0], int(max_voxels))
    keep = voxel_id < num_voxels
    valid, voxel_id = valid[keep], voxel_id[keep]
    order = np.argsort(voxel_id, kind="stable")  # points grouped by voxel, input order inside
    grouped = voxel_id[order]
    slot = np.arange(grouped.shape[0]) - np.searchsorted(grouped, grouped, side="left")
    counts = np.bincount(voxel_id, minlength=num_voxels)
    width = int(counts.max(initial=0)) if max_points == -1 else int(max_points)
    fits = slot < width
    voxels = np.zeros((num_voxels, width, pts.shape[1]), dtype=pts.dtype)
    voxels[grouped[fits], slot[fits]] = np.take(pts, valid[order[fits]], axis=0)
    first_points = np.sort(first)[:num_voxels]  # [M] first point (valid row) of each voxel
    coords = np.take(zyx, first_points, axis=0).astype(np.int32)
    num_points = np.minimum(counts, width).astype(np.int32)
    return like(voxels, points), like(coords, points), like(num_points, points)


def _first_occurrence(keys):
    """Unique keys' first positions (ascending key order), inverse and counts."""
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                          return_counts=True)
    return first, inverse.reshape(-1), counts
