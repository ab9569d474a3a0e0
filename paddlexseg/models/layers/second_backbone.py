"""mmdet3d ``SECOND`` backbone (``mmdet3d/models/backbones/second.py``): stages of 3x3 conv,
BN (eps 1e-3, torch momentum 0.01), ReLU, the first conv of each stage strided.
Parameter names ``blocks.{stage}.{layer}.*`` as in mmdet3d."""
from paddle import nn

__all__ = ["SECONDBackbone", "kaiming_conv_init"]


def kaiming_conv_init(conv):
    """mmcv ``Kaiming`` init (normal, fan_out, ReLU gain) on a conv's weight."""
    w = conv.weight  # conv [Cout, Cin, k, k]; transposed [Cin, Cout, k, k], as in torch
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]  # torch's fan_out for both layouts
    nn.initializer.KaimingNormal(fan_in=fan_out)(w)


class SECONDBackbone(nn.Layer):
    """SECOND's 2-D backbone over the BEV map.

    Args:
        in_channels: input channels (256 from the sparse encoder).
        out_channels: channels of each stage ([128, 256]).
        layer_nums: extra 3x3 convs per stage after the first ([5, 5]).
        layer_strides: stride of each stage's first conv ([1, 2]).
        bn_momentum: BN momentum, torch convention (mmdet3d 0.01).

    Returns (forward): a list with each stage's output.
    """

    def __init__(self, in_channels=128, out_channels=(128, 128, 256), layer_nums=(3, 5, 5),
                 layer_strides=(2, 2, 2), bn_momentum=0.01):
        super().__init__()
        if not len(out_channels) == len(layer_nums) == len(layer_strides):
            raise ValueError("SECONDBackbone: out_channels, layer_nums and layer_strides must "
                             "have one entry per stage")
        in_filters = [in_channels] + list(out_channels[:-1])
        blocks = []
        for i, num in enumerate(layer_nums):
            cout = out_channels[i]
            layers = [nn.Conv2D(in_filters[i], cout, 3, stride=layer_strides[i], padding=1,
                                bias_attr=False),
                      nn.BatchNorm2D(cout, momentum=1.0 - bn_momentum, epsilon=1e-3), nn.ReLU()]
            for _ in range(num):
                layers += [nn.Conv2D(cout, cout, 3, padding=1, bias_attr=False),
                           nn.BatchNorm2D(cout, momentum=1.0 - bn_momentum, epsilon=1e-3), nn.ReLU()]
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.LayerList(blocks)
        for layer in self.sublayers():
            if isinstance(layer, nn.Conv2D):
                kaiming_conv_init(layer)

    def forward(self, x):
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs
