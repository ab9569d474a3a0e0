"""Procedural street scenes made of :class:`~.primitives.Primitive` solids.

World frame: x along the street, y to the left, z up, ground at z = 0. The road is centred on
y = 0; on each side follow (optionally) a parking lane, a raised sidewalk, a terrain strip with
trees and bushes, and a row of buildings with fences or hedges in the gaps. Cars, trucks,
bicycles, persons, poles, traffic signs and bins populate it. Labels are SemanticKITTI raw ids;
things (car, truck, bicycle, person) get instance ids unique within the scene.
"""
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from .primitives import Primitive

__all__ = ["StreetScene", "make_street_scene", "RAW"]

# SemanticKITTI raw label ids used by the generator
RAW = {"unlabeled": 0, "outlier": 1, "car": 10, "bicycle": 11, "truck": 18, "person": 30,
       "road": 40, "parking": 44, "sidewalk": 48, "building": 50, "fence": 51,
       "lane-marking": 60, "vegetation": 70, "trunk": 71, "terrain": 72, "pole": 80,
       "traffic-sign": 81, "other-object": 99, "moving-car": 252, "moving-person": 254}

SIDEWALK_HEIGHT = 0.14


@dataclass
class StreetScene:
    """A street: its primitives (static and moving) and the layout numbers.

    Attributes:
        primitives: every solid; moving ones have a non-zero ``velocity`` (time 0 = first scan).
        x_range: (x_min, x_max) extent of the street in metres.
        road_half_width: half the road width (m).
        lane_y: y of the centre of the right-hand driving lane (the ego lane).
    """
    primitives: List[Primitive] = field(default_factory=list)
    x_range: Tuple[float, float] = (0.0, 0.0)
    road_half_width: float = 4.0
    lane_y: float = -2.0

    def at_time(self, t):
        """Primitives at time ``t`` seconds (moving ones displaced)."""
        return [p.at_time(t) for p in self.primitives]


class _Builder:
    """Appends primitives and hands out instance ids."""

    def __init__(self, rng):
        self.rng = rng
        self.prims = []
        self.next_instance = 1

    def add(self, kind, center, size, label, material, yaw=0.0, instance=0, velocity=(0, 0, 0),
            remission=None):
        self.prims.append(Primitive(kind, tuple(float(c) for c in center),
                                    tuple(float(s) for s in size), int(label), material,
                                    float(yaw), int(instance),
                                    tuple(float(v) for v in velocity), remission))

    def instance(self):
        self.next_instance += 1
        return self.next_instance - 1

    def car(self, x, y, z0, yaw, velocity=(0, 0, 0), label=RAW["car"]):
        """A car as a body box plus a cabin box (one instance); rays pass under the body."""
        rng, inst = self.rng, self.instance()
        length, width = rng.uniform(3.8, 4.8), rng.uniform(1.65, 1.9)
        rem = float(np.clip(rng.normal(0.2, 0.12), 0.03, 0.8))
        self.add("box", (x, y, z0 + 0.75), (length, width, 0.8), label, "car_paint", yaw, inst,
                 velocity, rem)
        dx = -0.1 * length * np.cos(yaw)
        dy = -0.1 * length * np.sin(yaw)
        self.add("box", (x + dx, y + dy, z0 + 1.4), (0.55 * length, 0.9 * width, 0.5), label,
                 "car_paint", yaw, inst, velocity, rem)
        return length

    def truck(self, x, y, z0, yaw):
        rng, inst = self.rng, self.instance()
        length, width, height = rng.uniform(6.5, 10.0), rng.uniform(2.3, 2.6), rng.uniform(2.8, 3.6)
        self.add("box", (x, y, z0 + 0.5 + height / 2), (length, width, height), RAW["truck"],
                 "truck_paint", yaw, inst)
        return length

    def person(self, x, y, z0, velocity=(0, 0, 0)):
        rng, inst = self.rng, self.instance()
        label = RAW["moving-person"] if any(velocity) else RAW["person"]
        body = rng.uniform(1.25, 1.45)
        self.add("cylinder", (x, y, z0 + body / 2), (rng.uniform(0.18, 0.25), 0, body), label,
                 "cloth", instance=inst, velocity=velocity)
        self.add("sphere", (x, y, z0 + body + 0.12), (0.12, 0, 0), label, "cloth",
                 instance=inst, velocity=velocity)

    def tree(self, x, y):
        rng = self.rng
        height, radius = rng.uniform(2.0, 3.8), rng.uniform(0.12, 0.28)
        self.add("cylinder", (x, y, height / 2), (radius, 0, height), RAW["trunk"], "bark")
        crown = rng.uniform(1.2, 2.6)
        self.add("sphere", (x, y, height + 0.6 * crown), (crown, 0, 0), RAW["vegetation"],
                 "foliage")

    def pole(self, x, y, z0, side):
        rng = self.rng
        height = rng.uniform(4.0, 8.0)
        self.add("cylinder", (x, y, z0 + height / 2), (rng.uniform(0.06, 0.12), 0, height),
                 RAW["pole"], "metal")
        if rng.random() < 0.4:                      # a sign plate facing the traffic
            self.add("box", (x, y - side * 0.1, z0 + rng.uniform(2.2, 3.2)),
                     (0.05, rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9)), RAW["traffic-sign"],
                     "retroreflector")


