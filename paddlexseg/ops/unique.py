"""Unique integer rows (``torch.unique(x, dim=0, ...)``) and the int64 coordinate key.

Key layout (shared with the sparse-convolution helpers): a row ``(c0, c1, ..., c{D-1})`` of
coordinates inside a grid of ``shape = (s0, s1, ..., s{D-1})`` becomes the row-major index

    key = ((c0 * s1 + c1) * s2 + c2) * ... * s{D-1} + c{D-1}

so for sparse voxels ``(batch, z, y, x)`` in ``(B, D, H, W)``:
``key = ((batch * D + z) * H + y) * W + x``. Keys sort exactly like the rows do
lexicographically, and ``prod(shape)`` must stay below ``2**63``.

``paddle.unique(..., return_inverse=True)`` / ``return_counts=True`` is quadratic on the CPU
in Paddle 3.3.1 (16k values: 7 s), so unique keys are found by sorting: NumPy for arrays and
CPU tensors, ``paddle.argsort`` for tensors on an accelerator.
"""
import math

import numpy as np
import paddle

from paddlexseg.ops._common import is_paddle, like, on_cpu, to_numpy

__all__ = ["encode_coords", "decode_coords", "unique_rows"]

_INT64_LIMIT = 2 ** 63 - 1


def _check_shape(shape, ncols, op):
    shape = [int(s) for s in shape]
    if len(shape) != ncols:
        raise ValueError(f"{op}: shape {shape} must give one size per coordinate column "
                         f"({ncols} columns)")
    if any(s <= 0 for s in shape):
        raise ValueError(f"{op}: grid sizes must be positive, got {shape}")
    total = 1
    for s in shape:
        total *= s
    if total > _INT64_LIMIT:
        raise ValueError(f"{op}: grid {shape} has {total} cells, more than an int64 key holds")
    return shape


def _strides(shape):
    strides, acc = [], 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= s
    return strides[::-1]


def encode_coords(coords, shape, check=True):
    """Integer rows -> one row-major int64 key per row (see the module docstring).

    Args:
        coords: int [N, D] NumPy array or paddle Tensor, e.g. ``(batch, z, y, x)`` rows.
        shape: D grid sizes, e.g. ``(B, D, H, W)``; every column must lie in ``[0, size)``.
        check: verify the range (one reduction; pass False in hot loops with trusted rows).

    Returns:
        int64 [N] keys, same kind (NumPy/paddle) as ``coords``.
    """
    op = "encode_coords"
    coords = coords if is_paddle(coords) else np.asarray(coords)
    if coords.ndim != 2:
        raise ValueError(f"{op}: coords must be [N, D], got shape {list(coords.shape)}")
    shape = _check_shape(shape, coords.shape[1], op)
    if is_paddle(coords):
        c = coords.astype("int64")
        if check and c.shape[0]:
            low = c.min(axis=0).numpy()
            high = c.max(axis=0).numpy()
            _check_range(low, high, shape, op)
        strides = paddle.to_tensor(_strides(shape), dtype="int64", place=c.place)
        return (c * strides).sum(axis=1)
    c = np.asarray(coords).astype(np.int64, copy=False)
    if check and c.shape[0]:
        _check_range(c.min(axis=0), c.max(axis=0), shape, op)
    key = c[:, 0].copy()
    for col in range(1, c.shape[1]):  # Horner form: no int matmul (NumPy has no int BLAS)
        key *= shape[col]
        key += c[:, col]
    return key


def _check_range(low, high, shape, op):
    for col, (lo, hi, size) in enumerate(zip(low, high, shape)):
        if lo < 0 or hi >= size:
            raise ValueError(f"{op}: column {col} has values in [{lo}, {hi}], "
                             f"expected [0, {size})")


def decode_coords(keys, shape, dtype="int64"):
    """Inverse of :func:`encode_coords`: int64 [N] keys -> [N, D] rows of ``dtype``."""
    shape = _check_shape(shape, len(shape), "decode_coords")
    cols = []
    rest = keys
    if is_paddle(keys):
        for size in reversed(shape):
            cols.append(rest % size)
            rest = rest // size
        return paddle.stack(cols[::-1], axis=1).astype(dtype)
    for size in reversed(shape[1:]):
        rest, col = np.divmod(rest, size)
        cols.append(col)
    cols.append(rest)
    return np.stack(cols[::-1], axis=1).astype(dtype)


