"""Sparse convolution layers with spconv's names and semantics (spconv 2.x ``spconv.pytorch``).

Weights are ``[kz, ky, kx, Cin, Cout]`` (paddle.sparse layout; convert spconv 2.x checkpoints
with ``weight_from_spconv``). Unlike spconv, ``bias`` defaults to False: pass it explicitly
when porting a model that relies on spconv's ``bias=True`` default.
"""
import math

from paddle import nn

from . import functional as SF
from .rulebook import as_triple
from .tensor import SparseTensor

__all__ = ["SparseModule", "SubMConv3d", "SparseConv3d", "SparseInverseConv3d",
           "SparseBatchNorm", "SparseReLU", "SparseLeakyReLU", "SparseSequential"]


class SparseModule:
    """Marker: a layer whose ``forward`` takes and returns a SparseTensor (spconv.SparseModule).

    ``SparseSequential`` passes SparseTensors to these and only ``feats`` to other layers.
    """


def _expect_sparse(x, layer):
    if not isinstance(x, SparseTensor):
        raise TypeError(f"{layer}: expected a SparseTensor input, got {type(x).__name__}")


class _SparseConvBase(nn.Layer, SparseModule):
    """Holds ``weight`` [kz, ky, kx, Cin, Cout] and optional ``bias`` [Cout]."""

    def __init__(self, in_channels, out_channels, kernel_size, bias):
        super().__init__()
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = as_triple(kernel_size, f"{type(self).__name__}.kernel_size")
        # spconv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = Cin * kz * ky * kx
        bound = 1.0 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
        init = nn.initializer.Uniform(-bound, bound)
        self.weight = self.create_parameter(
            list(self.kernel_size) + [self.in_channels, self.out_channels],
            default_initializer=init)
        self.bias = self.create_parameter([self.out_channels], is_bias=True,
                                          default_initializer=init) if bias else None

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"bias={self.bias is not None}, indice_key={self.indice_key!r}")


class SubMConv3d(_SparseConvBase):
    """Submanifold sparse 3-D convolution: outputs only at the input sites.

    Graham et al., "3D Semantic Segmentation with Submanifold Sparse Convolutional
    Networks", CVPR 2018.

    Args:
        in_channels, out_channels: feature channels.
        kernel_size: odd int or 3 odd ints.
        bias: add a learnable bias.
        indice_key: layers on the same sites with the same kernel may share this key (and
            its rulebook); submanifold layers on the same sites share one anyway.
        dilation: int or 3 ints.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, bias=False, indice_key=None,
                 dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, bias)
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"SubMConv3d: kernel_size must be odd, got {self.kernel_size}")
        self.indice_key = indice_key
        self.dilation = as_triple(dilation, "SubMConv3d.dilation")

    def forward(self, x):
        _expect_sparse(x, "SubMConv3d")
        return SF.subm_conv3d(x, self.weight, self.bias, self.dilation, self.indice_key)


class SparseConv3d(_SparseConvBase):
    """Strided (regular) sparse 3-D convolution with spconv's output sites.

    Args:
        in_channels, out_channels: feature channels.
        kernel_size, stride, padding, dilation: int or 3 ints each.
        bias: add a learnable bias.
        indice_key: name of the rulebook for a later ``SparseInverseConv3d``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=False,
                 indice_key=None, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, bias)
        self.stride = as_triple(stride, "SparseConv3d.stride")
        self.padding = as_triple(padding, "SparseConv3d.padding")
        self.dilation = as_triple(dilation, "SparseConv3d.dilation")
        self.indice_key = indice_key

    def forward(self, x):
        _expect_sparse(x, "SparseConv3d")
        return SF.sparse_conv3d(x, self.weight, self.bias, self.stride, self.padding,
                                self.dilation, self.indice_key)


class SparseInverseConv3d(_SparseConvBase):
    """Inverse of the ``SparseConv3d`` with the same ``indice_key``: back to its input sites.

    Args:
        in_channels, out_channels: feature channels.
        kernel_size: must equal the paired SparseConv3d's kernel_size.
        bias: add a learnable bias.
        indice_key: the paired SparseConv3d's indice_key (required).
    """

    def __init__(self, in_channels, out_channels, kernel_size, bias=False, indice_key=None):
        super().__init__(in_channels, out_channels, kernel_size, bias)
        if indice_key is None:
            raise ValueError("SparseInverseConv3d: indice_key is required (the indice_key of "
                             "the SparseConv3d it inverts)")
        self.indice_key = indice_key

    def forward(self, x):
        _expect_sparse(x, "SparseInverseConv3d")
        return SF.sparse_inverse_conv3d(x, self.weight, self.bias, self.indice_key)


class SparseBatchNorm(nn.BatchNorm1D, SparseModule):
    """BatchNorm1D over the features of a SparseTensor (parameters named like BatchNorm1D).

    Args:
        num_features: channels C.
        momentum: Paddle convention, running = momentum * running + (1 - momentum) * batch
            (torch's ``momentum=0.1`` is Paddle's 0.9).
        epsilon: added to the variance.
    """

    def __init__(self, num_features, momentum=0.9, epsilon=1e-5):
        super().__init__(num_features, momentum=momentum, epsilon=epsilon)

    def forward(self, x):
        if isinstance(x, SparseTensor):
            return x.replace_feature(super().forward(x.feats))
        return super().forward(x)


class SparseReLU(nn.ReLU, SparseModule):
    """ReLU on the features of a SparseTensor (plain Tensors pass through ``nn.ReLU``)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        if isinstance(x, SparseTensor):
            return x.replace_feature(super().forward(x.feats))
        return super().forward(x)


class SparseLeakyReLU(nn.LeakyReLU, SparseModule):
    """LeakyReLU on the features of a SparseTensor.

    Args:
        negative_slope: slope for negative inputs (2DPASS uses 0.1).
    """

    def __init__(self, negative_slope=0.01):
        super().__init__(negative_slope=negative_slope)

    def forward(self, x):
        if isinstance(x, SparseTensor):
            return x.replace_feature(super().forward(x.feats))
        return super().forward(x)


class SparseSequential(nn.Sequential, SparseModule):
    """Runs layers in order like ``spconv.SparseSequential``.

    Sparse layers (``SparseModule``) get the SparseTensor; any other layer (e.g. a plain
    ``nn.BatchNorm1D`` or ``nn.LeakyReLU``, as in spconv models) gets its ``feats`` [N, C]
    and its result replaces them. Sublayers are named "0", "1", ... as in torch.
    """

    def forward(self, x):
        for layer in self._sub_layers.values():
            if isinstance(layer, SparseModule) or not isinstance(x, SparseTensor):
                x = layer(x)
            else:
                x = x.replace_feature(layer(x.feats))
        return x
