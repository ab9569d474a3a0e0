"""SqueezeSegV3 backbone: Spatially-Adaptive Convolution (SAC) encoder.

Xu et al., "SqueezeSegV3: Spatially-Adaptive Convolution for Efficient Point-Cloud
Segmentation", ECCV 2020. Ported from chenfengxu714/SqueezeSegV3 ``src/backbones/SAC.py``;
sublayer and parameter names follow the original so its checkpoints convert by renaming
(``running_mean``/``running_var`` -> ``_mean``/``_variance``).

A SAC block computes ``conv1x1(unfold3x3(x) * sigmoid(BN(conv7x7(xyz))))``. The original keeps
four [B, 9C, H, W] tensors per block alive for the backward pass (the 7x7 conv output, the
sigmoid, the unfolded features and their product). Here the part after the 7x7 conv runs in
channel chunks of about C/9 channels (``chunk`` rows of the 9C axis at a time), so only C-sized
temporaries exist:

* training (plain ``BatchNorm2D`` in train mode): :class:`SACAggregate` fuses BatchNorm (batch
  statistics), sigmoid, unfold, product and the 1x1 conv; it keeps only the 7x7 conv output and
  ``x`` for the backward pass and recomputes the rest there chunk by chunk. The running
  statistics are updated as ``BatchNorm2D`` does.
* inference (BatchNorm with running statistics): BatchNorm is folded into the 7x7 conv and the
  attention is produced chunk by chunk (one 7x7 im2col of xyz, [B, 147, H*W], shared by all
  chunks), so no 9C tensor exists at all.
* any other normalization layer (e.g. after ``SyncBatchNorm`` conversion): the attention is
  computed by the layer itself and :class:`SACAggregate` does the rest.

``memory_efficient=False`` runs the original unfold formulation (numerically equal; see tests and
``benchmarks/bench_sac_memory.py``).
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.autograd import PyLayer

from ...registry import BACKBONES, ConfigError
from .darknet import (MODEL_BLOCKS, horizontal_strides, scaled_channels, torch_batch_norm,
                      torch_conv)

__all__ = ["SACNet", "SACBlock", "SACAggregate", "sac_aggregate_naive"]

# MODEL_BLOCKS: residual SAC blocks per encoder stage, the same table as DarkNet's


def _chunks(channels):
    """Channel ranges of about channels / 9 each: each chunk spans 9 * size rows of the 9C axis."""
    size = max(1, math.ceil(channels / 9))
    return [(c0, min(c0 + size, channels)) for c0 in range(0, channels, size)]


def _unfold(x, c0, c1):
    """``F.unfold(x[:, c0:c1], 3, padding=1)``: [N, C, H, W] -> [N, 9 * (c1 - c0), H * W]."""
    return F.unfold(x[:, c0:c1], kernel_sizes=3, paddings=1)


def sac_aggregate_naive(x, attn, weight, bias):
    """The original formulation: ``conv1x1(unfold(x, 3, pad=1) * attn)``.

    Args:
        x: [N, C, H, W] features.
        attn: [N, 9C, H, W] attention, channel ``c * 9 + k`` weights offset ``k`` of channel ``c``.
        weight: [Cout, 9C, 1, 1] 1x1 convolution weight; bias: [Cout].

    Returns:
        [N, Cout, H, W].
    """
    n, c, h, w = x.shape
    unfolded = F.unfold(x, kernel_sizes=3, paddings=1).reshape([n, 9 * c, h, w])  # [N, 9C, H, W]
    return F.conv2d(unfolded * attn, weight, bias)


class SACAggregate(PyLayer):
    """Fused ``conv1x1(unfold(x, 3, pad=1) * A)`` computed in channel chunks.

    ``A = sigmoid((z - mean) * rstd * gamma + beta)`` (BatchNorm with the given batch statistics,
    then sigmoid) when ``gamma`` is given, else ``A = z``. Only ``x`` and ``z`` are kept for the
    backward pass, which recomputes ``A`` and the unfolded features per chunk and differentiates
    through the batch statistics as BatchNorm does. Equal to :func:`sac_aggregate_naive` (with
    ``attn = sigmoid(BN(z))``) up to float rounding.

    ``apply(x, z, weight, bias, gamma=None, beta=None, mean=None, rstd=None)``: x [N, C, H, W],
    z [N, 9C, H, W], weight [Cout, 9C, 1, 1], bias [Cout], gamma/beta/mean/rstd [9C]
    (mean/rstd without gradient).
    """

    @staticmethod
    def forward(ctx, x, z, weight, bias, gamma=None, beta=None, mean=None, rstd=None):
        n, c, h, w = x.shape
        cout = weight.shape[0]
        w2 = weight.reshape([cout, 9 * c])
        zf = z.reshape([n, 9 * c, h * w])
        bn = gamma is not None
        if bn:
            scale = gamma * rstd  # [9C] folded BN affine
            shift = beta - mean * scale
        y = paddle.zeros([n, cout, h * w], dtype=x.dtype) + bias.reshape([1, cout, 1])
        for c0, c1 in _chunks(c):
            r0, r1 = 9 * c0, 9 * c1
            a = zf[:, r0:r1]  # [N, 9Cb, HW]
            if bn:
                a = F.sigmoid(a * scale[r0:r1].unsqueeze(1) + shift[r0:r1].unsqueeze(1))
            y = y + paddle.matmul(w2[:, r0:r1], _unfold(x, c0, c1) * a)  # [N, Cout, HW]
        ctx.save_for_backward(x, z, weight, gamma, beta, mean, rstd)
        ctx.needs = [t is not None and not t.stop_gradient
                     for t in (x, z, weight, bias, gamma, beta)]
        return y.reshape([n, cout, h, w])

    @staticmethod
    def backward(ctx, grad_y):
        x, z, weight, gamma, beta, mean, rstd = ctx.saved_tensor()
        need_x, need_z, need_w, need_b, need_g, need_beta = ctx.needs
        n, c, h, w = x.shape
        cout = weight.shape[0]
        w2 = weight.reshape([cout, 9 * c])
        zf = z.reshape([n, 9 * c, h * w])
        g = grad_y.reshape([n, cout, h * w])
        bn = gamma is not None
        count = n * h * w
        gz = paddle.empty_like(zf) if need_z else None  # [N, 9C, HW]
        gx, gw, ggamma, gbeta = [], [], [], []
        for c0, c1 in _chunks(c):
            r0, r1 = 9 * c0, 9 * c1
            u = _unfold(x, c0, c1)  # [N, 9Cb, HW]
            a = zf[:, r0:r1]
            if bn:
                xhat = (a - mean[r0:r1].unsqueeze(1)) * rstd[r0:r1].unsqueeze(1)
                a = F.sigmoid(xhat * gamma[r0:r1].unsqueeze(1) + beta[r0:r1].unsqueeze(1))
            if need_w:
                gw.append(paddle.matmul(g, u * a, transpose_y=True).sum(axis=0))  # [Cout, 9Cb]
            gprod = paddle.matmul(w2[:, r0:r1], g, transpose_x=True)  # [N, 9Cb, HW]
            if need_x:
                gx.append(F.fold(gprod * a, output_sizes=[h, w], kernel_sizes=3, paddings=1))
            if not (need_z or need_g or need_beta):
                continue
            ga = gprod * u  # d loss / d A
            if not bn:
                gz[:, r0:r1] = ga
                continue
            gs = ga * a * (1.0 - a)  # d loss / d BN output
            sum_gs = gs.sum(axis=[0, 2])  # [9Cb]
            sum_gsx = (gs * xhat).sum(axis=[0, 2])
            ggamma.append(sum_gsx)
            gbeta.append(sum_gs)
            if need_z:
                k = (gamma[r0:r1] * rstd[r0:r1] / count).unsqueeze(1)
                gz[:, r0:r1] = k * (gs * count - sum_gs.unsqueeze(1) - xhat * sum_gsx.unsqueeze(1))
        return (paddle.concat(gx, axis=1) if need_x else None,
                gz.reshape(z.shape) if need_z else None,
                paddle.concat(gw, axis=1).reshape(weight.shape) if need_w else None,
                grad_y.sum(axis=[0, 2, 3]) if need_b else None,
                *((paddle.concat(ggamma) if need_g else None,
                   paddle.concat(gbeta) if need_beta else None, None, None) if bn else ()))


class SACBlock(nn.Layer):
    """Spatially-adaptive convolution block with a residual connection.

    ``out = feature + MLP(conv1x1(unfold3x3(feature) * sigmoid(BN(conv7x7(xyz)))))``, where the
    attention comes from the xyz coordinates at the block's resolution.

    Args:
        inplanes: feature channels C (in and out).
        bn_momentum: torch-style momentum of the block's BatchNorms; the original hard-codes
            0.1 here, independent of the backbone's ``bn_d``.
        memory_efficient: chunked SAC (see module docstring) instead of the unfold original.
    """

    def __init__(self, inplanes, bn_momentum=0.1, memory_efficient=True):
        super().__init__()
        self.inplanes = inplanes
        self.memory_efficient = memory_efficient
        self.attention_x = nn.Sequential(
            torch_conv(3, 9 * inplanes, 7, padding=3),
            torch_batch_norm(9 * inplanes, bn_momentum),
        )
        self.position_mlp_2 = nn.Sequential(
            torch_conv(9 * inplanes, inplanes, 1),
            torch_batch_norm(inplanes, bn_momentum),
            nn.ReLU(),
            torch_conv(inplanes, inplanes, 3, padding=1),
            torch_batch_norm(inplanes, bn_momentum),
            nn.ReLU(),
        )

    def forward(self, xyz, feature):
        """xyz: [N, 3, H, W] coordinates; feature: [N, C, H, W] -> [N, C, H, W]."""
        conv7, bn = self.attention_x[0], self.attention_x[1]
        conv1x1 = self.position_mlp_2[0]
        plain_bn = isinstance(bn, nn.BatchNorm2D)
        batch_stats = bn.training and not getattr(bn, "_use_global_stats", False)
        if not self.memory_efficient:
            attn = F.sigmoid(self.attention_x(xyz))  # [N, 9C, H, W]
            y = sac_aggregate_naive(feature, attn, conv1x1.weight, conv1x1.bias)
        elif plain_bn and batch_stats:
            z = conv7(xyz)  # [N, 9C, H, W]
            mean, rstd = self._batch_stats(bn, z)
            y = SACAggregate.apply(feature, z, conv1x1.weight, conv1x1.bias, bn.weight, bn.bias,
                                   mean, rstd)
        elif plain_bn:
            y = self._aggregate_folded(xyz, feature)
        else:
            attn = F.sigmoid(self.attention_x(xyz))
            y = SACAggregate.apply(feature, attn, conv1x1.weight, conv1x1.bias)
        for layer in list(self.position_mlp_2.children())[1:]:
            y = layer(y)
        return y + feature

    @staticmethod
    def _batch_stats(bn, z):
        """Per-channel batch mean and 1/std of z, updating ``bn``'s running statistics like
        ``BatchNorm2D`` (``running = momentum * running + (1 - momentum) * batch``, biased var)."""
        with paddle.no_grad():
            means, variances = [], []
            for c0, c1 in _chunks(z.shape[1] // 9):  # chunked: C-sized temporaries only
                zc = z[:, 9 * c0:9 * c1]
                mc = zc.mean(axis=[0, 2, 3])
                means.append(mc)
                diff = zc - mc.reshape([1, -1, 1, 1])
                variances.append(paddle.square(diff).mean(axis=[0, 2, 3]))
            mean, var = paddle.concat(means), paddle.concat(variances)  # [9C]
            m = bn._momentum
            bn._mean.set_value(bn._mean * m + mean * (1.0 - m))
            bn._variance.set_value(bn._variance * m + var * (1.0 - m))
            rstd = paddle.rsqrt(var + bn._epsilon)
        return mean, rstd

    def _aggregate_folded(self, xyz, feature):
        """Running-statistics aggregation in channel chunks with BN folded into the 7x7 conv."""
        conv7, bn = self.attention_x[0], self.attention_x[1]
        conv1x1 = self.position_mlp_2[0]
        n, c, h, w = feature.shape
        scale = bn.weight * paddle.rsqrt(bn._variance + bn._epsilon)  # [9C]
        w7 = conv7.weight.reshape([9 * c, -1]) * scale.unsqueeze(1)  # [9C, 3 * 7 * 7]
        b7 = ((conv7.bias - bn._mean) * scale + bn.bias).unsqueeze(1)  # [9C, 1]
        cols = F.unfold(xyz, kernel_sizes=7, paddings=3)  # [N, 147, H*W], once for all chunks
        w1 = conv1x1.weight.reshape([-1, 9 * c])  # [Cout, 9C]
        y = paddle.zeros([n, w1.shape[0], h * w], dtype=feature.dtype)
        y = y + conv1x1.bias.reshape([1, -1, 1])
        for c0, c1 in _chunks(c):
            r0, r1 = 9 * c0, 9 * c1
            attn = F.sigmoid(paddle.matmul(w7[r0:r1], cols) + b7[r0:r1])  # [N, 9Cb, H*W]
            y = y + paddle.matmul(w1[:, r0:r1], _unfold(feature, c0, c1) * attn)  # [N, Cout, H*W]
        return y.reshape([n, -1, h, w])


@BACKBONES.register()
class SACNet(nn.Layer):
    """SqueezeSegV3 SAC encoder (SAC-21 or SAC-53).

    conv3x3(32) then five stages of residual SAC blocks (channels 32, 64, 128, 256, 256), the
    first three followed by a 3x3 conv that downsamples the width (strides [2, 2, 2, 1, 1]) and
    widens to 64, 128, 256. The xyz channels (1:4 of the input) drive the attention and are
    bilinearly resized (align_corners=True) with the features. Dropout2D after every stage.

    Args:
        layers: 21 or 53 (blocks per stage [1, 1, 2, 2, 1] or [1, 2, 8, 8, 4]).
        in_channels: input channels; channels 1:4 must be x, y, z (range, x, y, z, remission).
        bn_momentum: torch-style momentum of the stem and downsampling BatchNorms (the
            original ``bn_d``, 0.01; Paddle's momentum is 1 - this, as in DarkNet).
        dropout: Dropout2D probability after each stage.
        output_stride: horizontal output stride, 8, 4, 2 or 1 (the last stride-2 stages become
            stride 1, as the original's ``OS``).
        memory_efficient: chunked SAC that keeps one [N, 9C, H, W] tensor per block for the
            backward pass instead of four (see module docstring); False runs the original.
        width_mult: channel multiplier (1.0 = the original 32 ... 256 channels, which the
            official checkpoints need; the quick CPU config uses 0.125). The decoder follows it.

    Returns of ``forward(range_img)``: ``(feature [N, 256 x width_mult, H, W / OS], skips)``
    where ``skips`` maps an output stride (1, 2, 4) to the detached [N, C, H, W / os] input of
    the stage that downsampled from it, as in the original.
    """

    def __init__(self, layers=21, in_channels=5, bn_momentum=0.01, dropout=0.01, output_stride=8,
                 memory_efficient=True, width_mult=1.0):
        super().__init__()
        if layers not in MODEL_BLOCKS:
            raise ConfigError(f"SACNet.layers: expected one of {sorted(MODEL_BLOCKS)}, "
                              f"got {layers!r}")
        if output_stride not in (1, 2, 4, 8):
            raise ConfigError(f"SACNet.output_stride: expected 1, 2, 4 or 8 (three stages "
                              f"downsample), got {output_stride!r}")
        if not isinstance(in_channels, int) or in_channels < 4:
            raise ConfigError(f"SACNet.in_channels: the attention reads x, y, z from input "
                              f"channels 1:4, so at least 4 are needed, got {in_channels!r}")
        self.layers = layers
        self.output_stride = output_stride
        self.width_mult = width_mult
        c32, c64, c128, c256 = scaled_channels([32, 64, 128, 256], width_mult)
        self.last_channels = c256
        self.strides = horizontal_strides(output_stride)  # 8 -> [2, 2, 2, 1, 1]
        blocks = MODEL_BLOCKS[layers]

        self.conv1 = torch_conv(in_channels, c32, 3, padding=1, bias=False)
        self.bn1 = torch_batch_norm(c32, bn_momentum)
        self.relu1 = nn.LeakyReLU(0.1)
        planes = [(c32, c64, True), (c64, c128, True), (c128, c256, True), (c256, c256, False),
                  (c256, c256, False)]
        for i, (cin, cout, ds) in enumerate(planes):
            stage = self._make_enc_layer(cin, cout, blocks[i], self.strides[i], ds, bn_momentum,
                                         memory_efficient)
            self.add_sublayer(f"enc{i + 1}", stage)
        self.dropout = nn.Dropout2D(dropout)

    @staticmethod
    def _make_enc_layer(inplanes, outplanes, blocks, stride, downsample, bn_momentum,
                        memory_efficient):
        layers = [(f"residual_{i}", SACBlock(inplanes, memory_efficient=memory_efficient))
                  for i in range(blocks)]
        if downsample:
            layers += [
                ("conv", torch_conv(inplanes, outplanes, 3, stride=[1, stride], padding=1,
                                    bias=False)),
                ("bn", torch_batch_norm(outplanes, bn_momentum)),
                ("relu", nn.LeakyReLU(0.1)),
            ]
        return nn.Sequential(*layers)

    def _run_stage(self, stage, xyz, feature, skips, os):
        y = feature
        for name, layer in stage.named_children():
            y = layer(xyz, y) if name.startswith("residual_") else layer(y)
        if y.shape[3] < feature.shape[3]:
            # xyz follows the features (bilinear, align_corners=True). The original resizes it
            # after enc1-3 even when OS < 8 left them at stride 1, which breaks its own shapes.
            xyz = F.interpolate(xyz, size=[xyz.shape[2], y.shape[3]], mode="bilinear",
                                align_corners=True)
            skips[os] = feature.detach()
            os *= 2
        return xyz, self.dropout(y), os

    def forward(self, range_img):
        """range_img: [N, in_channels, H, W] -> (feature [N, 256, H, W/OS], skips {os: tensor})."""
        skips = {}
        os = 1
        xyz = range_img[:, 1:4]  # [N, 3, H, W]
        feature = self.relu1(self.bn1(self.conv1(range_img)))  # [N, 32, H, W]
        for i in range(1, 6):
            xyz, feature, os = self._run_stage(getattr(self, f"enc{i}"), xyz, feature, skips, os)
        return feature, skips
