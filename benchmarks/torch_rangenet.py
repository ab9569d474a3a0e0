"""RangeNet++ (DarkNet-21/53 encoder + decoder + head) in PyTorch, for benchmarks/bench_models.py.

Written from lidar-bonnetal's ``backbones/darknet.py``, ``decoders/darknet.py`` and
``segmentator.py`` (PRBonn/lidar-bonnetal): module names are the original ones, so
``state_dict()`` has the keys of the released checkpoint files and
``paddlexseg.convert`` maps them onto :class:`paddlexseg.models.RangeNet` (same weights in
both frameworks). The head returns logits (the original's softmax is left out on both sides).
Importing this module imports torch.
"""
from collections import OrderedDict

import torch
from torch import nn

BLOCKS = {21: [1, 1, 2, 2, 1], 53: [1, 2, 8, 8, 4]}
CHANNELS = [32, 64, 128, 256, 512, 1024]


class BasicBlock(nn.Module):
    """1x1 conv to planes[0], 3x3 conv to planes[1], each BN + LeakyReLU(0.1), residual add."""

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


def _enc(planes, blocks, stride=2, bn_d=0.01):
    layers = [("conv", nn.Conv2d(planes[0], planes[1], 3, stride=[1, stride], padding=1,
                                 bias=False)),
              ("bn", nn.BatchNorm2d(planes[1], momentum=bn_d)), ("relu", nn.LeakyReLU(0.1))]
    layers += [(f"residual_{i}", BasicBlock(planes[1], planes, bn_d)) for i in range(blocks)]
    return nn.Sequential(OrderedDict(layers))


def _dec(planes, bn_d=0.01):
    return nn.Sequential(OrderedDict([
        ("upconv", nn.ConvTranspose2d(planes[0], planes[1], [1, 4], stride=[1, 2],
                                      padding=[0, 1])),
        ("bn", nn.BatchNorm2d(planes[1], momentum=bn_d)), ("relu", nn.LeakyReLU(0.1)),
        ("residual", BasicBlock(planes[1], planes, bn_d))]))


class Backbone(nn.Module):
    def __init__(self, layers=21, in_channels=5, dropout=0.01):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32, momentum=0.01)
        self.relu1 = nn.LeakyReLU(0.1)
        for i in range(5):
            setattr(self, f"enc{i + 1}", _enc(CHANNELS[i:i + 2], BLOCKS[layers][i]))
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        skips = []
        for i in range(5):
            skips.append(x.detach())  # every encoder stage halves W (output stride 32)
            x = self.dropout(getattr(self, f"enc{i + 1}")(x))
        return x, skips


class Decoder(nn.Module):
    def __init__(self, dropout=0.01):
        super().__init__()
        for i in range(5):
            setattr(self, f"dec{5 - i}", _dec([CHANNELS[5 - i], CHANNELS[4 - i]]))
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x, skips):
        for i in range(5):
            x = getattr(self, f"dec{5 - i}")(x) + skips[4 - i]
        return self.dropout(x)


class RangeNetTorch(nn.Module):
    """lidar-bonnetal's Segmentator without the CRF: backbone, decoder, head."""

    def __init__(self, layers=21, num_classes=20):
        super().__init__()
        self.backbone = Backbone(layers)
        self.decoder = Decoder()
        self.head = nn.Sequential(nn.Dropout2d(0.01), nn.Conv2d(32, num_classes, 3, padding=1))

    def forward(self, x):
        feature, skips = self.backbone(x)
        return self.head(self.decoder(feature, skips))


def checkpoint_files(model, folder):
    """Write the three lidar-bonnetal files (``.npz``) of ``model``; returns the folder."""
    import os

    import numpy as np
    for name, part in (("backbone", model.backbone), ("segmentation_decoder", model.decoder),
                       ("segmentation_head", model.head)):
        np.savez(os.path.join(folder, name + ".npz"),
                 **{k: v.detach().cpu().numpy() for k, v in part.state_dict().items()})
    return folder


def build(layers, seed=0):
    torch.manual_seed(seed)
    model = RangeNetTorch(layers)
    with torch.no_grad():  # non-trivial BN statistics, so eval outputs exercise them
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model
