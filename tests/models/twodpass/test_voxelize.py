import math

import numpy as np
import paddle

from paddlexseg.models.twodpass.voxelize import multi_scale_voxelize, voxel_3d_generator

RANGE = ((-10.0, 10.0), (-10.0, 10.0), (-2.0, 1.0))
SHAPE = (100, 100, 15)


def _cloud(n=500, seed=0):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-10, -10, -2], [10, 10, 1], (n, 3)).astype(np.float32)
    xyz[:5] = [[-12, 0, 0], [12, 0, 0], [0, 0, -3], [0, 0, 5], [9.999, 9.999, 0.999]]
    batch = np.repeat([0, 1], [n // 2, n - n // 2])
    return xyz, batch


def test_voxel_indices_match_numpy():
    xyz, batch = _cloud()
    vox = multi_scale_voxelize(paddle.to_tensor(xyz), paddle.to_tensor(batch), 2, RANGE, SHAPE,
                               [2, 4, 8, 16, 1])
    assert sorted(vox) == [1, 2, 4, 8, 16]
    lo = np.array([r[0] for r in RANGE])
    span = np.array([r[1] - r[0] for r in RANGE])
    for scale, v in vox.items():
        grid = np.array([math.ceil(s / scale) for s in SHAPE])
        assert v.grid == tuple(grid) and v.spatial_shape == tuple(grid[::-1])
        idx = np.clip(np.floor((xyz - lo) / span * grid), 0, grid - 1).astype(np.int64)
        full = np.concatenate([batch[:, None], idx], 1)
        assert np.array_equal(v.full_coors.numpy(), full)
        uniq, inv = np.unique(full, axis=0, return_inverse=True)
        assert np.array_equal(v.coors_inv.numpy(), inv.reshape(-1))        # sorted (b, x, y, z)
        assert np.array_equal(v.coors.numpy(), uniq[:, [0, 3, 2, 1]])       # (b, z, y, x)


def test_voxel_generator_features():
    xyz, batch = _cloud(200, seed=1)
    pts = np.concatenate([xyz, np.full((200, 1), 0.5, np.float32)], 1)
    vox = multi_scale_voxelize(paddle.to_tensor(xyz), paddle.to_tensor(batch), 2, RANGE, SHAPE,
                               [1])
    gen = voxel_3d_generator(4, 8, RANGE, SHAPE)
    v1 = vox[1]
    feats = gen.prepare_input(paddle.to_tensor(pts), v1.full_coors[:, 1:], v1.coors_inv,
                              v1.num_voxels).numpy()
    assert feats.shape == (200, 10)
    inv = v1.coors_inv.numpy()
    means = np.stack([xyz[inv == i].mean(0) for i in range(v1.num_voxels)])
    assert np.allclose(feats[:, 4:7], xyz - means[inv], atol=1e-5)
    corner = v1.full_coors.numpy()[:, 1:] * 0.2 + [-10, -10, -2]
    assert np.allclose(feats[:, 7:10], xyz - corner, atol=1e-5)
    sparse = gen(paddle.to_tensor(pts), v1, 2)
    assert sparse.feats.shape == [v1.num_voxels, 8] and sparse.spatial_shape == (15, 100, 100)
    sparse.validate()
