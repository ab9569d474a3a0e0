"""Rulebooks: for each kernel offset, which input row feeds which output row.

A convolution ``out[o] += feats[i] @ W[k]`` runs over the (i, o) pairs of every kernel
offset ``k``. Offsets are numbered like a dense ``conv3d`` weight ``[Cout, Cin, kz, ky, kx]``
(and paddle.sparse / spconv 1.x ``[kz, ky, kx, Cin, Cout]``): ``k = (kz * Ky + ky) * Kx + kx``,
z slowest. Input site ``i`` and output site ``o`` of offset ``(kz, ky, kx)`` satisfy, per axis,

* strided ``SparseConv3d`` (spconv semantics): ``i = o * stride - padding + k * dilation``;
  an output site exists when at least one input site reaches it and ``0 <= o < out_shape``
  with ``out_shape = (in + 2 * padding - dilation * (k - 1) - 1) // stride + 1``;
* ``SubMConv3d``: ``i = o + (k - (K - 1) // 2) * dilation``, outputs only at the input sites;
* ``SparseInverseConv3d``: the pairs of the strided convolution with ``i`` and ``o`` swapped.

Construction is vectorised with Paddle ops (so it runs where the coords live, CPU or GPU):
coordinates are encoded to one int64 key, sorted once, and every offset is a
``searchsorted`` of shifted keys; there is no Python loop over points.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import paddle

__all__ = ["Rulebook", "as_triple", "conv_output_shape", "kernel_offsets",
           "build_subm_rulebook", "build_conv_rulebook"]


def as_triple(value, name):
    """An int or a sequence of 3 ints -> tuple of 3 ints (``name`` is used in errors)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"{name} must be an int or 3 ints (z, y, x), got {value}")
    return value


def conv_output_shape(spatial_shape, kernel_size, stride, padding, dilation):
    """spconv's output grid size of a strided sparse convolution, per axis.

    ``(in + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1``
    """
    out = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, st, p, d in
                zip(spatial_shape, kernel_size, stride, padding, dilation))
    if min(out) < 1:
        raise ValueError(f"sparse conv: grid {tuple(spatial_shape)} is too small for kernel "
                         f"{kernel_size}, stride {stride}, padding {padding}, dilation {dilation}")
    return out


def kernel_offsets(kernel_size):
    """int64 [Kz*Ky*Kx, 3] kernel positions (kz, ky, kx) in offset order (z slowest)."""
    kz, ky, kx = kernel_size
    grid = np.stack(np.meshgrid(np.arange(kz), np.arange(ky), np.arange(kx), indexing="ij"), -1)
    return grid.reshape(-1, 3).astype(np.int64)


@dataclass
class Rulebook:
    """Input/output row pairs of one sparse convolution, grouped by kernel offset.

    Attributes:
        kind: "subm", "conv" (strided or not) or "inverse".
        kernel_size, stride, padding, dilation: geometry, 3 ints each.
        offsets: kernel offset index of each pair list (offsets without pairs left out).
        in_idx, out_idx: int64 Tensors [n_k] per listed offset; within one offset both are
            duplicate-free (the map between input and output sites is one-to-one).
        center: subm only: the centre offset, whose pairs are the identity (not listed).
        num_in, num_out: rows of the input and output features.
        in_shape, out_shape: grid sizes (Z, Y, X).
        in_coords, out_coords: int Tensors [num_in, 4] / [num_out, 4].
        in_coords_id, out_coords_id: ``SparseTensor.coords_id`` of input and output.
        host_pairs: NumPy copies of the pairs, filled by the NumPy backend on first use.
        inverted: the swapped rulebook, filled by ``get_inverse_rulebook`` on first use.
    """
    kind: str
    kernel_size: Tuple[int, int, int]
    stride: Tuple[int, int, int]
    padding: Tuple[int, int, int]
    dilation: Tuple[int, int, int]
    offsets: List[int]
    in_idx: List[paddle.Tensor]
    out_idx: List[paddle.Tensor]
    center: Optional[int]
    num_in: int
    num_out: int
    in_shape: Tuple[int, int, int]
    out_shape: Tuple[int, int, int]
    in_coords: paddle.Tensor
    out_coords: paddle.Tensor
    in_coords_id: int
    out_coords_id: int
    host_pairs: Optional[list] = field(default=None, repr=False, compare=False)
    inverted: Optional["Rulebook"] = field(default=None, repr=False, compare=False)

    @property
    def num_pairs(self):
        """Input-output pairs over all offsets (the centre of a subm counts num_in)."""
        listed = sum(int(i.shape[0]) for i in self.in_idx)
        return listed + (self.num_in if self.center is not None else 0)

    def describe(self):
        return (f"{self.kind} rulebook (kernel {self.kernel_size}, stride {self.stride}, "
                f"padding {self.padding}, dilation {self.dilation}, {self.num_in} -> "
                f"{self.num_out} sites)")

    def inverse(self):
        """The rulebook of the matching SparseInverseConv3d: pairs swapped, in <-> out."""
        if self.kind != "conv":
            raise ValueError(f"only a strided 'conv' rulebook can be inverted, not a "
                             f"{self.describe()}")
        return Rulebook("inverse", self.kernel_size, self.stride, self.padding, self.dilation,
                        list(self.offsets), list(self.out_idx), list(self.in_idx), None,
                        self.num_out, self.num_in, self.out_shape, self.in_shape,
                        self.out_coords, self.in_coords, self.out_coords_id, self.in_coords_id)


