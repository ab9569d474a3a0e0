"""SqueezeSegV3 (SAC-21/53 encoder, decoder, five heads) in PyTorch, for bench_models.py.

Written from chenfengxu714/SqueezeSegV3 ``src/backbones/SAC.py``, ``src/tasks/semantic/
decoders/SAC.py`` and ``modules/segmentator.py``: the SAC block is the original formulation
(``F.unfold`` of the features times ``sigmoid(BN(conv7x7(xyz)))``, then ``position_mlp_2``),
strides [2, 2, 2, 1, 1] (OS 8), xyz resized with ``upsample_bilinear`` (align_corners=True)
after each downsampling stage. Module names are those of the Paddle model
(``backbone``, ``decoder``, ``head1..5``; the converter's prefix renames of the checkpoint
files), so ``torch_weights.copy_from_paddle`` loads the same weights. Heads return logits (the
original's softmax is left out on both sides). Importing this module imports torch.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

BLOCKS = {21: [1, 1, 2, 2, 1], 53: [1, 2, 8, 8, 4]}


class SACBlock(nn.Module):
    def __init__(self, inplanes):
        super().__init__()
        self.attention_x = nn.Sequential(nn.Conv2d(3, 9 * inplanes, 7, padding=3),
                                         nn.BatchNorm2d(9 * inplanes, momentum=0.1))
        self.position_mlp_2 = nn.Sequential(
            nn.Conv2d(9 * inplanes, inplanes, 1), nn.BatchNorm2d(inplanes, momentum=0.1),
            nn.ReLU(inplace=True), nn.Conv2d(inplanes, inplanes, 3, padding=1),
            nn.BatchNorm2d(inplanes, momentum=0.1), nn.ReLU(inplace=True))

    def forward(self, xyz, feature):
        n, c, h, w = feature.size()
        new_feature = F.unfold(feature, kernel_size=3, padding=1).view(n, -1, h, w)
        attention = torch.sigmoid(self.attention_x(xyz))
        return self.position_mlp_2(new_feature * attention) + feature


def _enc(inplanes, outplanes, blocks, stride, downsample, bn_d=0.01):
    layers = [(f"residual_{i}", SACBlock(inplanes)) for i in range(blocks)]
    if downsample:
        layers += [("conv", nn.Conv2d(inplanes, outplanes, 3, stride=[1, stride], padding=1,
                                      bias=False)),
                   ("bn", nn.BatchNorm2d(outplanes, momentum=bn_d)), ("relu", nn.LeakyReLU(0.1))]
    return nn.Sequential(OrderedDict(layers))


class Backbone(nn.Module):
    def __init__(self, layers=21, in_channels=5, dropout=0.01):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32, momentum=0.01)
        self.relu1 = nn.LeakyReLU(0.1)
        planes = [(32, 64, True), (64, 128, True), (128, 256, True), (256, 256, False),
                  (256, 256, False)]
        for i, (cin, cout, ds) in enumerate(planes):
            setattr(self, f"enc{i + 1}", _enc(cin, cout, BLOCKS[layers][i], 2, ds))
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x):
        skips, os = {}, 1
        xyz = x[:, 1:4]
        feature = self.relu1(self.bn1(self.conv1(x)))
        for i in range(1, 6):
            stage = getattr(self, f"enc{i}")
            y = feature
            for name, layer in stage.named_children():
                y = layer(xyz, y) if name.startswith("residual_") else layer(y)
            if y.shape[3] < feature.shape[3]:
                xyz = F.interpolate(xyz, size=[xyz.shape[2], xyz.shape[3] // 2],
                                    mode="bilinear", align_corners=True)
                skips[os] = feature.detach()
                os *= 2
            feature = self.dropout(y)
        return feature, skips


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, bn_d=0.01):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes[0], 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0], momentum=bn_d)
        self.relu1 = nn.LeakyReLU(0.1)
        self.conv2 = nn.Conv2d(planes[0], planes[1], 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes[1], momentum=bn_d)
        self.relu2 = nn.LeakyReLU(0.1)

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out))) + x


def _dec(planes, stride, bn_d=0.01):
    first = (nn.ConvTranspose2d(planes[0], planes[1], [1, 4], stride=[1, 2], padding=[0, 1])
             if stride == 2 else nn.Conv2d(planes[0], planes[1], 3, padding=1))
    return nn.Sequential(OrderedDict([
        ("upconv" if stride == 2 else "conv", first),
        ("bn", nn.BatchNorm2d(planes[1], momentum=bn_d)), ("relu", nn.LeakyReLU(0.1)),
        ("residual", BasicBlock(planes[1], planes, bn_d))]))


class Decoder(nn.Module):
    CHANNELS = [256, 256, 128, 64, 32]  # dec5 first
    STRIDES = [1, 1, 2, 2, 2]

    def __init__(self, dropout=0.01):
        super().__init__()
        inputs = [256] + self.CHANNELS[:-1]
        for i in range(5):
            setattr(self, f"dec{5 - i}", _dec([inputs[i], self.CHANNELS[i]], self.STRIDES[i]))
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x, skips):
        os, outs = 8, []
        for i in range(5):
            feats = getattr(self, f"dec{5 - i}")(x)
            if feats.shape[-1] > x.shape[-1]:
                os //= 2
                feats = feats + skips[os].detach()
            outs.append(feats)
            x = feats
        outs[-1] = self.dropout(outs[-1])
        return outs[::-1]  # full resolution first


class SqueezeSegV3Torch(nn.Module):
    def __init__(self, layers=21, num_classes=20):
        super().__init__()
        self.backbone = Backbone(layers)
        self.decoder = Decoder()
        for i, width in enumerate(Decoder.CHANNELS):
            kernel, pad = (3, 1) if i == 4 else (1, 0)
            setattr(self, f"head{i + 1}", nn.Sequential(
                nn.Dropout2d(0.01), nn.Conv2d(width, num_classes, kernel, padding=pad)))

    def forward(self, x):
        """[B, 5, H, W] -> [logits (head5, full resolution), head4, head3, head2, head1]."""
        feature, skips = self.backbone(x)
        feats = self.decoder(feature, skips)
        heads = [self.head5, self.head4, self.head3, self.head2, self.head1]
        return [head(f) for head, f in zip(heads, feats)]


def build(layers):
    return SqueezeSegV3Torch(layers)
