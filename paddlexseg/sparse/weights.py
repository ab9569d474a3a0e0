"""Weight layouts of sparse convolutions, for checkpoint conversion.

Ours (and paddle.sparse's, and spconv 1.x's "RSCK"): ``[kz, ky, kx, Cin, Cout]``.
spconv 2.x stores one of two layouts, chosen by the layer's ``algo``:

* "KRSC" ``[Cout, kz, ky, kx, Cin]``: implicit-GEMM algorithms, the default of CUDA builds
  (what 2DPASS / SPVCNN / Cylinder3D checkpoints trained with spconv 2.x contain);
* "RSKC" ``[kz, ky, kx, Cout, Cin]``: ``ConvAlgo.Native`` in spconv 2.0/2.1 only; spconv >= 2.2
  stores every algo (the CPU build's Native too) as KRSC (checked with spconv 2.3.8).

The kernel axes follow the coordinate columns (spconv ``indices`` (batch, d0, d1, d2) ->
kernel (k0, k1, k2)); with coords ordered (batch, z, y, x) they are (kz, ky, kx) on both sides,
so only the channel axes move.

**Kernel volume 1 in spconv 2.x.** ``spconv/pytorch/conv.py`` of every spconv 2.x release
(v2.0.0 .. v2.3.8, read in its git history) computes a convolution whose kernel volume is 1 --
submanifold, or stride 1 (since v2.1.11; before it any stride, i.e. also the strided ones and
the 1x1x1 transposed/inverse convs, which all derive from ``SparseConvolution``) -- as
``torch.mm(features, weight.view(in_channels, out_channels))`` on the stored
``[Cout, 1, 1, 1, Cin]`` (or Native ``[1, 1, 1, Cout, Cin]``) tensor: the effective matrix is the
tensor's raw memory read as ``[Cin, Cout]``, **not** its transpose. (With the opt-in
``SPCONV_FILTER_HWIO=1`` layout ``[1, 1, 1, Cin, Cout]`` it is ``weight.view(Cout, Cin).T``,
again a reinterpretation.) spconv 1.x stores ``[k, Cin, Cout]`` and its ``conv1x1`` path
``weight.view(Cin, Cout)`` is the plain reading. :func:`weight_from_spconv` with
``conv1x1_mm=True`` reproduces spconv 2.x; :func:`spconv_conv1x1_mm` says which versions need it.
"""
import numpy as np

__all__ = ["weight_from_spconv", "weight_to_spconv", "spconv_conv1x1_mm", "conv1x1_mm_matrix",
           "SPCONV_LAYOUTS"]

# axes of [kz, ky, kx, Cin, Cout] taken from each source layout
_TO_OURS = {"KRSC": (1, 2, 3, 4, 0), "RSKC": (0, 1, 2, 4, 3), "RSCK": (0, 1, 2, 3, 4)}
SPCONV_LAYOUTS = tuple(_TO_OURS)
_KERNEL_AXES = {"KRSC": (1, 2, 3), "RSKC": (0, 1, 2), "RSCK": (0, 1, 2)}
_CHANNEL_AXES = {"KRSC": (0, 4), "RSKC": (3, 4), "RSCK": (4, 3)}   # (Cout, Cin)


def spconv_conv1x1_mm(version):
    """Whether spconv ``version`` computes kernel-volume-1 convs from the reinterpreted weight.

    Args:
        version: "1", "1.2.1", "2", "2.1.16", "2.3.8" ... (major 1 or 2).

    Returns:
        True for every 2.x release (the ``conv1x1`` ``torch.mm`` path), False for 1.x.
    """
    text = str(version).strip().lower().lstrip("v")
    major = text.split(".")[0]
    if major not in ("1", "2") or not all(p.isdigit() for p in text.split(".") if p):
        raise ValueError(f"spconv version: expected 1.x or 2.x (e.g. 2.1.16), got {version!r}")
    return major == "2"


