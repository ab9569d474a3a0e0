"""``LIFusion``: EPNet's LI-Fusion module (Huang et al., "EPNet: Enhancing Point Features with
Image Semantics for 3D Object Detection", ECCV 2020; ``lib/net/pointnet2_msg.py`` ``IA_Layer`` +
``Atten_Fusion_Conv``), as a point-level fusion layer of the voxel encoder.

Per point, with F_img the image features sampled at its projection (the ``img_levels`` of the
FPN, concatenated; :func:`~paddlexseg.models.fusion.point_fusion.sample_levels`) and F_pts its
point features:

    w      = sigmoid(fc3(tanh(fc1(F_img) + fc2(F_pts))))          (per-point weight, rc = C_pts / 4)
    F_img' = w * ReLU(BN(Conv1d_1x1(F_img)))                        (``ia_layer.conv1``)
    out    = ReLU(BN(Conv1d_1x1([F_pts; F_img'])))                  (``conv1``, ``bn1``)

EPNet's 1x1 ``Conv1d`` over points is a ``Linear`` here (same map; weight transposed). Points
projecting outside the image get F_img = 0.
"""
import paddle
from paddle import nn
import paddle.nn.functional as F

from .base import FUSION_LAYERS, PointFusionLayer
from .point_fusion import sample_levels

__all__ = ["LIFusion", "IALayer"]


class IALayer(nn.Layer):
    """EPNet ``IA_Layer(channels=[ic, pc])``: image features re-weighted per point."""

    def __init__(self, img_channels, pts_channels):
        super().__init__()
        rc = max(pts_channels // 4, 1)
        self.conv1 = nn.Sequential(nn.Linear(img_channels, pts_channels),
                                   nn.BatchNorm1D(pts_channels, momentum=0.9), nn.ReLU())
        self.fc1 = nn.Linear(img_channels, rc)
        self.fc2 = nn.Linear(pts_channels, rc)
        self.fc3 = nn.Linear(rc, 1)

    def forward(self, img_feats, pts_feats):
        """[N, ic], [N, pc] -> [N, pc]."""
        att = F.sigmoid(self.fc3(paddle.tanh(self.fc1(img_feats) + self.fc2(pts_feats))))
        return self.conv1(img_feats) * att


@FUSION_LAYERS.register()
class LIFusion(PointFusionLayer):
    """Args:
        img_channels: channels of each image level (int or list, one per ``img_levels``).
        pts_channels: point feature channels. out_channels: fused channels.
        img_levels: image levels sampled. align_corners: grid_sample convention (False).
    """

    def __init__(self, img_channels=256, pts_channels=64, out_channels=128,
                 img_levels=(0, 1, 2, 3, 4), align_corners=False):
        super().__init__()
        img_levels = [img_levels] if isinstance(img_levels, int) else list(img_levels)
        if isinstance(img_channels, int):
            img_channels = [img_channels] * len(img_levels)
        if len(img_channels) != len(img_levels):
            raise ValueError(f"LIFusion: img_channels {img_channels} and img_levels "
                             f"{img_levels} differ in length")
        self.img_levels, self.align_corners = img_levels, bool(align_corners)
        self.out_channels = int(out_channels)
        self.ia_layer = IALayer(sum(img_channels), pts_channels)
        self.conv1 = nn.Linear(2 * pts_channels, out_channels)
        self.bn1 = nn.BatchNorm1D(out_channels, momentum=0.9)

    def forward(self, img_feats, points, pts_feats, metas, pad_shape):
        img = sample_levels([img_feats[l] for l in self.img_levels], points, metas, pad_shape,
                            self.align_corners)
        img = self.ia_layer(img, pts_feats)
        return F.relu(self.bn1(self.conv1(paddle.concat([pts_feats, img], axis=1))))