def _unique_keys_numpy(keys):
    """Sort-based unique of an int64 [N] key array.

    Returns:
        (first [M] position in ``keys`` of one member of each unique key (ascending key),
        inverse int64 [N], counts int64 [M]).
    """
    num = keys.shape[0]
    order = np.argsort(keys)  # [N]
    sorted_keys = np.take(keys, order)
    new = np.empty(num, dtype=bool)
    new[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    inverse = np.empty(num, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, num)).astype(np.int64)
    return order[starts], inverse, counts


def _unique_keys_paddle(keys):
    """Same as :func:`_unique_keys_numpy` with Paddle ops (stays on the device)."""
    num = keys.shape[0]
    order = paddle.argsort(keys)  # [N]
    sorted_keys = paddle.gather(keys, order)
    new = paddle.concat([paddle.ones([1], dtype="bool"), sorted_keys[1:] != sorted_keys[:-1]])
    group = paddle.cumsum(new.astype("int64")) - 1  # [N] unique id in sorted order
    inverse = paddle.scatter(paddle.zeros([num], dtype="int64"), order, group)
    starts = paddle.nonzero(new).flatten()
    ends = paddle.concat([starts[1:], paddle.full([1], num, dtype=starts.dtype)])
    return paddle.gather(order, starts), inverse, (ends - starts).astype("int64")


def unique_rows(coords):
    """``torch.unique(coords, dim=0, return_inverse=True, return_counts=True)`` for int rows.

    Rows are sorted lexicographically. Rows are shifted by their column minimum and packed
    into one int64 key when the spans allow (always for voxel grids); otherwise a
    lexicographic sort of the rows is used.

    Args:
        coords: int [N, D] NumPy array or paddle Tensor.

    Returns:
        (unique [M, D] of coords' dtype, inverse int64 [N] with ``unique[inverse] == coords``,
        counts int64 [M]), same kind (NumPy/paddle) as ``coords``.
    """
    op = "unique_rows"
    coords = coords if is_paddle(coords) else np.asarray(coords)
    if coords.ndim != 2:
        raise ValueError(f"{op}: coords must be [N, D], got shape {list(coords.shape)}")
    dtype = coords.dtype
    if is_paddle(coords):
        if dtype not in (paddle.int32, paddle.int64, paddle.int16, paddle.int8, paddle.uint8):
            raise TypeError(f"{op}: coords must be an integer tensor, got {dtype}")
    elif not np.issubdtype(dtype, np.integer):
        raise TypeError(f"{op}: coords must be an integer array, got {dtype}")
    num, ncols = coords.shape
    if num == 0 or on_cpu(coords):
        rows = to_numpy(coords, "coords", op)
        if num == 0:
            uniq, inverse, counts = rows.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            uniq, inverse, counts = _unique_rows_numpy(rows.astype(np.int64))
        return like(uniq.astype(rows.dtype), coords), like(inverse, coords), like(counts, coords)
    rows = coords.astype("int64")  # on an accelerator: stay there when a key fits
    low, high = rows.min(axis=0), rows.max(axis=0)
    spans = _spans(low.numpy(), high.numpy())
    if spans is not None:
        keys = encode_coords(rows - low, spans, check=False)
        first, inverse, counts = _unique_keys_paddle(keys)
        return paddle.gather(coords, first), inverse, counts
    uniq, inverse, counts = _unique_rows_numpy(rows.numpy())
    return like(uniq, coords).astype(dtype), like(inverse, coords), like(counts, coords)


def _spans(low, high):
    """Per-column spans as Python ints, or None when their product overflows an int64 key."""
    spans = [int(h) - int(lo) + 1 for lo, h in zip(low, high)]
    return spans if math.prod(spans) <= _INT64_LIMIT else None


def _unique_rows_numpy(rows):
    """unique_rows on an int64 [N, D] NumPy array."""
    columns = np.ascontiguousarray(rows.T)  # [D, N]: column reductions 5x faster
    low = columns.min(axis=1)
    spans = _spans(low, columns.max(axis=1))
    if spans is not None:
        keys = encode_coords(rows - low[None, :], spans, check=False)
        first, inverse, counts = _unique_keys_numpy(keys)
        return np.take(rows, first, axis=0), inverse, counts
    order = np.lexsort(rows.T[::-1])  # last key is primary: column 0 first
    sorted_rows = rows[order]
    new = np.r_[True, np.any(sorted_rows[1:] != sorted_rows[:-1], axis=1)]
    group = np.cumsum(new) - 1
    inverse = np.empty(rows.shape[0], dtype=np.int64)
    inverse[order] = group
    starts = np.flatnonzero(new)
    counts = np.diff(np.r_[starts, rows.shape[0]]).astype(np.int64)
    return sorted_rows[new], inverse, counts
