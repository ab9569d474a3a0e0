"""Weight layouts of sparse convolutions, for checkpoint conversion.

Ours (and paddle.sparse's, and spconv 1.x's "RSCK"): ``[kz, ky, kx, Cin, Cout]``.
spconv 2.x stores one of two layouts, chosen by the layer's ``algo``:

* "KRSC" ``[Cout, kz, ky, kx, Cin]``: implicit-GEMM algorithms, the default of CUDA builds
  (what 2DPASS / SPVCNN / Cylinder3D checkpoints trained with spconv 2.x contain);
* "RSKC" ``[kz, ky, kx, Cout, Cin]``: ``ConvAlgo.Native`` (CPU-only builds).

The kernel axes follow the coordinate columns (spconv ``indices`` (batch, d0, d1, d2) ->
kernel (k0, k1, k2)); with coords ordered (batch, z, y, x) they are (kz, ky, kx) on both sides,
so only the channel axes move.
"""
import numpy as np

__all__ = ["weight_from_spconv", "weight_to_spconv", "SPCONV_LAYOUTS"]

# axes of [kz, ky, kx, Cin, Cout] taken from each source layout
_TO_OURS = {"KRSC": (1, 2, 3, 4, 0), "RSKC": (0, 1, 2, 4, 3), "RSCK": (0, 1, 2, 3, 4)}
SPCONV_LAYOUTS = tuple(_TO_OURS)


def weight_from_spconv(array, layout="KRSC"):
    """spconv sparse-conv weight -> ``[kz, ky, kx, Cin, Cout]`` (a NumPy array).

    Args:
        array: NumPy array (or anything ``np.asarray`` takes) of rank 5.
        layout: "KRSC" (spconv 2.x default, ``[Cout, kz, ky, kx, Cin]``), "RSKC"
            (spconv 2.x Native, ``[kz, ky, kx, Cout, Cin]``) or "RSCK" (spconv 1.x,
            ``[kz, ky, kx, Cin, Cout]``, returned unchanged).

    Returns:
        Contiguous NumPy array [kz, ky, kx, Cin, Cout].
    """
    array = np.asarray(array)
    if layout not in _TO_OURS:
        raise ValueError(f"weight_from_spconv: layout must be one of {SPCONV_LAYOUTS}, "
                         f"got {layout!r}")
    if array.ndim != 5:
        raise ValueError(f"weight_from_spconv: expected a rank-5 spconv 3-D conv weight "
                         f"({layout}), got shape {list(array.shape)}")
    return np.ascontiguousarray(np.transpose(array, _TO_OURS[layout]))


def weight_to_spconv(array, layout="KRSC"):
    """Inverse of :func:`weight_from_spconv`: ``[kz, ky, kx, Cin, Cout]`` -> spconv layout."""
    array = np.asarray(array)
    if layout not in _TO_OURS:
        raise ValueError(f"weight_to_spconv: layout must be one of {SPCONV_LAYOUTS}, "
                         f"got {layout!r}")
    if array.ndim != 5:
        raise ValueError(f"weight_to_spconv: expected a rank-5 weight [kz, ky, kx, Cin, Cout], "
                         f"got shape {list(array.shape)}")
    return np.ascontiguousarray(np.transpose(array, np.argsort(_TO_OURS[layout])))
