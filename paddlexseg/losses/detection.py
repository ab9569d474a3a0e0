"""SECOND / Anchor3DHead losses (mmdet3d ``Anchor3DHead.loss_by_feat`` with
``train_mixins.AnchorTrainMixin``), apart from the model.

Per frame and per class ``i``, the anchors of size ``i`` are matched to the ground-truth boxes
of class ``i`` by mmdet3d's ``Max3DIoUAssigner`` on the nearest-BEV IoU
(``BboxOverlapsNearest3D``): IoU >= ``pos_iou_thr`` positive, < ``neg_iou_thr`` negative, in
between ignored, and each box also takes the anchors of its highest IoU when that is >=
``min_pos_iou`` (``match_low_quality``, ``gt_max_assign_all``). Terms, each summed and divided
by the number of positives in the batch (at least 1, as OpenPCDet; mmdet3d divides by
``num_pos + eps``, which blows up on a frame without objects):

* ``loss_cls``: sigmoid focal loss (alpha 0.25, gamma 2) over all non-ignored anchors
  (background = all-zero target), weight 1;
* ``loss_bbox``: SmoothL1 (beta 1/9) on the ``DeltaXYZWLHR`` residuals of positives, the angle
  as ``sin(a - b)`` = ``sin a cos b - cos a sin b`` (``diff_rad_by_sin``), weight 2;
* ``loss_dir``: cross entropy of the 2 direction bins of positives, weight 0.2.
"""
import math

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..models.layers.anchor3d_head import flatten_head_outputs
from ..ops.box_coder import DeltaXYZWLHRBBoxCoder
from ..ops.boxes import nearest_bev_iou
from ..registry import LOSSES

__all__ = ["Anchor3DHeadLoss", "max_iou_assign", "anchor_targets", "sigmoid_focal_loss",
           "smooth_l1", "direction_target"]


def max_iou_assign(overlaps, pos_iou_thr, neg_iou_thr, min_pos_iou):
    """mmdet ``MaxIoUAssigner.assign_wrt_overlaps`` (match_low_quality, gt_max_assign_all).

    Args:
        overlaps: float [G, N] IoU of G boxes with N anchors (NumPy).

    Returns:
        int64 [N]: -1 ignored, 0 negative, g + 1 matched to box g.
    """
    num_gts, num = overlaps.shape
    if num_gts == 0:
        return np.zeros(num, np.int64)
    assigned = np.full(num, -1, np.int64)
    max_overlaps = overlaps.max(axis=0)
    argmax = overlaps.argmax(axis=0)
    assigned[(max_overlaps >= 0) & (max_overlaps < neg_iou_thr)] = 0
    pos = max_overlaps >= pos_iou_thr
    assigned[pos] = argmax[pos] + 1
    gt_max = overlaps.max(axis=1)
    for g in range(num_gts):
        if gt_max[g] >= min_pos_iou:
            assigned[overlaps[g] == gt_max[g]] = g + 1
    return assigned


def direction_target(yaw, dir_offset, dir_limit_offset, num_bins=2):
    """mmdet3d ``get_direction_target``: the direction bin of the ground-truth ``yaw``
    (mmdet3d adds the encoded residual back to the anchor's yaw, which gives the same)."""
    off = np.asarray(yaw, np.float64) - dir_offset
    period = 2 * np.pi
    off = off - np.floor(off / period + dir_limit_offset) * period
    return np.clip(np.floor(off / (period / num_bins)), 0, num_bins - 1).astype(np.int64)


