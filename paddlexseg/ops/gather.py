"""``torch.gather`` and ``torch.index_select`` along any dim, int32 or int64 indices.

Paddle's ``paddle.gather(x, index, axis)`` is torch's ``index_select`` (whole slices), not
``torch.gather``; torch's element-wise gather is ``paddle.take_along_axis(..., broadcast=False)``.
Both Paddle kernels wrap negative indices and ``index_select`` then sends the gradient to the
wrong slice, so indices are checked to lie in ``[0, x.shape[dim])`` (torch raises too).
"""
import paddle

from paddlexseg.ops._common import (check_index_tensor, check_index_values, exceeds,
                                    is_empty, normalize_dim)

__all__ = ["gather", "index_select"]


def gather(x, dim, index):
    """``torch.gather(x, dim, index)``: ``out[i][j][k] = x[i][index[i][j][k]][k]`` for dim 1.

    ``index`` has ``x.ndim`` dims and may be smaller than ``x`` in the dims other than
    ``dim`` (torch's rule); the output has the shape of ``index``. The gradient to ``x``
    accumulates over duplicate indices, as in torch.

    Args:
        x: Tensor to read from.
        dim: axis along which to index (negative counts from the end).
        index: int32/int64 Tensor, values in ``[0, x.shape[dim])``.

    Returns:
        Tensor of ``index.shape`` and ``x.dtype``.
    """
    op = "gather"
    check_index_tensor(index, op)
    dim = normalize_dim(dim, x.ndim, op)
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index must have as many dims as x ({x.ndim}), "
                         f"got index of shape {index.shape}")
    for d in range(x.ndim):
        if d != dim and exceeds(index.shape[d], x.shape[d]):
            raise ValueError(f"{op}: index shape {index.shape} exceeds x shape {x.shape} "
                             f"in dim {d} (only dim {dim} may be larger)")
    check_index_values(index, x.shape[dim], op, dim)
    if is_empty(index):
        # keep the graph: an empty slice of x reshaped to the index shape
        return x.flatten()[:0].reshape(index.shape)
    return paddle.take_along_axis(x, index, dim, broadcast=False)


def index_select(x, dim, index):
    """``torch.index_select(x, dim, index)``: whole slices of ``x`` picked along ``dim``.

    Args:
        x: Tensor to read from.
        dim: axis along which to pick (negative counts from the end).
        index: 1-D (or 0-D) int32/int64 Tensor, values in ``[0, x.shape[dim])``;
            duplicates allowed (their gradients accumulate).

    Returns:
        Tensor like ``x`` with ``x.shape[dim]`` replaced by ``index.size``.
    """
    op = "index_select"
    check_index_tensor(index, op)
    dim = normalize_dim(dim, x.ndim, op)
    if index.ndim > 1:
        raise ValueError(f"{op}: index must be 1-D, got shape {index.shape}")
    index = index.reshape([-1])
    check_index_values(index, x.shape[dim], op, dim)
    return paddle.index_select(x, index, axis=dim)