def conv1x1_mm_matrix(array, layout="KRSC"):
    """The ``[Cin, Cout]`` matrix spconv 2.x multiplies by for a kernel-volume-1 weight.

    ``weight.view(Cin, Cout)`` of the contiguous stored tensor (``.view(Cout, Cin).T`` for the
    HWIO layout "RSCK"): the raw memory reinterpreted, as ``spconv/pytorch/conv.py`` does.
    """
    array = np.ascontiguousarray(np.asarray(array))
    if layout not in _TO_OURS:
        raise ValueError(f"conv1x1_mm_matrix: layout must be one of {SPCONV_LAYOUTS}, "
                         f"got {layout!r}")
    if array.ndim != 5 or int(np.prod(array.shape)) != int(np.prod(
            [array.shape[i] for i in _CHANNEL_AXES[layout]])):
        raise ValueError(f"conv1x1_mm_matrix: expected a kernel-volume-1 spconv weight "
                         f"({layout}), got shape {list(array.shape)}")
    c_out, c_in = (array.shape[i] for i in _CHANNEL_AXES[layout])
    if layout == "RSCK":
        return array.reshape(c_out, c_in).T
    return array.reshape(c_in, c_out)


def weight_from_spconv(array, layout="KRSC", conv1x1_mm=False):
    """spconv sparse-conv weight -> ``[kz, ky, kx, Cin, Cout]`` (a NumPy array).

    Args:
        array: NumPy array (or anything ``np.asarray`` takes) of rank 5.
        layout: "KRSC" (spconv 2.x default, ``[Cout, kz, ky, kx, Cin]``), "RSKC"
            (spconv 2.x Native, ``[kz, ky, kx, Cout, Cin]``) or "RSCK" (spconv 1.x,
            ``[kz, ky, kx, Cin, Cout]``, returned unchanged).
        conv1x1_mm: the source is spconv 2.x (:func:`spconv_conv1x1_mm`): a kernel-volume-1
            weight becomes :func:`conv1x1_mm_matrix` (what spconv computes with), the others
            are permuted as usual.

    Returns:
        Contiguous NumPy array [kz, ky, kx, Cin, Cout].
    """
    if conv1x1_mm:
        array = np.asarray(array)
        if array.ndim == 5 and layout in _TO_OURS and \
                int(np.prod([array.shape[i] for i in _KERNEL_AXES[layout]])) == 1:
            matrix = conv1x1_mm_matrix(array, layout)
            return np.ascontiguousarray(matrix.reshape((1, 1, 1) + matrix.shape))
    array = np.asarray(array)
    if layout not in _TO_OURS:
        raise ValueError(f"weight_from_spconv: layout must be one of {SPCONV_LAYOUTS}, "
                         f"got {layout!r}")
    if array.ndim != 5:
        raise ValueError(f"weight_from_spconv: expected a rank-5 spconv 3-D conv weight "
                         f"({layout}), got shape {list(array.shape)}")
    return np.ascontiguousarray(np.transpose(array, _TO_OURS[layout]))


def weight_to_spconv(array, layout="KRSC", conv1x1_mm=False):
    """Inverse of :func:`weight_from_spconv`: ``[kz, ky, kx, Cin, Cout]`` -> spconv layout
    (with ``conv1x1_mm``, a kernel-volume-1 weight is stored so that spconv 2.x's
    reinterpretation gives it back)."""
    array = np.asarray(array)
    if conv1x1_mm and array.ndim == 5 and layout in _TO_OURS and \
            int(np.prod(array.shape[:3])) == 1:
        c_in, c_out = array.shape[3:]
        matrix = array.reshape(c_in, c_out)
        raw = matrix.T.reshape(-1) if layout == "RSCK" else matrix.reshape(-1)
        shape = np.transpose(np.zeros((1, 1, 1, c_in, c_out), np.int8),
                             np.argsort(_TO_OURS[layout])).shape
        return np.ascontiguousarray(raw.reshape(shape))
    if layout not in _TO_OURS:
        raise ValueError(f"weight_to_spconv: layout must be one of {SPCONV_LAYOUTS}, "
                         f"got {layout!r}")
    if array.ndim != 5:
        raise ValueError(f"weight_to_spconv: expected a rank-5 weight [kz, ky, kx, Cin, Cout], "
                         f"got shape {list(array.shape)}")
    return np.ascontiguousarray(np.transpose(array, np.argsort(_TO_OURS[layout])))