def anchor_targets(anchors, gt_boxes, gt_labels, num_classes, pos_iou_thr, neg_iou_thr,
                   min_pos_iou):
    """Assignment of one frame (mmdet3d ``anchor_target_3d_single`` with a list of assigners).

    Args:
        anchors: float [H, W, S, R, 7] (S = num_classes sizes), NumPy.
        gt_boxes: float [G, 7]; gt_labels: int [G] in [0, num_classes) (others are skipped).

    Returns:
        labels int64 [H*W*S*R] (class, or ``num_classes`` for background), label weights
        float32 (0 ignored), matched box index int64 (-1 if not positive).
    """
    h, w, s, r, _ = anchors.shape
    labels = np.full((h, w, s, r), num_classes, np.int64)
    weights = np.ones((h, w, s, r), np.float32)
    matched = np.full((h, w, s, r), -1, np.int64)
    for c in range(min(num_classes, s)):
        cls_anchors = anchors[:, :, c].reshape(-1, 7)
        idx = np.flatnonzero(gt_labels == c)
        overlaps = (nearest_bev_iou(gt_boxes[idx].astype(np.float32), cls_anchors)
                    if idx.size else np.zeros((0, cls_anchors.shape[0]), np.float32))
        assigned = max_iou_assign(np.asarray(overlaps), pos_iou_thr[c], neg_iou_thr[c],
                                  min_pos_iou[c]).reshape(h, w, r)
        pos = assigned > 0
        lab, wt, mat = labels[:, :, c], weights[:, :, c], matched[:, :, c]
        lab[pos] = c
        wt[assigned < 0] = 0.0
        mat[pos] = idx[assigned[pos] - 1]
    return labels.reshape(-1), weights.reshape(-1), matched.reshape(-1)


def sigmoid_focal_loss(logits, target, weight, alpha=0.25, gamma=2.0):
    """mmdet ``py_sigmoid_focal_loss``, summed: logits/target [N, C], weight [N]."""
    p = F.sigmoid(logits)
    pt = (1 - p) * target + p * (1 - target)
    focal = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * focal * weight.unsqueeze(-1)).sum()


def smooth_l1(diff, beta):
    """mmdet ``smooth_l1_loss`` elementwise on ``pred - target``."""
    d = diff.abs()
    return paddle.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


