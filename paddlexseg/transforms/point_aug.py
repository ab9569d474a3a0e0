"""Train-time augmentations of a LiDAR point cloud.

Every transform is called as ``t(points, labels, rng) -> (points, labels)`` with
``points`` float32 [N, C] (x, y, z first, further columns such as remission kept as they are),
``labels`` an array [N] or None, and ``rng`` a ``numpy.random.Generator`` owned by the caller,
so that a seed fixes the whole augmentation.
"""
import numpy as np

from ..registry import TRANSFORMS

__all__ = ["PointRotateZ", "PointFlip", "PointTranslate", "PointDropout", "PointAugment"]


def _check_points(points, name):
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"{name}: expected points [N, >=3] (x, y, z, ...), got shape "
                         f"{points.shape}")
    return points


@TRANSFORMS.register()
class PointRotateZ:
    """Rotate about the z (up) axis by an angle drawn uniformly from [-max_angle, max_angle].

    Args:
        max_angle: largest rotation in degrees (180 = any heading).
    """

    def __init__(self, max_angle=180.0):
        if not 0.0 <= float(max_angle) <= 180.0:
            raise ValueError(f"PointRotateZ: max_angle must be in [0, 180] degrees, "
                             f"got {max_angle}")
        self.max_angle = float(max_angle)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointRotateZ").copy()
        angle = np.deg2rad(rng.uniform(-self.max_angle, self.max_angle))
        c, s = np.cos(angle), np.sin(angle)
        x, y = points[:, 0].copy(), points[:, 1].copy()
        points[:, 0] = c * x - s * y
        points[:, 1] = s * x + c * y
        return points, labels


@TRANSFORMS.register()
class PointFlip:
    """Mirror the cloud: x -> -x with probability ``prob_x``, y -> -y with probability ``prob_y``.

    Args:
        prob_x: probability of flipping the x (forward) axis.
        prob_y: probability of flipping the y (left) axis.
    """

    def __init__(self, prob_x=0.5, prob_y=0.5):
        for key, p in (("prob_x", prob_x), ("prob_y", prob_y)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"PointFlip: {key} must be a probability in [0, 1], got {p}")
        self.prob_x, self.prob_y = float(prob_x), float(prob_y)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointFlip").copy()
        flip_x, flip_y = rng.random(2) < (self.prob_x, self.prob_y)
        if flip_x:
            points[:, 0] = -points[:, 0]
        if flip_y:
            points[:, 1] = -points[:, 1]
        return points, labels


@TRANSFORMS.register()
class PointTranslate:
    """Shift the whole cloud by a Gaussian offset with per-axis standard deviation ``std`` (m).

    Args:
        std: (sx, sy, sz) in metres, or one number for all three axes.
    """

    def __init__(self, std=(0.2, 0.2, 0.05)):
        std = [float(std)] * 3 if np.isscalar(std) else [float(s) for s in std]
        if len(std) != 3 or any(s < 0 for s in std):
            raise ValueError(f"PointTranslate: std must be 3 non-negative numbers (m), got {std}")
        self.std = np.asarray(std, dtype=np.float32)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointTranslate").copy()
        points[:, :3] += (rng.normal(size=3) * self.std).astype(np.float32)
        return points, labels


@TRANSFORMS.register()
class PointDropout:
    """Drop each point independently with probability ``ratio`` (at least one point is kept).

    Args:
        ratio: drop probability in [0, 1).
    """

    def __init__(self, ratio=0.1):
        if not 0.0 <= float(ratio) < 1.0:
            raise ValueError(f"PointDropout: ratio must be in [0, 1), got {ratio}")
        self.ratio = float(ratio)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointDropout")
        keep = rng.random(points.shape[0]) >= self.ratio                   # [N]
        if not keep.any() and points.shape[0]:
            keep[rng.integers(points.shape[0])] = True
        labels = None if labels is None else np.asarray(labels)[keep]
        return points[keep], labels


@TRANSFORMS.register()
class PointAugment:
    """The usual LiDAR train-time pipeline: dropout, flips, rotation about z, translation.

    A zero/None argument disables that step. This is what the ``augment`` dict of a
    dataset config builds, e.g. ``augment: {rotate_z: 180, flip_x: 0.5, flip_y: 0.5}``.

    Args:
        rotate_z: max rotation angle in degrees (0 = off).
        flip_x, flip_y: flip probabilities.
        translate_std: per-axis Gaussian shift in metres (None or 0 = off).
        dropout: point drop probability (0 = off).
    """

    def __init__(self, rotate_z=180.0, flip_x=0.5, flip_y=0.5, translate_std=None, dropout=0.0):
        self.steps = []
        if dropout:
            self.steps.append(PointDropout(ratio=dropout))
        if flip_x or flip_y:
            self.steps.append(PointFlip(prob_x=flip_x, prob_y=flip_y))
        if rotate_z:
            self.steps.append(PointRotateZ(max_angle=rotate_z))
        if translate_std is not None and np.any(np.asarray(translate_std) != 0):
            self.steps.append(PointTranslate(std=translate_std))

    def __repr__(self):
        return f"PointAugment({', '.join(type(s).__name__ for s in self.steps) or 'identity'})"

    def __call__(self, points, labels, rng):
        """Apply the steps in order; returns (points float32 [M, C], labels [M] or None)."""
        points = _check_points(points, "PointAugment")
        for step in self.steps:
            points, labels = step(points, labels, rng)
        return points, labels
