"""PaddleSeg-style image segmentation transforms (``paddleseg/transforms/transforms.py``).

Every transform is called as ``t(sample, rng) -> sample`` where ``sample`` is a dict with
``image`` float32 [H, W, 3] RGB (0..255 until :class:`Normalize`) and optionally ``labels``
[H, W] integer ids (None or absent without labels), and ``rng`` a ``numpy.random.Generator`` owned
by the caller. Resizing reproduces OpenCV without depending on it: ``LINEAR`` is
``cv2.INTER_LINEAR`` (half-pixel centres, edge clamping, no antialiasing) and labels use
``cv2.INTER_NEAREST`` (source pixel ``floor(x * in / out)``).
"""
import math

import numpy as np

from ..registry import TRANSFORMS

__all__ = ["resize_linear", "resize_nearest", "Resize", "ResizeStepScaling", "RandomPaddingCrop",
           "RandomHorizontalFlip", "Normalize"]


def _linear_taps(out_size, in_size):
    """Source indices and weights of cv2.INTER_LINEAR along one axis."""
    scale = in_size / out_size
    src = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    i0 = np.floor(src).astype(np.int64)
    frac = src - i0
    low = i0 < 0
    i0[low], frac[low] = 0, 0.0
    high = i0 >= in_size - 1
    i0[high], frac[high] = in_size - 1, 0.0
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, frac.astype(np.float32)


def resize_linear(image, size):
    """Bilinear resize like ``cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)``.

    Args:
        image: [H, W] or [H, W, C] array. size: (w, h).

    Returns:
        float32 [h, w(, C)].
    """
    w, h = int(size[0]), int(size[1])
    image = np.asarray(image, dtype=np.float32)
    y0, y1, fy = _linear_taps(h, image.shape[0])
    x0, x1, fx = _linear_taps(w, image.shape[1])
    extra = (None,) * (image.ndim - 2)
    fy = fy[(slice(None), None) + extra]
    rows = image[y0] * (1.0 - fy) + image[y1] * fy  # [h, W(, C)]
    fx = fx[(None, slice(None)) + extra]
    return rows[:, x0] * (1.0 - fx) + rows[:, x1] * fx


def resize_nearest(image, size):
    """Nearest resize like ``cv2.resize(..., interpolation=cv2.INTER_NEAREST)`` (dtype kept)."""
    w, h = int(size[0]), int(size[1])
    image = np.asarray(image)
    ys = np.minimum(np.floor(np.arange(h) * (image.shape[0] / h)).astype(np.int64),
                    image.shape[0] - 1)
    xs = np.minimum(np.floor(np.arange(w) * (image.shape[1] / w)).astype(np.int64),
                    image.shape[1] - 1)
    return image[ys][:, xs]


def _resize_sample(sample, size, interp="LINEAR"):
    resize = resize_linear if interp == "LINEAR" else resize_nearest
    sample["image"] = resize(sample["image"], size).astype(np.float32)
    if sample.get("labels") is not None:
        sample["labels"] = resize_nearest(sample["labels"], size)
    return sample


def _check_size(value, name):
    if not isinstance(value, (list, tuple)) or len(value) != 2 or min(value) <= 0:
        raise ValueError(f"{name}: expected [width, height] of two positive ints, got {value!r}")
    return int(value[0]), int(value[1])


@TRANSFORMS.register()
class Resize:
    """Resize to ``target_size`` = [width, height] (labels with nearest).

    Args:
        target_size: [w, h].
        keep_ratio: scale by ``min(max(target) / max(w, h), min(target) / min(w, h))`` instead.
        size_divisor: round the size up to a multiple of this (None: no rounding).
        interp: "LINEAR" or "NEAREST" for the image.
    """

    def __init__(self, target_size=(512, 512), keep_ratio=False, size_divisor=None,
                 interp="LINEAR"):
        self.target_size = _check_size(target_size, "Resize.target_size")
        if interp not in ("LINEAR", "NEAREST"):
            raise ValueError(f"Resize.interp: expected 'LINEAR' or 'NEAREST', got {interp!r}")
        if size_divisor is not None and (not isinstance(size_divisor, int) or size_divisor < 1):
            raise ValueError(f"Resize.size_divisor: expected a positive int, got {size_divisor!r}")
        self.keep_ratio = keep_ratio
        self.size_divisor = size_divisor
        self.interp = interp

    def __call__(self, sample, rng=None):
        size = self.target_size
        if self.keep_ratio:
            h, w = sample["image"].shape[:2]
            scale = min(max(size) / max(w, h), min(size) / min(w, h))
            size = (round(w * scale), round(h * scale))
        if self.size_divisor:
            size = tuple(math.ceil(s / self.size_divisor) * self.size_divisor for s in size)
        return _resize_sample(sample, size, self.interp)


