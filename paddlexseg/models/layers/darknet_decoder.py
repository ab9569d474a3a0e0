"""DarkNet decoder of RangeNet++ (PRBonn/lidar-bonnetal ``train/tasks/semantic/decoders/darknet.py``).

Five stages ``dec5 .. dec1`` mirror the encoder: each upsamples horizontally with a
ConvTranspose2d (kernel ``[1, 4]``, stride ``[1, 2]``, padding ``[0, 1]``) named ``upconv``, or
uses a 3x3 ``conv`` when the encoder stage did not downsample (output stride < 32), followed by
``bn``, ``relu`` and one ``residual`` block; the encoder skip of the same width is added after
each upsampling. Names match the original ``segmentation_decoder`` checkpoint.
"""
from paddle import nn

from ..backbones.darknet import (BasicBlock, horizontal_strides, scaled_channels, torch_batch_norm,
                                 torch_conv)

__all__ = ["DarkNetDecoder", "make_dec_layer", "decode_with_skips"]


def make_dec_layer(planes, stride, bn_momentum):
    """One decoder stage ``planes[0] -> planes[1]``: ``upconv`` (ConvTranspose2d [1, 4], stride
    [1, 2], padding [0, 1]) when ``stride == 2`` else a 3x3 ``conv``, then ``bn``, ``relu`` and a
    ``residual`` block whose bottleneck is ``planes[0]`` wide (names as the original checkpoints).
    """
    if stride == 2:
        first = ("upconv", torch_conv(planes[0], planes[1], [1, 4], stride=[1, 2],
                                      padding=[0, 1], transpose=True))
    else:
        first = ("conv", torch_conv(planes[0], planes[1], 3, padding=1))
    return nn.Sequential(first,
                         ("bn", torch_batch_norm(planes[1], bn_momentum)),
                         ("relu", nn.LeakyReLU(0.1)),
                         ("residual", BasicBlock(planes[1], planes, bn_momentum)))


def decode_with_skips(stages, x, skips, output_stride, name):
    """Run decoder ``stages`` in order; after a stage that widens its input, add the (detached)
    encoder skip of the new stride, as the originals do. Returns every stage's output."""
    os = output_stride
    outs = []
    for stage in stages:
        feats = stage(x)
        if feats.shape[-1] > x.shape[-1]:
            os //= 2
            if os not in skips:
                raise KeyError(f"{name}: no encoder skip for stride {os}; the encoder "
                               f"returned strides {sorted(skips)}")
            feats = feats + skips[os].detach()
        outs.append(feats)
        x = feats
    return outs


class DarkNetDecoder(nn.Layer):
    """Upsampling decoder with additive skip connections.

    Args:
        output_stride: the encoder's output stride; the first ``5 - log2(output_stride)``
            stages then keep the width (as the original's stride bookkeeping does).
        feature_depth: channels of the encoder's final feature (1024 for DarkNet).
        bn_momentum: torch-style BatchNorm momentum (the original ``bn_d``).
        dropout: Dropout2D probability applied to the decoder output.
        width_mult: channel multiplier matching the encoder's (1.0 = original).

    Attributes:
        strides: per-stage upsampling factor, dec5 first; last_channels: 32 x width_mult.
    """

    def __init__(self, output_stride=32, feature_depth=1024, bn_momentum=0.01, dropout=0.01,
                 width_mult=1.0):
        super().__init__()
        self.output_stride = output_stride
        # the encoder drops its *last* strides; the decoder drops its *first* ones
        self.strides = horizontal_strides(output_stride)[::-1]
        channels = [feature_depth] + scaled_channels([512, 256, 128, 64, 32], width_mult)
        for i in range(5):
            stage = make_dec_layer([channels[i], channels[i + 1]], self.strides[i],
                                         bn_momentum)
            self.add_sublayer(f"dec{5 - i}", stage)
        self.dropout = nn.Dropout2D(dropout)
        self.last_channels = channels[-1]

    def forward(self, x, skips):
        """Decode.

        Args:
            x: [B, feature_depth, H, W / output_stride] encoder feature.
            skips: {stride: [B, C, H, W / stride]} from the encoder.

        Returns:
            [B, 32, H, W] feature.
        """
        stages = (self.dec5, self.dec4, self.dec3, self.dec2, self.dec1)
        outs = decode_with_skips(stages, x, skips, self.output_stride, "DarkNetDecoder")
        return self.dropout(outs[-1])
