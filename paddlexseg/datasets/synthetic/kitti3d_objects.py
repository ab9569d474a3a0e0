"""Objects of the synthetic KITTI 3-D scenes: shapes, exact boxes and collision-free placement.

Each object is a few :class:`~.primitives.Primitive` solids plus its KITTI type and its exact
LiDAR-convention box in the world frame ``(x, y, z_bottom, l, w, h, yaw)``: the tightest box
around the solids in the object's heading frame, with the bottom on the ground it stands on.
Cars come from the street generator (body + cabin) and are added on the road; vans,
pedestrians (legs, torso, arms, head) and cyclists (wheels, frame, rider) are built here.
"""
from dataclasses import dataclass, field
from typing import List

import numpy as np

from .primitives import Primitive
from .street import RAW, SIDEWALK_HEIGHT

__all__ = ["SceneObject", "fit_box", "street_objects", "sidewalk_bands", "Placer", "make_car",
           "make_van", "make_pedestrian", "make_cyclist"]

THING_LABELS = {RAW["car"], RAW["moving-car"], RAW["truck"], RAW["person"],
                RAW["moving-person"], RAW["bicycle"]}


@dataclass
class SceneObject:
    """A labelled object: KITTI ``name``, world ``box`` [7] and its primitive indices."""
    name: str
    box: np.ndarray
    prims: List[int] = field(default_factory=list)


def _rot(yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s], [s, c]])


def fit_box(prims, yaw, ground):
    """Tightest box around ``prims`` in the heading frame ``yaw``, bottom at ``ground``."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    inv = _rot(-yaw)
    for p in prims:
        c = np.asarray(p.center, dtype=np.float64)
        if p.kind == "box":
            half = 0.5 * np.asarray(p.size)
            sx, sy = np.meshgrid([-1, 1], [-1, 1])
            xy = np.stack([sx.ravel() * half[0], sy.ravel() * half[1]], 1) @ _rot(p.yaw).T
            xy = (xy + c[:2]) @ inv.T
            z = np.array([c[2] - half[2], c[2] + half[2]])
            pts_lo = np.array([xy[:, 0].min(), xy[:, 1].min(), z[0]])
            pts_hi = np.array([xy[:, 0].max(), xy[:, 1].max(), z[1]])
        else:
            r = float(p.size[0])
            hz = 0.5 * float(p.size[2]) if p.kind == "cylinder" else r
            local = inv @ c[:2]
            pts_lo = np.array([local[0] - r, local[1] - r, c[2] - hz])
            pts_hi = np.array([local[0] + r, local[1] + r, c[2] + hz])
        lo, hi = np.minimum(lo, pts_lo), np.maximum(hi, pts_hi)
    centre = _rot(yaw) @ (0.5 * (lo[:2] + hi[:2]))
    return np.array([centre[0], centre[1], ground, hi[0] - lo[0], hi[1] - lo[1],
                     hi[2] - ground, yaw])


def _p(kind, center, size, label, material, yaw=0.0, remission=None):
    return Primitive(kind, tuple(float(v) for v in center), tuple(float(v) for v in size),
                     int(label), material, float(yaw), 0, (0.0, 0.0, 0.0), remission)


def _along(x, y, yaw, dl, dw=0.0):
    """Point ``dl`` ahead and ``dw`` to the left of (x, y) in heading ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    return x + dl * c - dw * s, y + dl * s + dw * c


def make_car(rng, x, y, z0, yaw):
    """Body + cabin (as the street generator's cars), bottom at z0."""
    length, width = rng.uniform(3.6, 4.8), rng.uniform(1.6, 1.9)
    rem = float(np.clip(rng.normal(0.2, 0.12), 0.03, 0.8))
    cx, cy = _along(x, y, yaw, -0.1 * length)
    return [_p("box", (x, y, z0 + 0.75), (length, width, 0.8), RAW["car"], "car_paint", yaw,
               rem),
            _p("box", (cx, cy, z0 + 1.4), (0.55 * length, 0.9 * width, 0.5), RAW["car"],
               "car_paint", yaw, rem)]


def make_van(rng, x, y, z0, yaw):
    """A tall one-box van (KITTI ``Van``)."""
    length, width, height = rng.uniform(4.6, 5.6), rng.uniform(1.9, 2.1), rng.uniform(1.9, 2.3)
    return [_p("box", (x, y, z0 + 0.3 + (height - 0.3) / 2), (length, width, height - 0.3),
               RAW["truck"], "truck_paint", yaw)]


