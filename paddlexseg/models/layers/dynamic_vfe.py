"""mmdetection3d ``DynamicVFE`` (``mmdet3d/models/voxel_encoders/voxel_encoder.py``; Zhou et al.,
"End-to-End Multi-View Fusion for 3D Object Detection in LiDAR Point Clouds", CoRL 2019, dynamic
voxelization) with an optional point-level fusion layer after the last VFE layer (MVX-Net).

Per point: the raw features (x, y, z, intensity), plus the offset to its voxel's point mean
(``with_cluster_center``), plus the offset to the voxel centre (``with_voxel_center``), plus the
distance to the origin (``with_distance``). Each layer ``vfe_layers.{i}`` = Linear (no bias) +
BN1d (eps 1e-3, PyTorch momentum 0.01) + ReLU; between layers the voxel max (``vfe_scatter``) is
concatenated back to every point (so layer i > 0 takes twice the channels). Scatters are mmcv's
``DynamicScatter`` = :func:`paddlexseg.ops.dynamic_scatter.dynamic_scatter`.
"""
import paddle
from paddle import nn

from ..fusion.base import build_fusion_layer
from ...ops.dynamic_scatter import dynamic_scatter

__all__ = ["DynamicVFE"]


class DynamicVFE(nn.Layer):
    """Args (mmdet3d names): in_channels (4), feat_channels ([64, 64]), with_distance,
    with_cluster_center, with_voxel_center, voxel_size, point_cloud_range, mode ('max' or
    'avg'), fusion_layer (config dict of a point-level fusion module, or None),
    return_point_feats."""

    def __init__(self, in_channels=4, feat_channels=(64, 64), with_distance=False,
                 with_cluster_center=True, with_voxel_center=True,
                 voxel_size=(0.05, 0.05, 0.1), point_cloud_range=(0, -40, -3, 70.4, 40, 1),
                 mode="max", fusion_layer=None, return_point_feats=False):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"DynamicVFE.mode: expected 'max' or 'avg', got {mode!r}")
        if not feat_channels:
            raise ValueError("DynamicVFE.feat_channels: expected at least one layer")
        in_channels = int(in_channels) + 3 * bool(with_cluster_center) + \
            3 * bool(with_voxel_center) + int(bool(with_distance))
        self.in_channels = in_channels
        self._with_distance = bool(with_distance)
        self._with_cluster_center = bool(with_cluster_center)
        self._with_voxel_center = bool(with_voxel_center)
        self.return_point_feats = bool(return_point_feats)
        self.vx, self.vy, self.vz = (float(v) for v in voxel_size)
        pcr = [float(v) for v in point_cloud_range]
        self.x_offset = self.vx / 2 + pcr[0]
        self.y_offset = self.vy / 2 + pcr[1]
        self.z_offset = self.vz / 2 + pcr[2]
        self.point_cloud_range = pcr
        self.mode = mode
        chans = [in_channels] + [int(c) for c in feat_channels]
        layers = []
        for i in range(len(chans) - 1):
            cin = chans[i] * (2 if i > 0 else 1)
            layers.append(nn.Sequential(nn.Linear(cin, chans[i + 1], bias_attr=False),
                                        nn.BatchNorm1D(chans[i + 1], epsilon=1e-3,
                                                       momentum=0.99),
                                        nn.ReLU()))
        self.vfe_layers = nn.LayerList(layers)
        self.fusion_layer = None
        if fusion_layer is not None:
            self.fusion_layer = build_fusion_layer(fusion_layer, "model.pts_voxel_encoder."
                                                   "fusion_layer", level="point")
        self.out_channels = (self.fusion_layer.out_channels if self.fusion_layer is not None
                             else chans[-1])

    def forward(self, features, coors, points=None, img_feats=None, metas=None,
                pad_shape=None):
        """features [N, C] points of the batch (every row inside the range), coors int32
        [N, 4] (batch, z, y, x); ``points`` the per-frame point tensors (same order) and
        ``img_feats`` / ``metas`` / ``pad_shape`` for the fusion layer.

        Returns (voxel_feats [M, C_out], voxel_coors int32 [M, 4]) or, with
        ``return_point_feats``, the point features [N, C_out].
        """
        parts = [features]
        if self._with_cluster_center:
            mean, _, p2v, _ = dynamic_scatter(features[:, :3], coors, "mean", return_map=True)
            parts.append(features[:, :3] - paddle.gather(mean, p2v))
        if self._with_voxel_center:
            c = coors.astype(features.dtype)
            center = paddle.stack([c[:, 3] * self.vx + self.x_offset,
                                   c[:, 2] * self.vy + self.y_offset,
                                   c[:, 1] * self.vz + self.z_offset], axis=1)
            parts.append(features[:, :3] - center)
        if self._with_distance:
            parts.append(paddle.linalg.norm(features[:, :3], p=2, axis=1, keepdim=True))
        x = paddle.concat(parts, axis=-1)
        reduce = "max" if self.mode == "max" else "mean"
        last = len(self.vfe_layers) - 1
        for i, vfe in enumerate(self.vfe_layers):
            point_feats = vfe(x)
            if i == last and self.fusion_layer is not None and img_feats is not None:
                point_feats = self.fusion_layer(img_feats, points, point_feats, metas,
                                                pad_shape)
            voxel_feats, voxel_coors, p2v, _ = dynamic_scatter(point_feats, coors, reduce,
                                                               return_map=True)
            if i != last:
                x = paddle.concat([point_feats, paddle.gather(voxel_feats, p2v)], axis=1)
        if self.return_point_feats:
            return point_feats
        return voxel_feats, voxel_coors
