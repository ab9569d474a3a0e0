"""The KITTI object devkit's per-frame steps (``cpp/evaluate_object.cpp``), in NumPy.

Follows the Python port that OpenPCDet (``kitti_object_eval_python/eval.py``) and mmdet3d
(``evaluation/functional/kitti_utils/eval.py``) share: ``clean_data`` (difficulty and neighbour
-class ignore rules, DontCare regions), the overlaps (2D image IoU; BEV and 3D IoU in the
camera frame, here by :mod:`paddlexseg.ops.box_iou` in float64 instead of numba's float32
kernels), ``compute_statistics`` (greedy matching of ground truth in file order) and
``get_thresholds`` (score thresholds at 41 evenly spaced recall points).
"""
import numpy as np

from paddlexseg.ops.box_iou import rect_intersection_aligned

__all__ = ["CLASS_NAMES", "MIN_HEIGHT", "MAX_OCCLUSION", "MAX_TRUNCATION", "clean_data",
           "image_overlap", "pair_overlaps", "frame_overlaps", "match_frame", "first_pass",
           "get_thresholds"]

CLASS_NAMES = ("car", "pedestrian", "cyclist", "van", "person_sitting", "truck")
MIN_HEIGHT = (40, 25, 25)  # easy, moderate, hard: minimum 2D box height in pixels
MAX_OCCLUSION = (0, 1, 2)
MAX_TRUNCATION = (0.15, 0.3, 0.5)
_NEIGHBOUR = {"pedestrian": "person_sitting", "car": "van"}  # counted as "don't care" class


def _lower(names):
    return np.char.lower(np.asarray(names, dtype=str).reshape(-1))


def clean_data(gt, dt, class_name, difficulty):
    """Ignore flags of one frame for one class and difficulty (devkit ``cleanData``).

    Ground truth: 0 = counts, 1 = ignored (neighbour class Van / Person_sitting, or the
    object is too small / occluded / truncated for this difficulty), -1 = other class.
    Detections: 1 = ignored (2D box lower than the difficulty's minimum height, any class),
    0 = this class, -1 = other class.

    Returns:
        (number of counted ground-truth objects, ignored_gt int [G], ignored_dt int [D],
        DontCare 2D boxes float [K, 4]).
    """
    cls = class_name.lower()
    names = _lower(gt["name"])
    bbox = np.asarray(gt["bbox"], np.float64).reshape(-1, 4)
    valid = np.where(names == cls, 1, np.where(names == _NEIGHBOUR.get(cls, "\0"), 0, -1))
    height = bbox[:, 3] - bbox[:, 1]
    hard = ((np.asarray(gt["occluded"]).reshape(-1) > MAX_OCCLUSION[difficulty])
            | (np.asarray(gt["truncated"]).reshape(-1) > MAX_TRUNCATION[difficulty])
            | (height <= MIN_HEIGHT[difficulty]))
    ignored_gt = np.where((valid == 1) & ~hard, 0,
                          np.where((valid == 0) | ((valid == 1) & hard), 1, -1))
    dontcare = bbox[np.asarray(gt["name"], dtype=str).reshape(-1) == "DontCare"]
    dt_box = np.asarray(dt["bbox"], np.float64).reshape(-1, 4)
    dt_height = np.abs(dt_box[:, 3] - dt_box[:, 1])
    ignored_dt = np.where(dt_height < MIN_HEIGHT[difficulty], 1,
                          np.where(_lower(dt["name"]) == cls, 0, -1))
    return int((ignored_gt == 0).sum()), ignored_gt, ignored_dt, dontcare


