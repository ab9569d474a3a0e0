"""Sparse 3-D convolutions as functions: rulebook lookup/caching, then ``apply_rulebook``.

Weights use the paddle.sparse / spconv 1.x layout ``[kz, ky, kx, Cin, Cout]`` (see
``weights.weight_from_spconv`` for spconv 2.x checkpoints).
"""
import paddle

from .execute import apply_rulebook
from .rulebook import as_triple, build_conv_rulebook, build_subm_rulebook
from .tensor import SparseTensor, new_coords_id

__all__ = ["get_subm_rulebook", "get_conv_rulebook", "get_inverse_rulebook", "apply_rulebook",
           "subm_conv3d", "sparse_conv3d", "sparse_inverse_conv3d"]


def _check_cached(rulebook, key, expect_kind, x, kernel_size, geometry, layer):
    """Raise a ValueError naming ``key`` when a cached rulebook does not fit this layer."""
    if rulebook.kind != expect_kind or rulebook.kernel_size != kernel_size or \
            any(getattr(rulebook, name) != value for name, value in geometry.items()):
        want = ", ".join(f"{n} {v}" for n, v in geometry.items())
        raise ValueError(f"{layer}: indice_key {key!r} holds a {rulebook.describe()}, but this "
                         f"layer is {expect_kind} with kernel {kernel_size}, {want}; give "
                         f"layers with a different geometry their own indice_key")
    if rulebook.in_coords_id != x.coords_id:
        raise ValueError(f"{layer}: indice_key {key!r} was built on other coordinates "
                         f"({rulebook.num_in} sites) than this input ({x.num_points} sites); "
                         f"use one indice_key per scale and derive tensors with "
                         f"replace_feature so they keep their coords_id")


def get_subm_rulebook(x, kernel_size=3, dilation=1, indice_key=None):
    """Submanifold rulebook of ``x``, from its cache or built and cached.

    Rulebooks are cached under ``indice_key`` (when given) and under an automatic key of
    (coords_id, kernel, dilation), so submanifold layers on the same sites share one
    neighbour search even without an ``indice_key``.
    """
    kernel_size, dilation = as_triple(kernel_size, "kernel_size"), as_triple(dilation, "dilation")
    auto = ("subm", x.coords_id, kernel_size, dilation)
    for key in ((indice_key, auto) if indice_key is not None else (auto,)):
        rulebook = x.cache.get(key)
        if rulebook is not None:
            _check_cached(rulebook, key, "subm", x, kernel_size, {"dilation": dilation},
                          "SubMConv3d")
            break
    else:
        rulebook = build_subm_rulebook(x.coords, x.spatial_shape, kernel_size, dilation,
                                       x.coords_id)
    x.cache[auto] = rulebook
    if indice_key is not None:
        x.cache[indice_key] = rulebook
    return rulebook


def get_conv_rulebook(x, kernel_size, stride=1, padding=0, dilation=1, indice_key=None):
    """Rulebook (and output sites) of a strided sparse convolution, cached like spconv.

    Under ``indice_key`` it is later found by ``SparseInverseConv3d``; an automatic key of
    (coords_id, geometry) lets identical convolutions of the same input share it.
    """
    geometry = {"stride": as_triple(stride, "stride"), "padding": as_triple(padding, "padding"),
                "dilation": as_triple(dilation, "dilation")}
    kernel_size = as_triple(kernel_size, "kernel_size")
    auto = ("conv", x.coords_id, kernel_size) + tuple(geometry.values())
    for key in ((indice_key, auto) if indice_key is not None else (auto,)):
        rulebook = x.cache.get(key)
        if rulebook is not None:
            _check_cached(rulebook, key, "conv", x, kernel_size, geometry, "SparseConv3d")
            break
    else:
        rulebook = build_conv_rulebook(x.coords, x.spatial_shape, kernel_size,
                                       geometry["stride"], geometry["padding"],
                                       geometry["dilation"], x.coords_id, new_coords_id())
    x.cache[auto] = rulebook
    if indice_key is not None:
        x.cache[indice_key] = rulebook
    return rulebook