def _side(b, side, x0, x1, road_hw):
    """Everything on one side of the road (side +1: left, y > 0; -1: right)."""
    rng = b.rng
    edge = road_hw
    if rng.random() < 0.65:                         # parking lane with parked cars and trucks
        b.add("rect", ((x0 + x1) / 2, side * (road_hw + 1.2), 0.002), (x1 - x0, 2.4, 0),
              RAW["parking"], "parking_asphalt")
        x = x0 + rng.uniform(0, 6)
        while x < x1:
            if rng.random() < 0.5:
                yaw = rng.normal(0, 0.03) + (0 if rng.random() < 0.5 else np.pi)
                y = side * (road_hw + 1.2 + rng.normal(0, 0.1))
                if rng.random() < 0.1:
                    x += b.truck(x + 4.5, y, 0.0, yaw) + rng.uniform(1, 4)
                else:
                    x += b.car(x + 2.4, y, 0.0, yaw) + rng.uniform(0.8, 5)
            else:
                x += rng.uniform(4, 12)
        edge += 2.4
    walk = rng.uniform(1.8, 3.5)                    # raised sidewalk, in segments of <= 40 m
    n_seg = int(np.ceil((x1 - x0) / 40.0))
    bounds = np.linspace(x0, x1, n_seg + 1)
    for a, c in zip(bounds[:-1], bounds[1:]):
        b.add("box", ((a + c) / 2, side * (edge + walk / 2), SIDEWALK_HEIGHT / 2),
              (c - a, walk, SIDEWALK_HEIGHT), RAW["sidewalk"], "concrete")
    for x in np.arange(x0 + rng.uniform(0, 15), x1, rng.uniform(12, 30)):
        b.pole(x, side * (edge + 0.35), SIDEWALK_HEIGHT, side)
    for _ in range(rng.poisson((x1 - x0) / 35.0)):
        moving = rng.random() < 0.5
        vel = (rng.choice([-1, 1]) * rng.uniform(0.8, 1.6), 0, 0) if moving else (0, 0, 0)
        b.person(rng.uniform(x0, x1), side * (edge + rng.uniform(0.6, walk - 0.4)),
                 SIDEWALK_HEIGHT, vel)
    for _ in range(rng.poisson((x1 - x0) / 80.0)):
        b.add("box", (rng.uniform(x0, x1), side * (edge + walk - 0.5), SIDEWALK_HEIGHT + 0.5),
              (1.7, 0.45, 1.0), RAW["bicycle"], "metal", rng.normal(0, 0.1), b.instance())
    for _ in range(rng.poisson((x1 - x0) / 60.0)):
        b.add("box", (rng.uniform(x0, x1), side * (edge + walk - 0.4), SIDEWALK_HEIGHT + 0.5),
              (0.6, 0.6, 1.0), RAW["other-object"], "plastic")
    edge += walk

    strip = rng.uniform(0.5, 8.0)                   # terrain strip (the ground plane) with trees
    if strip > 1.5:
        for x in np.arange(x0 + rng.uniform(0, 8), x1, rng.uniform(7, 18)):
            if rng.random() < 0.75:
                b.tree(x + rng.normal(0, 1), side * (edge + strip / 2))
            else:
                r = rng.uniform(0.5, 1.2)
                b.add("sphere", (x, side * (edge + strip / 2), 0.5 * r), (r, 0, 0),
                      RAW["vegetation"], "foliage")
    edge += strip

    x = x0 + rng.uniform(-10, 0)                    # buildings, gaps with fences or hedges
    while x < x1:
        if rng.random() < 0.8:
            length, depth, height = rng.uniform(8, 25), rng.uniform(8, 16), rng.uniform(4, 15)
            b.add("box", (x + length / 2, side * (edge + depth / 2), height / 2),
                  (length, depth, height), RAW["building"], rng.choice(["facade", "brick"]))
        else:                                       # a patch of dense vegetation
            length = rng.uniform(8, 20)
            for cx in np.linspace(x + 2, x + length - 2, 3):
                r = rng.uniform(2.0, 3.5)
                b.add("sphere", (cx, side * (edge + r + 0.5), r * 0.8), (r, 0, 0),
                      RAW["vegetation"], "foliage")
        x += length
        gap = rng.uniform(1.0, 8.0)
        kind = rng.random()
        if kind < 0.5:
            b.add("box", (x + gap / 2, side * (edge + 0.3), 0.7), (gap, 0.08, 1.4),
                  RAW["fence"], rng.choice(["fence_wood", "fence_metal"]))
        elif kind < 0.8:
            b.add("box", (x + gap / 2, side * (edge + 0.6), 0.7), (gap, 1.0, 1.4),
                  RAW["vegetation"], "foliage")
        x += gap


