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

__all__ = ["StreetScene", "make_street_scene", "RAW", "CAR_SHAPES"]

# SemanticKITTI raw label ids used by the generator
RAW = {"unlabeled": 0, "outlier": 1, "car": 10, "bicycle": 11, "truck": 18, "person": 30,
       "road": 40, "parking": 44, "sidewalk": 48, "building": 50, "fence": 51,
       "lane-marking": 60, "vegetation": 70, "trunk": 71, "terrain": 72, "pole": 80,
       "traffic-sign": 81, "other-object": 99, "moving-car": 252, "moving-person": 254}

SIDEWALK_HEIGHT = 0.14

# car shapes: length / width / body height / cabin height ranges (m), the cabin's share of
# the length and its shift from the centre (share of the length, + = forward)
CAR_SHAPES = (
    {"name": "sedan", "length": (4.4, 4.9), "width": (1.75, 1.85), "body": (0.6, 0.75),
     "cabin": (0.45, 0.55), "cabin_len": 0.5, "cabin_shift": -0.05},
    {"name": "hatchback", "length": (3.7, 4.3), "width": (1.65, 1.8), "body": (0.6, 0.75),
     "cabin": (0.5, 0.6), "cabin_len": 0.6, "cabin_shift": -0.15},
    {"name": "estate", "length": (4.6, 4.9), "width": (1.8, 1.9), "body": (0.65, 0.75),
     "cabin": (0.5, 0.6), "cabin_len": 0.68, "cabin_shift": -0.12},
    {"name": "suv", "length": (4.3, 4.9), "width": (1.85, 2.0), "body": (0.8, 0.95),
     "cabin": (0.6, 0.7), "cabin_len": 0.65, "cabin_shift": -0.1},
    {"name": "van", "length": (4.8, 5.4), "width": (1.9, 2.05), "body": (0.9, 1.1),
     "cabin": (0.8, 1.0), "cabin_len": 0.8, "cabin_shift": -0.08},
)
CAR_SHAPE_P = (0.32, 0.32, 0.2, 0.11, 0.05)


