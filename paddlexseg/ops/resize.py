"""Nearest-neighbour resize as an index gather (exact in every runtime, ONNX included).

Mirrors ``torch.nn.functional.interpolate(x, size, mode="nearest")`` (and Paddle's
``F.interpolate(..., mode="nearest", align_corners=False)``): output pixel ``k`` reads input
pixel ``floor(k * float32(in / out))``. ``F.interpolate`` exports to ONNX ``Resize``
(``asymmetric``, ``floor``), which ONNX Runtime evaluates as ``k / float32(out / in)``; where
``k * in / out`` is a whole number that quotient can round just below it and pick the previous
pixel (e.g. 26 -> 32: output 16 reads input 12 instead of 13), so Event-VPR descriptors of the
ONNX model differed from Paddle's by 8e-4. With the input size known, the indices are constants
and the resize is two ``index_select`` calls (ONNX ``Gather``), identical everywhere.
"""
import numpy as np
import paddle

__all__ = ["nearest_indices", "resize_nearest"]


def nearest_indices(in_size, out_size):
    """int64 [out_size] source indices of a nearest resize from ``in_size`` (float32 math, as
    the torch and Paddle kernels)."""
    ratio = np.float32(in_size) / np.float32(out_size)
    idx = np.floor(np.arange(out_size, dtype=np.float32) * ratio).astype(np.int64)
    return np.minimum(idx, in_size - 1)


def resize_nearest(x, size):
    """``F.interpolate(x, size, mode="nearest")`` of a [B, C, H, W] tensor whose H and W are
    known (Python ints); ``size`` is (out_h, out_w)."""
    in_h, in_w = int(x.shape[2]), int(x.shape[3])
    out_h, out_w = int(size[0]), int(size[1])
    if (in_h, in_w) != (out_h, out_w):
        if in_h != out_h:
            x = paddle.index_select(x, paddle.to_tensor(nearest_indices(in_h, out_h)), axis=2)
        if in_w != out_w:
            x = paddle.index_select(x, paddle.to_tensor(nearest_indices(in_w, out_w)), axis=3)
    return x
