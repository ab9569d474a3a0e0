"""Camera image pipeline of a LiDAR + camera detector (mmdetection3d's MVX-Net):
``LoadImageFromFile`` -> ``Resize`` -> ``RandomFlip3D`` (image half) -> ``Normalize`` -> ``Pad``.

* :class:`ImageResize` is mmdet ``Resize(img_scale, multiscale_mode, keep_ratio)``: in mode
  ``range`` a long edge and a short edge are drawn uniformly (integers, both ends included)
  between those of the two scales; with ``keep_ratio`` the image is rescaled by
  ``min(long / max(h, w), short / min(h, w))`` (mmcv ``rescale_size``), so that it fits in
  (long, short); the new size is ``int(w * s + 0.5), int(h * s + 0.5)`` and the recorded
  ``scale_factor`` is ``(new_w / w, new_h / h)`` as mmdet records it.
* :func:`resize_bilinear` is ``cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)``
  (half-pixel centres, edge replicated, no anti-aliasing) in NumPy on uint8 images; results
  differ from OpenCV's fixed-point arithmetic by at most 1 grey level (OpenCV is not a
  dependency here).
* The image is flipped (``img[:, ::-1]``) when the points were flipped horizontally, turned
  to BGR, normalised ``(x - mean) / std`` and zero-padded at the bottom / right to a multiple
  of ``pad_size_divisor`` (mmdet ``Pad(size_divisor=32)``).

The returned meta carries what the projection (:mod:`paddlexseg.models.fusion.projection`)
needs so a point lands on the right pixel: ``ori_shape``, ``img_shape`` (after resize, before
padding), ``pad_shape``, ``scale_factor`` (sx, sy) and ``flip``.
"""
import numpy as np

__all__ = ["ImageResize", "ImagePipeline", "resize_bilinear", "rescale_size",
           "pipeline_from_dataset_config"]

MULTISCALE_MODES = ("range", "value")


def rescale_size(w, h, scale):
    """mmcv ``rescale_size((w, h), scale)`` for a (long, short)-like pair: the keep-ratio size
    fitting in ``max(scale)`` x ``min(scale)``. Returns (new_w, new_h)."""
    s = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(w * float(s) + 0.5), int(h * float(s) + 0.5)


