"""points_in_boxes against mmcv's per-point test; greedy rotated NMS against a plain loop."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.boxes import box3d_multiclass_nms, box_iou_bev, nms_bev, points_in_boxes


def _mmcv_point_in_box(p, box):
    """mmcv check_pt_in_box3d (CPU) for one point and one box."""
    x, y, z = p[:3]
    cx, cy, cz, xs, ys, zs, rz = box
    cz = cz + zs / 2.0
    if abs(z - cz) > zs / 2.0:
        return False
    cosa, sina = np.cos(-rz), np.sin(-rz)
    lx = (x - cx) * cosa + (y - cy) * (-sina)
    ly = (x - cx) * sina + (y - cy) * cosa
    return (-xs / 2.0 < lx < xs / 2.0) and (-ys / 2.0 < ly < ys / 2.0)


def test_points_in_boxes_matches_mmcv_and_paddle():
    rng = np.random.default_rng(0)
    points = rng.uniform([-5, -5, -2, 0], [5, 5, 2, 1], (300, 4)).astype(np.float32)
    boxes = np.column_stack([rng.uniform(-3, 3, (6, 2)), rng.uniform(-1.5, 0, 6),
                             rng.uniform(1, 4, (6, 3)), rng.uniform(-3, 3, 6)]).astype(np.float32)
    ref = np.array([[_mmcv_point_in_box(p.astype(np.float64), b.astype(np.float64))
                     for b in boxes] for p in points])
    got = points_in_boxes(points, boxes)
    assert got.dtype == bool and got.shape == (300, 6)
    assert ref.sum() > 10
    np.testing.assert_array_equal(got, ref)
    got_t = points_in_boxes(paddle.to_tensor(points), paddle.to_tensor(boxes))
    assert isinstance(got_t, paddle.Tensor) and got_t.dtype == paddle.bool
    np.testing.assert_array_equal(got_t.numpy(), ref)
    # hand case: rotated 90 degrees, long side along y; z is the bottom
    box = np.array([[0, 0, 0, 4, 1, 2, np.pi / 2]])
    pts = np.array([[0, 1.9, 1.0], [1.9, 0, 1.0], [0, 0, -0.1], [0, 0, 2.0]])
    np.testing.assert_array_equal(points_in_boxes(pts, box)[:, 0], [True, False, False, True])
    with pytest.raises(ValueError, match="boxes"):
        points_in_boxes(points, boxes[:, :6])


def _greedy_ref(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(box_iou_bev(boxes[i:i + 1], boxes[k:k + 1])[0, 0] < thr for k in keep):
            keep.append(i)
    return keep


def test_nms_bev_matches_loop_and_kinds():
    rng = np.random.default_rng(1)
    boxes = np.column_stack([rng.uniform(0, 6, (25, 2)), np.zeros(25), rng.uniform(1, 3, (25, 3)),
                             rng.uniform(-3, 3, 25)])
    scores = rng.random(25)
    for thr in (0.01, 0.3, 0.7):
        keep = nms_bev(boxes, scores, thr)
        assert keep.dtype == np.int64
        np.testing.assert_array_equal(keep, _greedy_ref(boxes, scores, thr))
    keep_t = nms_bev(paddle.to_tensor(boxes, dtype="float32"), paddle.to_tensor(scores), 0.3)
    assert isinstance(keep_t, paddle.Tensor)
    np.testing.assert_array_equal(keep_t.numpy(), _greedy_ref(boxes, scores, 0.3))
    assert len(nms_bev(boxes, scores, 0.3, pre_max_size=10)) <= 10
    assert len(nms_bev(boxes, scores, 0.3, post_max_size=2)) == 2
    two = np.array([[0, 0, 0, 4, 2, 1, 0], [0, 0, 0, 4, 2, 1, 0]], np.float64)
    np.testing.assert_array_equal(nms_bev(two, np.array([0.2, 0.9]), 0.5), [1])
    assert nms_bev(np.zeros((0, 7)), np.zeros(0), 0.5).shape == (0,)


def test_multiclass_nms():
    boxes = np.array([[0, 0, 0, 4, 2, 1, 0], [0.2, 0, 0, 4, 2, 1, 0], [10, 0, 0, 1, 1, 1, 0],
                      [0, 0, 0, 1, 1, 1, 0]], np.float32)
    scores = np.array([[0.9, 0.0], [0.8, 0.05], [0.3, 0.0], [0.0, 0.6]], np.float32)
    out_boxes, out_scores, labels, dirs = box3d_multiclass_nms(
        boxes, scores, score_thr=0.1, max_num=50, iou_thr=0.01, dir_scores=np.arange(4))
    # class 0: box 0 suppresses box 1, box 2 kept; class 1: box 3 only (box 1 below threshold)
    np.testing.assert_array_equal(dirs, [0, 2, 3])
    np.testing.assert_array_equal(labels, [0, 0, 1])
    np.testing.assert_allclose(out_scores, [0.9, 0.3, 0.6])
    np.testing.assert_array_equal(out_boxes, boxes[[0, 2, 3]])
    _, s2, l2, _ = box3d_multiclass_nms(boxes, scores, 0.1, 2, 0.01)
    np.testing.assert_allclose(s2, [0.9, 0.6])  # over max_num: best by score
    np.testing.assert_array_equal(l2, [0, 1])
    empty = box3d_multiclass_nms(paddle.to_tensor(boxes), paddle.to_tensor(scores), 0.95, 5, 0.1)
    assert empty[0].shape == [0, 7] and empty[2].dtype == paddle.int64 and empty[3] is None