def _encode(coords, shape, shift=(0, 0, 0)):
    """int64 [N] key of (batch, z, y, x) rows on a grid ``shape`` (coords shifted by ``shift``)."""
    c = coords.astype("int64")
    z, y, x = shape
    return (((c[:, 0] * z + (c[:, 1] + shift[0])) * y + (c[:, 2] + shift[1])) * x
            + (c[:, 3] + shift[2]))


def _decode(keys, shape, dtype):
    """Inverse of ``_encode`` (no shift): int64 [M] -> [M, 4] (batch, z, y, x)."""
    z, y, x = shape
    cx = keys % x
    rest = keys // x
    cy = rest % y
    rest = rest // y
    cz = rest % z
    cb = rest // z
    return paddle.stack([cb, cz, cy, cx], axis=1).astype(dtype)


def _unique_inverse(keys):
    """Sorted unique values of a 1-D int64 tensor and the inverse map ``keys = uniq[inverse]``.

    Sort-based; ``paddle.unique(..., return_inverse=True)`` takes minutes on CPU at 200k keys.
    """
    order = paddle.argsort(keys)                                   # [P]
    skeys = paddle.gather(keys, order)                             # [P] ascending
    first = paddle.concat([paddle.ones([1], dtype="bool"), skeys[1:] != skeys[:-1]])
    group = paddle.cumsum(first.astype("int64")) - 1               # [P] unique id, sorted
    uniq = paddle.masked_select(skeys, first)                      # [U]
    inverse = paddle.scatter(paddle.zeros_like(group), order, group, overwrite=True)
    return uniq, inverse


def _split(values, counts):
    """Split a 1-D tensor into pieces of the given (host) sizes."""
    if len(counts) == 1:
        return [values]
    return paddle.split(values, counts, axis=0)


