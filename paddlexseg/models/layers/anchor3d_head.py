"""mmdet3d ``Anchor3DHead`` (``mmdet3d/models/dense_heads/anchor3d_head.py``): 1x1 convs for
class scores, box deltas and direction bins per anchor, and the test-time decoding (sigmoid,
top ``nms_pre``, decode, per-class rotated NMS, direction fix-up).

Channel layout as mmdet3d: with ``A = num_sizes * num_rots`` anchors per location (anchor
``a = size_index * num_rots + rot_index``), ``cls_score`` [B, A*C, H, W] holds class ``c`` of
anchor ``a`` in channel ``a * C + c``, ``bbox_pred`` [B, A*7, H, W] channel ``a * 7 + k``,
``dir_cls_pred`` [B, A*2, H, W] channel ``a * 2 + bin``. Losses: ``paddlexseg/losses/detection.py``.
"""
import math

import numpy as np
import paddle
from paddle import nn

from paddlexseg.ops.anchors import Anchor3DRangeGenerator
from paddlexseg.ops.box_coder import DeltaXYZWLHRBBoxCoder
from paddlexseg.ops.boxes import box3d_multiclass_nms

__all__ = ["Anchor3DHead", "flatten_head_outputs"]

_KITTI_RANGES = ((0, -40.0, -0.6, 70.4, 40.0, -0.6), (0, -40.0, -0.6, 70.4, 40.0, -0.6),
                 (0, -40.0, -1.78, 70.4, 40.0, -1.78))
_KITTI_SIZES = ((0.8, 0.6, 1.73), (1.76, 0.6, 1.73), (3.9, 1.6, 1.56))


def flatten_head_outputs(cls_score, bbox_pred, dir_cls_pred, num_classes):
    """[B, A*C, H, W] maps -> per-anchor rows in anchor order (H, W, A):
    ([B, H*W*A, C], [B, H*W*A, 7], [B, H*W*A, 2]) (mmdet3d ``permute(0, 2, 3, 1).reshape``)."""
    b = cls_score.shape[0]
    cls = cls_score.transpose([0, 2, 3, 1]).reshape([b, -1, num_classes])
    reg = bbox_pred.transpose([0, 2, 3, 1]).reshape([b, -1, 7])
    dirs = dir_cls_pred.transpose([0, 2, 3, 1]).reshape([b, -1, 2])
    return cls, reg, dirs


