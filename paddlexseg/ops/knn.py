"""RangeNet++ k-nearest-neighbour back-projection of range-image labels onto points.

Mirrors ``KNN.forward`` of lidar-bonnetal (``train/tasks/semantic/postproc/KNN.py``; Milioto
et al., "RangeNet++: Fast and Accurate LiDAR Semantic Segmentation", IROS 2019) step by step:

1. unfold the range image with a ``search x search`` window, zero padding (``F.unfold``);
2. neighbour ranges < 0 (empty pixels) become ``inf``; zero-padded cells stay at range 0;
3. the window centre is replaced by the point's own range;
4. distance = ``|neighbour range - point range| * (1 - gaussian(search, sigma))``;
5. the ``k`` smallest distances vote with the argmax of their pixel; a vote whose distance
   exceeds ``cutoff`` (when ``cutoff > 0``) goes to an extra "invalid" class;
6. the label is ``argmax(votes[1:num_classes]) + 1``: class 0 and invalid votes never win,
   a point without valid votes gets class 1 (torch's argmax of all-zero counts).

Differences: ties between equal distances go to the lower window position (row-major), where
``torch.topk(sorted=False)`` leaves the choice unspecified; a point whose pixel ``(py, px)``
lies outside the image gets label 0 (the original indexes out of bounds or wraps around).

The implementation never unfolds the whole image: it gathers the ``search**2`` neighbours of
each point ([N, S*S]) and partitions packed integer keys (distance bits and window position)
so that one ``np.partition`` yields both the k nearest and their positions.
"""
import math

import numpy as np

from paddlexseg.ops._common import like, to_numpy

__all__ = ["gaussian_kernel", "knn_backproject"]


def gaussian_kernel(size, sigma):
    """float32 [size, size] Gaussian summing to 1, as lidar-bonnetal's ``get_gaussian_kernel``."""
    coord = np.arange(size, dtype=np.float32)
    mean = (size - 1) / 2.0
    variance = float(sigma) ** 2
    sq = (coord[None, :] - mean) ** 2 + (coord[:, None] - mean) ** 2  # [size, size]
    kernel = np.float32(1.0 / (2.0 * math.pi * variance)) * np.exp(
        -sq / np.float32(2 * variance)).astype(np.float32)
    return (kernel / kernel.sum()).astype(np.float32)


def _check(proj_range, unproj_range, proj_argmax, px, py, num_classes, k, search):
    op = "knn_backproject"
    if proj_range.ndim != 2 or proj_argmax.shape != proj_range.shape:
        raise ValueError(f"{op}: proj_range and proj_argmax must both be [H, W], got "
                         f"{list(proj_range.shape)} and {list(proj_argmax.shape)}")
    n = unproj_range.shape[0]
    if unproj_range.ndim != 1 or px.shape != (n,) or py.shape != (n,):
        raise ValueError(f"{op}: unproj_range, px and py must be [N] with one N, got "
                         f"{list(unproj_range.shape)}, {list(px.shape)}, {list(py.shape)}")
    if search % 2 == 0 or search < 1:
        raise ValueError(f"{op}: search must be a positive odd number, got {search}")
    if not 1 <= k <= search * search:
        raise ValueError(f"{op}: k must lie in [1, search**2 = {search * search}], got {k}")
    if num_classes < 2:
        raise ValueError(f"{op}: num_classes must be >= 2 (class 0 is never voted), "
                         f"got {num_classes}")
    if proj_argmax.size and (proj_argmax.min() < 0 or proj_argmax.max() >= num_classes):
        raise ValueError(f"{op}: proj_argmax values must lie in [0, {num_classes}), got "
                         f"[{proj_argmax.min()}, {proj_argmax.max()}]")


