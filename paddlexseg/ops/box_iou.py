"""Rotated-rectangle overlap by vectorised convex-polygon clipping (NumPy, float64 by default).

Replaces the compiled rotated-IoU kernels: mmcv ``box_iou_rotated`` / ``iou3d_boxes_overlap_bev``,
mmdet3d ``bbox_overlaps_3d``, OpenPCDet ``iou3d_nms_utils.boxes_iou_bev`` / ``boxes_iou3d_gpu``,
Paddle3D ``iou3d_nms_cuda.boxes_iou_bev_gpu`` and the numba ``rotate_iou_gpu_eval`` of the KITTI
evaluators. No compilation, no numba: every pair (a, b) gathers the candidate vertices of the
intersection polygon at once (the corners of a inside b, of b inside a, and the 16 edge/edge
crossings), sorts them by angle around their centroid and takes the shoelace area. All candidate
points lie on the boundary of the convex intersection, so the sorted polygon is exact.

A BEV rectangle here is ``(cx, cy, dx, dy, angle)``: ``dx`` along the heading, the heading is
``(cos angle, sin angle)`` (counter-clockwise). LiDAR boxes ``(x, y, z, l, w, h, yaw)`` (z = bottom
centre) give ``(x, y, l, w, yaw)``. Inputs may be NumPy arrays or paddle Tensors; the work is
NumPy (no gradient) and the result comes back as the input kind (a Tensor on the input's place).
"""
import numpy as np

from paddlexseg.ops._common import like, to_numpy

__all__ = ["rect_corners", "rect_intersection", "rect_intersection_aligned", "rect_iou",
           "box_iou_bev", "box_iou_3d",
           "nearest_bev_iou", "limit_period"]

_PAIRS_PER_CHUNK = 40000  # bounds the [pairs, 24, 2] work arrays to a few tens of MB
_EPS = 1e-8


def limit_period(val, offset=0.5, period=np.pi):
    """mmdet3d ``limit_period``: ``val - floor(val / period + offset) * period``.

    Works on NumPy arrays and paddle Tensors.
    """
    if hasattr(val, "numpy"):
        import paddle
        return val - paddle.floor(val / period + offset) * period
    return val - np.floor(val / period + offset) * period


def _check_boxes(boxes, width, name, op):
    arr = to_numpy(boxes, name, op)
    if arr.ndim != 2 or arr.shape[1] < width:
        raise ValueError(f"{op}: {name} must be [N, {width}], got {list(arr.shape)}")
    return arr


def rect_corners(rects):
    """Corners of BEV rectangles, counter-clockwise.

    Args:
        rects: float [N, 5] (cx, cy, dx, dy, angle) NumPy array.

    Returns:
        float [N, 4, 2] (x, y) corners in the order (+dx/2, +dy/2), (-, +), (-, -), (+, -) of the
        box frame.
    """
    cos, sin = np.cos(rects[:, 4]), np.sin(rects[:, 4])
    hx = rects[:, 2:3] / 2 * np.array([1.0, -1.0, -1.0, 1.0])  # [N, 4]
    hy = rects[:, 3:4] / 2 * np.array([1.0, 1.0, -1.0, -1.0])
    x = rects[:, 0:1] + cos[:, None] * hx - sin[:, None] * hy
    y = rects[:, 1:2] + sin[:, None] * hx + cos[:, None] * hy
    return np.stack([x, y], axis=-1)


def _inside(px, py, rects, tol):
    """Corners (px, py) [P, 4] inside the aligned rects [P, 5], up to ``tol``: [P, 4]."""
    dx, dy = px - rects[:, 0:1], py - rects[:, 1:2]
    cos, sin = np.cos(rects[:, 4:5]), np.sin(rects[:, 4:5])
    tol_x = rects[:, 2:3] / 2 + tol
    tol_y = rects[:, 3:4] / 2 + tol
    return (np.abs(dx * cos + dy * sin) <= tol_x) & (np.abs(dy * cos - dx * sin) <= tol_y)


