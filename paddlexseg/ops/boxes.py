"""3D box ops: points in boxes, rotated BEV / 3D IoU, nearest-BEV IoU, greedy rotated NMS.

LiDAR boxes are float ``[N, 7] = (x, y, z, l, w, h, yaw)``: ``z`` the bottom centre, ``yaw``
counter-clockwise around +z, yaw 0 = length along +x (mmdet3d >= 1.0 ``LiDARInstance3DBoxes``).
The IoUs live in :mod:`paddlexseg.ops.box_iou` and are re-exported here.
"""
import numpy as np
import paddle

from paddlexseg.ops._common import is_paddle, like, to_numpy
from paddlexseg.ops.box_iou import (box_iou_3d, box_iou_bev, limit_period,  # noqa: F401
                                    nearest_bev_iou, rect_intersection, rect_iou)

__all__ = ["points_in_boxes", "box_iou_bev", "box_iou_3d", "nearest_bev_iou", "nms_bev",
           "box3d_multiclass_nms", "limit_period", "rect_iou", "rect_intersection"]


def points_in_boxes(points, boxes):
    """Which points lie in which boxes: mmcv ``points_in_boxes_all`` (``points_in_boxes_cpu``),
    OpenPCDet ``roiaware_pool3d_utils.points_in_boxes_cpu``, Paddle3D ``points_in_boxes``.

    mmcv's test: ``|z - (z_box + h / 2)| <= h / 2`` (inclusive) and, in the box frame,
    ``-l/2 < x_local < l/2`` and ``-w/2 < y_local < w/2`` (strict).

    Args:
        points: float [N, >=3] (x, y, z, ...) NumPy array or paddle Tensor.
        boxes: float [M, 7] LiDAR boxes of the same kind.

    Returns:
        bool [N, M], same kind as ``points`` (a paddle Tensor stays on its device).
    """
    op = "points_in_boxes"
    for name, arr, width in (("points", points, 3), ("boxes", boxes, 7)):
        if arr.ndim != 2 or arr.shape[1] < width:
            raise ValueError(f"{op}: {name} must be [N, {width}], got {list(arr.shape)}")
    if is_paddle(points):
        if not is_paddle(boxes):
            boxes = paddle.to_tensor(np.asarray(boxes), place=points.place)
        boxes = boxes.astype(points.dtype)
        cos, sin = paddle.cos(boxes[:, 6]), paddle.sin(boxes[:, 6])
        xp_abs = paddle.abs
    else:
        points, boxes = np.asarray(points), to_numpy(boxes, "boxes", op).astype(points.dtype)
        cos, sin = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
        xp_abs = np.abs
    dx = points[:, 0:1] - boxes[None, :, 0]  # [N, M]
    dy = points[:, 1:2] - boxes[None, :, 1]
    dz = points[:, 2:3] - (boxes[None, :, 2] + boxes[None, :, 5] / 2)
    local_x = dx * cos[None, :] + dy * sin[None, :]
    local_y = -dx * sin[None, :] + dy * cos[None, :]
    return ((xp_abs(dz) <= boxes[None, :, 5] / 2) & (xp_abs(local_x) < boxes[None, :, 3] / 2)
            & (xp_abs(local_y) < boxes[None, :, 4] / 2))


def _bev_rects(boxes, op):
    """(x, y, l, w, yaw) from [N, 7] LiDAR boxes, or [N, 5] rectangles as they are."""
    if boxes.ndim != 2 or not (boxes.shape[1] == 5 or boxes.shape[1] >= 7):
        raise ValueError(f"{op}: boxes must be [N, 7] LiDAR boxes or [N, 5] (x, y, dx, dy, yaw) "
                         f"BEV rectangles, got {list(boxes.shape)}")
    return boxes if boxes.shape[1] == 5 else boxes[:, [0, 1, 3, 4, 6]]


def _greedy(iou, thr):
    """Greedy suppression over rows sorted by score: keep i, drop every later j with
    ``iou[i, j] >= thr`` (mmcv ``nms_rotated_cpu``). Returns kept positions."""
    suppressed = np.zeros(iou.shape[0], dtype=bool)
    keep = []
    for i in range(iou.shape[0]):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed[i + 1:] |= iou[i, i + 1:] >= thr
    return np.asarray(keep, dtype=np.int64)


