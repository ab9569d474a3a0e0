"""PaddleSeg-style image transforms: OpenCV-equivalent resizing, scaling, padding crop, flip,
normalization, and image/label alignment."""
import numpy as np
import pytest

from paddlexseg.registry import TRANSFORMS
from paddlexseg.transforms.image import (Normalize, RandomHorizontalFlip, RandomPaddingCrop,
                                         Resize, ResizeStepScaling, resize_linear,
                                         resize_nearest)


def _linear_ref(img, w, h):
    """Per-pixel cv2.INTER_LINEAR formula (half-pixel centres, edge clamping)."""
    out = np.zeros((h, w) + img.shape[2:])
    for y in range(h):
        fy = (y + 0.5) * img.shape[0] / h - 0.5
        y0 = int(np.floor(fy))
        ay = fy - y0
        if y0 < 0:
            y0, ay = 0, 0.0
        if y0 >= img.shape[0] - 1:
            y0, ay = img.shape[0] - 1, 0.0
        for x in range(w):
            fx = (x + 0.5) * img.shape[1] / w - 0.5
            x0 = int(np.floor(fx))
            ax = fx - x0
            if x0 < 0:
                x0, ax = 0, 0.0
            if x0 >= img.shape[1] - 1:
                x0, ax = img.shape[1] - 1, 0.0
            y1, x1 = min(y0 + 1, img.shape[0] - 1), min(x0 + 1, img.shape[1] - 1)
            out[y, x] = ((1 - ay) * ((1 - ax) * img[y0, x0] + ax * img[y0, x1])
                         + ay * ((1 - ax) * img[y1, x0] + ax * img[y1, x1]))
    return out


@pytest.mark.parametrize("size", [(13, 7), (4, 3), (9, 5)])
def test_resize_linear_matches_opencv_formula(size):
    img = np.random.default_rng(0).uniform(0, 255, (5, 9, 3)).astype(np.float32)
    got = resize_linear(img, size)
    assert got.shape == (size[1], size[0], 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, _linear_ref(img, *size), atol=1e-3)
    np.testing.assert_array_equal(resize_linear(img, (9, 5)), img)


def test_resize_nearest_uses_floor_mapping():
    lab = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6)
    got = resize_nearest(lab, (9, 3))
    ys = np.floor(np.arange(3) * 4 / 3).astype(int)
    xs = np.floor(np.arange(9) * 6 / 9).astype(int)
    np.testing.assert_array_equal(got, lab[ys][:, xs])
    assert got.dtype == np.uint8


def _sample(h=20, w=30):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 19, (h, w)).astype(np.uint8)
    image = np.repeat(labels[..., None].astype(np.float32) * 10, 3, axis=2)  # image encodes label
    return {"image": image, "labels": labels}


def test_step_scaling_draws_from_the_steps():
    t = ResizeStepScaling(0.5, 2.0, 0.25)
    assert t.factors() == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    rng = np.random.default_rng(0)
    widths = set()
    for _ in range(40):
        out = t(_sample(), rng)
        h, w = out["image"].shape[:2]
        assert out["labels"].shape == (h, w)
        widths.add(w)
        assert (w, h) in {(round(30 * f), round(20 * f)) for f in t.factors()}
    assert len(widths) >= 5
    with pytest.raises(ValueError, match="min_scale_factor"):
        ResizeStepScaling(2.0, 1.0)


def test_padding_crop_pads_with_ignore_and_keeps_alignment():
    t = RandomPaddingCrop(crop_size=[40, 16])  # wider than the 30-pixel image
    rng = np.random.default_rng(2)
    for _ in range(10):
        out = t(_sample(), rng)
        assert out["image"].shape == (16, 40, 3) and out["labels"].shape == (16, 40)
        pad = out["labels"] == 255
        assert pad[:, 30:].all() and not pad[:, :30].any()
        np.testing.assert_array_equal(out["image"][pad], 127.5)
        np.testing.assert_array_equal(out["image"][~pad][:, 0], out["labels"][~pad] * 10.0)
    same = RandomPaddingCrop(crop_size=[30, 20])(_sample(), rng)
    np.testing.assert_array_equal(same["labels"], _sample()["labels"])


def test_padding_crop_category_max_ratio_rejects_uniform_crops():
    labels = np.zeros((20, 40), np.uint8)
    labels[:, 30:] = 1  # only crops reaching x >= 30 hold two classes
    sample = {"image": np.zeros((20, 40, 3), np.float32), "labels": labels}
    t = RandomPaddingCrop(crop_size=[10, 20], category_max_ratio=0.95, loop_times=50)
    rng = np.random.default_rng(3)
    mixed = sum(len(np.unique(t(dict(sample), rng)["labels"])) == 2 for _ in range(20))
    assert mixed >= 18


def test_flip_normalize_and_resize():
    s = _sample()
    out = RandomHorizontalFlip(prob=1.0)(dict(s), np.random.default_rng(0))
    np.testing.assert_array_equal(out["labels"], s["labels"][:, ::-1])
    np.testing.assert_array_equal(out["image"], s["image"][:, ::-1])
    kept = RandomHorizontalFlip(prob=0.0)(dict(s), np.random.default_rng(0))
    np.testing.assert_array_equal(kept["labels"], s["labels"])
    norm = Normalize()({"image": np.array([[[0.0, 127.5, 255.0]]], np.float32)})
    np.testing.assert_allclose(norm["image"], [[[-1.0, 0.0, 1.0]]], atol=1e-6)
    out = Resize(target_size=[15, 10])(dict(s))
    assert out["image"].shape == (10, 15, 3) and out["labels"].shape == (10, 15)
    out = Resize(target_size=[64, 32], keep_ratio=True, size_divisor=32)(dict(s))
    assert out["image"].shape[:2] == (32, 64)  # 30x20 -> 48x32 -> rounded up to 64x32
    assert Resize(target_size=[15, 10], interp="NEAREST")(dict(s))["image"].dtype == np.float32


def test_registered_and_bad_arguments():
    for name in ("Resize", "ResizeStepScaling", "RandomPaddingCrop", "RandomHorizontalFlip",
                 "Normalize"):
        assert name in TRANSFORMS
    t = TRANSFORMS.build({"type": "RandomPaddingCrop", "crop_size": [1024, 512]})
    assert (t.crop_w, t.crop_h) == (1024, 512)
    with pytest.raises(ValueError, match="RandomPaddingCrop.crop_size"):
        RandomPaddingCrop(crop_size=512)
    with pytest.raises(ValueError, match="Normalize"):
        Normalize(std=(0.5, 0.0, 0.5))
    with pytest.raises(ValueError, match="Resize.interp"):
        Resize(interp="CUBIC")