def _axis_taps(n_in, n_out):
    """Source indices (i0, i1) and weight of i1 for cv2's half-pixel bilinear mapping."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0.0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (x - i0)


def resize_bilinear(image, size):
    """``cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)``: uint8 [H, W, C] -> uint8
    [h, w, C] with ``size = (w, h)`` (rounded to the nearest grey level)."""
    w, h = int(size[0]), int(size[1])
    h0, w0 = image.shape[:2]
    if (w, h) == (w0, h0):
        return image.copy()
    img = image.astype(np.float32)
    r0, r1, fy = _axis_taps(h0, h)
    c0, c1, fx = _axis_taps(w0, w)
    fy = fy.astype(np.float32)[:, None, None]
    rows = img[r0] * (1 - fy) + img[r1] * fy                                 # [h, W0, C]
    fx = fx.astype(np.float32)[None, :, None]
    out = rows[:, c0] * (1 - fx) + rows[:, c1] * fx                          # [h, w, C]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


class ImageResize:
    """mmdet ``Resize(img_scale=..., multiscale_mode=..., keep_ratio=...)``.

    Args:
        img_scale: one (W, H) or a list of them, e.g. ``[[640, 192], [2560, 768]]``.
        multiscale_mode: ``range`` (two scales: long and short edge drawn between theirs) or
            ``value`` (one of the scales drawn at random); one scale: always that one.
        keep_ratio: rescale keeping the aspect ratio to fit the drawn (long, short); False:
            resize to exactly the drawn (W, H).
    """

    def __init__(self, img_scale, multiscale_mode="range", keep_ratio=True):
        scales = np.asarray(img_scale, dtype=np.float64)
        if scales.ndim == 1:
            scales = scales[None]
        if scales.ndim != 2 or scales.shape[1] != 2 or scales.shape[0] < 1 or \
                (scales < 1).any():
            raise ValueError(f"img_scale: expected [W, H] or a list of [W, H] pairs, got "
                             f"{img_scale}")
        if multiscale_mode not in MULTISCALE_MODES:
            raise ValueError(f"multiscale_mode: expected one of {MULTISCALE_MODES}, got "
                             f"{multiscale_mode!r}")
        if multiscale_mode == "range" and scales.shape[0] not in (1, 2):
            raise ValueError(f"img_scale: mode 'range' takes two [W, H] scales, got "
                             f"{scales.shape[0]}")
        self.scales = [tuple(int(v) for v in s) for s in scales]
        self.mode, self.keep_ratio = multiscale_mode, bool(keep_ratio)

    def draw_scale(self, rng):
        """The scale of one image (mmdet ``random_sample`` / ``random_select``); draws nothing
        with a single scale."""
        if len(self.scales) == 1:
            return self.scales[0]
        if self.mode == "value":
            return self.scales[int(rng.integers(len(self.scales)))]
        longs = [max(s) for s in self.scales]
        shorts = [min(s) for s in self.scales]
        return (int(rng.integers(min(longs), max(longs) + 1)),
                int(rng.integers(min(shorts), max(shorts) + 1)))

    def target_size(self, w, h, rng):
        """(new_w, new_h) of a w x h image."""
        scale = self.draw_scale(rng)
        if self.keep_ratio:
            return rescale_size(w, h, scale)
        return int(scale[0]), int(scale[1])


class ImagePipeline:
    """Resize -> flip -> BGR -> normalise -> pad of one uint8 RGB image.

    Args:
        resize: an :class:`ImageResize`, or None (original size).
        mean, std: BGR normalisation (mmdet3d MVX-Net: mean [102.9801, 115.9465, 122.7717],
            std 1, ``to_rgb=False``).
        pad_size_divisor: zero-pad bottom / right to a multiple of it (None: no padding).
        fixed_size: (W, H): resize to exactly this with PIL's (anti-aliased) bilinear instead
            of ``resize`` (the ``image_size`` of the quick configs, kept as it was).
    """

    def __init__(self, resize=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                 pad_size_divisor=None, fixed_size=None):
        if pad_size_divisor is not None and int(pad_size_divisor) < 1:
            raise ValueError(f"pad_size_divisor: expected a positive integer, got "
                             f"{pad_size_divisor}")
        self.resize = resize
        self.fixed_size = None if fixed_size is None else (int(fixed_size[0]),
                                                           int(fixed_size[1]))
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1)
        self.pad = None if pad_size_divisor is None else int(pad_size_divisor)

    def __call__(self, rgb, flip=False, rng=None):
        """uint8 RGB [H, W, 3] -> (float32 BGR [3, Hp, Wp], meta dict). ``rng`` draws the
        scale of a multi-scale resize (None: a fixed generator, for evaluation / predict)."""
        h0, w0 = rgb.shape[:2]
        if self.fixed_size is not None and self.fixed_size != (w0, h0):
            from PIL import Image
            rgb = np.asarray(Image.fromarray(rgb).resize(self.fixed_size, Image.BILINEAR))
        elif self.resize is not None and self.fixed_size is None:
            rng = np.random.default_rng(0) if rng is None else rng
            rgb = resize_bilinear(rgb, self.resize.target_size(w0, h0, rng))
        h, w = rgb.shape[:2]
        if flip:
            rgb = rgb[:, ::-1]
        image = (rgb[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) - self.mean) / self.std
        ph, pw = h, w
        if self.pad is not None:
            ph, pw = -(-h // self.pad) * self.pad, -(-w // self.pad) * self.pad
            image = np.pad(image, ((0, 0), (0, ph - h), (0, pw - w)))
        meta = {"ori_shape": (h0, w0), "img_shape": (h, w), "pad_shape": (ph, pw),
                "scale_factor": (w / w0, h / h0), "flip": bool(flip)}
        return np.ascontiguousarray(image, dtype=np.float32), meta


def pipeline_from_dataset_config(data_cfg, default_mean=(0.0, 0.0, 0.0)):
    """The :class:`ImagePipeline` of a ``KittiObject`` dataset config mapping (keys
    ``image_size``, ``image_resize``, ``image_pad_divisor``, ``image_mean``, ``image_std``), so
    a predictor feeds images exactly as ``val_dataset`` does. ``image_size`` wins over
    ``image_resize``. ValueError / TypeError on a bad entry."""
    size = data_cfg.get("image_size")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"image_size: expected [width, height], got {size}")
    resize = data_cfg.get("image_resize")
    if size is None and resize is not None:
        if not isinstance(resize, dict):
            raise ValueError(f"image_resize: expected a mapping of ImageResize arguments, got "
                             f"{resize!r}")
        try:
            resize = ImageResize(**resize)
        except (TypeError, ValueError) as err:
            raise ValueError(f"image_resize.{err}") from None
    else:
        resize = None
    pad = data_cfg.get("image_pad_divisor")
    if pad is not None and (isinstance(pad, bool) or not isinstance(pad, int) or pad < 1):
        raise ValueError(f"image_pad_divisor: expected a positive integer, got {pad!r}")
    return ImagePipeline(resize, data_cfg.get("image_mean", default_mean),
                         data_cfg.get("image_std", (1.0, 1.0, 1.0)), pad, fixed_size=size)