@dataclass
class StreetScene:
    """A street: its primitives (static and moving) and the layout numbers.

    Attributes:
        primitives: every solid; moving ones have a non-zero ``velocity`` (time 0 = first scan).
        x_range: (x_min, x_max) extent of the street in metres.
        road_half_width: half the road width (m).
        lane_y: y of the centre of the right-hand driving lane (the ego lane).
        camber: cross fall of the road from its crown (y = 0) to each kerb.
    """
    primitives: List[Primitive] = field(default_factory=list)
    x_range: Tuple[float, float] = (0.0, 0.0)
    road_half_width: float = 4.0
    lane_y: float = -2.0
    camber: float = 0.0

    def road_height(self, y):
        """Height of the road surface at lateral position ``y`` (0 at the kerbs)."""
        return self.camber * np.maximum(self.road_half_width - np.abs(y), 0.0)

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
            remission=None, slope=(0.0, 0.0)):
        self.prims.append(Primitive(kind, tuple(float(c) for c in center),
                                    tuple(float(s) for s in size), int(label), material,
                                    float(yaw), int(instance),
                                    tuple(float(v) for v in velocity), remission,
                                    (float(slope[0]), float(slope[1]))))

    def instance(self):
        self.next_instance += 1
        return self.next_instance - 1

    def car(self, x, y, z0, yaw, velocity=(0, 0, 0), label=RAW["car"]):
        """A car of one of :data:`CAR_SHAPES`: a body box on its wheels (rays pass under it)
        plus a glass cabin box, one instance. Returns its length."""
        rng, inst = self.rng, self.instance()
        shape = CAR_SHAPES[rng.choice(len(CAR_SHAPES), p=CAR_SHAPE_P)]
        length, width = rng.uniform(*shape["length"]), rng.uniform(*shape["width"])
        body_h, cabin_h = rng.uniform(*shape["body"]), rng.uniform(*shape["cabin"])
        rem = float(np.clip(rng.normal(0.24, 0.1), 0.02, 0.6))      # paint: dark .. white
        c, s = np.cos(yaw), np.sin(yaw)
        self.add("box", (x, y, z0 + 0.28 + body_h / 2), (length, width, body_h), label,
                 "car_paint", yaw, inst, velocity, rem)
        cabin = shape["cabin_len"] * length
        dx = shape["cabin_shift"] * length
        self.add("box", (x + dx * c, y + dx * s, z0 + 0.28 + body_h + cabin_h / 2),
                 (cabin, 0.9 * width, cabin_h), label, "glass", yaw, inst, velocity)
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

    def tree(self, x, y, z0=0.0, big=1.0):
        """A trunk and a crown of 2-4 overlapping foliage spheres (a volume that scatters)."""
        rng = self.rng
        height, radius = rng.uniform(1.3, 2.3) * big, rng.uniform(0.05, 0.09) * big
        crown = rng.uniform(2.0, 3.6) * big
        self.add("cylinder", (x, y, z0 + (height + 0.5 * crown) / 2 - 0.2),
                 (radius, 0, height + 0.5 * crown + 0.4), RAW["trunk"], "bark")
        for k in range(1 + int(rng.random() < 0.35)):
            r = crown * rng.uniform(0.75, 1.0)
            off = rng.normal(0, 0.3 * crown, 3)
            self.add("sphere", (x + off[0], y + off[1],
                                z0 + height + 0.8 * crown + 0.2 * abs(off[2])),
                     (r, 0, 0), RAW["vegetation"], "foliage")

    def bush(self, x, y, z0=0.0):
        r = self.rng.uniform(0.7, 1.8)
        self.add("sphere", (x, y, z0 + 0.6 * r), (r, 0, 0), RAW["vegetation"], "foliage")

    def pole(self, x, y, z0, side):
        rng = self.rng
        height = rng.uniform(4.0, 8.0)
        self.add("cylinder", (x, y, z0 + height / 2), (rng.uniform(0.06, 0.12), 0, height),
                 RAW["pole"], "metal")
        if rng.random() < 0.7:                      # a sign plate facing the traffic
            self.add("box", (x, y - side * 0.1, z0 + rng.uniform(2.2, 3.2)),
                     (0.05, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)), RAW["traffic-sign"],
                     "retroreflector")

    def parked_row(self, x0, x1, y, z0, occupancy):
        """Cars (and a few trucks) parked along x at lateral position y."""
        rng = self.rng
        x = x0 + rng.uniform(0, 4)
        while x < x1:
            if rng.random() < occupancy:
                yaw = rng.normal(0, 0.03) + (0 if rng.random() < 0.5 else np.pi)
                yy = y + rng.normal(0, 0.1)
                if rng.random() < 0.01:
                    x += self.truck(x + 4.5, yy, z0, yaw) + rng.uniform(1, 4)
                else:
                    x += self.car(x + 2.4, yy, z0, yaw) + rng.uniform(0.8, 4.0)
            else:
                x += rng.uniform(5, 15)