def make_pedestrian(rng, x, y, z0, yaw):
    """Legs (stride along the heading), torso, swinging arms and head; 1.5 - 1.9 m tall."""
    k = rng.uniform(0.88, 1.1)
    stride = rng.uniform(0.0, 0.45) * k
    prims = []
    for sgn in (-1, 1):
        lx, ly = _along(x, y, yaw, sgn * stride / 2, sgn * 0.1 * k)
        prims.append(_p("box", (lx, ly, z0 + 0.42 * k), (0.14 * k, 0.13 * k, 0.84 * k),
                        RAW["person"], "cloth", yaw))
    prims.append(_p("box", (x, y, z0 + 1.14 * k), (0.26 * k, 0.42 * k, 0.6 * k), RAW["person"],
                    "cloth", yaw))
    for sgn in (-1, 1):
        ax, ay = _along(x, y, yaw, -sgn * stride / 3, sgn * 0.27 * k)
        prims.append(_p("box", (ax, ay, z0 + 1.1 * k), (0.1 * k, 0.09 * k, 0.58 * k),
                        RAW["person"], "cloth", yaw))
    prims.append(_p("sphere", (x, y, z0 + 1.57 * k), (0.12 * k, 0, 0), RAW["person"], "cloth"))
    return prims


def make_cyclist(rng, x, y, z0, yaw):
    """A bicycle (two wheels, frame, bars) with an upright rider; about 1.75 x 0.6 x 1.75 m."""
    k = rng.uniform(0.92, 1.08)
    prims = []
    for sgn in (-1, 1):
        wx, wy = _along(x, y, yaw, sgn * 0.55 * k)
        prims.append(_p("box", (wx, wy, z0 + 0.34 * k), (0.66 * k, 0.05, 0.66 * k),
                        RAW["bicycle"], "metal", yaw))
    prims.append(_p("box", (x, y, z0 + 0.6 * k), (1.0 * k, 0.06, 0.12), RAW["bicycle"], "metal",
                    yaw))
    hx, hy = _along(x, y, yaw, 0.45 * k)
    prims.append(_p("box", (hx, hy, z0 + 1.0 * k), (0.08, 0.6 * k, 0.05), RAW["bicycle"],
                    "metal", yaw))
    rx, ry = _along(x, y, yaw, -0.12 * k)
    prims.append(_p("box", (rx, ry, z0 + 0.78 * k), (0.3 * k, 0.36 * k, 0.5 * k), RAW["person"],
                    "cloth", yaw))
    tx, ty = _along(x, y, yaw, 0.05 * k)
    prims.append(_p("box", (tx, ty, z0 + 1.28 * k), (0.3 * k, 0.42 * k, 0.55 * k),
                    RAW["person"], "cloth", yaw))
    prims.append(_p("sphere", (tx, ty, z0 + 1.67 * k), (0.12 * k, 0, 0), RAW["person"],
                    "cloth"))
    return prims


def street_objects(primitives):
    """Split a street's primitives into scenery (persons and bicycles left out: they get
    proper shapes here) and the labelled cars / trucks; returns (scenery, objects)."""
    scenery, groups = [], {}
    for p in primitives:
        if p.label not in THING_LABELS:
            scenery.append(p)
        elif p.label in (RAW["car"], RAW["moving-car"], RAW["truck"]) and p.instance > 0:
            groups.setdefault(p.instance, []).append(p)
    prims, objects = list(scenery), []
    for inst in sorted(groups):
        group = groups[inst]
        name = "Truck" if group[0].label == RAW["truck"] else "Car"
        first = len(prims)
        prims.extend(group)
        objects.append(SceneObject(name, fit_box(group, group[0].yaw, 0.0),
                                   list(range(first, len(prims)))))
    return prims, objects


class Placer:
    """Rejects footprints that overlap scenery solids or objects already placed."""

    def __init__(self, primitives, objects):
        self.rects, self.circles = [], []          # (cx, cy, hl, hw, yaw) and (cx, cy, r)
        for p in primitives:
            if p.kind in ("plane", "rect") or p.label in (RAW["sidewalk"], RAW["road"]):
                continue
            if p.kind == "box":
                self.rects.append((p.center[0], p.center[1], p.size[0] / 2, p.size[1] / 2,
                                   p.yaw))
            else:
                self.circles.append((p.center[0], p.center[1], float(p.size[0])))
        for obj in objects:
            self.add(obj.box)

    def add(self, box):
        self.rects.append((box[0], box[1], box[3] / 2, box[4] / 2, box[6]))

    def free(self, x, y, length, width, yaw, margin=0.4):
        """True if the footprint (grown by ``margin``) touches nothing placed."""
        g = np.linspace(-0.5, 0.5, 6)
        u, v = np.meshgrid(g * (length + 2 * margin), g * (width + 2 * margin))
        pts = np.stack([u.ravel(), v.ravel()], 1) @ _rot(yaw).T + (x, y)      # [36, 2]
        for cx, cy, hl, hw, ryaw in self.rects:
            local = (pts - (cx, cy)) @ _rot(ryaw)
            if np.any((np.abs(local[:, 0]) <= hl) & (np.abs(local[:, 1]) <= hw)):
                return False
        for cx, cy, r in self.circles:
            if np.any(np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) <= r):
                return False
        return True


def sidewalk_bands(primitives):
    """(y_min, y_max, z_top) of the sidewalk boxes on each side of the road."""
    bands = {}
    for p in primitives:
        if p.kind == "box" and p.label == RAW["sidewalk"]:
            side = 1 if p.center[1] > 0 else -1
            bands[side] = (p.center[1] - p.size[1] / 2, p.center[1] + p.size[1] / 2,
                           SIDEWALK_HEIGHT)
    return bands