def image_overlap(boxes, query, criterion=-1):
    """Devkit ``image_box_overlap``: [N, K] IoU (-1), over boxes' area (0) or query area (1)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    query = np.asarray(query, np.float64).reshape(-1, 4)
    iw = np.minimum(boxes[:, None, 2], query[None, :, 2]) - np.maximum(boxes[:, None, 0],
                                                                       query[None, :, 0])
    ih = np.minimum(boxes[:, None, 3], query[None, :, 3]) - np.maximum(boxes[:, None, 1],
                                                                       query[None, :, 1])
    inter = iw * ih
    area_b = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:, None]
    area_q = ((query[:, 2] - query[:, 0]) * (query[:, 3] - query[:, 1]))[None, :]
    union = {-1: area_b + area_q - inter, 0: area_b + 0 * area_q,
             1: area_q + 0 * area_b}.get(criterion, np.ones_like(inter))
    hit = (iw > 0) & (ih > 0)
    return np.where(hit, inter / np.where(hit, union, 1.0), 0.0)


def _camera_rects(anno):
    """BEV rectangles (x, z, l, w, -ry) of camera boxes: the devkit rotates corners by -ry."""
    loc = np.asarray(anno["location"], np.float64).reshape(-1, 3)
    dims = np.asarray(anno["dimensions"], np.float64).reshape(-1, 3)  # (l, h, w)
    ry = np.asarray(anno["rotation_y"], np.float64).reshape(-1)
    return np.column_stack([loc[:, 0], loc[:, 2], dims[:, 0], dims[:, 2], -ry])


def pair_overlaps(dt, gt, dt_index, gt_index, metric):
    """Overlap of the detection / ground-truth pairs ``(dt_index[k], gt_index[k])``: [P].

    ``metric``: ``"bbox"`` (2D IoU in the image), ``"bev"`` (rotated IoU of the (x, z)
    footprints), ``"3d"`` (rotated footprint x overlap along the camera y axis, boxes hanging
    from ``location`` upwards by ``h``, over the union of volumes).
    """
    if metric == "bbox":
        bd = np.asarray(dt["bbox"], np.float64).reshape(-1, 4)[dt_index]
        bg = np.asarray(gt["bbox"], np.float64).reshape(-1, 4)[gt_index]
        iw = np.minimum(bd[:, 2], bg[:, 2]) - np.maximum(bd[:, 0], bg[:, 0])
        ih = np.minimum(bd[:, 3], bg[:, 3]) - np.maximum(bd[:, 1], bg[:, 1])
        inter = iw * ih
        union = ((bd[:, 2] - bd[:, 0]) * (bd[:, 3] - bd[:, 1])
                 + (bg[:, 2] - bg[:, 0]) * (bg[:, 3] - bg[:, 1]) - inter)
        hit = (iw > 0) & (ih > 0)
        return np.where(hit, inter / np.where(hit, union, 1.0), 0.0)
    rd, rg = _camera_rects(dt)[dt_index], _camera_rects(gt)[gt_index]
    inter = rect_intersection_aligned(rd, rg)
    if metric == "bev":
        union = rd[:, 2] * rd[:, 3] + rg[:, 2] * rg[:, 3] - inter
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    ld = np.asarray(dt["location"], np.float64).reshape(-1, 3)[dt_index]
    lg = np.asarray(gt["location"], np.float64).reshape(-1, 3)[gt_index]
    dd = np.asarray(dt["dimensions"], np.float64).reshape(-1, 3)[dt_index]
    dg = np.asarray(gt["dimensions"], np.float64).reshape(-1, 3)[gt_index]
    iw = np.minimum(ld[:, 1], lg[:, 1]) - np.maximum(ld[:, 1] - dd[:, 1], lg[:, 1] - dg[:, 1])
    inter = inter * iw
    hit = (iw > 0) & (inter > 0)
    union = dd.prod(axis=1) + dg.prod(axis=1) - inter
    return np.where(hit, inter / np.where(hit, union, 1.0), 0.0)


def frame_overlaps(dt, gt, metric):
    """Overlap [D, G] of one frame's detections with its ground truth (see
    :func:`pair_overlaps`)."""
    num_dt = len(np.asarray(dt["name"]).reshape(-1))
    num_gt = len(np.asarray(gt["name"]).reshape(-1))
    di, gi = np.meshgrid(np.arange(num_dt), np.arange(num_gt), indexing="ij")
    return pair_overlaps(dt, gt, di.reshape(-1), gi.reshape(-1), metric).reshape(num_dt, num_gt)


def first_pass(overlaps, ignored_gt, ignored_dt, scores, min_overlap):
    """``compute_statistics(compute_fp=False)``: the scores of true positives at threshold 0.

    Each counted or ignored ground truth (in file order) takes the highest-scoring free
    detection with overlap > ``min_overlap``.
    """
    n_dt = len(ignored_dt)
    assigned = [False] * n_dt
    found_scores = []
    for i, ig in enumerate(ignored_gt):
        if ig == -1:
            continue
        det, best = -1, -np.inf
        for j in range(n_dt):
            if ignored_dt[j] == -1 or assigned[j]:
                continue
            if overlaps[j][i] > min_overlap and scores[j] > best:
                det, best = j, scores[j]
        if det < 0:
            continue
        assigned[det] = True
        if ig == 0 and ignored_dt[det] == 0:
            found_scores.append(scores[det])
    return found_scores


def match_frame(overlaps, ignored_gt, ignored_dt, active, min_overlap):
    """``compute_statistics(compute_fp=True)`` for the detections flagged ``active``
    (score >= threshold).

    A ground truth takes the free counted detection of largest overlap > ``min_overlap``, or
    failing that the first free ignored one.

    Returns:
        (tp, fn, assigned bool list [D], list of (gt, det) true-positive pairs).
    """
    n_dt = len(ignored_dt)
    assigned = [False] * n_dt
    tp = fn = 0
    pairs = []
    for i, ig in enumerate(ignored_gt):
        if ig == -1:
            continue
        det, best, on_ignored = -1, 0.0, False
        for j in range(n_dt):
            if ignored_dt[j] == -1 or assigned[j] or not active[j]:
                continue
            overlap = overlaps[j][i]
            if overlap <= min_overlap:
                continue
            if ignored_dt[j] == 0 and (overlap > best or on_ignored):
                det, best, on_ignored = j, overlap, False
            elif det < 0 and ignored_dt[j] == 1:
                det, on_ignored = j, True
        if det < 0:
            fn += ig == 0
        elif ig == 1 or ignored_dt[det] == 1:
            assigned[det] = True
        else:
            tp += 1
            pairs.append((i, det))
            assigned[det] = True
    return tp, fn, assigned, pairs


def get_thresholds(scores, num_gt, num_sample_pts=41):
    """Devkit ``getThresholds``: scores of true positives at which recall crosses each of the
    ``num_sample_pts`` evenly spaced recall levels (descending)."""
    scores = np.sort(np.asarray(scores, np.float64))[::-1]
    current, out = 0.0, []
    for i, score in enumerate(scores):
        left = (i + 1) / num_gt
        right = (i + 2) / num_gt if i < len(scores) - 1 else left
        if (right - current) < (current - left) and i < len(scores) - 1:
            continue
        out.append(score)
        current += 1 / (num_sample_pts - 1.0)
    return np.asarray(out, np.float64)
