"""ResNet-B and ResNet-D backbones returning the C2..C5 feature maps.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (variant "b", as in
torchvision and detectron2); He et al., "Bag of Tricks for Image Classification with Convolutional
Neural Networks", CVPR 2019 (variant "d" = PaddleSeg's ResNet*_vd: a deep 3x3 stem and an average
pool before the 1x1 projection shortcut).

Sublayer names follow torchvision (and timm for variant "d": ``conv1`` becomes a Sequential
``conv1.0/.1/.3/.4/.6`` and the projection is ``downsample.1/.2`` after the pool). Paddle's batch
norm stores ``running_mean``/``running_var`` as ``_mean``/``_variance``.

Checkpoint key mapping (variant "b", depth 18..152; ``s`` = 2..5, ``b`` = block, ``k`` = 1..3):

=====================================  ==========================================
detectron2 (``backbone.bottom_up.`` cut)  this module
=====================================  ==========================================
``stem.conv1.weight``                  ``conv1.weight``
``stem.conv1.norm.{weight,bias}``      ``bn1.{weight,bias}``
``stem.conv1.norm.running_mean/var``   ``bn1._mean`` / ``bn1._variance``
``res{s}.{b}.conv{k}.weight``          ``layer{s-1}.{b}.conv{k}.weight``
``res{s}.{b}.conv{k}.norm.*``          ``layer{s-1}.{b}.bn{k}.*`` (same renames)
``res{s}.{b}.shortcut.weight``         ``layer{s-1}.{b}.downsample.0.weight``
``res{s}.{b}.shortcut.norm.*``         ``layer{s-1}.{b}.downsample.1.*``
=====================================  ==========================================

torchvision keys are identical up to the two running-statistic renames (``num_batches_tracked``
and ``fc.*`` are dropped). :func:`detectron2_to_paddle_key` implements the table. detectron2's MSRA
ImageNet weights (``R-50.pkl``/``R-101.pkl``) put the stride on the first 1x1 conv: build with
``stride_in_1x1=True`` and feed BGR 0..255 images minus the pixel mean (std 1) to use them as is.
detectron2 freezes those batch norms (FrozenBN); ``frozen_stages`` freezes whole stages here.
"""
import re

import paddle
import paddle.nn as nn

from ...registry import BACKBONES

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "detectron2_to_paddle_key"]

_ARCH = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
         50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
         152: ("bottleneck", (3, 8, 36, 3))}


def _conv(in_ch, out_ch, kernel, stride=1):
    """Bias-free conv with He (fan_out, relu) init, as torchvision / detectron2 c2_msra_fill."""
    init = nn.initializer.KaimingNormal(nonlinearity="relu", mode="fan_out")
    return nn.Conv2D(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2,
                     weight_attr=paddle.ParamAttr(initializer=init), bias_attr=False)


class BasicBlock(nn.Layer):
    """Two 3x3 convs (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels, channels, stride=1, downsample=None, norm_momentum=0.9,
                 stride_in_1x1=False):
        super().__init__()
        del stride_in_1x1  # only one place for the stride in a basic block
        self.conv1 = _conv(in_channels, channels, 3, stride)
        self.bn1 = nn.BatchNorm2D(channels, momentum=norm_momentum)
        self.conv2 = _conv(channels, channels, 3)
        self.bn2 = nn.BatchNorm2D(channels, momentum=norm_momentum)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Layer):
    """1x1 reduce, 3x3, 1x1 expand (x4) (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, in_channels, channels, stride=1, downsample=None, norm_momentum=0.9,
                 stride_in_1x1=False):
        super().__init__()
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv(in_channels, channels, 1, s1)
        self.bn1 = nn.BatchNorm2D(channels, momentum=norm_momentum)
        self.conv2 = _conv(channels, channels, 3, s3)
        self.bn2 = nn.BatchNorm2D(channels, momentum=norm_momentum)
        self.conv3 = _conv(channels, channels * 4, 1)
        self.bn3 = nn.BatchNorm2D(channels * 4, momentum=norm_momentum)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@BACKBONES.register()
