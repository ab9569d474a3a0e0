"""Run a rulebook: gather -> GEMM per kernel offset -> scatter-add, with a matching backward.

Two interchangeable backends compute the same thing inside one ``PyLayer``:

* "paddle": ``paddle.gather`` / ``paddle.matmul`` / ``Tensor.index_add_``; runs wherever the
  tensors live (GPU included).
* "numpy": the same loop on host arrays, in key order, with reused buffers, split over a few
  threads (``_numpy_exec``).
  On this project's CPUs Paddle's GEMM (MKL) is about 2.5x and ``index_add_`` 1.5-4x slower
  than NumPy's OpenBLAS GEMM and fancy-index add (measured for [20k, 64] x [64, 64] blocks),
  so CPU tensors use it by default.

``set_backend("auto")`` (default) picks "numpy" for CPU tensors and "paddle" otherwise. Within
one kernel offset the input and the output rows are both duplicate-free, so plain
``out[o] += y`` (NumPy) and ``index_add_`` (Paddle) accumulate exactly. The backward recomputes
the gathers instead of keeping the gathered rows (memory stays O(N * C) per layer).
"""
import os

import numpy as np
import paddle
from paddle.autograd import PyLayer

from ._numpy_exec import numpy_backward, numpy_forward

__all__ = ["apply_rulebook", "set_backend", "get_backend", "BACKENDS"]

BACKENDS = ("auto", "paddle", "numpy")
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
_STATE = {"backend": "auto", "workers": DEFAULT_WORKERS, "blas_threads": 1}


def set_backend(name, workers=DEFAULT_WORKERS, blas_threads=1):
    """Choose how rulebooks run.

    Args:
        name: "auto" (NumPy for CPU tensors, Paddle elsewhere), "paddle" or "numpy".
        workers: threads the NumPy backend splits the kernel offsets over.
        blas_threads: OpenBLAS threads per worker (None: NumPy's setting). One is the robust
            default: several spin-waiting BLAS threads on a shared CPU turned a 1 ms
            [64, n] x [n, 64] product into seconds.
    """
    if name not in BACKENDS:
        raise ValueError(f"paddlexseg.sparse.set_backend: expected one of {BACKENDS}, "
                         f"got {name!r}")
    if int(workers) < 1:
        raise ValueError(f"paddlexseg.sparse.set_backend: workers must be >= 1, got {workers}")
    _STATE.update(backend=name, workers=int(workers), blas_threads=blas_threads)


def get_backend():
    """(backend name, NumPy workers, BLAS threads per worker): ``set_backend(*get_backend())``."""
    return _STATE["backend"], _STATE["workers"], _STATE["blas_threads"]


def _use_numpy(feats):
    backend = _STATE["backend"]
    on_cpu = feats.place.is_cpu_place()
    if backend == "numpy" and not on_cpu:
        raise ValueError("paddlexseg.sparse: the 'numpy' backend needs CPU tensors; use "
                         "set_backend('auto') or 'paddle' on a GPU")
    return (backend == "numpy" or (backend == "auto" and on_cpu)) and \
        feats.dtype in (paddle.float32, paddle.float64)


def _paddle_forward(feats, weight, rulebook):
    if rulebook.center is not None:        # subm: the centre offset is the identity map
        out = paddle.matmul(feats, weight[rulebook.center])                  # [N, Cout]
    else:
        out = paddle.zeros([rulebook.num_out, weight.shape[2]], dtype=feats.dtype)
    for k, i, o in zip(rulebook.offsets, rulebook.in_idx, rulebook.out_idx):
        out.index_add_(o, 0, paddle.matmul(paddle.gather(feats, i), weight[k]))
    return out


def _paddle_backward(feats, weight, grad_out, rulebook, need_x, need_w):
    dx = None
    dw = [None] * weight.shape[0]
    if need_x:
        dx = (paddle.matmul(grad_out, weight[rulebook.center], transpose_y=True)
              if rulebook.center is not None else paddle.zeros_like(feats))
    if need_w and rulebook.center is not None:
        dw[rulebook.center] = paddle.matmul(feats, grad_out, transpose_x=True)
    for k, i, o in zip(rulebook.offsets, rulebook.in_idx, rulebook.out_idx):
        g = paddle.gather(grad_out, o)                                        # [n_k, Cout]
        if need_x:
            dx.index_add_(i, 0, paddle.matmul(g, weight[k], transpose_y=True))
        if need_w:
            dw[k] = paddle.matmul(paddle.gather(feats, i), g, transpose_x=True)
    if not need_w:
        return dx, None
    zero = paddle.zeros(weight.shape[1:], dtype=weight.dtype)
    return dx, paddle.stack([zero if d is None else d for d in dw])          # [K3, Cin, Cout]


def _host(tensor):
    """Zero-copy NumPy view of a CPU tensor (DLPack); the NumPy backend only reads it.

    ``Tensor.numpy()`` copies: 12 ms for [60k, 64] here, about a tenth of a layer's forward.
    """
    return np.from_dlpack(tensor.detach())


def _from_host(array):
    """Zero-copy CPU tensor of a fresh NumPy result (``paddle.to_tensor`` copies: 9 ms)."""
    return paddle.utils.dlpack.from_dlpack(array)


class _RulebookConv(PyLayer):
    """out[o] += feats[i] @ weight[k] over the pairs (i, o) of every offset k."""

    @staticmethod
    def forward(ctx, feats, weight, rulebook):
        # feats [N_in, Cin], weight [K3, Cin, Cout]
        ctx.rulebook = rulebook
        ctx.need = (not feats.stop_gradient, not weight.stop_gradient)
        ctx.use_numpy = _use_numpy(feats)
        ctx.save_for_backward(feats, weight)
        if ctx.use_numpy:
            out = numpy_forward(_host(feats), _host(weight), rulebook, _STATE["workers"],
                                _STATE["blas_threads"])
            return _from_host(out)
        return _paddle_forward(feats, weight, rulebook)

    @staticmethod
    def backward(ctx, grad_out):
        feats, weight = ctx.saved_tensor()
        need_x, need_w = ctx.need
        if not ctx.use_numpy:
            return _paddle_backward(feats, weight, grad_out, ctx.rulebook, need_x, need_w)
        dx, dw = numpy_backward(_host(feats), _host(weight), _host(grad_out), ctx.rulebook,
                                need_x, need_w, _STATE["workers"], _STATE["blas_threads"])
        return (None if dx is None else _from_host(dx)), (None if dw is None else _from_host(dw))


def apply_rulebook(feats, weight, rulebook):
    """Run a sparse convolution given its rulebook.

    Args:
        feats: Tensor [num_in, Cin].
        weight: Tensor [kz, ky, kx, Cin, Cout].
        rulebook: a ``Rulebook`` (from the ``get_*_rulebook`` functions).

    Returns:
        Tensor [num_out, Cout].
    """
    cin, cout = weight.shape[3], weight.shape[4]
    flat = weight.reshape([-1, cin, cout])                                    # [K3, Cin, Cout]
    if rulebook.num_out == 0 or (rulebook.center is None and not rulebook.offsets):
        # no pairs: zeros, still connected to the graph so every parameter gets a gradient
        return paddle.zeros([rulebook.num_out, cout], dtype=feats.dtype) + 0 * (
            flat.sum() + feats.sum())
    return _RulebookConv.apply(feats, flat, rulebook)
