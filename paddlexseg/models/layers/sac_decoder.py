"""SqueezeSegV3 decoder (chenfengxu714/SqueezeSegV3 ``src/tasks/semantic/decoders/SAC.py``).

Same stage layout as the DarkNet decoder of RangeNet++ (``dec5 .. dec1``: ``upconv`` [1, 4]
ConvTranspose2d with stride [1, 2] or a 3x3 ``conv`` where the encoder kept the width, then ``bn``,
``relu`` and one ``residual`` block; the detached encoder skip of the same width is added after
each upsampling), but with channels 256, 256, 128, 64, 32 and returning every stage's output for
the multi-scale heads. Names match the original ``segmentation_decoder`` checkpoint.
"""
from paddle import nn

from ..backbones.darknet import horizontal_strides, scaled_channels
from .darknet_decoder import decode_with_skips, make_dec_layer

__all__ = ["SACDecoder"]


class SACDecoder(nn.Layer):
    """Upsampling decoder with additive skips that returns all five stage outputs.

    Args:
        output_stride: the encoder's horizontal output stride (8 for SqueezeSegV3); the first
            stages keep the width until the remaining ones restore it.
        feature_depth: channels of the encoder feature (256 for SACNet).
        bn_momentum: torch-style BatchNorm momentum (the original decoder ``bn_d``, 0.01).
        dropout: Dropout2D probability on the full-resolution output.
        width_mult: channel multiplier matching the encoder's (``SACNet.width_mult``).

    Attributes:
        strides: upsampling factor per stage, dec5 first ([1, 1, 2, 2, 2] for OS 8).
        channels: output channels per stage, dec5 first ([256, 256, 128, 64, 32]).
    """

    def __init__(self, output_stride=8, feature_depth=256, bn_momentum=0.01, dropout=0.01,
                 width_mult=1.0):
        super().__init__()
        self.output_stride = output_stride
        self.strides = horizontal_strides(output_stride)[::-1]
        self.channels = scaled_channels([256, 256, 128, 64, 32], width_mult)
        inputs = [feature_depth] + self.channels[:-1]
        for i in range(5):
            stage = make_dec_layer([inputs[i], self.channels[i]], self.strides[i],
                                         bn_momentum)
            self.add_sublayer(f"dec{5 - i}", stage)
        self.dropout = nn.Dropout2D(dropout)
        self.last_channels = self.channels[-1]

    def forward(self, x, skips):
        """Decode.

        Args:
            x: [B, feature_depth, H, W / output_stride] encoder feature.
            skips: {stride: [B, C, H, W / stride]} from the encoder.

        Returns:
            list of five features, full resolution first: [B, 32, H, W] (after dropout), then
            the outputs of dec2, dec3, dec4, dec5 ([B, 64, H, W/2], [B, 128, H, W/4],
            [B, 256, H, W/8], [B, 256, H, W/8] for OS 8), as the original's
            ``[x5, x4, x3, x2, x1]``.
        """
        stages = (self.dec5, self.dec4, self.dec3, self.dec2, self.dec1)
        outs = decode_with_skips(stages, x, skips, self.output_stride, "SACDecoder")
        outs[-1] = self.dropout(outs[-1])
        return outs[::-1]
