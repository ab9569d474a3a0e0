"""Synthetic street scenes in the Cityscapes layout, for tests and quick CPU runs.

Each image is a perspective street view: sky with a gradient, buildings with window grids,
vegetation blobs, a road trapezoid with lane markings towards a vanishing point, sidewalks and
terrain beside it, poles, cars and persons scaled with their distance, and the ego vehicle's hood
(label "ego vehicle", train id 255 = ignored) at the bottom. All surfaces are textured with
smooth noise so that the classes are learnable but not trivially separable by colour.

Writes ``leftImg8bit/<split>/<city>/<city>_000000_<frame>_leftImg8bit.png`` and
``gtFine/<split>/<city>/..._gtFine_labelIds.png`` plus ``..._gtFine_labelTrainIds.png``.
"""
import argparse
import os

import numpy as np
from PIL import Image

from ...transforms.image import resize_linear
from ..cityscapes import LABEL_ID_TO_TRAIN_ID

__all__ = ["generate_cityscapes", "render_scene", "main"]

# label ids (cityscapesscripts)
EGO, ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, TERRAIN, SKY, PERSON, CAR = (
    1, 7, 8, 11, 17, 21, 22, 23, 24, 26)
_BASE = {ROAD: (90, 85, 95), SIDEWALK: (170, 150, 160), BUILDING: (120, 110, 100),
         POLE: (150, 150, 140), VEGETATION: (60, 110, 40), TERRAIN: (140, 170, 90),
         SKY: (120, 170, 230), PERSON: (160, 60, 70), CAR: (40, 50, 120), EGO: (30, 30, 35)}
_CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",), "test": ("berlin",)}


