"""Train-time augmentation of a LiDAR frame with 3-D boxes (mmdetection3d's SECOND pipeline).

mmdet3d order: ``ObjectSample`` (GT sampling, :mod:`paddlexseg.datasets.gt_database`) ->
``ObjectNoise`` (:class:`ObjectNoise`, optional) -> ``RandomFlip3D`` -> ``GlobalRotScaleTrans`` -> ``PointsRangeFilter`` -> ``ObjectRangeFilter``
-> ``PointShuffle``. Every step appends what it did to a record (a list of dicts with an
``op`` key) in the order applied, so that a fusion model can map augmented points back to the
camera (:func:`undo_points`). Points are float32 [N, C] (x, y, z first); boxes are LiDAR boxes
float [M, 7] ``(x, y, z_bottom, l, w, h, yaw)``.

The forward map of the geometric steps, applied to a point p in the order recorded:
``flip``: y -> -y (boxes: y -> -y, yaw -> -yaw); ``rotation`` by angle a about +z
(counter-clockwise, boxes: yaw += a); ``scale`` by s (box sizes too); ``translation`` by t.
"""
import numpy as np

from ..boxes3d import limit_period
from ..ops.boxes import box_iou_bev, points_in_boxes

__all__ = ["DetAugment", "ObjectNoise", "flip_horizontal", "rotate_scale_translate", "points_range_mask",
           "objects_range_mask", "undo_points", "apply_ranges"]


def flip_horizontal(points, boxes):
    """mmdet3d ``RandomFlip3D`` 'horizontal' for LiDAR: y -> -y, yaw -> -yaw."""
    points, boxes = points.copy(), boxes.copy()
    points[:, 1] = -points[:, 1]
    boxes[:, 1] = -boxes[:, 1]
    boxes[:, 6] = -boxes[:, 6]
    return points, boxes


def _rot(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def rotate_scale_translate(points, boxes, angle, scale, offset):
    """mmdet3d ``GlobalRotScaleTrans``: rotate by ``angle`` about +z, scale by ``scale``, then
    translate by ``offset`` (3,), points and boxes alike (box yaw += angle, sizes * scale)."""
    points, boxes = points.copy(), np.asarray(boxes, dtype=np.float64).copy()
    rot = _rot(angle)
    offset = np.asarray(offset, dtype=np.float64)
    xy = points[:, :2].astype(np.float64) @ rot.T
    points[:, :2] = xy * scale + offset[:2]
    points[:, 2] = points[:, 2] * scale + offset[2]
    boxes[:, :2] = boxes[:, :2] @ rot.T * scale + offset[:2]
    boxes[:, 2] = boxes[:, 2] * scale + offset[2]
    boxes[:, 3:6] *= scale
    boxes[:, 6] = boxes[:, 6] + angle
    return points, boxes


def points_range_mask(points, point_range):
    """mmdet3d ``PointsRangeFilter``: strictly inside (x_min, y_min, z_min, x_max, y_max, z_max)."""
    r = np.asarray(point_range, dtype=np.float64)
    xyz = points[:, :3]
    return np.all((xyz > r[:3]) & (xyz < r[3:]), axis=1)


def objects_range_mask(boxes, point_range):
    """mmdet3d ``ObjectRangeFilter``: box centre strictly inside the BEV range
    (x_min, y_min, x_max, y_max taken from a 6-value point range)."""
    r = np.asarray(point_range, dtype=np.float64)
    return (boxes[:, 0] > r[0]) & (boxes[:, 1] > r[1]) & (boxes[:, 0] < r[3]) & \
        (boxes[:, 1] < r[4])


def undo_points(xyz, record):
    """Map augmented points [N, 3] back to the original LiDAR frame by inverting the geometric
    steps of ``record`` in reverse order (MVX-Net uses it to project points into the image)."""
    xyz = np.asarray(xyz, dtype=np.float64).copy()
    for step in reversed(record):
        op = step["op"]
        if op == "translation":
            xyz -= np.asarray(step["offset"])
        elif op == "scale":
            xyz /= step["factor"]
        elif op == "rotation":
            xyz[:, :2] = xyz[:, :2] @ _rot(-step["angle"]).T
        elif op == "flip" and step["horizontal"]:
            xyz[:, 1] = -xyz[:, 1]
    return xyz


class DetAugment:
    """Random flip, global rotation / scale / translation and point shuffle of a LiDAR frame.

    Args:
        flip_prob: probability of the horizontal (y -> -y) flip (mmdet3d
            ``flip_ratio_bev_horizontal``).
        rot_range: (min, max) rotation about z in radians (SECOND: +-pi/4).
        scale_range: (min, max) global scale (SECOND: 0.95 - 1.05).
        translation_std: std (m) of the Gaussian translation per axis (x, y, z), or one number.
        shuffle: shuffle the point order at the end (mmdet3d ``PointShuffle``).
    """

    def __init__(self, flip_prob=0.5, rot_range=(-0.78539816, 0.78539816),
                 scale_range=(0.95, 1.05), translation_std=0.2, shuffle=True):
        if not 0.0 <= float(flip_prob) <= 1.0:
            raise ValueError(f"flip_prob: expected a probability in [0, 1], got {flip_prob}")
        if len(rot_range) != 2 or rot_range[0] > rot_range[1]:
            raise ValueError(f"rot_range: expected (min, max) radians, got {rot_range}")
        if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range: expected (min, max) with 0 < min <= max, "
                             f"got {scale_range}")
        std = np.broadcast_to(np.asarray(translation_std, dtype=np.float64), (3,)).copy()
        if (std < 0).any():
            raise ValueError(f"translation_std: expected non-negative metres, got "
                             f"{translation_std}")
        self.flip_prob = float(flip_prob)
        self.rot_range = tuple(float(v) for v in rot_range)
        self.scale_range = tuple(float(v) for v in scale_range)
        self.translation_std = std
        self.shuffle = bool(shuffle)

    def geometric(self, points, boxes, rng, record):
        """Flip, then rotate / scale / translate; appends to ``record``. The four random draws
        are made in a fixed order whatever the settings (stable streams)."""
        flip = bool(rng.random() < self.flip_prob)
        angle = float(rng.uniform(*self.rot_range))
        scale = float(rng.uniform(*self.scale_range))
        offset = rng.normal(size=3) * self.translation_std
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
        if flip:
            points, boxes = flip_horizontal(points, boxes)
        record.append({"op": "flip", "horizontal": flip})
        points, boxes = rotate_scale_translate(points, boxes, angle, scale, offset)
        record.append({"op": "rotation", "angle": angle})
        record.append({"op": "scale", "factor": scale})
        record.append({"op": "translation", "offset": [float(v) for v in offset]})
        return points, boxes

    def shuffle_points(self, points, rng, record):
        """mmdet3d ``PointShuffle`` (no-op when ``shuffle`` is False)."""
        if not self.shuffle:
            return points
        record.append({"op": "shuffle"})
        return points[rng.permutation(points.shape[0])]


