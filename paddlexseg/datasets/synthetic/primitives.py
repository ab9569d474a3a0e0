"""Scene primitives and a vectorised ray caster shared by the synthetic sensors.

A scene is a list of :class:`Primitive` (boxes, vertical cylinders, spheres, horizontal
rectangles and infinite horizontal planes) in a world frame with z up. Each primitive carries
a SemanticKITTI raw label id, an instance id and a material name; :data:`MATERIALS` gives the
LiDAR remission and an RGB albedo per material, so a camera renderer can reuse the same scene.

:func:`raycast` intersects any set of rays from one origin with the scene. The loop is over
primitives (a few hundred); every primitive is tested against all candidate rays at once,
after a bounding-cone test discards rays that cannot reach it.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

__all__ = ["Material", "MATERIALS", "Primitive", "RayHits", "raycast"]

_EPS = 1e-6


@dataclass(frozen=True)
class Material:
    """Surface properties.

    Attributes:
        remission: mean LiDAR remission at normal incidence, in [0, 1] (KITTI scale).
        remission_std: per-point spread of the remission.
        color: RGB albedo in 0..255 (for camera rendering).
        zero_rate: share of returns with remission 0 (dark paint, glass, thin metal).
        porosity: 0 for a hard surface; for a volume that scatters (foliage) the mean depth
            (m) a LiDAR return comes from beyond the volume's outer surface.
        pass_rate: share of rays that go through the volume and hit what lies behind it.
    """
    remission: float
    remission_std: float
    color: Tuple[int, int, int]
    zero_rate: float = 0.0
    porosity: float = 0.0
    pass_rate: float = 0.0


# remission figures fitted to the per-class statistics of real SemanticKITTI scans (see
# hdl64.py): e.g. real medians road 0.25, sidewalk 0.31, building 0.41, vegetation 0.34,
# car 0.08 with 45 % zeros, pole 0.18 with 27 % zeros
MATERIALS = {
    "asphalt": Material(0.32, 0.07, (70, 70, 75), zero_rate=0.08),
    "asphalt_patch": Material(0.20, 0.06, (45, 45, 50), zero_rate=0.25),
    "paint": Material(0.52, 0.16, (235, 235, 225), zero_rate=0.02),
    "parking_asphalt": Material(0.40, 0.06, (95, 92, 90), zero_rate=0.02),
    "concrete": Material(0.40, 0.06, (170, 165, 160), zero_rate=0.02),
    "grass": Material(0.43, 0.10, (95, 140, 60), zero_rate=0.03, porosity=0.05),
    "foliage": Material(0.38, 0.11, (50, 110, 40), zero_rate=0.03, porosity=0.35,
                        pass_rate=0.12),
    "bark": Material(0.34, 0.09, (90, 65, 45), zero_rate=0.05),
    "facade": Material(0.42, 0.12, (185, 160, 135), zero_rate=0.02),
    "brick": Material(0.46, 0.12, (150, 75, 60), zero_rate=0.02),
    "fence_wood": Material(0.33, 0.08, (130, 100, 70), zero_rate=0.03),
    "fence_metal": Material(0.30, 0.10, (110, 115, 120), zero_rate=0.06, pass_rate=0.3),
    "car_paint": Material(0.24, 0.10, (40, 60, 140), zero_rate=0.3),
    "glass": Material(0.10, 0.06, (30, 40, 50), zero_rate=0.5),
    "truck_paint": Material(0.35, 0.08, (200, 200, 205), zero_rate=0.1),
    "metal": Material(0.30, 0.12, (140, 140, 145), zero_rate=0.25),
    "retroreflector": Material(0.60, 0.28, (220, 30, 30), zero_rate=0.05),
    "cloth": Material(0.28, 0.10, (60, 50, 80), zero_rate=0.05),
    "plastic": Material(0.33, 0.10, (40, 90, 60), zero_rate=0.15),
}

KINDS = ("plane", "rect", "box", "cylinder", "sphere")


@dataclass
class Primitive:
    """One solid of a scene.

    Attributes:
        kind: "plane" (infinite horizontal plane at height center[2]), "rect" (horizontal
            rectangle, size[0] x size[1], at height center[2]), "box" (size = full length,
            width, height; center is the box centre), "cylinder" (vertical, radius = size[0],
            from center[2] - size[2]/2 to center[2] + size[2]/2) or "sphere" (radius size[0]).
        center: (x, y, z) in the world frame, metres.
        size: see ``kind``.
        yaw: rotation about z in radians (rect and box).
        label: SemanticKITTI raw label id (e.g. 10 car, 40 road).
        instance: instance id (0 for stuff classes).
        material: key of :data:`MATERIALS`.
        velocity: (vx, vy, vz) m/s; :meth:`at_time` moves the primitive.
        remission: per-object remission overriding the material mean (None = material).
        slope: (gx, gy) for "plane" and "rect": the surface is z = center[2] + gx (x - cx)
            + gy (y - cy) (world-frame grades; a rect's bounds are measured horizontally).
    """
    kind: str
    center: Tuple[float, float, float]
    size: Tuple[float, float, float]
    label: int
    material: str
    yaw: float = 0.0
    instance: int = 0
    velocity: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    remission: Optional[float] = None
    slope: Tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Primitive: kind must be one of {KINDS}, got '{self.kind}'")
        if self.material not in MATERIALS:
            raise ValueError(f"Primitive: unknown material '{self.material}'; "
                             f"known: {sorted(MATERIALS)}")

    def at_time(self, t):
        """The primitive moved by ``velocity * t`` (itself when static)."""
        if not any(self.velocity):
            return self
        c = tuple(float(c + v * t) for c, v in zip(self.center, self.velocity))
        return Primitive(self.kind, c, self.size, self.label, self.material, self.yaw,
                         self.instance, self.velocity, self.remission, self.slope)

    def bounding_sphere(self):
        """(center [3], radius) enclosing the primitive (radius inf for a plane)."""
        c = np.asarray(self.center, dtype=np.float64)
        sx, sy, sz = self.size
        if self.kind == "plane":
            return c, np.inf
        if self.kind == "rect":
            rise = 0.5 * (abs(self.slope[0]) + abs(self.slope[1])) * float(np.hypot(sx, sy))
            return c, float(np.hypot(0.5 * np.hypot(sx, sy), rise))
        if self.kind == "box":
            return c, 0.5 * float(np.sqrt(sx * sx + sy * sy + sz * sz))
        if self.kind == "cylinder":
            return c, float(np.hypot(sx, 0.5 * sz))
        return c, float(sx)


@dataclass
class RayHits:
    """Nearest intersection of every ray.

    Attributes:
        t: float64 [R] distance along the (unit) ray, inf for a miss.
        index: int64 [R] index of the primitive hit, -1 for a miss.
        normal: float64 [R, 3] unit surface normal at the hit facing the ray (0 for a miss).
    """
    t: np.ndarray
    index: np.ndarray
    normal: np.ndarray


def _rot_z(yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _t_plane(origin, dirs, height):
    dz = dirs[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (height - origin[2]) / dz
    return np.where((np.abs(dz) > _EPS) & (t > _EPS), t, np.inf)


def _t_ground(origin, dirs, prim):
    """Plane through ``prim.center`` with grades ``prim.slope`` (horizontal when 0)."""
    gx, gy = prim.slope
    if gx == 0 and gy == 0:
        return _t_plane(origin, dirs, prim.center[2])
    normal = np.array([-gx, -gy, 1.0])
    denom = dirs @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = float(normal @ (np.asarray(prim.center) - origin)) / denom
    return np.where((np.abs(denom) > _EPS) & (t > _EPS), t, np.inf)


def _t_rect(origin, dirs, prim):
    t = _t_ground(origin, dirs, prim)
    tt = np.where(np.isfinite(t), t, 0.0)
    c, s = np.cos(prim.yaw), np.sin(prim.yaw)
    hx = origin[0] - prim.center[0] + tt * dirs[:, 0]
    hy = origin[1] - prim.center[1] + tt * dirs[:, 1]
    inside = (np.abs(c * hx + s * hy) <= 0.5 * prim.size[0]) & \
             (np.abs(c * hy - s * hx) <= 0.5 * prim.size[1])
    return np.where(inside, t, np.inf)


def _t_box(origin, dirs, prim):
    rot = _rot_z(prim.yaw)
    p = (origin - np.asarray(prim.center)) @ rot                            # [3] local origin
    d = dirs @ rot                                                          # [n, 3] local dirs
    half = 0.5 * np.asarray(prim.size, dtype=np.float64)
    d[np.abs(d) < 1e-12] = 1e-12
    inv = 1.0 / d
    t1, t2 = (-half - p) * inv, (half - p) * inv                            # [n, 3]
    tmin = np.minimum(t1, t2).max(axis=1)
    tmax = np.maximum(t1, t2).min(axis=1)
    return np.where((tmax >= tmin) & (tmin > _EPS), tmin, np.inf)


def _t_cylinder(origin, dirs, prim):
    r = float(prim.size[0])
    z0, z1 = prim.center[2] - 0.5 * prim.size[2], prim.center[2] + 0.5 * prim.size[2]
    px, py = origin[0] - prim.center[0], origin[1] - prim.center[1]
    dx, dy = dirs[:, 0], dirs[:, 1]
    a = dx * dx + dy * dy
    b = 2.0 * (px * dx + py * dy)
    c = px * px + py * py - r * r
    disc = b * b - 4.0 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
    z_side = origin[2] + t_side * dirs[:, 2]
    side_ok = (disc >= 0) & (a > 1e-12) & (t_side > _EPS) & (z_side >= z0) & (z_side <= z1)
    t = np.where(side_ok, t_side, np.inf)
    for zc in (z1, z0):                                                    # caps
        t_cap = _t_plane(origin, dirs, zc)
        tc = np.where(np.isfinite(t_cap), t_cap, 0.0)
        inside = (px + tc * dx) ** 2 + (py + tc * dy) ** 2 <= r * r
        t = np.where(inside & (t_cap < t), t_cap, t)
    return t


def _t_sphere(origin, dirs, prim):
    oc = origin - np.asarray(prim.center)
    b = dirs @ oc                                                           # [n]
    disc = b * b - (oc @ oc - float(prim.size[0]) ** 2)
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc >= 0) & (t > _EPS), t, np.inf)


def _normals(prim, points):
    """Outward unit normals of ``prim`` at surface points [n, 3]."""
    c = np.asarray(prim.center, dtype=np.float64)
    n = np.zeros_like(points)
    if prim.kind in ("plane", "rect"):
        n[:, 0], n[:, 1], n[:, 2] = -prim.slope[0], -prim.slope[1], 1.0
    elif prim.kind == "sphere":
        n = (points - c) / float(prim.size[0])
    elif prim.kind == "cylinder":
        rel = points - c
        cap = np.abs(np.abs(rel[:, 2]) - 0.5 * prim.size[2]) < 1e-6
        n[:, :2] = rel[:, :2] / float(prim.size[0])
        n[cap] = 0.0
        n[cap, 2] = np.sign(rel[cap, 2])
    else:                                           # box: the face the point lies on
        rot = _rot_z(prim.yaw)
        local = (points - c) @ rot / (0.5 * np.asarray(prim.size, dtype=np.float64))
        axis = np.argmax(np.abs(local), axis=1)
        rows = np.arange(points.shape[0])
        n[rows, axis] = np.sign(local[rows, axis])
        n = n @ rot.T
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.maximum(norm, 1e-12)


_HIT = {"rect": _t_rect, "box": _t_box, "cylinder": _t_cylinder, "sphere": _t_sphere}


class _RayIndex:
    """Rays sorted by azimuth, to find the rays inside a primitive's bounding cone quickly."""

    def __init__(self, dirs):
        self.dirs = dirs
        az = np.arctan2(dirs[:, 1], dirs[:, 0])                             # [R] in [-pi, pi]
        self.order = np.argsort(az, kind="stable")
        self.az = az[self.order]
        self.all = np.arange(dirs.shape[0])

    def candidates(self, axis, cos_half):
        """Indices of rays within angle acos(cos_half) of the unit vector ``axis``."""
        sin_half = np.sqrt(max(0.0, 1.0 - cos_half * cos_half))
        cos_el = float(np.hypot(axis[0], axis[1]))
        if cos_el <= sin_half + 1e-9:               # the cone contains the vertical: all azimuths
            cand = self.all
        else:
            half = float(np.arcsin(min(1.0, sin_half / cos_el))) + 1e-6
            center = float(np.arctan2(axis[1], axis[0]))
            lo, hi = center - half, center + half
            spans = [(lo, hi)]
            if lo < -np.pi:
                spans = [(-np.pi, hi), (lo + 2 * np.pi, np.pi)]
            elif hi > np.pi:
                spans = [(lo, np.pi), (-np.pi, hi - 2 * np.pi)]
            parts = [self.order[np.searchsorted(self.az, a, "left"):
                                np.searchsorted(self.az, b, "right")] for a, b in spans]
            cand = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if cand.size == 0:
            return cand
        return cand[self.dirs[cand] @ axis >= cos_half - 1e-9]


def raycast(primitives, origin, dirs, max_range=np.inf):
    """Nearest hit of each ray with a list of primitives.

    Args:
        primitives: list of :class:`Primitive` (world frame).
        origin: (x, y, z) common origin of the rays.
        dirs: float [R, 3] unit ray directions in the world frame.
        max_range: hits farther than this are misses.

    Returns:
        RayHits for the R rays.
    """
    origin = np.asarray(origin, dtype=np.float64)
    dirs = np.asarray(dirs, dtype=np.float64)
    n = dirs.shape[0]
    index = _RayIndex(dirs)
    best_t = np.full(n, np.inf)
    best_i = np.full(n, -1, dtype=np.int64)
    # nearest bounding spheres first, so that rays already stopped closer can be skipped
    spheres = [p.bounding_sphere() for p in primitives]
    near = [np.linalg.norm(c - origin) - r if np.isfinite(r) else -np.inf for c, r in spheres]
    for i in np.argsort(np.asarray(near, dtype=np.float64), kind="stable"):
        prim = primitives[i]
        if prim.kind == "plane":
            cand = index.all
            t = _t_ground(origin, dirs, prim)
        else:
            center, radius = spheres[i]
            v = center - origin
            dist = float(np.linalg.norm(v))
            if dist - radius > max_range:
                continue
            if dist <= radius * 1.0001:
                cand = index.all
            else:                                   # rays inside the bounding cone only
                cand = index.candidates(v / dist, np.sqrt(max(0.0, 1.0 - (radius / dist) ** 2)))
            cand = cand[best_t[cand] > dist - radius]
            if cand.size == 0:
                continue
            t = _HIT[prim.kind](origin, dirs[cand], prim)
        closer = t < best_t[cand]
        if closer.any():
            idx = cand[closer]
            best_t[idx] = t[closer]
            best_i[idx] = i
    miss = best_t > max_range
    best_t[miss] = np.inf
    best_i[miss] = -1
    normal = np.zeros((n, 3))
    for i in np.unique(best_i[best_i >= 0]):        # normals of the winning surfaces only
        rays = np.nonzero(best_i == i)[0]
        pts = origin[None, :] + dirs[rays] * best_t[rays, None]
        normal[rays] = _normals(primitives[i], pts)
    flip = np.sum(normal * dirs, axis=1) > 0        # make normals face the incoming ray
    normal[flip] *= -1.0
    return RayHits(t=best_t, index=best_i, normal=normal)