def _pair_intersection(ra, rb):
    """Intersection areas of aligned pairs ra[k], rb[k] [P, 5]: [P].

    Each pair is moved so that a's centre is the origin: coordinates stay of the size of the
    boxes, which keeps float32 exact enough for the tolerances below.
    """
    num = ra.shape[0]
    eps = np.finfo(ra.dtype).eps
    scale = np.maximum(np.maximum(ra[:, 2:4].max(axis=1), rb[:, 2:4].max(axis=1)), 1.0)[:, None]
    tol = 64 * eps * scale  # [P, 1] length tolerance
    rb = rb.copy()
    rb[:, :2] -= ra[:, :2]
    ra = ra.copy()
    ra[:, :2] = 0
    ca, cb = rect_corners(ra), rect_corners(rb)
    ax, ay, bx, by = ca[..., 0], ca[..., 1], cb[..., 0], cb[..., 1]  # [P, 4]
    in_a = _inside(ax, ay, rb, tol)  # a's corners inside b
    in_b = _inside(bx, by, ra, tol)
    # edges p + t r (of a) and q + u s (of b), every a edge against every b edge: [P, 4, 4]
    rx, ry = np.roll(ax, -1, axis=1) - ax, np.roll(ay, -1, axis=1) - ay
    sx, sy = np.roll(bx, -1, axis=1) - bx, np.roll(by, -1, axis=1) - by
    rx, ry, px, py = rx[:, :, None], ry[:, :, None], ax[:, :, None], ay[:, :, None]
    sx, sy = sx[:, None, :], sy[:, None, :]
    qpx, qpy = bx[:, None, :] - px, by[:, None, :] - py
    denom = rx * sy - ry * sx
    # parallel when sin(angle between the edges) is at rounding level
    parallel = np.abs(denom) <= 64 * eps * np.hypot(rx, ry) * np.hypot(sx, sy)
    safe = np.where(parallel, 1.0, denom)
    t = (qpx * sy - qpy * sx) / safe
    u = (qpx * ry - qpy * rx) / safe
    lim = 64 * eps
    hit = ~parallel & (t >= -lim) & (t <= 1 + lim) & (u >= -lim) & (u <= 1 + lim)
    xs = np.concatenate([ax, bx, (px + t * rx).reshape(num, 16)], axis=1)  # [P, 24]
    ys = np.concatenate([ay, by, (py + t * ry).reshape(num, 16)], axis=1)
    valid = np.concatenate([in_a, in_b, hit.reshape(num, 16)], axis=1)
    count = valid.sum(axis=1)  # [P]
    denom_c = np.maximum(count, 1)
    xs = xs - (xs * valid).sum(axis=1, keepdims=True) / denom_c[:, None]  # centred on the
    ys = ys - (ys * valid).sum(axis=1, keepdims=True) / denom_c[:, None]  # valid points' mean
    # pseudo-angle, monotonic in the true angle and cheaper than arctan2; invalid sort last
    ratio = ys / np.maximum(np.abs(xs) + np.abs(ys), 1e-300)
    pseudo = np.where(xs >= 0, ratio, 2.0 - ratio)  # in [-1, 3)
    order = np.argsort(np.where(valid, pseudo, 10.0), axis=1)
    xs = np.take_along_axis(xs, order, axis=1)
    ys = np.take_along_axis(ys, order, axis=1)
    # positions past the valid ones repeat the first vertex: zero-area closing edges
    past = np.arange(24) >= count[:, None]
    xs = np.where(past, xs[:, :1], xs)
    ys = np.where(past, ys[:, :1], ys)
    area = 0.5 * (xs * np.roll(ys, -1, axis=1) - ys * np.roll(xs, -1, axis=1)).sum(axis=1)
    return np.where(count >= 3, np.maximum(area, 0.0), 0.0)


