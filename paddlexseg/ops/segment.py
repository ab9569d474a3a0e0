"""torch_scatter's ``scatter_sum / scatter_mean / scatter_max / scatter_min`` on unsorted ids.

``paddle.geometric.segment_*`` need sorted ids (they raise otherwise and segfault on empty
input), so the common case (one id per slice along ``dim``, e.g. points -> voxels) sums with
``paddle.index_add`` and finds max/min and their positions after a stable argsort of the ids
and ``segment_max``. The values are then re-read from ``src`` at the arg positions so
the gradient is Paddle's. An index that varies along other dims too (torch_scatter broadcasts
it) goes through ``put_along_axis``.

Output size along ``dim`` is ``dim_size`` or ``index.max() + 1`` (0 for an empty index), as in
torch_scatter. Empty segments hold 0; their argmax/argmin is ``src.shape[dim]``. These run in
eager mode (they read the index range to check it and to size the output).
"""
import paddle

from paddlexseg.ops._common import check_index_tensor, index_range, normalize_dim

__all__ = ["scatter_sum", "scatter_mean", "scatter_max", "scatter_min"]


def _prepare(src, index, dim, dim_size, op):
    """Check arguments; return (dim, index, rows, out_size).

    ``rows`` is True when the index holds one id per slice along ``dim``; ``index`` is then
    1-D of length ``src.shape[dim]``, otherwise it is expanded to ``src.shape``.
    """
    if not isinstance(src, paddle.Tensor):
        raise TypeError(f"{op}: src must be a paddle.Tensor, got {type(src).__name__}")
    check_index_tensor(index, op)
    dim = normalize_dim(dim, src.ndim, op)
    if index.ndim > src.ndim:
        raise ValueError(f"{op}: index has more dims ({index.ndim}) than src ({src.ndim})")
    # torch_scatter.utils.broadcast: a 1-D index lies along dim, missing dims trail
    if index.ndim == 1:
        shape = [1] * dim + [index.shape[0]] + [1] * (src.ndim - dim - 1)
    else:
        shape = list(index.shape) + [1] * (src.ndim - index.ndim)
    for d, (i, s) in enumerate(zip(shape, src.shape)):
        if i not in (1, s):
            raise ValueError(f"{op}: index of shape {index.shape} does not broadcast to src "
                             f"of shape {src.shape} along dim {dim} (dim {d}: {i} vs {s})")
    rows = all(n == 1 for d, n in enumerate(shape) if d != dim)
    if rows:
        index = index.reshape([-1])
        if index.shape[0] != src.shape[dim]:
            index = index.expand([src.shape[dim]])
    else:
        index = index.reshape(shape).expand(src.shape)
    low, high = index_range(index) if index.size else (0, -1)
    if low < 0:
        raise ValueError(f"{op}: index values must be >= 0, got {low}")
    if dim_size is None:
        dim_size = high + 1
    elif high >= dim_size:
        raise ValueError(f"{op}: index value {high} does not fit dim_size={dim_size}")
    return dim, index, rows, int(dim_size)


def _out_shape(src, dim, size):
    shape = list(src.shape)
    shape[dim] = size
    return shape


def _expand_along(vector, ndim, dim):
    """Reshape a 1-D tensor to broadcast along ``dim`` of an ``ndim``-D tensor."""
    return vector.reshape([1] * dim + [-1] + [1] * (ndim - dim - 1))


def scatter_sum(src, index, dim=0, dim_size=None):
    """``torch_scatter.scatter_sum(src, index, dim, dim_size=dim_size)``.

    Args:
        src: Tensor of values.
        index: int32/int64 Tensor of segment ids, 1-D along ``dim`` or broadcastable to
            ``src`` as torch_scatter broadcasts it; any order, duplicates expected.
        dim: axis of ``src`` that is reduced.
        dim_size: number of segments (default ``index.max() + 1``).

    Returns:
        Tensor like ``src`` with ``src.shape[dim]`` replaced by ``dim_size``; gradient to
        ``src`` is ``grad`` gathered at ``index``.
    """
    dim, index, rows, size = _prepare(src, index, dim, dim_size, "scatter_sum")
    out = paddle.zeros(_out_shape(src, dim, size), dtype=src.dtype)
    if index.size == 0 or src.size == 0:
        return out
    if rows:
        return paddle.index_add(out, index, dim, src)
    return paddle.put_along_axis(out, index, src, dim, reduce="add", broadcast=False)


def scatter_mean(src, index, dim=0, dim_size=None):
    """``torch_scatter.scatter_mean``: segment sum divided by the segment size.

    Empty segments hold 0. Integer ``src`` is floor-divided, as torch_scatter does.
    Arguments and output as :func:`scatter_sum`.
    """
    dim, index, rows, size = _prepare(src, index, dim, dim_size, "scatter_mean")
    total = scatter_sum(src, index, dim=dim, dim_size=size)
    if index.size == 0 or src.size == 0:
        return total
    if rows:
        count = paddle.bincount(index, minlength=size).astype(src.dtype)  # [size]
        count = _expand_along(paddle.clip(count, min=1), src.ndim, dim)
    else:
        ones = paddle.ones(index.shape, dtype=src.dtype)
        count = paddle.put_along_axis(paddle.zeros(total.shape, dtype=src.dtype), index, ones,
                                      dim, reduce="add", broadcast=False)
        count = paddle.clip(count, min=1)
    if src.dtype in (paddle.int32, paddle.int64):
        return paddle.floor_divide(total, count)
    return total / count