def _side(b, side, x0, x1, road_hw, parking, occupancy):
    """Everything on one side of the road (side +1: left, y > 0; -1: right)."""
    rng = b.rng
    edge = road_hw
    if parking:                                     # parking lane with parked cars
        b.add("rect", ((x0 + x1) / 2, side * (road_hw + 1.1), 0.002), (x1 - x0, 2.2, 0),
              RAW["parking"], "parking_asphalt")
        b.parked_row(x0, x1, side * (road_hw + 1.1), 0.0, occupancy)
        edge += 2.2
    if rng.random() < 0.4:                          # a grass verge with a row of trees
        verge = rng.uniform(1.5, 3.0)
        b.add("rect", ((x0 + x1) / 2, side * (edge + verge / 2), rng.uniform(0.03, 0.12)),
              (x1 - x0, verge, 0), RAW["terrain"], "grass", slope=(0, side * 0.02))
        for x in np.arange(x0 + rng.uniform(0, 8), x1, rng.uniform(8, 14)):
            b.tree(x + rng.normal(0, 0.5), side * (edge + verge / 2), big=rng.uniform(0.9, 1.4))
        edge += verge
    walk = rng.uniform(2.0, 4.0)                    # raised sidewalk, in segments of <= 40 m
    n_seg = int(np.ceil((x1 - x0) / 40.0))
    bounds = np.linspace(x0, x1, n_seg + 1)
    for a, c in zip(bounds[:-1], bounds[1:]):
        b.add("box", ((a + c) / 2, side * (edge + walk / 2), SIDEWALK_HEIGHT / 2),
              (c - a, walk, SIDEWALK_HEIGHT), RAW["sidewalk"], "concrete")
    for x in np.arange(x0 + rng.uniform(0, 25), x1, rng.uniform(25, 50)):
        b.pole(x, side * (edge + 0.35), SIDEWALK_HEIGHT, side)
    for _ in range(rng.poisson((x1 - x0) / 150.0)):
        moving = rng.random() < 0.5
        vel = (rng.choice([-1, 1]) * rng.uniform(0.8, 1.6), 0, 0) if moving else (0, 0, 0)
        b.person(rng.uniform(x0, x1), side * (edge + rng.uniform(0.6, walk - 0.4)),
                 SIDEWALK_HEIGHT, vel)
    for _ in range(rng.poisson((x1 - x0) / 250.0)):
        b.add("box", (rng.uniform(x0, x1), side * (edge + walk - 0.5), SIDEWALK_HEIGHT + 0.5),
              (1.7, 0.45, 1.0), RAW["bicycle"], "metal", rng.normal(0, 0.1), b.instance())
    for _ in range(rng.poisson((x1 - x0) / 50.0)):
        b.add("box", (rng.uniform(x0, x1), side * (edge + walk - 0.4), SIDEWALK_HEIGHT + 0.5),
              (0.6, 0.6, 1.0), RAW["other-object"], "plastic")
    edge += walk
    _plots(b, side, x0, x1, edge)


def _plots(b, side, x0, x1, edge):
    """Behind the sidewalk: plots along the street, each fenced or hedged at the front, with
    grass, bushes and trees, and often a building set back from the sidewalk."""
    rng = b.rng
    # the land behind the sidewalk: grass, lower or higher than the kerb, sloping away
    b.add("rect", ((x0 + x1) / 2, side * (edge + 30.0), rng.uniform(-0.8, 0.1)),
          (x1 - x0, 60.0, 0), RAW["terrain"], "grass",
          slope=(0, side * rng.uniform(-0.06, 0.03)))
    x = x0 + rng.uniform(-10, 0)
    while x < x1:
        length = rng.uniform(10, 30)
        front = rng.random()
        y_front = side * (edge + 0.3)
        if front < 0.35:                            # fence
            height = rng.uniform(0.9, 2.0)
            b.add("box", (x + length / 2, y_front, height / 2 - 0.2), (length - 1.0, 0.08,
                  height + 0.4), RAW["fence"], rng.choice(["fence_wood", "fence_metal"]))
        elif front < 0.85:                          # hedge
            height, depth = rng.uniform(1.2, 3.0), rng.uniform(0.8, 2.0)
            b.add("box", (x + length / 2, side * (edge + 0.2 + depth / 2), height / 2 - 0.1),
                  (length - 0.5, depth, height + 0.2), RAW["vegetation"], "foliage")
        setback = rng.uniform(1.5, 6.5)
        if setback > 5.5 and rng.random() < 0.3:    # a car on the drive
            b.car(x + rng.uniform(2.5, length - 2.5), side * (edge + setback / 2), 0.0,
                  np.pi / 2 + rng.normal(0, 0.1))
        for _ in range(rng.poisson(length / 20.0)):
            b.bush(x + rng.uniform(1, length - 1), side * (edge + rng.uniform(1.5, setback)))
        for _ in range(rng.poisson(length / 12.0)):
            b.tree(x + rng.uniform(1, length - 1), side * (edge + rng.uniform(2.0, setback + 3)),
                   big=rng.uniform(1.1, 1.8))
        blen, depth = length * rng.uniform(0.5, 0.9), rng.uniform(8, 16)
        if rng.random() < 0.85:                     # a building
            height = rng.uniform(5, 15)
            b.add("box", (x + length / 2, side * (edge + setback + depth / 2), height / 2 - 0.5),
                  (blen, depth, height + 1.0), RAW["building"], rng.choice(["facade", "brick"]))
        else:                                       # a thicket
            height = rng.uniform(2.0, 5.0)
            b.add("box", (x + length / 2, side * (edge + setback + depth / 2), height / 2 - 0.5),
                  (blen, depth, height + 1.0), RAW["vegetation"], "foliage")
        if rng.random() < 0.3:                      # a side fence between plots
            b.add("box", (x, side * (edge + setback / 2 + 0.3), 0.6), (0.08, setback, 1.2),
                  RAW["fence"], "fence_wood")
        x += length


