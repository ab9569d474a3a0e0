"""Anchor assignment and the detection loss terms against hand cases and NumPy."""
import math

import numpy as np
import paddle

from paddlexseg.losses.detection import (direction_target, max_iou_assign, sigmoid_focal_loss,
                                         smooth_l1)


def test_max_iou_assign_rules():
    overlaps = np.array([[0.7, 0.5, 0.1, 0.3, 0.0],
                         [0.2, 0.3, 0.15, 0.5, 0.0]], np.float32)
    got = max_iou_assign(overlaps, pos_iou_thr=0.6, neg_iou_thr=0.45, min_pos_iou=0.45)
    # anchor 0 positive (0.7); 1 ignored (0.5 in between); 2 negative; 3 -> box 1 by its
    # best-IoU (low-quality) match 0.5 >= 0.45; 4 negative
    np.testing.assert_array_equal(got, [1, -1, 0, 2, 0])
    got = max_iou_assign(overlaps, pos_iou_thr=0.6, neg_iou_thr=0.45, min_pos_iou=0.6)
    np.testing.assert_array_equal(got, [1, -1, 0, -1, 0])
    np.testing.assert_array_equal(max_iou_assign(np.zeros((0, 3)), 0.6, 0.45, 0.45), [0, 0, 0])


def test_focal_loss_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    target = np.eye(4, dtype=np.float32)[[0, 3, 2, 3, 1, 3]][:, :3]
    weight = np.array([1, 1, 0, 1, 1, 1], np.float32)
    p = 1 / (1 + np.exp(-logits))
    pt = np.where(target == 1, 1 - p, p)
    at = np.where(target == 1, 0.25, 0.75)
    ref = -(target * np.log(p) + (1 - target) * np.log(1 - p)) * at * pt ** 2
    got = sigmoid_focal_loss(paddle.to_tensor(logits), paddle.to_tensor(target),
                             paddle.to_tensor(weight)).item()
    np.testing.assert_allclose(got, (ref * weight[:, None]).sum(), rtol=1e-5)


def test_smooth_l1_and_direction_bins():
    d = paddle.to_tensor([0.05, -0.5, 0.0])
    np.testing.assert_allclose(smooth_l1(d, 1 / 9).numpy(),
                               [0.5 * 0.05 ** 2 * 9, 0.5 - 0.5 / 9, 0.0], rtol=1e-6)
    # dir_offset -pi/2: yaw in [-pi/2, pi/2) is bin 0, the opposite half bin 1
    yaw = np.array([0.0, 1.0, -1.5, math.pi / 2 + 0.1, math.pi - 0.1, -math.pi / 2 - 0.1])
    np.testing.assert_array_equal(direction_target(yaw, -math.pi / 2, 0.0), [0, 0, 0, 1, 1, 1])
