"""DarkNet-21/53 range-image encoder of RangeNet++.

Milioto, Vizzo, Behley, Stachniss: "RangeNet++: Fast and Accurate LiDAR Semantic
Segmentation", IROS 2019. Ported from PRBonn/lidar-bonnetal ``train/backbones/darknet.py``.

The encoder only downsamples horizontally (strides ``[1, 2]``) because a 64-beam range image
is 32x wider than tall. Sublayer names follow the original so that its ``backbone`` checkpoint
maps by plain key renaming (``running_mean -> _mean``, ``running_var -> _variance``,
``num_batches_tracked`` dropped)::

    conv1 bn1 relu1
    enc1..enc5: conv bn relu residual_0 .. residual_{n-1}   (each residual: conv1 bn1 relu1 conv2 bn2 relu2)
"""
import math

import paddle
from paddle import nn

from ...registry import BACKBONES, ConfigError

__all__ = ["DarkNet", "BasicBlock", "MODEL_BLOCKS", "torch_conv", "torch_batch_norm",
           "horizontal_strides"]

# residual blocks per encoder stage, as in the original ``model_blocks``
MODEL_BLOCKS = {21: [1, 1, 2, 2, 1], 53: [1, 2, 8, 8, 4]}


def _torch_uniform(fan_in):
    bound = 1.0 / math.sqrt(fan_in)
    return paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound))


