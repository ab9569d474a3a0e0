"""``LearnableAlign``: DeepFusion's learnable alignment (Li et al., "DeepFusion: Lidar-Camera
Deep Fusion for Multi-Modal 3D Object Detection", CVPR 2022), here on the points of each dynamic
voxel (point level, after the last VFE layer).

For every voxel v with points i in v: the query is the voxel's LiDAR feature (max of its
points' features, as the VFE's scatter), keys and values are the points' image features F_img,i
(sampled at their projections like PointFusion):

    q_v = W_q max_{i in v} F_pts,i,   k_i = W_k F_img,i,   u_i = W_v F_img,i
    a_i = softmax_{i in v}(q_v . k_i / sqrt(d))       (softmax within the voxel)
    z_v = W_o sum_{i in v} a_i u_i   (dropout 0.3 on a in training, as DeepFusion)
    out_i = ReLU(BN(Linear([F_pts,i; z_v(i)])))

The softmax within each voxel uses the segment reductions of :mod:`paddlexseg.ops.segment`
(max for stability, sum for the normaliser); voxels come from
:func:`paddlexseg.ops.dynamic_scatter.dynamic_voxelize` with this module's ``voxel_size`` /
``point_cloud_range`` (set them equal to the voxel encoder's).
"""
import math

import paddle
from paddle import nn
import paddle.nn.functional as F

from ...ops.dynamic_scatter import dynamic_scatter, dynamic_voxelize
from ...ops.segment import scatter_max, scatter_sum
from ...ops.unique import unique_rows
from .base import FUSION_LAYERS, PointFusionLayer
from .point_fusion import sample_levels

__all__ = ["LearnableAlign", "segment_softmax"]


def segment_softmax(logits, seg, num):
    """Softmax of logits [N] within each segment (ids seg [N] in [0, num))."""
    peak = scatter_max(logits, seg, dim=0, dim_size=num)[0]
    e = paddle.exp(logits - paddle.gather(peak, seg))
    return e / paddle.gather(scatter_sum(e, seg, dim=0, dim_size=num), seg)


def _voxel_ids(points, voxel_size, point_cloud_range):
    """Voxel index per point over the whole batch (frames kept apart) and the voxel count."""
    rows = []
    for b, pts in enumerate(points):
        c = dynamic_voxelize(pts, voxel_size, point_cloud_range).astype("int64")
        rows.append(paddle.concat([paddle.full([c.shape[0], 1], b, "int64"), c], axis=1))
    coors = paddle.concat(rows, axis=0)
    uniq, inverse, _ = unique_rows(coors)
    return inverse.astype("int64"), uniq.shape[0]


@FUSION_LAYERS.register()
class LearnableAlign(PointFusionLayer):
    """Args: img_channels (per level), pts_channels, out_channels, embed_channels (d),
    img_levels, voxel_size, point_cloud_range, dropout (0.3 on the attention)."""

    def __init__(self, img_channels=256, pts_channels=64, out_channels=128, embed_channels=64,
                 img_levels=(0,), voxel_size=(0.05, 0.05, 0.1),
                 point_cloud_range=(0, -40, -3, 70.4, 40, 1), dropout=0.3):
        super().__init__()
        self.img_levels = [img_levels] if isinstance(img_levels, int) else list(img_levels)
        if isinstance(img_channels, int):
            img_channels = [img_channels] * len(self.img_levels)
        self.voxel_size = [float(v) for v in voxel_size]
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.dropout, self.scale = float(dropout), 1.0 / math.sqrt(embed_channels)
        self.q_embedding = nn.Linear(pts_channels, embed_channels)
        self.k_embedding = nn.Linear(sum(img_channels), embed_channels)
        self.v_embedding = nn.Linear(sum(img_channels), embed_channels)
        self.c_proj = nn.Linear(embed_channels, embed_channels)
        self.fuse = nn.Sequential(nn.Linear(pts_channels + embed_channels, out_channels),
                                  nn.BatchNorm1D(out_channels, epsilon=1e-3, momentum=0.99))
        self.out_channels = int(out_channels)

    def forward(self, img_feats, points, pts_feats, metas, pad_shape):
        img = sample_levels([img_feats[l] for l in self.img_levels], points, metas, pad_shape)
        if not paddle.in_dynamic_mode():
            return self._forward_graph(img, points, pts_feats)
        seg, num = _voxel_ids(points, self.voxel_size, self.point_cloud_range)
        voxel = scatter_max(pts_feats, seg, dim=0, dim_size=num)[0]                # [M, C]
        q = paddle.gather(self.q_embedding(voxel), seg)                           # [N, d]
        k, v = self.k_embedding(img), self.v_embedding(img)
        att = segment_softmax((q * k).sum(axis=1) * self.scale, seg, num)         # [N]
        if self.training and self.dropout > 0:
            att = F.dropout(att, self.dropout)
        z = self.c_proj(scatter_sum(att.unsqueeze(1) * v, seg, dim=0, dim_size=num))
        out = self.fuse(paddle.concat([pts_feats, paddle.gather(z, seg)], axis=1))
        return F.relu(out)

    def _forward_graph(self, img, points, pts_feats):
        """The attention of :meth:`forward` when traced for export (apis/mvx_export.py): the
        voxels and reductions by :func:`~paddlexseg.ops.dynamic_scatter.dynamic_scatter`'s
        graph form (same voxels in the same order: coordinates shifted by +1 so that points
        outside this module's range form their frame's own voxel, as in ``_voxel_ids``)."""
        rows = []
        for b, pts in enumerate(points):
            c = dynamic_voxelize(pts, self.voxel_size, self.point_cloud_range) + 1   # >= 0
            rows.append(paddle.concat([paddle.zeros_like(c[:, :1]) + b, c], axis=1))
        coors = paddle.concat(rows, axis=0)                                       # [N, 4]
        voxel, _, seg, _ = dynamic_scatter(pts_feats, coors, "max", return_map=True)
        q = paddle.gather(self.q_embedding(voxel), seg)                           # [N, d]
        k, v = self.k_embedding(img), self.v_embedding(img)
        logits = (q * k).sum(axis=1) * self.scale                                 # [N]
        peak = dynamic_scatter(logits.unsqueeze(1), coors, "max")[0].flatten()
        e = paddle.exp(logits - paddle.gather(peak, seg))
        att = e / paddle.gather(dynamic_scatter(e.unsqueeze(1), coors, "sum")[0].flatten(), seg)
        z = self.c_proj(dynamic_scatter(att.unsqueeze(1) * v, coors, "sum")[0])
        out = self.fuse(paddle.concat([pts_feats, paddle.gather(z, seg)], axis=1))
        return F.relu(out)
