"""``PreFusionCat``: the pre-fusion stage of the seed's BEV fusion pipeline (refactoring of
mmdetection3d's MVX-Net into pre-fusion -> graph -> fusion -> neck stages): each input (the
LiDAR BEV map and the image levels brought to the BEV grid) goes through a 1x1 conv + BN + ReLU +
Dropout(0.2), and the results are concatenated channel-wise: X = [f_L(BEV); f_I(IMG)].

``aligned=False`` (the naive variant) resizes the image levels to the BEV size, which has no
geometry (image columns are not BEV cells); ``aligned=True`` lifts image features to the BEV
grid through the points' projection (sampled at each point like PointFusion, max-pooled per
BEV cell) — see :mod:`.bev_common`.
"""
import paddle
from paddle import nn

from .base import FUSION_LAYERS
from .bev_common import lift_to_bev, resize_to_bev

__all__ = ["PreFusionCat", "conv_bn_relu"]


def conv_bn_relu(cin, cout, dropout=0.0):
    layers = [nn.Conv2D(cin, cout, 1, bias_attr=False), nn.BatchNorm2D(cout, momentum=0.9),
              nn.ReLU()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@FUSION_LAYERS.register()
class PreFusionCat(nn.Layer):
    """Args:
        lidar_channels: BEV map channels. img_channels: channels of each image level (int or
        list). img_levels: levels used. out_channels: channels per branch (output 2x that).
        dropout: 0.2. aligned: lift through the projection (needs point_cloud_range).
    """

    level = "bev_stage"

    def __init__(self, lidar_channels, img_channels=256, img_levels=(0,), out_channels=64,
                 dropout=0.2, aligned=False, point_cloud_range=None):
        super().__init__()
        self.img_levels = [img_levels] if isinstance(img_levels, int) else list(img_levels)
        if isinstance(img_channels, int):
            img_channels = [img_channels] * len(self.img_levels)
        if aligned and point_cloud_range is None:
            raise ValueError("PreFusionCat: aligned=True needs point_cloud_range")
        self.aligned, self.point_cloud_range = bool(aligned), point_cloud_range
        self.lidar_branch = conv_bn_relu(lidar_channels, out_channels, dropout)
        self.img_branch = conv_bn_relu(sum(img_channels), out_channels, dropout)
        self.out_channels = 2 * int(out_channels)

    def image_bev(self, bev, img_feats, metas, pad_shape, points):
        size = bev.shape[2:]
        if self.aligned:
            return lift_to_bev(img_feats, self.img_levels, points, metas, pad_shape, size,
                               self.point_cloud_range)
        return resize_to_bev(img_feats, self.img_levels, size)

    def forward(self, bev, img_feats, metas, pad_shape, points):
        img = self.image_bev(bev, img_feats, metas, pad_shape, points)
        return paddle.concat([self.lidar_branch(bev), self.img_branch(img)], axis=1)