def get_inverse_rulebook(x, kernel_size, indice_key):
    """The swapped rulebook of the strided convolution cached under ``indice_key``."""
    kernel_size = as_triple(kernel_size, "kernel_size")
    rulebook = x.cache.get(indice_key) if indice_key is not None else None
    if rulebook is None or rulebook.kind != "conv":
        known = sorted(str(k) for k in x.cache if isinstance(k, str))
        raise ValueError(f"SparseInverseConv3d: indice_key {indice_key!r} names no strided "
                         f"SparseConv3d in this tensor's cache (string keys there: {known}); "
                         f"give the matching SparseConv3d the same indice_key")
    if rulebook.kernel_size != kernel_size:
        raise ValueError(f"SparseInverseConv3d: kernel_size {kernel_size} differs from the "
                         f"{rulebook.describe()} under indice_key {indice_key!r}")
    if rulebook.num_out != x.num_points:
        raise ValueError(f"SparseInverseConv3d: input has {x.num_points} sites but the "
                         f"SparseConv3d under indice_key {indice_key!r} produced "
                         f"{rulebook.num_out}; the inverse needs that conv's output sites")
    if rulebook.inverted is None:
        rulebook.inverted = rulebook.inverse()
    return rulebook.inverted


def _check_weight(x, weight, layer):
    if weight.ndim != 5:
        raise ValueError(f"{layer}: weight must be [kz, ky, kx, Cin, Cout], got "
                         f"{list(weight.shape)}")
    if weight.shape[3] != x.num_channels:
        raise ValueError(f"{layer}: weight expects Cin={weight.shape[3]} input channels, the "
                         f"SparseTensor has {x.num_channels}")


def _finish(out, bias):
    return out if bias is None else out + bias


def subm_conv3d(x, weight, bias=None, dilation=1, indice_key=None):
    """Submanifold sparse convolution (spconv ``SubMConv3d``): outputs at the input sites.

    Args:
        x: SparseTensor with C = Cin channels.
        weight: Tensor [kz, ky, kx, Cin, Cout], odd kernel sizes.
        bias: optional Tensor [Cout].
        dilation: int or 3 ints.
        indice_key: cache key shared by layers with the same sites and kernel.

    Returns:
        SparseTensor with the same coords (and cache) and Cout channels.
    """
    _check_weight(x, weight, "SubMConv3d")
    if tuple(weight.shape[:3]) == (1, 1, 1):            # 1x1x1: a plain matmul per site
        out = paddle.matmul(x.feats, weight.reshape(weight.shape[3:]))
        return x.replace_feature(_finish(out, bias))
    rulebook = get_subm_rulebook(x, tuple(weight.shape[:3]), dilation, indice_key)
    return x.replace_feature(_finish(apply_rulebook(x.feats, weight, rulebook), bias))


def sparse_conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, indice_key=None):
    """Strided sparse convolution (spconv ``SparseConv3d``), new output sites.

    Args:
        x: SparseTensor with Cin channels.
        weight: Tensor [kz, ky, kx, Cin, Cout].
        bias: optional Tensor [Cout].
        stride, padding, dilation: int or 3 ints.
        indice_key: key under which the rulebook is cached for ``sparse_inverse_conv3d``.

    Returns:
        SparseTensor on the output grid ``conv_output_shape(...)``, rows sorted by
        (batch, z, y, x), sharing ``x``'s cache.
    """
    _check_weight(x, weight, "SparseConv3d")
    rulebook = get_conv_rulebook(x, tuple(weight.shape[:3]), stride, padding, dilation,
                                 indice_key)
    feats = _finish(apply_rulebook(x.feats, weight, rulebook), bias)
    return SparseTensor(feats, rulebook.out_coords, rulebook.out_shape, x.batch_size,
                        cache=x.cache, coords_id=rulebook.out_coords_id)


def sparse_inverse_conv3d(x, weight, bias=None, indice_key=None):
    """Inverse of the strided convolution cached under ``indice_key`` (spconv
    ``SparseInverseConv3d``): outputs exactly at that convolution's input sites, same rows.

    Args:
        x: SparseTensor on the strided convolution's output sites.
        weight: Tensor [kz, ky, kx, Cin, Cout], kernel equal to the strided convolution's.
        bias: optional Tensor [Cout].
        indice_key: the strided convolution's ``indice_key``.

    Returns:
        SparseTensor with the coords, grid and coords_id of the strided convolution's input.
    """
    _check_weight(x, weight, "SparseInverseConv3d")
    rulebook = get_inverse_rulebook(x, tuple(weight.shape[:3]), indice_key)
    feats = _finish(apply_rulebook(x.feats, weight, rulebook), bias)
    return SparseTensor(feats, rulebook.out_coords, rulebook.out_shape, x.batch_size,
                        cache=x.cache, coords_id=rulebook.out_coords_id)
