"""Hard voxelization of a batch of scans and mmdet3d's ``HardSimpleVFE`` (mean of the points).

``HardVoxelizer`` is mmdet3d's ``Det3DDataPreprocessor(voxel=True, voxel_layer=...)`` /
mmcv ``Voxelization(max_num_points, max_voxels)`` applied scan by scan with
:func:`paddlexseg.ops.hard_voxelize`; a pre-processing step without gradient (NumPy inside).
"""
import numpy as np
import paddle
from paddle import nn

from paddlexseg.ops.voxelize import hard_voxelize, voxel_grid_shape

__all__ = ["HardVoxelizer", "HardSimpleVFE"]


class HardVoxelizer:
    """Points of B scans -> voxels, point counts and (batch, z, y, x) coordinates.

    Args:
        voxel_size: (vx, vy, vz) in metres.
        point_cloud_range: (x0, y0, z0, x1, y1, z1).
        max_num_points: points kept per voxel (mmdet3d: 5).
        max_voxels: (training, testing) voxel limits per scan (mmdet3d: (16000, 40000)).
    """

    def __init__(self, voxel_size, point_cloud_range, max_num_points=5,
                 max_voxels=(16000, 40000)):
        self.voxel_size = [float(v) for v in voxel_size]
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.max_num_points = int(max_num_points)
        if isinstance(max_voxels, (int, float)):
            max_voxels = (max_voxels, max_voxels)
        self.max_voxels = tuple(int(v) for v in max_voxels)
        self.grid_shape = voxel_grid_shape(self.voxel_size, self.point_cloud_range)  # (D, H, W)

    def __call__(self, points, training=False):
        """Voxelize a list of [Ni, C] scans (paddle or NumPy).

        Returns:
            voxels float32 [M, P, C], num_points int32 [M], coords int32 [M, 4]
            (batch, z, y, x), as paddle tensors.
        """
        limit = self.max_voxels[0 if training else 1]
        all_v, all_n, all_c = [], [], []
        for b, pts in enumerate(points):
            pts = pts.numpy() if isinstance(pts, paddle.Tensor) else np.asarray(pts)
            voxels, coords, num = hard_voxelize(pts.astype(np.float32, copy=False),
                                                self.voxel_size, self.point_cloud_range,
                                                self.max_num_points, limit)
            all_v.append(voxels)
            all_n.append(num)
            all_c.append(np.concatenate(
                [np.full((coords.shape[0], 1), b, np.int32), coords], axis=1))
        channels = int(all_v[0].shape[2]) if all_v else 4
        voxels = (np.concatenate(all_v) if all_v
                  else np.zeros((0, self.max_num_points, channels), np.float32))
        num = np.concatenate(all_n) if all_n else np.zeros((0,), np.int32)
        coords = np.concatenate(all_c) if all_c else np.zeros((0, 4), np.int32)
        return paddle.to_tensor(voxels), paddle.to_tensor(num), paddle.to_tensor(coords)


class HardSimpleVFE(nn.Layer):
    """mmdet3d ``HardSimpleVFE``: the mean of each voxel's (zero-padded) points.

    Args:
        num_features: leading point features kept (x, y, z, intensity: 4).
    """

    def __init__(self, num_features=4):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features, num_points):
        """features [M, P, C], num_points [M] -> [M, num_features]."""
        total = features[:, :, :self.num_features].sum(axis=1)  # [M, F]
        count = paddle.clip(num_points.astype(total.dtype), min=1.0).reshape([-1, 1])
        return total / count