def apply_ranges(points, boxes, labels, point_range, record, objects=True):
    """``PointsRangeFilter`` then (with ``objects``) ``ObjectRangeFilter`` (whose yaw is then
    wrapped to [-pi, pi), as mmdet3d's ``limit_yaw``); appends to ``record``."""
    keep = points_range_mask(points, point_range)
    points = points[keep]
    record.append({"op": "point_range", "range": [float(v) for v in point_range]})
    if objects:
        keep = objects_range_mask(boxes, point_range)
        boxes, labels = boxes[keep].copy(), labels[keep]
        boxes[:, 6] = limit_period(boxes[:, 6])
        record.append({"op": "object_range", "range": [float(v) for v in point_range]})
    return points, boxes, labels


class ObjectNoise:
    """mmdet3d ``ObjectNoise`` (``noise_per_object_v3_``): move and turn each box, with the
    points inside it, by a random offset and yaw, keeping the first of ``num_try`` draws
    whose box overlaps (rotated BEV) no other box as currently placed; boxes are processed in
    order and a box without a free draw stays. A point inside several boxes moves with the
    first. mmdet3d's ``global_rot_range`` (0 in the SECOND configs) is not implemented.

    Args:
        num_try: candidate draws per box (SECOND: 100).
        translation_std: std (m) of the offset per axis (SECOND: [1.0, 1.0, 0.5]).
        rot_range: (min, max) yaw change in radians (SECOND: +-pi/4).
    """

    def __init__(self, num_try=100, translation_std=(1.0, 1.0, 0.5),
                 rot_range=(-0.78539816, 0.78539816)):
        if int(num_try) < 1:
            raise ValueError(f"num_try: expected a positive integer, got {num_try}")
        std = np.broadcast_to(np.asarray(translation_std, dtype=np.float64), (3,)).copy()
        if (std < 0).any():
            raise ValueError(f"translation_std: expected non-negative metres, got "
                             f"{translation_std}")
        if len(rot_range) != 2 or rot_range[0] > rot_range[1]:
            raise ValueError(f"rot_range: expected (min, max) radians, got {rot_range}")
        self.num_try, self.translation_std = int(num_try), std
        self.rot_range = tuple(float(v) for v in rot_range)

    def __call__(self, points, boxes, rng, record):
        """Returns (points, boxes) and appends ``{"op": "object_noise", "translation" [M, 3],
        "rotation" [M]}`` (zeros for boxes that stayed) to ``record``."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7).copy()
        m = boxes.shape[0]
        loc = rng.normal(size=(m, self.num_try, 3)) * self.translation_std     # [M, T, 3]
        rot = rng.uniform(*self.rot_range, size=(m, self.num_try))             # [M, T]
        inside = np.asarray(points_in_boxes(points[:, :3].astype(np.float64), boxes)) \
            if m else np.zeros((points.shape[0], 0), dtype=bool)               # [N, M]
        owner = np.where(inside.any(1), inside.argmax(1), -1)                  # first box
        chosen_loc, chosen_rot = np.zeros((m, 3)), np.zeros(m)
        moved = np.zeros(m, dtype=bool)
        current = boxes.copy()
        for i in range(m):
            cand = np.repeat(boxes[i:i + 1], self.num_try, axis=0)
            cand[:, :3] += loc[i]
            cand[:, 6] += rot[i]
            others = np.delete(current, i, axis=0)
            free = np.ones(self.num_try, dtype=bool) if others.shape[0] == 0 else \
                ~(np.asarray(box_iou_bev(cand, others)) > 0).any(1)
            if free.any():
                j = int(np.argmax(free))
                chosen_loc[i], chosen_rot[i], moved[i] = loc[i, j], rot[i, j], True
                current[i] = cand[j]
        points = points.copy()
        for i in np.flatnonzero(moved):
            sel = owner == i
            xy = points[sel, :2].astype(np.float64) - boxes[i, :2]
            points[sel, :2] = xy @ _rot(chosen_rot[i]).T + boxes[i, :2] + chosen_loc[i, :2]
            points[sel, 2] = points[sel, 2] + chosen_loc[i, 2]
        record.append({"op": "object_noise", "translation": chosen_loc.tolist(),
                       "rotation": chosen_rot.tolist()})
        return points, current