class Anchor3DHead(nn.Layer):
    """Args:
        num_classes: classes (anchor sizes are per class, in the config's class order).
        in_channels: input channels (512 from SECONDFPN).
        feat_channels: must equal ``in_channels`` (mmdet3d's head has no shared conv).
        anchor_ranges: one (x0, y0, z, x1, y1, z) per class; centres ``linspace`` over the
            feature map, ends included (mmdet3d ``Anchor3DRangeGenerator``).
        anchor_sizes: one (l, w, h) per class.
        anchor_rotations: yaw of the anchors at each location.
        dir_offset, dir_limit_offset: direction-bin convention (mmdet3d: -pi/2, 0).
        nms_pre, nms_thr, score_thr, max_num: test-time settings (100, 0.01, 0.1, 50).
    """

    def __init__(self, num_classes=3, in_channels=512, feat_channels=512,
                 anchor_ranges=_KITTI_RANGES, anchor_sizes=_KITTI_SIZES,
                 anchor_rotations=(0, 1.57), dir_offset=-math.pi / 2, dir_limit_offset=0.0,
                 nms_pre=100, nms_thr=0.01, score_thr=0.1, max_num=50):
        super().__init__()
        if int(feat_channels) != int(in_channels):
            raise ValueError("Anchor3DHead: feat_channels must equal in_channels")
        self.num_classes = int(num_classes)
        self.anchor_generator = Anchor3DRangeGenerator(
            ranges=[list(r) for r in anchor_ranges], sizes=[list(s) for s in anchor_sizes],
            rotations=list(anchor_rotations), reshape_out=False)
        self.num_sizes = len(anchor_sizes)
        self.num_rots = len(anchor_rotations)
        self.num_anchors = self.num_sizes * self.num_rots
        self.bbox_coder = DeltaXYZWLHRBBoxCoder()
        self.dir_offset = float(dir_offset)
        self.dir_limit_offset = float(dir_limit_offset)
        self.nms_pre, self.nms_thr = int(nms_pre), float(nms_thr)
        self.score_thr, self.max_num = float(score_thr), int(max_num)
        std = nn.initializer.Normal(0.0, 0.01)
        prior = -math.log((1 - 0.01) / 0.01)  # mmcv bias_init_with_prob(0.01)
        self.conv_cls = nn.Conv2D(in_channels, self.num_anchors * self.num_classes, 1,
                                  weight_attr=paddle.ParamAttr(initializer=std),
                                  bias_attr=paddle.ParamAttr(
                                      initializer=nn.initializer.Constant(prior)))
        self.conv_reg = nn.Conv2D(in_channels, self.num_anchors * 7, 1,
                                  weight_attr=paddle.ParamAttr(initializer=std))
        self.conv_dir_cls = nn.Conv2D(in_channels, self.num_anchors * 2, 1,
                                      weight_attr=paddle.ParamAttr(initializer=std))
        self._anchor_cache = {}

    def forward(self, x):
        """x [B, C, H, W] -> (cls_score, bbox_pred, dir_cls_pred)."""
        return self.conv_cls(x), self.conv_reg(x), self.conv_dir_cls(x)

    def get_anchors(self, height, width):
        """Anchors float32 [H, W, num_sizes, num_rots, 7] (LiDAR boxes, bottom centres)."""
        key = (int(height), int(width))
        if key not in self._anchor_cache:
            anchors = self.anchor_generator.single_level_grid_anchors((1, height, width))
            anchors = np.asarray(anchors.numpy() if isinstance(anchors, paddle.Tensor)
                                 else anchors, dtype=np.float32)
            self._anchor_cache[key] = anchors.reshape(height, width, self.num_sizes,
                                                      self.num_rots, 7)
        return paddle.to_tensor(self._anchor_cache[key])

    def predict(self, cls_score, bbox_pred, dir_cls_pred, anchors):
        """Decode + NMS per frame (mmdet3d ``predict_by_feat_single``). Decoded boxes with a
        non-finite value or a non-positive size (exp() overflow early in training) are dropped.

        Returns:
            list (one per frame) of dicts with NumPy ``boxes_3d`` float32 [K, 7] (LiDAR),
            ``scores_3d`` [K], ``labels_3d`` int64 [K].
        """
        cls, reg, dirs = flatten_head_outputs(cls_score, bbox_pred, dir_cls_pred,
                                              self.num_classes)
        flat_anchors = anchors.reshape([-1, 7])
        results = []
        for i in range(cls.shape[0]):
            scores = paddle.nn.functional.sigmoid(cls[i])            # [N, C]
            dir_label = paddle.argmax(dirs[i], axis=-1)              # [N]
            deltas, anc = reg[i], flat_anchors
            if 0 < self.nms_pre < scores.shape[0]:
                _, top = paddle.topk(scores.max(axis=1), self.nms_pre)
                scores, dir_label = scores[top], dir_label[top]
                deltas, anc = deltas[top], anc[top]
            boxes = self.bbox_coder.decode(anc, deltas).numpy()
            # an untrained anchor's size delta can overflow exp(): such boxes are dropped
            finite = np.isfinite(boxes).all(axis=1) & (boxes[:, 3:6] > 0).all(axis=1)
            boxes_np, score_np, label_np, dir_np = box3d_multiclass_nms(
                boxes[finite], scores.numpy()[finite], self.score_thr, self.max_num,
                self.nms_thr, dir_scores=dir_label.numpy()[finite])
            boxes_np = np.asarray(boxes_np, dtype=np.float64).reshape(-1, 7)
            if boxes_np.shape[0]:
                period = np.pi
                rot = boxes_np[:, 6] - self.dir_offset
                rot = rot - np.floor(rot / period + self.dir_limit_offset) * period
                boxes_np[:, 6] = rot + self.dir_offset + np.pi * np.asarray(dir_np, np.float64)
            results.append({"boxes_3d": boxes_np.astype(np.float32),
                            "scores_3d": np.asarray(score_np, np.float32).reshape(-1),
                            "labels_3d": np.asarray(label_np, np.int64).reshape(-1)})
        return results