@TRANSFORMS.register()
class ResizeStepScaling:
    """Rescale by a factor drawn from ``min, min + step, ..., max`` (uniform if step is 0).

    Args:
        min_scale_factor, max_scale_factor: the range (0.5 and 2.0 for Cityscapes).
        scale_step_size: spacing of the factors (0.25).
    """

    def __init__(self, min_scale_factor=0.75, max_scale_factor=1.25, scale_step_size=0.25):
        if not 0 < min_scale_factor <= max_scale_factor:
            raise ValueError(f"ResizeStepScaling: need 0 < min_scale_factor <= max_scale_factor, "
                             f"got {min_scale_factor} and {max_scale_factor}")
        if scale_step_size < 0:
            raise ValueError(f"ResizeStepScaling.scale_step_size: must be >= 0, "
                             f"got {scale_step_size}")
        self.min_scale_factor = float(min_scale_factor)
        self.max_scale_factor = float(max_scale_factor)
        self.scale_step_size = float(scale_step_size)

    def factors(self):
        """The discrete scale factors (empty when drawn uniformly)."""
        if self.min_scale_factor == self.max_scale_factor:
            return [self.min_scale_factor]
        if self.scale_step_size == 0:
            return []
        n = int((self.max_scale_factor - self.min_scale_factor) / self.scale_step_size + 1)
        return np.linspace(self.min_scale_factor, self.max_scale_factor, n).tolist()

    def __call__(self, sample, rng):
        factors = self.factors()
        if factors:
            scale = factors[int(rng.integers(len(factors)))]
        else:
            scale = rng.uniform(self.min_scale_factor, self.max_scale_factor)
        h, w = sample["image"].shape[:2]
        size = (max(1, int(round(scale * w))), max(1, int(round(scale * h))))
        return _resize_sample(sample, size)


@TRANSFORMS.register()
class RandomPaddingCrop:
    """Pad at the bottom/right to at least ``crop_size`` = [w, h], then crop at random.

    Args:
        crop_size: [w, h] (1024 x 512 for Cityscapes).
        im_padding_value: image fill (127.5 = 0 after Normalize with mean/std 0.5).
        label_padding_value: label fill (255 = ignored).
        category_max_ratio: retry crops until no class covers more than this fraction of the
            non-ignored pixels (detectron2's SINGLE_CATEGORY_MAX_AREA; 1.0 disables).
        ignore_index: label left out of that count. loop_times: retries.
    """

    def __init__(self, crop_size=(512, 512), im_padding_value=127.5, label_padding_value=255,
                 category_max_ratio=1.0, ignore_index=255, loop_times=10):
        self.crop_w, self.crop_h = _check_size(crop_size, "RandomPaddingCrop.crop_size")
        if category_max_ratio <= 0:
            raise ValueError(f"RandomPaddingCrop.category_max_ratio: must be > 0, "
                             f"got {category_max_ratio}")
        if loop_times <= 0:
            raise ValueError(f"RandomPaddingCrop.loop_times: must be > 0, got {loop_times}")
        self.im_padding_value = float(im_padding_value)
        self.label_padding_value = label_padding_value
        self.category_max_ratio = float(category_max_ratio)
        self.ignore_index = ignore_index
        self.loop_times = int(loop_times)

    def _offsets(self, h, w, rng):
        y = int(rng.integers(0, max(h - self.crop_h, 0) + 1))
        x = int(rng.integers(0, max(w - self.crop_w, 0) + 1))
        return y, x

    def __call__(self, sample, rng):
        image, labels = sample["image"], sample.get("labels")
        h, w = image.shape[:2]
        if (h, w) == (self.crop_h, self.crop_w):
            return sample
        pad_h, pad_w = max(self.crop_h - h, 0), max(self.crop_w - w, 0)
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)),
                           constant_values=self.im_padding_value)
            if labels is not None:
                labels = np.pad(labels, ((0, pad_h), (0, pad_w)),
                                constant_values=self.label_padding_value)
            h, w = h + pad_h, w + pad_w
        y, x = self._offsets(h, w, rng)
        if labels is not None and self.category_max_ratio < 1.0:
            for _ in range(self.loop_times):
                crop = labels[y:y + self.crop_h, x:x + self.crop_w]
                ids, cnt = np.unique(crop, return_counts=True)
                cnt = cnt[ids != self.ignore_index]
                if len(cnt) > 1 and cnt.max() / cnt.sum() < self.category_max_ratio:
                    break
                y, x = self._offsets(h, w, rng)
        sample["image"] = image[y:y + self.crop_h, x:x + self.crop_w]
        if labels is not None:
            sample["labels"] = labels[y:y + self.crop_h, x:x + self.crop_w]
        return sample


@TRANSFORMS.register()
class RandomHorizontalFlip:
    """Mirror left-right with probability ``prob``."""

    def __init__(self, prob=0.5):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"RandomHorizontalFlip.prob: must be in [0, 1], got {prob}")
        self.prob = float(prob)

    def __call__(self, sample, rng):
        if rng.random() < self.prob:
            sample["image"] = sample["image"][:, ::-1]
            if sample.get("labels") is not None:
                sample["labels"] = sample["labels"][:, ::-1]
        return sample


@TRANSFORMS.register()
class Normalize:
    """``(image / 255 - mean) / std`` per channel (PaddleSeg's defaults: mean = std = 0.5)."""

    def __init__(self, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        std = np.asarray(std, dtype=np.float32).reshape(-1)
        if mean.size not in (1, 3) or std.size not in (1, 3) or (std == 0).any():
            raise ValueError(f"Normalize: mean and std need 1 or 3 values and std no zero, "
                             f"got {mean.tolist()} and {std.tolist()}")
        self.mean, self.std = mean, std

    def __call__(self, sample, rng=None):
        image = np.asarray(sample["image"], dtype=np.float32) / 255.0
        sample["image"] = (image - self.mean) / self.std
        return sample
