"""``torch.Tensor.scatter`` / ``scatter_add`` along any dim, with torch's gradients.

Paddle's closest op is ``paddle.put_along_axis(..., broadcast=False)``. It differs from torch in
three ways that these wrappers hide:

* with duplicate indices, Paddle sends the ``src`` gradient only to the write that won; torch
  sends ``grad.gather(dim, index)`` to every duplicate;
* when ``src`` is larger than ``index`` (torch allows it and uses the leading block), Paddle's
  ``src`` gradient comes back with the shape of ``index``;
* negative indices wrap around in Paddle's forward, and the backward then corrupts the heap;
  torch raises. Here every index is checked to lie in ``[0, x.shape[dim])``.

Example (PointRend, refine the points of a coarse mask)::

    # refined: [B, C, H*W], point_indices: [B, 1, P], point_logits: [B, C, P]
    refined = scatter(refined, 2, point_indices.expand([-1, C, -1]), point_logits)
"""
import paddle

from paddlexseg.ops._common import (TENSOR_TYPES, check_index_tensor, check_index_values,
                                    exceeds, is_empty, normalize_dim)

__all__ = ["scatter", "scatter_add"]

_REDUCE = {None: "assign", "add": "add", "multiply": "mul"}


def _check_shapes(x, dim, index, src, op):
    """Apply torch's scatter shape rules; return ``src`` cut to ``index.shape`` (or None)."""
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index must have as many dims as x ({x.ndim}), "
                         f"got index of shape {index.shape}")
    for d in range(x.ndim):
        if d != dim and exceeds(index.shape[d], x.shape[d]):
            raise ValueError(f"{op}: index shape {index.shape} exceeds x shape {x.shape} "
                             f"in dim {d} (only dim {dim} may be larger)")
    if src is None:
        return None
    if src.ndim != x.ndim:
        raise ValueError(f"{op}: src must have as many dims as x ({x.ndim}), "
                         f"got src of shape {src.shape}")
    if any(exceeds(i, s) for i, s in zip(index.shape, src.shape)):
        raise ValueError(f"{op}: index shape {index.shape} exceeds src shape {src.shape}")
    if any(exceeds(s, i) for i, s in zip(index.shape, src.shape)):  # torch reads the leading block
        src = src[tuple(slice(0, i) if exceeds(s, i) else slice(None)
                        for i, s in zip(index.shape, src.shape))]
    return src


def scatter(x, dim, index, src, reduce=None):
    """Out-of-place ``torch.Tensor.scatter(dim, index, src, reduce=None)``.

    ``out[i][index[i][j][k]][k] = src[i][j][k]`` for ``dim == 1`` (likewise for other dims).
    ``index`` may be smaller than ``x`` in the other dims and smaller than ``src`` in every dim;
    only the leading ``index.shape`` block of ``src`` is read, as in torch.

    Gradients (``reduce=None``) follow torch: ``x`` gets ``grad`` with zeros at the written
    positions, ``src`` gets ``grad.gather(dim, index)`` (every duplicate gets the gradient of
    its destination). With duplicate indices the value written is the last one on the CPU
    (torch leaves the winner unspecified). With ``reduce='add'|'multiply'`` the gradients are
    Paddle's ``put_along_axis`` ones (torch implements none for ``src``).

    Args:
        x: Tensor to scatter into (not modified).
        dim: axis along which to index (negative counts from the end).
        index: int32/int64 Tensor with ``x.ndim`` dims, values in ``[0, x.shape[dim])``.
        src: Tensor with ``x.ndim`` dims at least as large as ``index``, or a Python scalar.
        reduce: None (overwrite), ``'add'`` or ``'multiply'`` as torch's ``reduce`` argument.

    Returns:
        Tensor shaped like ``x``.
    """
    op = "scatter"
    if reduce not in _REDUCE:
        raise ValueError(f"{op}: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    check_index_tensor(index, op)
    dim = normalize_dim(dim, x.ndim, op)
    src_t = src if isinstance(src, TENSOR_TYPES) else None
    src_t = _check_shapes(x, dim, index, src_t, op)
    check_index_values(index, x.shape[dim], op, dim)
    if is_empty(index):
        return x.clone()
    if src_t is None:
        src_t = paddle.full(index.shape, src, dtype=x.dtype)
    elif src_t.dtype != x.dtype:
        raise TypeError(f"{op}: src dtype {src_t.dtype} differs from x dtype {x.dtype}")
    mode = _REDUCE[reduce]
    if mode != "assign" or src_t.stop_gradient:
        return paddle.put_along_axis(x, index, src_t, dim, reduce=mode, broadcast=False)
    # Overwrite without Paddle's "winner only" src gradient: the written values carry no
    # gradient and a zero-valued scatter-add of (src - src) carries torch's gather gradient.
    out = paddle.put_along_axis(x, index, src_t.detach(), dim, reduce="assign", broadcast=False)
    carrier = paddle.put_along_axis(paddle.zeros_like(x), index, src_t - src_t.detach(), dim,
                                    reduce="add", broadcast=False)
    return out + carrier


def scatter_add(x, dim, index, src):
    """Out-of-place ``torch.Tensor.scatter_add(dim, index, src)``.

    ``out[i][index[i][j][k]][k] += src[i][j][k]`` for ``dim == 1``; duplicates accumulate.
    Gradients: ``x`` gets ``grad``, ``src`` gets ``grad.gather(dim, index)``, as in torch.

    Args:
        x: Tensor to add into (not modified).
        dim: axis along which to index.
        index: int32/int64 Tensor with ``x.ndim`` dims, values in ``[0, x.shape[dim])``.
        src: Tensor with ``x.ndim`` dims at least as large as ``index``; same dtype as ``x``.

    Returns:
        Tensor shaped like ``x``.
    """
    op = "scatter_add"
    check_index_tensor(index, op)
    if not isinstance(src, TENSOR_TYPES):
        raise TypeError(f"{op}: src must be a paddle.Tensor, got {type(src).__name__}")
    dim = normalize_dim(dim, x.ndim, op)
    src = _check_shapes(x, dim, index, src, op)
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: src dtype {src.dtype} differs from x dtype {x.dtype}")
    check_index_values(index, x.shape[dim], op, dim)
    if is_empty(index):
        return x.clone()
    return paddle.put_along_axis(x, index, src, dim, reduce="add", broadcast=False)
