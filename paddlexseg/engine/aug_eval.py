"""Test-time inference wrappers for image models, with PaddleSeg's names and semantics:
multi-scale and flip augmentation (``--aug_eval --scales --flip_horizontal --flip_vertical``) and
sliding-window inference (``--is_slide --crop_size --stride``)."""
import math
import inspect

import paddle
import paddle.nn.functional as F

from ..registry import ConfigError

__all__ = ["AugmentedInference", "SlidingWindowInference", "flip_combinations"]


def flip_combinations(flip_horizontal=False, flip_vertical=False):
    """PaddleSeg's ``flip_combination``: ``[(h, v), ...]`` flips to run, the plain image first."""
    flips = [(False, False)]
    if flip_horizontal:
        flips.append((True, False))
    if flip_vertical:
        flips.append((False, True))
        if flip_horizontal:
            flips.append((True, True))
    return flips


def _flip(x, horizontal, vertical):
    axes = ([3] if horizontal else []) + ([2] if vertical else [])
    return paddle.flip(x, axis=axes) if axes else x


def _single_image_input(inputs, what):
    if len(inputs) != 1:
        raise ConfigError(f"{what} works on models with one image input; this model takes "
                          f"{sorted(inputs)}")
    (name, image), = inputs.items()
    if image.ndim != 4:
        raise ConfigError(f"{what} expects a [B, C, H, W] input, got '{name}' of shape "
                          f"{list(image.shape)}")
    return name, image


def _pair(value, flag):
    """``[w, h]`` from one int or two (PaddleSeg's order: width first)."""
    values = [value] if isinstance(value, int) else list(value or [])
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or any(int(v) <= 0 for v in values):
        raise ConfigError(f"{flag}: expected one or two positive integers (width height), "
                          f"got {value!r}")
    return [int(v) for v in values]


class SlidingWindowInference(paddle.nn.Layer):
    """PaddleSeg's ``slide_inference``: run ``model`` on overlapping crops and average.

    Windows of ``crop_size`` start every ``stride`` pixels; the last row/column of windows is
    shifted back to end at the image border (``h1 = max(min(i * stride_h + crop_h, H) -
    crop_h, 0)``), so ``max(ceil((H - crop_h) / stride_h), 0) + 1`` windows cover each axis. Each
    4-D output ``[B, C, h, w]`` of a crop (resized to the crop, bilinear, if the model returns
    another size) is added into its window and the sum divided by the number of windows that
    covered each pixel. A crop larger than the image is the image itself.

    Args:
        model: a model whose ``forward`` takes one image tensor ``[B, 3, H, W]``.
        crop_size: ``(width, height)`` of a window (PaddleSeg's ``--crop_size``).
        stride: ``(width, height)`` step between windows (``--stride``).
        softmax: average softmax probabilities instead of raw scores (what PaddleSeg does when
            sliding inside ``--aug_eval``).
    """

    def __init__(self, model, crop_size, stride, softmax=False):
        super().__init__()
        self.model = model
        self.crop_w, self.crop_h = _pair(crop_size, "--crop_size")
        self.stride_w, self.stride_h = _pair(stride, "--stride")
        self.softmax = bool(softmax)

    def windows(self, height, width):
        """``[(h1, h2, w1, w2), ...]`` crop boxes for an image of ``height`` x ``width``."""
        crop_h, crop_w = min(self.crop_h, height), min(self.crop_w, width)
        rows = max(math.ceil((height - crop_h) / self.stride_h), 0) + 1
        cols = max(math.ceil((width - crop_w) / self.stride_w), 0) + 1
        boxes = []
        for r in range(rows):
            for c in range(cols):
                h2 = min(r * self.stride_h + crop_h, height)
                w2 = min(c * self.stride_w + crop_w, width)
                boxes.append((max(h2 - crop_h, 0), h2, max(w2 - crop_w, 0), w2))
        return boxes

    def forward(self, **inputs):
        name, image = _single_image_input(inputs, "--is_slide")
        height, width = image.shape[2], image.shape[3]
        total, count = {}, paddle.zeros([1, 1, height, width], "float32")
        for h1, h2, w1, w2 in self.windows(height, width):
            outputs = self.model(**{name: image[:, :, h1:h2, w1:w2]})
            for key, value in outputs.items():
                if not isinstance(value, paddle.Tensor) or value.ndim != 4:
                    continue
                value = value.astype("float32")
                if list(value.shape[2:]) != [h2 - h1, w2 - w1]:
                    value = F.interpolate(value, size=[h2 - h1, w2 - w1], mode="bilinear",
                                          align_corners=False)
                if self.softmax:
                    value = F.softmax(value, axis=1)
                if key not in total:
                    total[key] = paddle.zeros([value.shape[0], value.shape[1], height, width],
                                              "float32")
                # pad the window's scores to the full image and add them: [B, C, H, W]
                total[key] = total[key] + F.pad(value, [w1, width - w2, h1, height - h2])
            count = count + F.pad(paddle.ones([1, 1, h2 - h1, w2 - w1], "float32"),
                                  [w1, width - w2, h1, height - h2])
        return {key: value / count for key, value in total.items()}