class ResNet(nn.Layer):
    """ResNet returning the feature maps of the stages listed in ``out_indices``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        variant: "b" (torchvision/detectron2) or "d" (deep stem + avg-pool shortcut, ResNet-vd).
        in_channels: input channels (3 for RGB, e.g. 5 for range or event images).
        out_indices: which of the stages C2..C5 (0..3) to return, in that order.
        stem_stride: stride of the first stem conv (1 keeps full resolution, e.g. range images).
        stem_pool: whether the stem ends with the 3x3 stride-2 max pool.
        stride_in_1x1: put a bottleneck's stride on its first 1x1 conv (MSRA/detectron2 weights)
            instead of the 3x3 conv (torchvision).
        norm_momentum: batch-norm momentum in Paddle's convention (running = m * running +
            (1 - m) * batch), i.e. 0.9 = PyTorch's 0.1.
        frozen_stages: -1 trains everything; 0 freezes the stem; k freezes the stem and stages
            1..k (parameters get no gradient; their batch norms always use running stats).
        pretrained: optional path of a Paddle state dict (``.pdparams``) to load.

    Attributes:
        out_channels: channels of each returned map. out_strides: their strides.
    """

    def __init__(self, depth=50, variant="b", in_channels=3, out_indices=(0, 1, 2, 3),
                 stem_stride=2, stem_pool=True, stride_in_1x1=False, norm_momentum=0.9, frozen_stages=-1,
                 pretrained=None):
        super().__init__()
        if depth not in _ARCH:
            raise ValueError(f"ResNet.depth: expected one of {sorted(_ARCH)}, got {depth!r}")
        if variant not in ("b", "d"):
            raise ValueError(f"ResNet.variant: expected 'b' or 'd', got {variant!r}")
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(i not in (0, 1, 2, 3) for i in out_indices):
            raise ValueError(f"ResNet.out_indices: expected indices in 0..3, got {out_indices}")
        if stem_stride not in (1, 2):
            raise ValueError(f"ResNet.stem_stride: expected 1 or 2, got {stem_stride!r}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"ResNet.frozen_stages: expected -1..4, got {frozen_stages!r}")
        kind, layers = _ARCH[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.depth, self.variant = depth, variant
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self._momentum = norm_momentum
        self._stride_in_1x1 = stride_in_1x1

        if variant == "d":
            self.conv1 = nn.Sequential(
                _conv(in_channels, 32, 3, stem_stride), nn.BatchNorm2D(32, momentum=norm_momentum),
                nn.ReLU(), _conv(32, 32, 3), nn.BatchNorm2D(32, momentum=norm_momentum), nn.ReLU(),
                _conv(32, 64, 3))
        else:
            self.conv1 = _conv(in_channels, 64, 7, stem_stride)
        self.bn1 = nn.BatchNorm2D(64, momentum=norm_momentum)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2D(3, stride=2, padding=1) if stem_pool else None

        self._in = 64
        stage_strides = (1, 2, 2, 2)
        self.layer1 = self._make_layer(block, 64, layers[0], stage_strides[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stage_strides[1])
        self.layer3 = self._make_layer(block, 256, layers[2], stage_strides[2])
        self.layer4 = self._make_layer(block, 512, layers[3], stage_strides[3])

        stride = stem_stride * (2 if stem_pool else 1)
        strides = []
        for s in stage_strides:
            stride *= s
            strides.append(stride)
        self.out_channels = [64 * 2 ** i * block.expansion for i in out_indices]
        self.out_strides = [strides[i] for i in out_indices]
        self._freeze()
        if pretrained:
            self.load_pretrained(pretrained)

    def _make_layer(self, block, channels, num_blocks, stride):
        downsample = None
        out_ch = channels * block.expansion
        if stride != 1 or self._in != out_ch:
            if self.variant == "d":
                pool = (nn.AvgPool2D(stride, stride=stride, ceil_mode=True, exclusive=True)
                        if stride != 1 else nn.Identity())
                downsample = nn.Sequential(pool, _conv(self._in, out_ch, 1),
                                           nn.BatchNorm2D(out_ch, momentum=self._momentum))
            else:
                downsample = nn.Sequential(_conv(self._in, out_ch, 1, stride),
                                           nn.BatchNorm2D(out_ch, momentum=self._momentum))
        blocks = [block(self._in, channels, stride, downsample, self._momentum,
                        self._stride_in_1x1)]
        self._in = out_ch
        for _ in range(1, num_blocks):
            blocks.append(block(self._in, channels, 1, None, self._momentum, self._stride_in_1x1))
        return nn.Sequential(*blocks)

    def _frozen_layers(self):
        if self.frozen_stages < 0:
            return []
        layers = [self.conv1, self.bn1]
        layers += [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        return layers

    def _freeze(self):
        """Stop gradients of the frozen stages and make their batch norms use running stats
        in train mode too (detectron2's FrozenBatchNorm2d)."""
        for layer in self._frozen_layers():
            for p in layer.parameters():
                p.stop_gradient = True
            for sub in layer.sublayers(include_self=True):
                if isinstance(sub, nn.BatchNorm2D):
                    sub._use_global_stats = True

    def load_pretrained(self, path):
        """Load a Paddle state dict file; raise naming the file on missing or mismatched keys."""
        import os
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ResNet.pretrained: no such file {path}")
        state = paddle.load(path)
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        bad = [k for k in own if k in state and list(state[k].shape) != list(own[k].shape)]
        if missing or bad:
            raise ValueError(f"ResNet.pretrained: {path} does not fit ResNet-{self.depth}"
                             f"{self.variant}: missing {missing[:5]}, wrong shape {bad[:5]}")
        self.set_state_dict({k: state[k] for k in own})

    def forward(self, x):
        """x: float [N, in_channels, H, W] -> list of [N, C_i, H/s_i, W/s_i] for out_indices."""
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        outs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outs.append(x)
        return [outs[i] for i in self.out_indices]


_D2_RES = re.compile(r"^res([2-5])\.(\d+)\.(conv[1-3]|shortcut)(\.norm)?\.(\w+)$")
_BN_RENAME = {"running_mean": "_mean", "running_var": "_variance"}


def detectron2_to_paddle_key(key):
    """Map one detectron2 ResNet key (``backbone.bottom_up.`` already removed) to this module.

    Returns None for keys without a counterpart (``num_batches_tracked``, ``fc.*``).

    Example:
        ``res3.0.shortcut.norm.running_var`` -> ``layer2.0.downsample.1._variance``
    """
    if key.endswith("num_batches_tracked") or key.startswith(("fc.", "linear.")):
        return None
    stem = re.match(r"^stem\.conv1(\.norm)?\.(\w+)$", key)
    if stem:
        norm, param = stem.groups()
        return f"bn1.{_BN_RENAME.get(param, param)}" if norm else f"conv1.{param}"
    m = _D2_RES.match(key)
    if not m:
        raise KeyError(f"detectron2 ResNet key '{key}' has no Paddle counterpart")
    stage, blk, conv, norm, param = m.groups()
    prefix = f"layer{int(stage) - 1}.{blk}."
    if conv == "shortcut":
        return prefix + (f"downsample.1.{_BN_RENAME.get(param, param)}" if norm
                         else f"downsample.0.{param}")
    k = conv[-1]
    return prefix + (f"bn{k}.{_BN_RENAME.get(param, param)}" if norm else f"conv{k}.{param}")
