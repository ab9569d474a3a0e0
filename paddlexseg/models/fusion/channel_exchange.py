"""``ChannelExchange``: CEN (Wang et al., "Deep Multimodal Fusion by Channel Exchanging",
NeurIPS 2020; ``yikaiw/CEN`` ``models/modules.py`` ``Exchange`` / ``BatchNorm2dParallel``) at
the BEV level.

The LiDAR BEV map and the image brought to the BEV grid (resized or lifted through the
projection, as :class:`~paddlexseg.models.fusion.pre_fusion.PreFusionCat`) each go through a
1x1 conv and their own BN (``bn_lidar``, ``bn_img``). A channel whose BN scaling factor
|gamma| is below ``threshold`` (2e-2 in CEN) is replaced by the other modality's channel:

    y_L[c] = BN_L(x_L)[c] if |gamma_L[c]| >= t else BN_I(x_I)[c]   (and symmetrically for y_I)
    out    = ReLU([y_L; y_I])

The sparsity that makes gammas small is an L1 penalty on the gammas of disjoint halves
(LiDAR: first half of the channels, image: second half), returned by :meth:`aux_losses` as
``l1_gamma`` = ``l1_weight`` * sum |gamma| (CEN: 5e-4 / 2e-4 depending on the task) and added
to the training loss by ``FusionAuxLoss`` (:mod:`paddlexseg.losses.fusion_aux`).
"""
import paddle
from paddle import nn

from .base import FUSION_LAYERS, BEVFusionLayer
from .bev_common import lift_to_bev, resize_to_bev

__all__ = ["ChannelExchange", "exchange"]


def exchange(y_l, y_i, gamma_l, gamma_i, threshold):
    """The CEN swap on BN outputs [B, C, H, W] given the BN gammas [C]."""
    keep_l = (gamma_l.abs() >= threshold).astype(y_l.dtype).reshape([1, -1, 1, 1])
    keep_i = (gamma_i.abs() >= threshold).astype(y_i.dtype).reshape([1, -1, 1, 1])
    return (keep_l * y_l + (1 - keep_l) * y_i, keep_i * y_i + (1 - keep_i) * y_l)


@FUSION_LAYERS.register()
class ChannelExchange(BEVFusionLayer):
    """Args: lidar_channels, img_channels (per level), img_levels, channels (per modality;
    output 2x), threshold (2e-2), l1_weight (5e-4), aligned / point_cloud_range (image lifting
    as PreFusionCat)."""

    def __init__(self, lidar_channels, img_channels=256, img_levels=(0,), channels=64,
                 threshold=2e-2, l1_weight=5e-4, aligned=False, point_cloud_range=None):
        super().__init__()
        self.img_levels = [img_levels] if isinstance(img_levels, int) else list(img_levels)
        if isinstance(img_channels, int):
            img_channels = [img_channels] * len(self.img_levels)
        if aligned and point_cloud_range is None:
            raise ValueError("ChannelExchange: aligned=True needs point_cloud_range")
        self.aligned, self.point_cloud_range = bool(aligned), point_cloud_range
        self.conv_lidar = nn.Conv2D(lidar_channels, channels, 1, bias_attr=False)
        self.conv_img = nn.Conv2D(sum(img_channels), channels, 1, bias_attr=False)
        self.bn_lidar = nn.BatchNorm2D(channels, momentum=0.9)
        self.bn_img = nn.BatchNorm2D(channels, momentum=0.9)
        self.threshold, self.l1_weight = float(threshold), float(l1_weight)
        self.out_channels = 2 * int(channels)

    def aux_losses(self):
        half = self.bn_lidar.weight.shape[0] // 2
        l1 = self.bn_lidar.weight[:half].abs().sum() + self.bn_img.weight[half:].abs().sum()
        return {"l1_gamma": self.l1_weight * l1}

    def forward(self, bev, img_feats, metas, pad_shape, points):
        size = bev.shape[2:]
        img = (lift_to_bev(img_feats, self.img_levels, points, metas, pad_shape, size,
                           self.point_cloud_range) if self.aligned
               else resize_to_bev(img_feats, self.img_levels, size))
        y_l = self.bn_lidar(self.conv_lidar(bev))
        y_i = self.bn_img(self.conv_img(img))
        y_l, y_i = exchange(y_l, y_i, self.bn_lidar.weight, self.bn_img.weight, self.threshold)
        return nn.functional.relu(paddle.concat([y_l, y_i], axis=1))