class AugmentedInference(paddle.nn.Layer):
    """Wraps an image model: runs it on rescaled (and horizontally flipped) copies of the input
    and returns, for every 4-D output of ``[B, C, h, w]``, the mean of the softmax probabilities
    resized back to the input size (bilinear, ``align_corners=False``), as PaddleSeg's
    ``aug_inference`` does.

    Args:
        model: a model whose ``forward`` takes one image tensor ``[B, 3, H, W]``.
        scales: resize factors, e.g. ``(0.75, 1.0, 1.25)``.
        flip_horizontal: also run every scale mirrored left-right (and mirror the output back).
        flip_vertical: also run every scale mirrored top-bottom (with ``flip_horizontal``, also
            mirrored both ways), as PaddleSeg's ``--flip_vertical``.
        slide: None, or ``(crop_size, stride)`` to run each scale/flip with
            :class:`SlidingWindowInference` (``--aug_eval --is_slide``).
    """

    def __init__(self, model, scales=(1.0,), flip_horizontal=False, flip_vertical=False,
                 slide=None):
        super().__init__()
        if not scales or any(float(s) <= 0 for s in scales):
            raise ConfigError(f"--scales: expected positive factors, got {scales!r}")
        names = [n for n, p in inspect.signature(model.forward).parameters.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if names[:1] != ["image"] or any(inspect.signature(model.forward).parameters[n].default
                                         is inspect.Parameter.empty for n in names[1:]):
            raise ConfigError(f"--aug_eval: multi-scale/flip evaluation is for image models "
                              f"(forward(image)); {type(model).__name__} takes {names}, so "
                              f"--aug_eval/--scales/--flip_horizontal do not apply: drop them")
        self.model = model if slide is None else SlidingWindowInference(model, *slide)
        self.scales = [float(s) for s in scales]
        self.flip_horizontal = bool(flip_horizontal)
        self.flips = flip_combinations(flip_horizontal, flip_vertical)

    def forward(self, **inputs):
        name, image = _single_image_input(inputs, "--aug_eval")
        height, width = image.shape[2], image.shape[3]
        total, count = {}, 0
        for scale in self.scales:
            size = [max(int(round(height * scale)), 1), max(int(round(width * scale)), 1)]
            scaled = image if size == [height, width] else F.interpolate(
                image, size=size, mode="bilinear", align_corners=False)
            for flip_h, flip_v in self.flips:
                outputs = self.model(**{name: _flip(scaled, flip_h, flip_v)})
                for key, value in outputs.items():
                    if not isinstance(value, paddle.Tensor) or value.ndim != 4:
                        continue
                    value = _flip(value, flip_h, flip_v)
                    prob = F.softmax(F.interpolate(value.astype("float32"), size=[height, width],
                                                   mode="bilinear", align_corners=False), axis=1)
                    total[key] = prob if key not in total else total[key] + prob
                count += 1
        return {key: value / count for key, value in total.items()}
