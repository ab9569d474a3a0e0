"""Train-time augmentations of a LiDAR point cloud.

Every transform is called as ``t(points, labels, rng) -> (points, labels)`` with
``points`` float32 [N, C] (x, y, z first, further columns such as remission kept as they are),
``labels`` an array [N] or None, and ``rng`` a ``numpy.random.Generator`` owned by the caller,
so that a seed fixes the whole augmentation.
"""
import numpy as np

from ..registry import TRANSFORMS

__all__ = ["PointRotateZ", "PointFlip", "PointTranslate", "PointDropout", "PointScale",
           "PointBeamDropout", "PointRemissionJitter", "PointAugment"]


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
class PointScale:
    """Scale the whole cloud (x, y, z) by a factor drawn uniformly from [1 - s, 1 + s].

    Args:
        s: half width of the factor's range, in [0, 1).
    """

    def __init__(self, s=0.05):
        if not 0.0 <= float(s) < 1.0:
            raise ValueError(f"PointScale: s must be in [0, 1), got {s}")
        self.s = float(s)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointScale").copy()
        points[:, :3] *= np.float32(rng.uniform(1.0 - self.s, 1.0 + self.s))
        return points, labels


@TRANSFORMS.register()
class PointBeamDropout:
    """Drop whole laser rings: the elevation range [fov_down, fov_up] is cut into ``beams``
    equal bands (the rows of the range image) and every point of a band is dropped with
    probability ``ratio``, drawn once per band. Simulates missing or dead beams and a sparser
    sensor (sim-to-real "beam dropout"). At least one band is kept.

    Args:
        ratio: drop probability of a band in [0, 1).
        beams: number of bands. fov_up, fov_down: elevation limits in degrees (points outside
            fall into the first / last band).
    """

    def __init__(self, ratio=0.1, beams=64, fov_up=3.0, fov_down=-25.0):
        if not 0.0 <= float(ratio) < 1.0:
            raise ValueError(f"PointBeamDropout: ratio must be in [0, 1), got {ratio}")
        if int(beams) < 1 or not float(fov_up) > float(fov_down):
            raise ValueError(f"PointBeamDropout: need beams >= 1 and fov_up > fov_down, got "
                             f"beams={beams}, fov_up={fov_up}, fov_down={fov_down}")
        self.ratio, self.beams = float(ratio), int(beams)
        self.fov_up, self.fov_down = float(fov_up), float(fov_down)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointBeamDropout")
        xyz = points[:, :3].astype(np.float64)
        dist = np.linalg.norm(xyz, axis=1)
        elev = np.degrees(np.arcsin(np.divide(xyz[:, 2], dist, out=np.zeros_like(dist),
                                              where=dist > 0)))          # [N]
        band = np.floor((self.fov_up - elev) / (self.fov_up - self.fov_down) * self.beams)
        band = np.clip(band, 0, self.beams - 1).astype(np.int64)           # [N], 0 = top
        dropped = rng.random(self.beams) < self.ratio                      # [beams]
        if dropped.all():
            dropped[rng.integers(self.beams)] = False
        keep = ~dropped[band]
        if not keep.any() and points.shape[0]:
            keep[rng.integers(points.shape[0])] = True
        labels = None if labels is None else np.asarray(labels)[keep]
        return points[keep], labels


@TRANSFORMS.register()
class PointRemissionJitter:
    """Perturb the remission column (index 3): one gain per scan drawn log-uniformly from
    [1 / (1 + s), 1 + s], plus per-point Gaussian noise of std ``noise``, clipped to [0, 1].
    Makes a model less dependent on a simulator's reflectance model.

    Args:
        s: gain range (0 = no gain change). noise: per-point noise std (0 = none).
    """

    def __init__(self, s=0.5, noise=0.03):
        if float(s) < 0 or float(noise) < 0:
            raise ValueError(f"PointRemissionJitter: s and noise must be >= 0, got s={s}, "
                             f"noise={noise}")
        self.s, self.noise = float(s), float(noise)

    def __call__(self, points, labels, rng):
        points = _check_points(points, "PointRemissionJitter")
        if points.shape[1] < 4:
            raise ValueError(f"PointRemissionJitter: expected points [N, >=4] with remission in "
                             f"column 3, got shape {points.shape}")
        points = points.copy()
        gain = np.exp(rng.uniform(-np.log1p(self.s), np.log1p(self.s)))
        rem = points[:, 3] * gain + rng.normal(0.0, self.noise, points.shape[0])
        points[:, 3] = np.clip(rem, 0.0, 1.0).astype(np.float32)
        return points, labels


@TRANSFORMS.register()
class PointAugment:
    """The usual LiDAR train-time pipeline: (beam) dropout, remission jitter, scale, flips,
    rotation about z, translation.

    A zero/None argument disables that step. This is what the ``augment`` dict of a
    dataset config builds, e.g. ``augment: {rotate_z: 180, flip_x: 0.5, flip_y: 0.5}``.

    Args:
        rotate_z: max rotation angle in degrees (0 = off).
        flip_x, flip_y: flip probabilities.
        translate_std: per-axis Gaussian shift in metres (None or 0 = off).
        dropout: point drop probability (0 = off).
        beam_dropout: ring drop probability (:class:`PointBeamDropout` with 64 bands over
            [-25, 3] degrees, the HDL-64E range image; 0 = off).
        scale: global scale range half width (:class:`PointScale`; 0 = off).
        remission_jitter: gain range of :class:`PointRemissionJitter` (noise 0.03; 0 = off).
    """

    def __init__(self, rotate_z=180.0, flip_x=0.5, flip_y=0.5, translate_std=None, dropout=0.0,
                 beam_dropout=0.0, scale=0.0, remission_jitter=0.0):
        self.steps = []
        if beam_dropout:
            self.steps.append(PointBeamDropout(ratio=beam_dropout))
        if dropout:
            self.steps.append(PointDropout(ratio=dropout))
        if remission_jitter:
            self.steps.append(PointRemissionJitter(s=remission_jitter))
        if scale:
            self.steps.append(PointScale(s=scale))
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