def rect_intersection(rects_a, rects_b, dtype=np.float64):
    """Intersection area of every pair of BEV rectangles (NumPy).

    Args:
        rects_a: float [N, 5] (cx, cy, dx, dy, angle).
        rects_b: float [M, 5].
        dtype: working and output dtype (float64 default; float32 is faster, less exact).

    Returns:
        [N, M] areas of ``dtype``.
    """
    ra = np.asarray(rects_a, dtype=dtype).reshape(-1, 5)
    rb = np.asarray(rects_b, dtype=dtype).reshape(-1, 5)
    out = np.zeros((ra.shape[0], rb.shape[0]), dtype=dtype)
    if out.size == 0:
        return out
    # pairs whose circumscribed circles are apart do not overlap: only close pairs are clipped
    radius_a = np.hypot(ra[:, 2], ra[:, 3]) / 2
    radius_b = np.hypot(rb[:, 2], rb[:, 3]) / 2
    rows = max(1, _PAIRS_PER_CHUNK // max(rb.shape[0], 1))
    for start in range(0, ra.shape[0], rows):
        stop = min(start + rows, ra.shape[0])
        dist = np.hypot(ra[start:stop, None, 0] - rb[None, :, 0],
                        ra[start:stop, None, 1] - rb[None, :, 1])
        near_i, near_j = np.nonzero(dist <= radius_a[start:stop, None] + radius_b[None, :] + _EPS)
        for lo in range(0, near_i.shape[0], _PAIRS_PER_CHUNK):
            i = near_i[lo:lo + _PAIRS_PER_CHUNK] + start
            j = near_j[lo:lo + _PAIRS_PER_CHUNK]
            out[i, j] = _pair_intersection(ra[i], rb[j])
    return out


def rect_intersection_aligned(rects_a, rects_b, dtype=np.float64):
    """Intersection area of the aligned pairs ``(rects_a[k], rects_b[k])``: [P] (NumPy).

    The batched form of :func:`rect_intersection` for pairs gathered from many frames (the
    KITTI evaluator); far-apart pairs are skipped as there.
    """
    ra = np.asarray(rects_a, dtype=dtype).reshape(-1, 5)
    rb = np.asarray(rects_b, dtype=dtype).reshape(-1, 5)
    if ra.shape != rb.shape:
        raise ValueError(f"rect_intersection_aligned: {ra.shape[0]} and {rb.shape[0]} rectangles")
    out = np.zeros(ra.shape[0], dtype=dtype)
    reach = (np.hypot(ra[:, 2], ra[:, 3]) + np.hypot(rb[:, 2], rb[:, 3])) / 2 + _EPS
    near = np.flatnonzero(np.hypot(ra[:, 0] - rb[:, 0], ra[:, 1] - rb[:, 1]) <= reach)
    for lo in range(0, near.shape[0], _PAIRS_PER_CHUNK):
        k = near[lo:lo + _PAIRS_PER_CHUNK]
        out[k] = _pair_intersection(ra[k], rb[k])
    return out


def rect_iou(rects_a, rects_b, dtype=np.float64):
    """IoU of every pair of BEV rectangles (NumPy) [N, M]; 0 where the union is empty."""
    ra = np.asarray(rects_a, dtype=dtype).reshape(-1, 5)
    rb = np.asarray(rects_b, dtype=dtype).reshape(-1, 5)
    inter = rect_intersection(ra, rb, dtype)
    union = (ra[:, 2] * ra[:, 3])[:, None] + (rb[:, 2] * rb[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(dtype)


def _bev_rects(boxes):
    return boxes[:, [0, 1, 3, 4, 6]]


def box_iou_bev(boxes_a, boxes_b, dtype=np.float64):
    """Rotated BEV IoU of LiDAR boxes: mmcv ``box_iou_rotated`` / OpenPCDet ``boxes_iou_bev``.

    Args:
        boxes_a: float [N, 7] (x, y, z, l, w, h, yaw), NumPy or paddle.
        boxes_b: float [M, 7].
        dtype: working dtype (float64 default).

    Returns:
        [N, M] IoU of ``dtype``, same kind as ``boxes_a``.
    """
    a = _check_boxes(boxes_a, 7, "boxes_a", "box_iou_bev")
    b = _check_boxes(boxes_b, 7, "boxes_b", "box_iou_bev")
    return like(rect_iou(_bev_rects(a), _bev_rects(b), dtype), boxes_a)


def box_iou_3d(boxes_a, boxes_b, dtype=np.float64):
    """Rotated 3D IoU of LiDAR boxes (z = bottom centre): mmdet3d ``bbox_overlaps_3d``,
    mmcv ``boxes_overlap_bev`` x height overlap, OpenPCDet ``boxes_iou3d_gpu``.

    Returns:
        [N, M] IoU of ``dtype``, same kind as ``boxes_a``.
    """
    a = _check_boxes(boxes_a, 7, "boxes_a", "box_iou_3d").astype(dtype)
    b = _check_boxes(boxes_b, 7, "boxes_b", "box_iou_3d").astype(dtype)
    inter = rect_intersection(_bev_rects(a), _bev_rects(b), dtype)
    top = np.minimum(a[:, None, 2] + a[:, None, 5], b[None, :, 2] + b[None, :, 5])
    bottom = np.maximum(a[:, None, 2], b[None, :, 2])
    inter = inter * np.maximum(top - bottom, 0.0)
    vol_a, vol_b = np.prod(a[:, 3:6], axis=1), np.prod(b[:, 3:6], axis=1)
    union = vol_a[:, None] + vol_b[None, :] - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(dtype)
    return like(iou, boxes_a)


def _nearest_xyxy(boxes, xp):
    """mmdet3d ``BaseInstance3DBoxes.nearest_bev``: yaw snapped to 0 or 90 degrees."""
    rot = xp.abs(limit_period(boxes[:, 6], 0.5, np.pi))
    swap = (rot > np.pi / 4)[:, None]
    dims = xp.where(swap, boxes[:, [4, 3]], boxes[:, [3, 4]])
    centre = boxes[:, 0:2]
    if xp is np:
        return np.concatenate([centre - dims / 2, centre + dims / 2], axis=-1)
    return xp.concat([centre - dims / 2, centre + dims / 2], axis=-1)


def nearest_bev_iou(boxes_a, boxes_b, eps=1e-6):
    """mmdet3d ``BboxOverlapsNearest3D`` (``bbox_overlaps_nearest_3d``, mode 'iou').

    Each box's BEV footprint is made axis-aligned by snapping its yaw to the nearest of 0 / 90
    degrees (l and w swap when |yaw| mod pi > pi / 4), then mmdet's ``bbox_overlaps`` (union
    clamped to ``eps``) is taken. Used by the anchor assigner; stays in Paddle for Tensors
    (same device, differentiable though nobody needs it), NumPy for arrays.

    Args:
        boxes_a: float [N, >=7] LiDAR boxes (NumPy or paddle).
        boxes_b: float [M, >=7] of the same kind.

    Returns:
        [N, M] IoU, same kind and dtype as the inputs.
    """
    if hasattr(boxes_a, "numpy") and not isinstance(boxes_a, np.ndarray):
        import paddle as xp
    else:
        xp = np
        boxes_a, boxes_b = np.asarray(boxes_a), np.asarray(boxes_b)
    for name, boxes in (("boxes_a", boxes_a), ("boxes_b", boxes_b)):
        if boxes.ndim != 2 or boxes.shape[1] < 7:
            raise ValueError(f"nearest_bev_iou: {name} must be [N, 7], got {list(boxes.shape)}")
    a, b = _nearest_xyxy(boxes_a, xp), _nearest_xyxy(boxes_b, xp)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    low = xp.maximum(a[:, None, :2], b[None, :, :2])
    high = xp.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = xp.clip(high - low, 0, None) if xp is np else xp.clip(high - low, min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    eps_t = eps if xp is np else xp.full([1], eps, dtype=union.dtype)
    return inter / xp.maximum(union, eps_t)