def build_subm_rulebook(coords, spatial_shape, kernel_size, dilation, coords_id):
    """Pairs of a submanifold convolution (outputs at the input sites).

    Args:
        coords: int Tensor [N, 4] (batch, z, y, x), unique rows in any order.
        spatial_shape: (Z, Y, X).
        kernel_size, dilation: 3 ints each; kernel sizes must be odd.
        coords_id: ``SparseTensor.coords_id`` of the input (= of the output).

    Returns:
        Rulebook of kind "subm" with the identity centre offset kept out of the lists.
    """
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(f"SubMConv3d: kernel_size must be odd per axis, got {kernel_size}")
    n = int(coords.shape[0])
    volume = int(np.prod(kernel_size))
    center = volume // 2
    radius = tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation))
    padded = tuple(s + 2 * r for s, r in zip(spatial_shape, radius))
    lists = {}
    if n > 0 and volume > 1:
        keys = _encode(coords, padded, radius)                 # [N] int64
        order = paddle.argsort(keys)                            # [N]
        skeys = paddle.gather(keys, order)                      # [N] ascending
        if n > 1 and bool(paddle.any(skeys[1:] == skeys[:-1]).item()):
            raise ValueError("SubMConv3d: the input has duplicated coordinates; submanifold "
                             "convolution needs unique sites (merge duplicated voxels first)")
        disp = (kernel_offsets(kernel_size) - np.array(kernel_size) // 2) * np.array(dilation)
        delta = (disp[:, 0] * padded[1] + disp[:, 1]) * padded[2] + disp[:, 2]  # [K3]
        # offsets k < center; offset volume-1-k is the mirror image (pairs swapped)
        half = paddle.to_tensor(delta[:center], dtype="int64", place=keys.place)
        query = (skeys.unsqueeze(0) + half.unsqueeze(1)).flatten()          # [H*N]
        pos = paddle.clip(paddle.searchsorted(skeys, query), max=n - 1)    # [H*N]
        found = paddle.gather(skeys, pos) == query                          # [H*N]
        counts = found.reshape([center, n]).astype("int64").sum(axis=1).numpy().tolist()
        hits = paddle.nonzero(found).flatten()                              # [P]
        if int(hits.shape[0]) > 0:
            nbr = paddle.gather(order, paddle.gather(pos, hits))  # input row i = o + disp_k
            site = paddle.gather(order, hits % n)                 # output row o
            kept = [c for c in counts if c > 0]
            nbr_parts, site_parts = _split(nbr, kept), _split(site, kept)
            ks = [k for k, c in enumerate(counts) if c > 0]
            for k, a, b in zip(ks, nbr_parts, site_parts):
                lists[k] = (a, b)                   # (in, out) of offset k
                lists[volume - 1 - k] = (b, a)      # mirror offset: roles swapped
    offsets = sorted(lists)
    return Rulebook("subm", tuple(kernel_size), (1, 1, 1), tuple(radius), tuple(dilation),
                    offsets, [lists[k][0] for k in offsets], [lists[k][1] for k in offsets],
                    center, n, n, tuple(spatial_shape), tuple(spatial_shape), coords, coords,
                    coords_id, coords_id)


def build_conv_rulebook(coords, spatial_shape, kernel_size, stride, padding, dilation,
                        coords_id, out_coords_id):
    """Pairs and output sites of a (strided) sparse convolution, spconv semantics.

    Output sites come sorted by (batch, z, y, x).

    Args:
        coords: int Tensor [N, 4] (batch, z, y, x), any order.
        spatial_shape: (Z, Y, X) of the input grid.
        kernel_size, stride, padding, dilation: 3 ints each.
        coords_id, out_coords_id: tokens of the input and the new output coordinates.

    Returns:
        Rulebook of kind "conv" whose ``out_coords`` are the new active sites.
    """
    n = int(coords.shape[0])
    out_shape = conv_output_shape(spatial_shape, kernel_size, stride, padding, dilation)
    volume = int(np.prod(kernel_size))
    c = coords.astype("int64")
    offsets, in_idx, out_idx = [], [], []
    out_coords = paddle.zeros([0, 4], dtype=coords.dtype)
    if n > 0:
        per_axis = []
        for axis in range(3):
            j = paddle.arange(kernel_size[axis], dtype="int64").unsqueeze(1)      # [K_a, 1]
            num = c[:, axis + 1].unsqueeze(0) + padding[axis] - j * dilation[axis]  # [K_a, N]
            ok = (num >= 0) & (num < out_shape[axis] * stride[axis])
            ok = ok & (paddle.remainder(num, paddle.full_like(num, stride[axis])) == 0)
            per_axis.append((ok, paddle.floor_divide(num, paddle.full_like(num, stride[axis]))))
        (vz, oz), (vy, oy), (vx, ox) = per_axis
        valid = (vz.unsqueeze([1, 2]) & vy.unsqueeze([0, 2]) & vx.unsqueeze([0, 1]))
        keys = (((c[:, 0] * out_shape[0] + oz.unsqueeze([1, 2])) * out_shape[1]
                 + oy.unsqueeze([0, 2])) * out_shape[2] + ox.unsqueeze([0, 1]))  # [Kz,Ky,Kx,N]
        valid = valid.reshape([volume, n])
        counts = valid.astype("int64").sum(axis=1).numpy().tolist()
        hits = paddle.nonzero(valid.flatten()).flatten()                      # [P]
        if int(hits.shape[0]) > 0:
            cand = paddle.gather(keys.flatten(), hits)                        # [P] output keys
            uniq, inverse = _unique_inverse(cand)
            out_coords = _decode(uniq, out_shape, coords.dtype)
            kept = [cnt for cnt in counts if cnt > 0]
            offsets = [k for k, cnt in enumerate(counts) if cnt > 0]
            in_idx = _split(hits % n, kept)
            out_idx = _split(inverse, kept)
    return Rulebook("conv", tuple(kernel_size), tuple(stride), tuple(padding), tuple(dilation),
                    offsets, in_idx, out_idx, None, n, int(out_coords.shape[0]),
                    tuple(spatial_shape), tuple(out_shape), coords, out_coords,
                    coords_id, out_coords_id)