def _noise(rng, h, w, cells, amp):
    """Smooth noise [h, w]: a random coarse grid bilinearly upsampled."""
    grid = rng.normal(0.0, 1.0, (max(2, h // cells), max(2, w // cells)))
    return resize_linear(grid, (w, h)) * amp


def _paint(image, mask, color, rng, amp=12.0, cells=8):
    h, w = mask.shape
    tex = _noise(rng, h, w, cells, amp)[..., None] + rng.normal(0.0, 4.0, (h, w, 1))
    image[mask] = (np.asarray(color, np.float32) + tex)[mask]


def render_scene(width, height, rng):
    """One scene.

    Args:
        width, height: image size. rng: ``numpy.random.Generator``.

    Returns:
        (uint8 [H, W, 3] RGB image, uint8 [H, W] label ids).
    """
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    horizon = rng.uniform(0.35, 0.5) * h
    vx = rng.uniform(0.35, 0.65) * w  # vanishing point x

    def put(mask, lid, color=None, amp=12.0, cells=8):
        label[mask] = lid
        _paint(image, mask, _BASE[lid] if color is None else color, rng, amp, cells)

    # sky: vertical gradient
    sky = yy < horizon
    label[sky] = SKY
    grad = (yy / max(horizon, 1.0))[..., None] * np.array([60, 50, 20], np.float32)
    sky_tex = np.array(_BASE[SKY], np.float32) + grad + _noise(rng, h, w, 16, 6)[..., None]
    image[sky] = sky_tex[sky]

    # buildings with window grids, standing on the horizon
    x = rng.uniform(-0.1, 0.1) * w
    while x < w:
        bw = rng.uniform(0.1, 0.3) * w
        top = horizon - rng.uniform(0.15, 0.9) * horizon
        m = (xx >= x) & (xx < x + bw) & (yy >= top) & (yy < horizon + 0.02 * h)
        if rng.random() < 0.8:
            shade = np.array(_BASE[BUILDING], np.float32) * rng.uniform(0.7, 1.3)
            put(m, BUILDING, shade)
            step = max(3.0, 0.04 * w)
            win = m & ((xx - x) % step < step * 0.45) & ((yy - top) % step < step * 0.5)
            image[win] = image[win] * 0.45 + 20.0
        x += bw + rng.uniform(0.0, 0.05) * w

    # vegetation: tree crowns near the horizon
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = rng.uniform(0, w), horizon - rng.uniform(0.0, 0.3) * h
        rx, ry = rng.uniform(0.04, 0.12) * w, rng.uniform(0.06, 0.18) * h
        put(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1.0, VEGETATION, amp=25.0, cells=3)

    # ground: road trapezoid, sidewalks, terrain beyond
    ground = yy >= horizon
    depth = np.clip((yy - horizon) / max(h - horizon, 1.0), 1e-3, 1.0)  # 0 at horizon .. 1 bottom
    half_road = rng.uniform(0.35, 0.55) * w * depth
    half_walk = half_road * rng.uniform(1.3, 1.6)
    dx = xx - vx
    put(ground, TERRAIN, amp=18.0, cells=4)
    put(ground & (np.abs(dx) < half_walk), SIDEWALK, amp=8.0, cells=4)
    road = ground & (np.abs(dx) < half_road)
    put(road, ROAD, amp=6.0, cells=6)
    dash = road & (np.abs(dx) < 0.02 * w * depth + 0.5) & ((depth * 12.0) % 2.0 < 1.0)
    image[dash] = 235.0

    # objects from far to near: poles, cars, persons scaled by their ground contact depth
    objects = []
    for _ in range(int(rng.integers(1, 4))):
        objects.append(("pole", rng.uniform(0.1, 1.0), rng.choice([-1.0, 1.0])))
    for _ in range(int(rng.integers(1, 4))):
        objects.append(("car", rng.uniform(0.15, 0.9), rng.uniform(-0.7, 0.7)))
    for _ in range(int(rng.integers(1, 4))):
        objects.append(("person", rng.uniform(0.1, 0.9), rng.choice([-1.0, 1.0])))
    for kind, d, side in sorted(objects, key=lambda o: o[1]):
        base = horizon + d * (h - horizon)
        hr = rng.uniform(0.35, 0.55) * w * d  # road half width at that depth
        if kind == "pole":
            px = vx + side * hr * rng.uniform(1.05, 1.25)
            top = base - min(1.2 * h * d, base)
            m = (np.abs(xx - px) < max(0.6, 0.008 * w * d)) & (yy < base) & (yy > top)
            put(m, POLE, amp=5.0)
        elif kind == "car":
            cx, cw, ch = vx + side * hr, 0.35 * w * d, 0.22 * h * d + 1.0
            body = (np.abs(xx - cx) < cw / 2) & (yy < base) & (yy > base - ch)
            color = rng.uniform(20, 220, 3)
            put(body, CAR, color, amp=6.0)
            glass = body & (yy < base - 0.55 * ch) & (np.abs(xx - cx) < cw * 0.4)
            image[glass] = image[glass] * 0.3 + 40.0
            for wx in (cx - cw * 0.3, cx + cw * 0.3):
                rx, ry = 0.1 * cw + 0.5, 0.2 * ch + 0.5
                wheel = ((xx - wx) / rx) ** 2 + ((yy - base) / ry) ** 2 < 1
                label[wheel & (yy < base)] = CAR
                image[wheel & (yy < base)] = 15.0
        else:
            px = vx + side * hr * rng.uniform(1.05, 1.3)
            ph, pw = 0.45 * h * d + 2.0, 0.03 * w * d + 0.8
            torso = (np.abs(xx - px) < pw) & (yy < base) & (yy > base - 0.8 * ph)
            head = ((xx - px) / (pw * 0.9)) ** 2 + ((yy - (base - 0.88 * ph)) / (0.1 * ph)) ** 2 < 1
            put(torso | head, PERSON, rng.uniform(40, 220, 3), amp=10.0)

    # ego vehicle hood
    hood = yy > h - rng.uniform(0.03, 0.08) * h - 0.04 * h * np.cos((xx / w - 0.5) * np.pi)
    put(hood, EGO, amp=3.0)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), label


def generate_cityscapes(root, n_train=4, n_val=2, size=(256, 128), seed=0, n_test=0):
    """Write a synthetic Cityscapes-layout dataset.

    Args:
        root: output folder (created). n_train, n_val, n_test: images per split.
        size: (width, height) of every image. seed: base seed (same seed, same files).

    Returns:
        dict split -> list of written image paths.
    """
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"generate_cityscapes: size must be at least 16x16, got {size}")
    written = {}
    for s_idx, (split, count) in enumerate((("train", n_train), ("val", n_val),
                                            ("test", n_test))):
        paths = []
        for i in range(int(count)):
            rng = np.random.default_rng([int(seed), s_idx, i])
            city = _CITIES[split][i % len(_CITIES[split])]
            stem = f"{city}_000000_{i:06d}"
            img_dir = os.path.join(root, "leftImg8bit", split, city)
            gt_dir = os.path.join(root, "gtFine", split, city)
            os.makedirs(img_dir, exist_ok=True)
            image, label_ids = render_scene(width, height, rng)
            path = os.path.join(img_dir, stem + "_leftImg8bit.png")
            Image.fromarray(image).save(path)
            if split != "test":
                os.makedirs(gt_dir, exist_ok=True)
                Image.fromarray(label_ids).save(os.path.join(gt_dir, stem + "_gtFine_labelIds.png"))
                Image.fromarray(LABEL_ID_TO_TRAIN_ID[label_ids]).save(
                    os.path.join(gt_dir, stem + "_gtFine_labelTrainIds.png"))
            paths.append(path)
        written[split] = paths
    return written


def main(argv=None):
    """CLI: ``--root DIR --n_train N --n_val N --width W --height H --seed S``."""
    p = argparse.ArgumentParser(description="Write a synthetic Cityscapes-layout dataset.")
    p.add_argument("--root", required=True, help="output folder")
    p.add_argument("--n_train", type=int, default=20)
    p.add_argument("--n_val", type=int, default=5)
    p.add_argument("--n_test", type=int, default=0)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    written = generate_cityscapes(a.root, a.n_train, a.n_val, (a.width, a.height), a.seed,
                                  a.n_test)
    print(", ".join(f"{k}: {len(v)}" for k, v in written.items()) + f" images under {a.root}")
    return 0