def _arg_reduce_rows(src, index, dim, size, largest):
    """Values and first-occurrence arg of max/min for a 1-D index (no gradient).

    After a stable sort of the ids, the first position ``j`` in each segment that equals the
    segment's extreme is found as ``segment_max(hit * (E - j))``: one more sorted reduction
    instead of a broadcast ``where`` + ``segment_min`` (2.5x slower overall on the CPU) or
    NumPy's ``ufunc.at``/``reduceat`` (slower still with ~65k tiny segments).
    """
    num = src.shape[dim]
    moved = paddle.moveaxis(src, dim, 0)  # [E, ...rest]
    rest = list(moved.shape[1:])
    flat = moved.reshape([num, -1])  # [E, R]
    order = paddle.argsort(index, stable=True)  # [E]
    sorted_ids = paddle.gather(index, order)
    sorted_src = paddle.gather(flat, order)  # [E, R]
    reduce = paddle.geometric.segment_max if largest else paddle.geometric.segment_min
    values = reduce(sorted_src, sorted_ids)  # [max_id + 1, R]; absent ids hold 0
    hit = sorted_src == paddle.gather(values, sorted_ids)  # [E, R]
    rank_dtype = "float32" if num < 2 ** 24 else "float64"  # exact integers
    reverse = (num - paddle.arange(num, dtype=rank_dtype)).unsqueeze(1)  # [E, 1]: E - j
    first = paddle.geometric.segment_max(hit.astype(rank_dtype) * reverse, sorted_ids)
    pad = size - values.shape[0]
    if pad > 0:
        values = paddle.concat([values, paddle.zeros([pad, values.shape[1]], values.dtype)])
        first = paddle.concat([first, paddle.zeros([pad, first.shape[1]], first.dtype)])
    j = (num - first).astype("int64")  # [size, R]; j == E for empty segments
    order_ext = paddle.concat([order.astype("int64"), paddle.full([1], num, dtype="int64")])
    arg = paddle.gather(order_ext, j.flatten()).reshape(j.shape)
    values = values.reshape([size] + rest)
    arg = arg.reshape([size] + rest)
    return paddle.moveaxis(values, 0, dim), paddle.moveaxis(arg, 0, dim)


def _arg_reduce_full(src, index, dim, size, largest):
    """Values and first-occurrence arg of max/min for an index shaped like src."""
    num = src.shape[dim]
    shape = _out_shape(src, dim, size)
    mode = "amax" if largest else "amin"
    values = paddle.put_along_axis(paddle.zeros(shape, src.dtype), index, src, dim,
                                   reduce=mode, include_self=False, broadcast=False)
    hit = src == paddle.take_along_axis(values, index, dim, broadcast=False)
    positions = _expand_along(paddle.arange(num, dtype="int64"), src.ndim, dim)
    pos = paddle.where(hit, positions, paddle.full([1] * src.ndim, num, dtype="int64"))
    arg = paddle.put_along_axis(paddle.full(shape, num, dtype="int64"), index, pos, dim,
                                reduce="amin", include_self=True, broadcast=False)
    return values, arg


def _scatter_arg(src, index, dim, dim_size, largest, op):
    dim, index, rows, size = _prepare(src, index, dim, dim_size, op)
    num = src.shape[dim]
    shape = _out_shape(src, dim, size)
    if index.size == 0 or src.size == 0:
        return paddle.zeros(shape, src.dtype), paddle.full(shape, num, dtype="int64")
    with paddle.no_grad():
        reduce = _arg_reduce_rows if rows else _arg_reduce_full
        values, arg = reduce(src.detach(), index, dim, size, largest)
        arg = arg.astype("int64")
    if src.stop_gradient:
        return values, arg
    # Re-read the winners so that the gradient reaches exactly src[arg]; the extra zero slice
    # at position ``num`` serves the empty segments, as torch_scatter's backward does.
    padded = paddle.concat([src, paddle.zeros(_out_shape(src, dim, 1), src.dtype)], axis=dim)
    return paddle.take_along_axis(padded, arg, dim, broadcast=False), arg


def scatter_max(src, index, dim=0, dim_size=None):
    """``torch_scatter.scatter_max(src, index, dim, dim_size=dim_size) -> (values, argmax)``.

    ``argmax`` indexes ``src`` along ``dim``; among equal maxima the first position wins (as
    torch_scatter's CPU kernel). Empty segments: value 0, argmax ``src.shape[dim]``. The
    gradient reaches only ``src`` at ``argmax``.

    Args:
        src: Tensor of values.
        index: int32/int64 segment ids (see :func:`scatter_sum`), any order.
        dim: axis of ``src`` that is reduced.
        dim_size: number of segments (default ``index.max() + 1``).

    Returns:
        (values like src with dim_size along dim, int64 argmax of the same shape).
    """
    return _scatter_arg(src, index, dim, dim_size, True, "scatter_max")


def scatter_min(src, index, dim=0, dim_size=None):
    """``torch_scatter.scatter_min -> (values, argmin)``; mirror of :func:`scatter_max`."""
    return _scatter_arg(src, index, dim, dim_size, False, "scatter_min")