@LOSSES.register()
class Anchor3DHeadLoss(nn.Layer):
    """The three Anchor3DHead terms from the head's outputs and the ground truth.

    Config: ``{type: Anchor3DHeadLoss, input: [cls_score, bbox_pred, dir_cls_pred, anchors],
    target: [gt_boxes, gt_labels]}``; returns ``{loss_cls, loss_bbox, loss_dir}`` (weighted).

    Args:
        num_classes: classes, in the anchors' size order.
        pos_iou_thr, neg_iou_thr, min_pos_iou: per class (mmdet3d 3-class:
            Ped/Cyc 0.35/0.2/0.2, Car 0.6/0.45/0.45).
        alpha, gamma: focal loss; cls_weight, bbox_weight, dir_weight: term weights;
        beta: SmoothL1; dir_offset, dir_limit_offset: the head's direction convention.
    """

    def __init__(self, num_classes=3, pos_iou_thr=(0.35, 0.35, 0.6),
                 neg_iou_thr=(0.2, 0.2, 0.45), min_pos_iou=(0.2, 0.2, 0.45), alpha=0.25,
                 gamma=2.0, beta=1.0 / 9.0, cls_weight=1.0, bbox_weight=2.0, dir_weight=0.2,
                 dir_offset=-math.pi / 2, dir_limit_offset=0.0):
        super().__init__()
        self.num_classes = int(num_classes)
        for name, v in (("pos_iou_thr", pos_iou_thr), ("neg_iou_thr", neg_iou_thr),
                        ("min_pos_iou", min_pos_iou)):
            if len(v) != self.num_classes:
                raise ValueError(f"Anchor3DHeadLoss.{name}: expected {self.num_classes} "
                                 f"values (one per class), got {list(v)}")
        self.pos_iou_thr = [float(v) for v in pos_iou_thr]
        self.neg_iou_thr = [float(v) for v in neg_iou_thr]
        self.min_pos_iou = [float(v) for v in min_pos_iou]
        self.alpha, self.gamma, self.beta = float(alpha), float(gamma), float(beta)
        self.cls_weight, self.bbox_weight = float(cls_weight), float(bbox_weight)
        self.dir_weight = float(dir_weight)
        self.dir_offset, self.dir_limit_offset = float(dir_offset), float(dir_limit_offset)
        self.coder = DeltaXYZWLHRBBoxCoder()

    def targets(self, anchors, gt_boxes, gt_labels):
        """Per-frame assignment -> concatenated NumPy targets over the batch."""
        anchors_np = anchors.numpy()
        flat = anchors_np.reshape(-1, 7)
        out = {"labels": [], "weights": [], "boxes": [], "pos": []}
        for boxes, labels in zip(gt_boxes, gt_labels):
            boxes = np.asarray(boxes.numpy() if isinstance(boxes, paddle.Tensor) else boxes,
                               np.float32).reshape(-1, 7)
            labels = np.asarray(labels.numpy() if isinstance(labels, paddle.Tensor) else labels,
                                np.int64).reshape(-1)
            lab, wt, mat = anchor_targets(anchors_np, boxes, labels, self.num_classes,
                                          self.pos_iou_thr, self.neg_iou_thr, self.min_pos_iou)
            pos = np.flatnonzero(mat >= 0)
            out["labels"].append(lab)
            out["weights"].append(wt)
            out["pos"].append(pos)
            out["boxes"].append(boxes[mat[pos]] if pos.size else np.zeros((0, 7), np.float32))
        return flat, out

    def forward(self, cls_score, bbox_pred, dir_cls_pred, anchors, gt_boxes, gt_labels):
        cls, reg, dirs = flatten_head_outputs(cls_score, bbox_pred, dir_cls_pred,
                                              self.num_classes)
        b, n = cls.shape[0], cls.shape[1]
        flat, t = self.targets(anchors, gt_boxes, gt_labels)
        labels = np.concatenate(t["labels"])
        weights = np.concatenate(t["weights"])
        pos = np.concatenate([p + i * n for i, p in enumerate(t["pos"])]).astype(np.int64)
        num_pos = max(int(pos.size), 1)
        onehot = np.zeros((labels.shape[0], self.num_classes + 1), np.float32)
        onehot[np.arange(labels.shape[0]), labels] = 1.0
        cls_flat = cls.reshape([-1, self.num_classes])
        loss_cls = sigmoid_focal_loss(cls_flat, paddle.to_tensor(onehot[:, :-1]),
                                      paddle.to_tensor(weights), self.alpha, self.gamma)
        if pos.size == 0:
            zero = (reg.sum() + dirs.sum()) * 0.0
            return {"loss_cls": self.cls_weight * loss_cls / num_pos,
                    "loss_bbox": zero, "loss_dir": zero}
        pos_anchors = np.tile(flat, (b, 1))[pos]
        gt = np.concatenate(t["boxes"])
        pos_t = paddle.to_tensor(pos)
        target = self.coder.encode(paddle.to_tensor(pos_anchors), paddle.to_tensor(gt))
        pred = paddle.gather(reg.reshape([-1, 7]), pos_t)
        # diff_rad_by_sin: sin(a)cos(b) vs cos(a)sin(b)
        a, tb = pred[:, 6], target[:, 6]
        pred = paddle.concat([pred[:, :6], (paddle.sin(a) * paddle.cos(tb)).unsqueeze(1)], 1)
        target = paddle.concat([target[:, :6], (paddle.cos(a) * paddle.sin(tb)).unsqueeze(1)],
                               1)
        loss_bbox = smooth_l1(pred - target, self.beta).sum()
        dir_t = direction_target(gt[:, 6], self.dir_offset, self.dir_limit_offset)
        dir_logits = paddle.gather(dirs.reshape([-1, 2]), pos_t)
        loss_dir = F.cross_entropy(dir_logits, paddle.to_tensor(dir_t), reduction="sum")
        return {"loss_cls": self.cls_weight * loss_cls / num_pos,
                "loss_bbox": self.bbox_weight * loss_bbox / num_pos,
                "loss_dir": self.dir_weight * loss_dir / num_pos}