def make_street_scene(rng, x_range, ego_speed=8.0, parking=(0.25, 0.3)):
    """Random street covering ``x_range`` (metres along the street).

    The road has a crown (it falls 2 % towards each kerb), darker repaired patches, lane
    markings, kerbs and raised sidewalks; the land behind is grass sloping up or down, with
    plots fenced or hedged at the front, bushes, trees (trunk + crown of foliage spheres) and
    buildings set back from the street.

    Args:
        rng: numpy Generator (the only source of randomness).
        x_range: (x_min, x_max) of the street.
        ego_speed: speed (m/s) of the ego car in the right lane; cars in that lane drive at
            about this speed so that they never run into it.
        parking: (probability of a parking lane on each side, share of its places taken);
            the far side always gets one when neither side draws one.

    Returns:
        StreetScene.
    """
    x0, x1 = float(x_range[0]), float(x_range[1])
    b = _Builder(rng)
    road_hw = rng.uniform(2.9, 4.4)
    xc, length = (x0 + x1) / 2, x1 - x0
    camber = 0.02
    b.add("plane", (0, 0, -0.3), (0, 0, 0), RAW["terrain"], "grass")
    for side in (1, -1):                            # the two halves of the crowned road
        b.add("rect", (xc, side * road_hw / 2, 0.001 + camber * road_hw / 2),
              (length, road_hw, 0), RAW["road"], "asphalt", slope=(0, -side * camber))
        for y in (side * (road_hw - 0.25),):        # solid edge line
            b.add("rect", (xc, y, 0.004 + camber * 0.25), (length, 0.15, 0),
                  RAW["lane-marking"], "paint", slope=(0, -side * camber))
    for x in np.arange(x0 + rng.uniform(0, 9), x1, 9.0):        # dashed centre line
        b.add("rect", (x, 0, 0.004 + camber * road_hw), (3.0, 0.15, 0), RAW["lane-marking"],
              "paint")
    for _ in range(rng.poisson(length / 25.0)):     # repaired patches and manhole lids
        y = rng.uniform(-road_hw + 0.5, road_hw - 0.5)
        b.add("rect", (rng.uniform(x0, x1), y, 0.003 + camber * (road_hw - abs(y))),
              (rng.uniform(0.6, 3.0), rng.uniform(0.6, 2.0), 0), RAW["road"], "asphalt_patch",
              yaw=rng.uniform(0, np.pi), slope=(0, -np.sign(y) * camber))
    lanes = rng.random(2) < parking[0]              # parking lanes: the far side at least
    lanes[0] |= not lanes.any()
    for side, park in zip((1, -1), lanes):
        _side(b, side, x0, x1, road_hw, park, parking[1])
    for x_end in (x0 + rng.uniform(20, 50), x1 - rng.uniform(20, 50)):
        if rng.random() < 0.8:                      # the street bends or ends: a far facade
            b.add("box", (x_end, rng.normal(0, 10), 5.0), (4.0, 80.0, rng.uniform(8, 20)),
                  RAW["building"], "facade")
    lane_y = -road_hw / 2
    for _ in range(rng.integers(1, 4)):             # traffic in the opposite lane
        speed = rng.uniform(4, 14)
        b.car(rng.uniform(x0, x1), road_hw / 2, 0.0, np.pi, (-speed, 0, 0), RAW["moving-car"])
    for sign in (-1, 1):                            # a car ahead of / behind the ego car
        if rng.random() < 0.6:
            speed = ego_speed + rng.uniform(-0.5, 0.5)
            b.car(sign * rng.uniform(12, 25), lane_y, 0.0, 0.0, (speed, 0, 0), RAW["moving-car"])
    return StreetScene(primitives=b.prims, x_range=(x0, x1), road_half_width=road_hw,
                       lane_y=lane_y, camber=camber)