def torch_conv(in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
               transpose=False):
    """A Conv2D / Conv2DTranspose initialised like torch's default (kaiming_uniform, a=sqrt(5)).

    torch draws weights and biases from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in is
    ``weight.shape[1] * kh * kw`` (so ``out_channels * kh * kw`` for a transposed conv).
    Paddle's default (normal weights, zero bias) would change training from scratch.
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    fan_in = (out_channels if transpose else in_channels) * kh * kw
    cls = nn.Conv2DTranspose if transpose else nn.Conv2D
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
               weight_attr=_torch_uniform(fan_in),
               bias_attr=_torch_uniform(fan_in) if bias else False)


def torch_batch_norm(channels, bn_momentum):
    """BatchNorm2D with torch semantics: torch ``momentum=m`` is Paddle ``momentum=1-m``; eps 1e-5."""
    return nn.BatchNorm2D(channels, momentum=1.0 - bn_momentum, epsilon=1e-5)


def horizontal_strides(output_stride):
    """Per-stage horizontal strides for an output stride, as the original computes them.

    Starting from ``[2, 2, 2, 2, 2]`` (OS 32) the last stages are set to 1 until the
    product equals ``output_stride``, e.g. 8 -> ``[2, 2, 2, 1, 1]``.
    """
    if output_stride not in (1, 2, 4, 8, 16, 32):
        raise ConfigError(f"DarkNet.output_stride: expected one of 1, 2, 4, 8, 16, 32, "
                          f"got {output_stride!r}")
    n_down = int(round(math.log2(output_stride)))
    return [2] * n_down + [1] * (5 - n_down)


def scaled_channels(channels, width_mult):
    """``channels`` times ``width_mult``, kept even and at least 4 (1.0 returns them unchanged)."""
    if not (isinstance(width_mult, (int, float)) and 0 < width_mult <= 4):
        raise ConfigError(f"width_mult: expected a number in (0, 4], got {width_mult!r}")
    return [max(4, int(round(c * width_mult / 2)) * 2) for c in channels]


class BasicBlock(nn.Layer):
    """DarkNet residual block: 1x1 conv to ``planes[0]``, 3x3 conv to ``planes[1]``, add input.

    Args:
        inplanes: input channels (must equal ``planes[1]`` for the residual add).
        planes: ``[bottleneck, out]`` channels.
        bn_momentum: torch-style BatchNorm momentum.
    """

    def __init__(self, inplanes, planes, bn_momentum=0.01):
        super().__init__()
        self.conv1 = torch_conv(inplanes, planes[0], 1, bias=False)
        self.bn1 = torch_batch_norm(planes[0], bn_momentum)
        self.relu1 = nn.LeakyReLU(0.1)
        self.conv2 = torch_conv(planes[0], planes[1], 3, padding=1, bias=False)
        self.bn2 = torch_batch_norm(planes[1], bn_momentum)
        self.relu2 = nn.LeakyReLU(0.1)

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return out + x


@BACKBONES.register()
class DarkNet(nn.Layer):
    """DarkNet encoder for range images, returning the final feature and the skip features.

    Args:
        layers: 21 (blocks [1, 1, 2, 2, 1]) or 53 (blocks [1, 2, 8, 8, 4]).
        in_channels: input channels (5 = range, x, y, z, remission).
        output_stride: horizontal downsampling of the final feature (power of two, <= 32).
        bn_momentum: torch-style BatchNorm momentum (the original ``bn_d``; 0.01).
        dropout: Dropout2D probability after every encoder stage.
        width_mult: channel multiplier (1.0 = the original 32 ... 1024 channels, which the official
            checkpoints need); e.g. 0.125 makes a model ~60x cheaper for quick CPU runs.

    Attributes:
        output_stride, strides, last_channels (1024 x width_mult), channels: read by the decoder.
    """

    def __init__(self, layers=21, in_channels=5, output_stride=32, bn_momentum=0.01,
                 dropout=0.01, width_mult=1.0):
        super().__init__()
        if layers not in MODEL_BLOCKS:
            raise ConfigError(f"DarkNet.layers: expected 21 or 53, got {layers!r}")
        self.layers = layers
        self.output_stride = output_stride
        self.strides = horizontal_strides(output_stride)
        self.blocks = MODEL_BLOCKS[layers]
        channels = scaled_channels([32, 64, 128, 256, 512, 1024], width_mult)
        self.channels = channels
        self.width_mult = width_mult
        self.last_channels = channels[-1]

        self.conv1 = torch_conv(in_channels, channels[0], 3, padding=1, bias=False)
        self.bn1 = torch_batch_norm(channels[0], bn_momentum)
        self.relu1 = nn.LeakyReLU(0.1)
        for i in range(5):
            stage = self._make_enc_layer([channels[i], channels[i + 1]], self.blocks[i],
                                         self.strides[i], bn_momentum)
            self.add_sublayer(f"enc{i + 1}", stage)
        self.dropout = nn.Dropout2D(dropout)

    @staticmethod
    def _make_enc_layer(planes, blocks, stride, bn_momentum):
        layers = [("conv", torch_conv(planes[0], planes[1], 3, stride=[1, stride], padding=1,
                                      bias=False)),
                  ("bn", torch_batch_norm(planes[1], bn_momentum)),
                  ("relu", nn.LeakyReLU(0.1))]
        for i in range(blocks):
            layers.append((f"residual_{i}", BasicBlock(planes[1], planes, bn_momentum)))
        return nn.Sequential(*layers)

    @staticmethod
    def _run_layer(x, layer, skips, os):
        # a layer that shrinks the image stores its input as the skip for the current stride
        y = layer(x)
        if y.shape[2] < x.shape[2] or y.shape[3] < x.shape[3]:
            skips[os] = x.detach()  # the original detaches skips: no gradient through them
            os *= 2
        return y, os

    def forward(self, x):
        """Encode a range image.

        Args:
            x: float [B, in_channels, H, W]; W must be divisible by ``output_stride``.

        Returns:
            (feature [B, 1024, H, W / output_stride], skips {stride: [B, C_s, H, W / stride]}),
            skips holding the (detached) input of every downsampling stage, keyed 1, 2, 4, ...
        """
        width = x.shape[3]
        if width % self.output_stride:
            raise ValueError(f"DarkNet: input width {width} must be divisible by the output "
                             f"stride {self.output_stride} (e.g. 2048 or 1024)")
        skips = {}
        os = 1
        x = self.relu1(self.bn1(self.conv1(x)))  # [B, 32, H, W]
        for stage in (self.enc1, self.enc2, self.enc3, self.enc4, self.enc5):
            x, os = self._run_layer(x, stage, skips, os)
            x = self.dropout(x)
        return x, skips
