"""Multi-scale voxelization and the point-to-voxel input layer of 2DPASS's 3D branch.

``network/voxel_fea_generator.py`` of yanx27/2DPASS: :func:`multi_scale_voxelize` is
``voxelization`` (for every scale ``s`` of ``scale_list + [1]``: the grid index of each point on
a ``ceil(spatial_shape / s)`` grid over the volume, the unique (batch, x, y, z) voxels, and the
voxel row of each point); :class:`voxel_3d_generator` keeps its name and sublayer ``PPmodel``:
per point ``(x, y, z, intensity, xyz - voxel mean, xyz - voxel corner)`` (10 channels for
4 inputs) through a 2-layer MLP, mean-pooled into the finest voxels.

torch_scatter's ``scatter_mean`` and ``torch.unique(rows, dim=0)`` are
:func:`paddlexseg.ops.scatter_mean` and :func:`paddlexseg.ops.unique_rows` (which sorts the
voxels in the same (batch, x, y, z) order).
"""
import math
from dataclasses import dataclass

import paddle
from paddle import nn

from ...ops import scatter_mean, unique_rows
from ...sparse import SparseTensor

__all__ = ["VoxelScale", "multi_scale_voxelize", "voxel_3d_generator"]


@dataclass
class VoxelScale:
    """The voxels of one scale (the original ``data_dict['scale_{s}']``).

    Attributes:
        full_coors: int64 [N, 4] (batch, x, y, z) voxel of every point.
        coors: int64 [V, 4] (batch, z, y, x) unique voxels (spconv order).
        coors_inv: int64 [N] voxel row of every point.
        grid: (X, Y, Z) grid size of this scale.
    """
    full_coors: paddle.Tensor
    coors: paddle.Tensor
    coors_inv: paddle.Tensor
    grid: tuple

    @property
    def num_voxels(self):
        return int(self.coors.shape[0])

    @property
    def spatial_shape(self):
        """(Z, Y, X), the SparseTensor order."""
        return tuple(self.grid[::-1])


def multi_scale_voxelize(xyz, batch_idx, batch_size, coors_range, spatial_shape, scales):
    """Voxel indices of the points at every scale (no gradient).

    Args:
        xyz: float [N, 3]. batch_idx: int64 [N]. batch_size: B.
        coors_range: ((xmin, xmax), (ymin, ymax), (zmin, zmax)).
        spatial_shape: (X, Y, Z) finest grid, e.g. (1000, 1000, 60) for 0.1 m voxels.
        scales: iterable of ints (1 = the finest grid).

    Returns:
        {scale: VoxelScale}. Points outside the volume are clamped into the border voxels.
    """
    out = {}
    with paddle.no_grad():
        lo = paddle.to_tensor([r[0] for r in coors_range], dtype=xyz.dtype)
        span = paddle.to_tensor([r[1] - r[0] for r in coors_range], dtype=xyz.dtype)
        rel = (xyz - lo) / span                                             # [N, 3] in [0, 1)
        batch = batch_idx.astype("int64").reshape([-1, 1])
        for scale in dict.fromkeys(scales):
            grid = tuple(int(math.ceil(s / scale)) for s in spatial_shape)
            g = paddle.to_tensor(grid, dtype=xyz.dtype)
            idx = paddle.floor(rel * g).astype("int64")                     # [N, 3] x, y, z
            idx = paddle.minimum(paddle.maximum(idx, paddle.zeros_like(idx)),
                                 paddle.to_tensor([d - 1 for d in grid], dtype="int64"))
            full = paddle.concat([batch, idx], axis=1)                      # [N, 4] b, x, y, z
            uniq, inverse, _ = unique_rows(full)
            coors = paddle.stack([uniq[:, 0], uniq[:, 3], uniq[:, 2], uniq[:, 1]], axis=1)
            out[scale] = VoxelScale(full, coors, inverse, grid)
    return out


class voxel_3d_generator(nn.Layer):  # noqa: N801 (name of the original, for checkpoints)
    """Point MLP + mean pooling into the finest voxels: the SparseTensor fed to the encoder.

    Args:
        in_channels: point input channels (4: x, y, z, intensity).
        out_channels: voxel feature channels (the hidden size).
        coors_range: ((xmin, xmax), (ymin, ymax), (zmin, zmax)).
        spatial_shape: (X, Y, Z) finest grid.
    """

    def __init__(self, in_channels, out_channels, coors_range, spatial_shape):
        super().__init__()
        self.coors_range = [tuple(float(v) for v in r) for r in coors_range]
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        self.PPmodel = nn.Sequential(
            nn.Linear(in_channels + 6, out_channels),
            nn.ReLU(),
            nn.Linear(out_channels, out_channels))

    def prepare_input(self, point, grid_ind, inv_idx, num_voxels):
        """[N, C_in + 6]: point, offset to its voxel's mean, offset to its voxel's corner."""
        pc_mean = scatter_mean(point[:, :3], inv_idx, dim_size=num_voxels)    # [V, 3]
        nor_pc = point[:, :3] - paddle.gather(pc_mean, inv_idx)            # [N, 3]
        lo = paddle.to_tensor([r[0] for r in self.coors_range], dtype=point.dtype)
        intervals = paddle.to_tensor([(r[1] - r[0]) / s for r, s in
                                      zip(self.coors_range, self.spatial_shape)],
                                     dtype=point.dtype)
        voxel_centers = grid_ind.astype(point.dtype) * intervals + lo       # voxel corner
        center_to_point = point[:, :3] - voxel_centers
        return paddle.concat([point, nor_pc, center_to_point], axis=1)

    def forward(self, points, scale1, batch_size):
        """Args:
            points: float [N, C_in]. scale1: the VoxelScale of scale 1. batch_size: B.

        Returns:
            SparseTensor [V, out_channels] on the finest voxels.
        """
        pt_fea = self.prepare_input(points, scale1.full_coors[:, 1:], scale1.coors_inv,
                                    scale1.num_voxels)
        pt_fea = self.PPmodel(pt_fea)                                       # [N, C]
        features = scatter_mean(pt_fea, scale1.coors_inv, dim_size=scale1.num_voxels)
        return SparseTensor(features, scale1.coors, scale1.spatial_shape, batch_size)