def knn_backproject(proj_range, unproj_range, proj_argmax, px, py, num_classes, k=5,
                    search=5, sigma=1.0, cutoff=1.0):
    """Label every point by a range-weighted kNN vote over its range-image window.

    Args:
        proj_range: float [H, W] range image; values < 0 mark empty pixels (-1 by convention).
        unproj_range: float [N] range of every point.
        proj_argmax: int [H, W] predicted class per pixel.
        px, py: int [N] pixel column / row of every point.
        num_classes: number of classes including class 0.
        k: neighbours that vote.
        search: odd window side.
        sigma: Gaussian sigma of the window weighting.
        cutoff: votes from neighbours farther than this (weighted distance) are discarded;
            ``<= 0`` keeps all.

    Returns:
        int64 [N] labels in ``[1, num_classes)`` (0 for points outside the image); a paddle
        Tensor when ``proj_range`` is one, else a NumPy array.
    """
    op = "knn_backproject"
    rng_img = to_numpy(proj_range, "proj_range", op).astype(np.float32, copy=False)
    point_range = to_numpy(unproj_range, "unproj_range", op).astype(np.float32, copy=False)
    argmax_img = to_numpy(proj_argmax, "proj_argmax", op)
    col = to_numpy(px, "px", op).astype(np.int64, copy=False)
    row = to_numpy(py, "py", op).astype(np.int64, copy=False)
    _check(rng_img, point_range, argmax_img, col, row, num_classes, k, search)
    height, width = rng_img.shape
    num = point_range.shape[0]
    labels = np.zeros(num, dtype=np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    if not inside.all():
        labels[inside] = knn_backproject(rng_img, point_range[inside], argmax_img, col[inside],
                                         row[inside], num_classes, k, search, sigma, cutoff)
        return like(labels, proj_range)
    if num == 0:
        return like(labels, proj_range)
    chunk = max(1, CHUNK_ELEMENTS // (search * search))
    for start in range(0, num, chunk):  # bounded peak memory on huge scans
        stop = min(start + chunk, num)
        labels[start:stop] = _knn_labels(rng_img, point_range[start:stop], argmax_img,
                                         col[start:stop], row[start:stop], num_classes, k,
                                         search, sigma, cutoff)
    return like(labels, proj_range)


# [points x window] elements per chunk: ~2^22 keeps the temporaries near 100 MB whatever
# the scan size (a 10-million-point scan otherwise needs ~8 GB)
CHUNK_ELEMENTS = 2 ** 22


def _knn_labels(rng_img, point_range, argmax_img, col, row, num_classes, k, search, sigma,
                cutoff):
    """The kNN vote for points that all lie inside the image; int64 [N] labels."""
    height, width = rng_img.shape
    num = point_range.shape[0]
    pad = (search - 1) // 2
    window = search * search
    center = (window - 1) // 2
    # padded images: zeros outside (F.unfold), empty pixels (< 0) -> inf
    padded = np.zeros((height + 2 * pad, width + 2 * pad), dtype=np.float32)
    padded[pad:pad + height, pad:pad + width] = np.where(rng_img < 0, np.inf, rng_img)
    classes = np.zeros(padded.shape, dtype=np.int64)
    classes[pad:pad + height, pad:pad + width] = argmax_img
    index_dtype = np.int32 if padded.size < 2 ** 31 else np.int64  # halves the index traffic
    dy, dx = np.divmod(np.arange(window, dtype=index_dtype), search)  # row-major positions
    offsets = dy * padded.shape[1] + dx  # [S*S]
    base = (row * padded.shape[1] + col).astype(index_dtype)  # window corner in the padded image
    flat_idx = base[:, None] + offsets[None, :]  # [N, S*S]
    dist = np.take(padded, flat_idx)  # [N, S*S] neighbour ranges
    dist[:, center] = point_range
    np.subtract(dist, point_range[:, None], out=dist)  # in place: no [N, S*S] temporaries
    np.abs(dist, out=dist)
    np.multiply(dist, (1.0 - gaussian_kernel(search, sigma)).reshape(1, window), out=dist)

    # key = (float bits of dist) << shift | window position: integer order == (dist, position)
    shift = max(1, (window - 1).bit_length())
    keys = dist.view(np.int32).astype(np.int64)
    keys <<= shift
    keys |= np.arange(window, dtype=np.int64)[None, :]
    if k < window:
        keys = np.partition(keys, k - 1, axis=1)[:, :k]  # [N, k] the k nearest
    position = keys & ((1 << shift) - 1)
    votes = np.take(classes, np.take_along_axis(flat_idx, position, axis=1))  # [N, k]
    if cutoff > 0:
        limit = int(np.array(cutoff, dtype=np.float32).view(np.int32))
        votes = np.where((keys >> shift) > limit, num_classes, votes)
    # count votes per (point, class); class num_classes collects the invalid ones
    counts = np.bincount((np.arange(num)[:, None] * (num_classes + 1) + votes).ravel(),
                         minlength=num * (num_classes + 1)).reshape(num, num_classes + 1)
    return (counts[:, 1:num_classes].argmax(axis=1) + 1).astype(np.int64)