def nms_bev(boxes, scores, iou_thr, pre_max_size=None, post_max_size=None):
    """Greedy rotated NMS on BEV IoU: mmdet3d ``nms_bev`` (mmcv ``nms_rotated``), OpenPCDet
    ``iou3d_nms_utils.nms_gpu``, Paddle3D ``iou3d_nms_cuda.nms_gpu``.

    Boxes are visited by descending score (stable order among ties); a box is suppressed when
    its IoU with a kept box is ``>= iou_thr`` as in mmcv's kernel.

    Args:
        boxes: float [N, 7] LiDAR boxes (or [N, 5] (x, y, dx, dy, yaw)), NumPy or paddle.
        scores: float [N].
        iou_thr: IoU threshold.
        pre_max_size: keep only the top-scoring boxes before NMS (mmdet3d's argument).
        post_max_size: keep at most this many after NMS.

    Returns:
        int64 [K] indices into ``boxes`` in descending score order, same kind as ``boxes``.
    """
    op = "nms_bev"
    rects = _bev_rects(to_numpy(boxes, "boxes", op), op)
    score = to_numpy(scores, "scores", op).reshape(-1)
    if score.shape[0] != rects.shape[0]:
        raise ValueError(f"{op}: {rects.shape[0]} boxes but {score.shape[0]} scores")
    order = np.argsort(-score.astype(np.float64), kind="stable")
    if pre_max_size is not None:
        order = order[:int(pre_max_size)]
    keep = order[_greedy(rect_iou(rects[order], rects[order]), float(iou_thr))]
    if post_max_size is not None:
        keep = keep[:int(post_max_size)]
    return like(keep.astype(np.int64), boxes)


def box3d_multiclass_nms(boxes, scores, score_thr, max_num, iou_thr, dir_scores=None):
    """mmdet3d ``box3d_multiclass_nms`` with ``use_rotate_nms=True``.

    For each class ``c``: boxes with ``scores[:, c] > score_thr``, rotated NMS at ``iou_thr``;
    results are concatenated class by class and, when more than ``max_num`` remain, the
    ``max_num`` best by score are kept (sorted by descending score).

    Args:
        boxes: float [N, 7] decoded LiDAR boxes (NumPy or paddle).
        scores: float [N, C] per-class scores. mmdet3d passes [N, C + 1] with a zero background
            column appended for sigmoid heads; here only the C foreground columns.
        score_thr: score threshold (strict ``>``).
        max_num: maximum number of boxes returned.
        iou_thr: NMS IoU threshold.
        dir_scores: optional [N] (e.g. the direction class) carried along.

    Returns:
        (boxes [K, 7], scores [K], labels int64 [K], dir_scores [K] or None), same kind as
        ``boxes``.
    """
    op = "box3d_multiclass_nms"
    box_np = to_numpy(boxes, "boxes", op)
    score_np = to_numpy(scores, "scores", op)
    if score_np.ndim != 2 or score_np.shape[0] != box_np.shape[0]:
        raise ValueError(f"{op}: scores must be [N, C] with N = {box_np.shape[0]} boxes, "
                         f"got {list(score_np.shape)}")
    dir_np = None if dir_scores is None else to_numpy(dir_scores, "dir_scores", op)
    picked, picked_scores, labels = [], [], []
    for c in range(score_np.shape[1]):
        candidates = np.flatnonzero(score_np[:, c] > score_thr)
        if candidates.size == 0:
            continue
        kept = candidates[nms_bev(box_np[candidates], score_np[candidates, c], iou_thr)]
        picked.append(kept)
        picked_scores.append(score_np[kept, c])
        labels.append(np.full(kept.shape[0], c, dtype=np.int64))
    if picked:
        picked, picked_scores = np.concatenate(picked), np.concatenate(picked_scores)
        labels = np.concatenate(labels)
        if picked.shape[0] > max_num:
            best = np.argsort(-picked_scores, kind="stable")[:int(max_num)]
            picked, picked_scores, labels = picked[best], picked_scores[best], labels[best]
    else:
        picked = np.zeros(0, dtype=np.int64)
        picked_scores = np.zeros(0, dtype=score_np.dtype)
        labels = np.zeros(0, dtype=np.int64)
    out_dir = None if dir_np is None else like(dir_np[picked], boxes)
    return (like(box_np[picked], boxes), like(picked_scores, boxes), like(labels, boxes),
            out_dir)
