"""Voxel coordinates and hard voxelization against mmcv's sequential CPU algorithm."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.voxelize import (hard_voxelize, points_to_multiscale_voxel_coords,
                                     points_to_voxel_coords, voxel_grid_shape, voxelize_unique)

VOXEL = (1.0, 1.0, 0.5)
RANGE = (0.0, -2.0, -1.0, 8.0, 6.0, 2.0)  # grid (x, y, z) = (8, 8, 6)


def _mmcv_hard_voxelize(points, voxel_size, pc_range, max_points, max_voxels):
    """Point-by-point loop of mmcv's hard_voxelize_kernel (CPU)."""
    grid = [int(round((pc_range[i + 3] - pc_range[i]) / voxel_size[i])) for i in range(3)]
    low = np.asarray(pc_range[:3], np.float32)
    size = np.asarray(voxel_size, np.float32)
    table, voxels, coords = {}, [], []
    for point in points:
        c = np.floor((point[:3] - low) / size).astype(np.int64)
        if np.any(c < 0) or np.any(c >= grid):
            continue
        key = (int(c[2]), int(c[1]), int(c[0]))
        if key not in table:
            if max_voxels != -1 and len(voxels) >= max_voxels:
                continue
            table[key] = len(voxels)
            voxels.append([])
            coords.append(key)
        if max_points == -1 or len(voxels[table[key]]) < max_points:
            voxels[table[key]].append(point)
    return voxels, np.asarray(coords, np.int32).reshape(-1, 3)


def _points(num, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-1, -3, -1.5], [9, 7, 2.5], (num, 3))  # some outside the range
    return np.concatenate([xyz, rng.random((num, 1))], axis=1).astype(np.float32)


def test_grid_shape_and_coords():
    assert voxel_grid_shape(VOXEL, RANGE) == (6, 8, 8)
    assert voxel_grid_shape(VOXEL, RANGE, scale=3) == (2, 3, 3)
    points = np.array([[0.0, -2.0, -1.0, 0], [7.99, 5.99, 1.99, 0], [8.0, 0, 0, 0],
                       [3.5, 0.2, 0.6, 0], [-0.01, 0, 0, 0]], np.float32)
    coords, mask = points_to_voxel_coords(points, VOXEL, RANGE)
    np.testing.assert_array_equal(mask, [True, True, False, True, False])
    np.testing.assert_array_equal(coords, [[0, 0, 0], [5, 7, 7], [-1, -1, -1], [3, 2, 3],
                                           [-1, -1, -1]])
    assert coords.dtype == np.int32


@pytest.mark.parametrize("as_tensor", [False, True])
def test_coords_match_mmcv_formula_and_scales_nest(as_tensor):
    points = _points(500)
    data = paddle.to_tensor(points) if as_tensor else points
    scales = (1, 2, 4)
    multi, mask = points_to_multiscale_voxel_coords(data, VOXEL, RANGE, scales=scales)
    multi = [m.numpy() if as_tensor else m for m in multi]
    mask = mask.numpy() if as_tensor else mask
    xyz = np.floor((points[:, :3] - np.float32(RANGE[:3])) / np.float32(VOXEL)).astype(int)
    inside = np.all((xyz >= 0) & (xyz < [8, 8, 6]), axis=1)
    np.testing.assert_array_equal(mask, inside)
    for scale, coords in zip(scales, multi):
        np.testing.assert_array_equal(coords[inside], xyz[inside][:, ::-1] // scale)
        assert np.all(coords[~inside] == -1)
        assert np.all(coords[inside] < np.array(voxel_grid_shape(VOXEL, RANGE, scale)))
        single, _ = points_to_voxel_coords(data, VOXEL, RANGE, scale=scale)
        np.testing.assert_array_equal(single.numpy() if as_tensor else single, coords)


@pytest.mark.parametrize("max_points,max_voxels", [(35, 20000), (3, 40), (1, 5), (-1, -1)])
def test_hard_voxelize_matches_mmcv_loop(max_points, max_voxels):
    points = _points(400)
    voxels, coords, num = hard_voxelize(points, VOXEL, RANGE, max_points, max_voxels)
    ref_voxels, ref_coords = _mmcv_hard_voxelize(points, VOXEL, RANGE, max_points, max_voxels)
    np.testing.assert_array_equal(coords, ref_coords)  # order of first appearance
    np.testing.assert_array_equal(num, [len(v) for v in ref_voxels])
    for i, ref in enumerate(ref_voxels):
        np.testing.assert_array_equal(voxels[i, :num[i]], np.asarray(ref))
        assert not voxels[i, num[i]:].any()  # zero padding
    assert voxels.dtype == np.float32 and coords.dtype == np.int32 and num.dtype == np.int32
    if max_points != -1:
        assert voxels.shape[1:] == (max_points, 4)


def test_hard_voxelize_tensor_and_empty_inputs():
    points = _points(50, seed=1)
    voxels, coords, num = hard_voxelize(paddle.to_tensor(points), VOXEL, RANGE, 5, 100)
    ref = hard_voxelize(points, VOXEL, RANGE, 5, 100)
    assert isinstance(voxels, paddle.Tensor)
    for got, want in zip((voxels, coords, num), ref):
        np.testing.assert_array_equal(got.numpy(), want)
    outside = np.full((4, 4), 100.0, np.float32)
    voxels, coords, num = hard_voxelize(outside, VOXEL, RANGE, 5, 100)
    assert voxels.shape == (0, 5, 4) and coords.shape == (0, 3) and num.shape == (0,)
    with pytest.raises(ValueError, match="max_points"):
        hard_voxelize(points, VOXEL, RANGE, 0, 100)
    with pytest.raises(ValueError, match="point_cloud_range"):
        hard_voxelize(points, VOXEL, (0, 0, 0, 1, 1), 5, 100)


def test_voxelize_unique_batched():
    rng = np.random.default_rng(3)
    coords = np.concatenate([rng.integers(0, 2, (80, 1)), rng.integers(0, 3, (80, 3))], axis=1)
    for data in (coords.astype(np.int32), paddle.to_tensor(coords.astype(np.int32))):
        voxels, inverse = voxelize_unique(data)
        voxels = voxels.numpy() if isinstance(voxels, paddle.Tensor) else voxels
        inverse = inverse.numpy() if isinstance(inverse, paddle.Tensor) else inverse
        np.testing.assert_array_equal(voxels, np.unique(coords, axis=0))
        np.testing.assert_array_equal(voxels[inverse], coords)
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        voxelize_unique(coords[:, :3])