def make_street_scene(rng, x_range, ego_speed=8.0):
    """Random street covering ``x_range`` (metres along the street).

    Args:
        rng: numpy Generator (the only source of randomness).
        x_range: (x_min, x_max) of the street.
        ego_speed: speed (m/s) of the ego car in the right lane; cars in that lane drive at
            about this speed so that they never run into it.

    Returns:
        StreetScene.
    """
    x0, x1 = float(x_range[0]), float(x_range[1])
    b = _Builder(rng)
    road_hw = rng.uniform(3.2, 5.0)
    xc, length = (x0 + x1) / 2, x1 - x0
    b.add("plane", (0, 0, 0), (0, 0, 0), RAW["terrain"], "grass")
    b.add("rect", (xc, 0, 0.001), (length, 2 * road_hw, 0), RAW["road"], "asphalt")
    for y in (-road_hw + 0.25, road_hw - 0.25):     # solid edge lines and a dashed centre line
        b.add("rect", (xc, y, 0.002), (length, 0.15, 0), RAW["lane-marking"], "paint")
    for x in np.arange(x0 + rng.uniform(0, 9), x1, 9.0):
        b.add("rect", (x, 0, 0.002), (3.0, 0.15, 0), RAW["lane-marking"], "paint")
    for side in (1, -1):
        _side(b, side, x0, x1, road_hw)
    lane_y = -road_hw / 2
    for _ in range(rng.integers(1, 4)):             # traffic in the opposite lane
        speed = rng.uniform(4, 14)
        b.car(rng.uniform(x0, x1), road_hw / 2, 0.0, np.pi, (-speed, 0, 0), RAW["moving-car"])
    for sign in (-1, 1):                            # a car ahead of / behind the ego car
        if rng.random() < 0.6:
            speed = ego_speed + rng.uniform(-0.5, 0.5)
            b.car(sign * rng.uniform(12, 25), lane_y, 0.0, 0.0, (speed, 0, 0), RAW["moving-car"])
    return StreetScene(primitives=b.prims, x_range=(x0, x1), road_half_width=road_hw,
                       lane_y=lane_y)
