"""mmdet3d ``SECONDFPN`` (``mmdet3d/models/necks/second_fpn.py``): each backbone stage is
upsampled by a transposed conv (kernel = stride, no bias), BN, ReLU, and the results are
concatenated. Parameter names ``deblocks.{i}.{0 deconv, 1 norm}.*`` as in mmdet3d."""
import paddle
from paddle import nn

from .second_backbone import kaiming_conv_init

__all__ = ["SECONDFPN"]


class SECONDFPN(nn.Layer):
    """Args:
        in_channels: channels of each input stage ([128, 256]).
        out_channels: channels of each upsampled stage ([256, 256]; concatenated: 512).
        upsample_strides: upsampling factor per stage ([1, 2]); a stride < 1 uses a strided
            conv of kernel ``1/stride`` instead.
        use_conv_for_no_stride: stride 1 with a plain conv instead of a transposed one.
        bn_momentum: BN momentum, torch convention (mmdet3d 0.01).
    """

    def __init__(self, in_channels=(128, 128, 256), out_channels=(256, 256, 256),
                 upsample_strides=(1, 2, 4), use_conv_for_no_stride=False, bn_momentum=0.01):
        super().__init__()
        if not len(in_channels) == len(out_channels) == len(upsample_strides):
            raise ValueError("SECONDFPN: in_channels, out_channels and upsample_strides must "
                             "have one entry per stage")
        deblocks = []
        for i, stride in enumerate(upsample_strides):
            if stride > 1 or (stride == 1 and not use_conv_for_no_stride):
                k = int(stride)
                up = nn.Conv2DTranspose(in_channels[i], out_channels[i], k, stride=k,
                                        bias_attr=False)
            else:
                k = int(round(1 / stride))
                up = nn.Conv2D(in_channels[i], out_channels[i], k, stride=k, bias_attr=False)
            kaiming_conv_init(up)
            deblocks.append(nn.Sequential(
                up, nn.BatchNorm2D(out_channels[i], momentum=1.0 - bn_momentum,
                                                epsilon=1e-3), nn.ReLU()))
        self.deblocks = nn.LayerList(deblocks)

    def forward(self, feats):
        ups = [deblock(feats[i]) for i, deblock in enumerate(self.deblocks)]
        return paddle.concat(ups, axis=1) if len(ups) > 1 else ups[0]
