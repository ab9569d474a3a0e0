"""Feature Pyramid Network and the Semantic FPN head, with detectron2's semantics and names.

Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017
(detectron2 ``modeling/backbone/fpn.py``); Kirillov et al., "Panoptic Feature Pyramid Networks",
CVPR 2019 (detectron2 ``SemSegFPNHead`` in ``modeling/meta_arch/semantic_seg.py``).

Parameter names equal detectron2's: ``fpn_lateral{2..5}``/``fpn_output{2..5}`` (``.norm`` when a
norm is used) and, in the head, ``p{2..5}.{i}`` conv blocks plus ``predictor``.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

__all__ = ["Conv2dNorm", "get_norm", "FPN", "SemSegFPNHead"]


def get_norm(norm, channels):
    """detectron2 ``get_norm``: "" -> None, "GN" -> GroupNorm(32), "BN" -> BatchNorm."""
    if not norm:
        return None
    if norm == "GN":
        if channels % 32:
            raise ValueError(f"norm 'GN' uses 32 groups: channels must be a multiple of 32, "
                             f"got {channels}")
        return nn.GroupNorm(32, channels)
    if norm == "BN":
        return nn.BatchNorm2D(channels, momentum=0.9)
    raise ValueError(f"norm: expected '', 'GN' or 'BN', got {norm!r}")


def _xavier_fill():
    """detectron2 c2_xavier_fill: kaiming_uniform(a=1), i.e. U(+-sqrt(3 / fan_in))."""
    return nn.initializer.KaimingUniform(negative_slope=1.0, nonlinearity="leaky_relu")


def _msra_fill():
    """detectron2 c2_msra_fill: kaiming_normal(mode=fan_out, relu)."""
    return nn.initializer.KaimingNormal(nonlinearity="relu", mode="fan_out")


class Conv2dNorm(nn.Conv2D):
    """A Conv2D with an optional ``norm`` sublayer and activation (detectron2 ``layers.Conv2d``)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, norm="",
                 activation=None, init="msra"):
        init_fn = _xavier_fill() if init == "xavier" else _msra_fill()
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         weight_attr=paddle.ParamAttr(initializer=init_fn),
                         bias_attr=(False if norm else
                                    paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))))
        self.norm = get_norm(norm, out_channels)
        self.activation = activation

    def forward(self, x):
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class FPN(nn.Layer):
    """Top-down pyramid: 1x1 laterals, nearest x2 upsampling, sum, 3x3 output convs.

    Args:
        in_channels: channels of the input maps, high to low resolution (e.g. C2..C5).
        in_strides: their strides; consecutive strides must double.
        out_channels: channels of every output map (256 in detectron2).
        norm: "" (detectron2's FPN default), "GN" or "BN".
        fuse_type: "sum" or "avg" of the lateral and top-down maps.

    ``forward(features)`` returns a dict ``{"p2": ..., "p5": ...}`` keyed by log2(stride).
    """

    def __init__(self, in_channels=(256, 512, 1024, 2048), in_strides=(4, 8, 16, 32),
                 out_channels=256, norm="", fuse_type="sum"):
        super().__init__()
        if len(in_channels) != len(in_strides) or not in_channels:
            raise ValueError(f"FPN: in_channels {list(in_channels)} and in_strides "
                             f"{list(in_strides)} must be non-empty and of equal length")
        for a, b in zip(in_strides[:-1], in_strides[1:]):
            if b != 2 * a:
                raise ValueError(f"FPN.in_strides: strides must double level to level, "
                                 f"got {list(in_strides)}")
        if fuse_type not in ("sum", "avg"):
            raise ValueError(f"FPN.fuse_type: expected 'sum' or 'avg', got {fuse_type!r}")
        self.fuse_type = fuse_type
        self.stages = [int(math.log2(s)) for s in in_strides]
        self.out_strides = {f"p{s}": 2 ** s for s in self.stages}
        self.out_channels = out_channels
        lateral, output = [], []
        for stage, ch in zip(self.stages, in_channels):
            lat = Conv2dNorm(ch, out_channels, 1, norm=norm, init="xavier")
            out = Conv2dNorm(out_channels, out_channels, 3, padding=1, norm=norm, init="xavier")
            self.add_sublayer(f"fpn_lateral{stage}", lat)
            self.add_sublayer(f"fpn_output{stage}", out)
            lateral.append(lat)
            output.append(out)
        # top-down order (low to high resolution), as detectron2
        self._lateral = lateral[::-1]
        self._output = output[::-1]

    def forward(self, features):
        """features: list of [N, C_i, H/s_i, W/s_i], high to low resolution."""
        if len(features) != len(self.stages):
            raise ValueError(f"FPN: expected {len(self.stages)} feature maps, got {len(features)}")
        feats = features[::-1]
        prev = self._lateral[0](feats[0])
        results = [self._output[0](prev)]
        for feat, lat, out in zip(feats[1:], self._lateral[1:], self._output[1:]):
            top_down = F.interpolate(prev, scale_factor=2.0, mode="nearest")
            prev = lat(feat) + top_down
            if self.fuse_type == "avg":
                prev = prev / 2
            results.insert(0, out(prev))
        return {f"p{s}": r for s, r in zip(self.stages, results)}


class SemSegFPNHead(nn.Layer):
    """Semantic FPN head: per level 3x3 conv(+norm)+ReLU blocks with bilinear x2 upsampling
    until ``common_stride``, summed, then a 1x1 ``predictor``.

    Args:
        in_features: names of the pyramid levels used, e.g. ("p2", "p3", "p4", "p5").
        in_strides: their strides. in_channels: their channels (FPN: all 256).
        num_classes: output channels.
        conv_dims: channels of the 3x3 convs (128 in detectron2).
        common_stride: stride of the output logits (4).
        norm: "GN" (detectron2's default, 32 groups), "BN" or "".

    ``forward(features)`` returns coarse logits [N, num_classes, H/common_stride, W/...].
    """

    def __init__(self, in_features=("p2", "p3", "p4", "p5"), in_strides=(4, 8, 16, 32),
                 in_channels=256, num_classes=19, conv_dims=128, common_stride=4, norm="GN"):
        super().__init__()
        self.in_features = list(in_features)
        self.common_stride = common_stride
        for name, stride in zip(self.in_features, in_strides):
            ops = []
            length = max(1, int(math.log2(stride) - math.log2(common_stride)))
            for k in range(length):
                ops.append(Conv2dNorm(in_channels if k == 0 else conv_dims, conv_dims, 3,
                                      padding=1, norm=norm, activation=nn.ReLU()))
                if stride != common_stride:
                    ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.add_sublayer(name, nn.Sequential(*ops))
        self.predictor = Conv2dNorm(conv_dims, num_classes, 1)

    def forward(self, features):
        x = None
        for name in self.in_features:
            y = getattr(self, name)(features[name])
            x = y if x is None else x + y
        return self.predictor(x)
