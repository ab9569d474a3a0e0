"""Sparse 3-D convolution in pure Paddle (spconv / torchsparse replacement, CPU and GPU).

See docs/sparse.md. Public API::

    SparseTensor(feats, coords, spatial_shape, batch_size)
    SubMConv3d, SparseConv3d, SparseInverseConv3d, SparseBatchNorm, SparseReLU,
    SparseLeakyReLU, SparseSequential, SparseModule
    subm_conv3d, sparse_conv3d, sparse_inverse_conv3d, apply_rulebook
    get_subm_rulebook, get_conv_rulebook, get_inverse_rulebook, Rulebook
    conv_output_shape, kernel_offsets, weight_from_spconv, weight_to_spconv
    set_backend(name="auto" | "paddle" | "numpy", workers, blas_threads), get_backend
"""
from .tensor import SparseTensor
from .rulebook import (Rulebook, as_triple, build_conv_rulebook, build_subm_rulebook,
                       conv_output_shape, kernel_offsets)
from .execute import BACKENDS, get_backend, set_backend
from .functional import (apply_rulebook, get_conv_rulebook, get_inverse_rulebook,
                         get_subm_rulebook, sparse_conv3d, sparse_inverse_conv3d, subm_conv3d)
from .layers import (SparseBatchNorm, SparseConv3d, SparseInverseConv3d, SparseLeakyReLU,
                     SparseModule, SparseReLU, SparseSequential, SubMConv3d)
from .weights import SPCONV_LAYOUTS, weight_from_spconv, weight_to_spconv

__all__ = ["SparseTensor", "Rulebook", "as_triple", "build_conv_rulebook", "build_subm_rulebook",
           "conv_output_shape", "kernel_offsets", "apply_rulebook", "get_conv_rulebook",
           "get_inverse_rulebook", "get_subm_rulebook", "sparse_conv3d",
           "sparse_inverse_conv3d", "subm_conv3d", "SparseBatchNorm", "SparseConv3d",
           "SparseInverseConv3d", "SparseLeakyReLU", "SparseModule", "SparseReLU",
           "SparseSequential", "SubMConv3d", "SPCONV_LAYOUTS", "weight_from_spconv",
           "weight_to_spconv", "BACKENDS", "get_backend", "set_backend"]
