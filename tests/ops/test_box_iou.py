"""Rotated BEV / 3D IoU against a rasterised reference and hand cases; nearest-BEV IoU."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.boxes import box_iou_3d, box_iou_bev, nearest_bev_iou, rect_intersection


def _raster_intersection(ra, rb, step=0.01):
    """Area of the overlap of two (cx, cy, dx, dy, angle) rectangles by counting grid cells
    (the grid covers the intersection of the two axis-aligned bounding boxes)."""
    boxes = []
    for r in (ra, rb):
        ext = (abs(np.cos(r[4])) * r[2] + abs(np.sin(r[4])) * r[3]) / 2, \
            (abs(np.sin(r[4])) * r[2] + abs(np.cos(r[4])) * r[3]) / 2
        boxes.append((r[0] - ext[0], r[1] - ext[1], r[0] + ext[0], r[1] + ext[1]))
    low = np.maximum(boxes[0][:2], boxes[1][:2])
    high = np.minimum(boxes[0][2:], boxes[1][2:])
    if np.any(high <= low):
        return 0.0
    xs = np.arange(low[0], high[0], step) + step / 2
    ys = np.arange(low[1], high[1], step) + step / 2
    gx, gy = np.meshgrid(xs, ys)
    inside = np.ones_like(gx, dtype=bool)
    for r in (ra, rb):
        dx, dy = gx - r[0], gy - r[1]
        c, s = np.cos(r[4]), np.sin(r[4])
        inside &= (np.abs(dx * c + dy * s) <= r[2] / 2) & (np.abs(-dx * s + dy * c) <= r[3] / 2)
    return inside.sum() * step * step


def _box(x, y, l, w, yaw, z=0.0, h=1.0):
    return [x, y, z, l, w, h, yaw]


@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-9), (np.float32, 1e-5)])
@pytest.mark.parametrize("origin", [(0.0, 0.0), (65.3, -38.1)])
def test_hand_cases(dtype, atol, origin):
    def _box(x, y, l, w, yaw, z=0.0, h=1.0):
        return [x + origin[0], y + origin[1], z, l, w, h, yaw]
    a = np.array([_box(0, 0, 4, 2, 0)])
    cases = [
        (_box(0, 0, 4, 2, 0), 1.0),  # identical
        (_box(10, 0, 4, 2, 0.3), 0.0),  # disjoint
        (_box(0, 0, 2, 1, 0), 2 / 8),  # contained
        (_box(0, 0, 4, 2, np.pi), 1.0),  # same footprint, heading reversed
        (_box(0, 0, 2, 4, np.pi / 2), 1.0),  # l and w swapped by 90 degrees
        (_box(2, 0, 4, 2, 0), 4 / 12),  # half overlap
        (_box(4, 0, 4, 2, 0), 0.0),  # touching edges
    ]
    for b, want in cases:
        got = box_iou_bev(a, np.array([b]), dtype=dtype)
        assert got.dtype == dtype and got.shape == (1, 1)
        np.testing.assert_allclose(got[0, 0], want, atol=atol, err_msg=str(b))
    # two unit squares, one rotated 45 degrees about the same centre: overlap is a regular
    # octagon of area 2 (sqrt(2) - 1) * 2 ... with side t = sqrt(2) - 1: area = 2 (1 + sqrt 2) t^2
    sq = np.array([_box(0, 0, 1, 1, 0)])
    rot = np.array([_box(0, 0, 1, 1, np.pi / 4)])
    t = np.sqrt(2) - 1
    octagon = 2 * (1 + np.sqrt(2)) * t * t
    np.testing.assert_allclose(box_iou_bev(sq, rot, dtype=dtype)[0, 0], octagon / (2 - octagon),
                               atol=atol)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_pairs_match_raster(seed):
    rng = np.random.default_rng(seed)
    ra = np.column_stack([rng.uniform(-1, 1, (12, 2)), rng.uniform(0.5, 3, (12, 2)),
                          rng.uniform(-np.pi, np.pi, 12)])
    rb = np.column_stack([rng.uniform(-1, 1, (9, 2)), rng.uniform(0.5, 3, (9, 2)),
                          rng.uniform(-np.pi, np.pi, 9)])
    inter = rect_intersection(ra, rb)
    refs = []
    for i in range(0, 12, 3):
        for j in range(9):
            refs.append(_raster_intersection(ra[i], rb[j]))
            # raster error is about perimeter * step / 2
            assert abs(inter[i, j] - refs[-1]) < 0.06, (i, j, inter[i, j], refs[-1])
    assert sum(r > 0.3 for r in refs) >= 10  # mostly real, partial overlaps
    assert np.all(inter <= np.minimum(ra[:, 2:3] * ra[:, 3:4], (rb[:, 2] * rb[:, 3])[None]) + 1e-9)
    np.testing.assert_allclose(rect_intersection(rb, ra), inter.T, atol=1e-9)  # symmetric


def test_iou_3d_heights_and_tensor_inputs():
    a = np.array([_box(0, 0, 4, 2, 0.4, z=0, h=2)])
    b = np.array([_box(0, 0, 4, 2, 0.4, z=1, h=2), _box(0, 0, 4, 2, 0.4, z=3, h=1)])
    np.testing.assert_allclose(box_iou_3d(a, b), [[8 / 24, 0.0]], atol=1e-9)  # half height
    np.testing.assert_allclose(box_iou_bev(a, b), [[1.0, 1.0]], atol=1e-9)
    got = box_iou_3d(paddle.to_tensor(a, dtype="float32"), paddle.to_tensor(b, dtype="float32"))
    assert isinstance(got, paddle.Tensor)
    np.testing.assert_allclose(got.numpy(), [[8 / 24, 0.0]], atol=1e-6)
    assert box_iou_bev(np.zeros((0, 7)), b).shape == (0, 2)
    with pytest.raises(ValueError, match="boxes_b"):
        box_iou_bev(a, np.zeros((3, 5)))


def test_self_iou_is_one_and_3d_below_bev():
    rng = np.random.default_rng(5)
    boxes = np.column_stack([rng.uniform(-1, 1, (6, 2)), rng.uniform(-0.5, 0.5, 6),
                             rng.uniform(1, 3, (6, 3)), rng.uniform(-3, 3, 6)])
    iou = box_iou_3d(boxes, boxes)
    np.testing.assert_allclose(np.diag(iou), 1.0, atol=1e-9)
    bev = box_iou_bev(boxes, boxes)
    assert np.all(iou <= bev + 1e-9)


def _nearest_ref(a, b):
    """mmdet3d nearest_bev + mmdet bbox_overlaps written out per pair."""
    def xyxy(box):
        rot = abs(box[6] - np.floor(box[6] / np.pi + 0.5) * np.pi)
        l, w = (box[4], box[3]) if rot > np.pi / 4 else (box[3], box[4])
        return [box[0] - l / 2, box[1] - w / 2, box[0] + l / 2, box[1] + w / 2]
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(map(xyxy, a)):
        for j, q in enumerate(map(xyxy, b)):
            iw = max(min(p[2], q[2]) - max(p[0], q[0]), 0)
            ih = max(min(p[3], q[3]) - max(p[1], q[1]), 0)
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - iw * ih
            out[i, j] = iw * ih / max(union, 1e-6)
    return out


def test_nearest_bev_iou_numpy_and_paddle():
    rng = np.random.default_rng(2)
    a = np.column_stack([rng.uniform(-3, 3, (7, 3)), rng.uniform(0.5, 4, (7, 3)),
                         rng.uniform(-4, 4, 7)]).astype(np.float32)
    b = np.column_stack([rng.uniform(-3, 3, (5, 3)), rng.uniform(0.5, 4, (5, 3)),
                         rng.uniform(-4, 4, 5)]).astype(np.float32)
    ref = _nearest_ref(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(nearest_bev_iou(a, b), ref, atol=1e-5)
    got = nearest_bev_iou(paddle.to_tensor(a), paddle.to_tensor(b))
    assert isinstance(got, paddle.Tensor) and got.dtype == paddle.float32
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5)
    # 80 degrees snaps to 90: a 4 x 2 box becomes 2 x 4
    snapped = nearest_bev_iou(np.array([_box(0, 0, 4, 2, np.deg2rad(80))]),
                              np.array([_box(0, 0, 2, 4, 0)]))
    np.testing.assert_allclose(snapped, [[1.0]])
