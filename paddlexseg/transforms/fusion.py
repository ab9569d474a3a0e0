"""Camera-side transforms of 2DPASS that keep the points' pixel indices in step with the image.

Yan et al., "2DPASS: 2D Priors Assisted Semantic Segmentation on LiDAR Point Clouds", ECCV 2022
(``dataloader/dataset.py``). Pixel positions are (row, col) pairs, as in the original, which
flips the projected (u, v) to index ``image[row, col]``. Every random step takes a
``numpy.random.Generator`` owned by the caller, so a seed fixes the whole augmentation.

* :func:`project_to_image`: LiDAR points -> pixels with a 3x4 (P2 @ Tr) matrix, keeping the
  points in front of the car (x > 0) that land strictly inside the image.
* :class:`BottomCrop`: a random-left, bottom-aligned crop (480 x 320 on SemanticKITTI).
* :class:`ColorJitter`: ``torchvision.transforms.ColorJitter(brightness, contrast, saturation)``.
* :func:`flip_image`: horizontal flip of the image and the pixel columns together.
* :func:`normalize_image`: /255 and ImageNet mean/std.
* :class:`PointScaleXY`: 3-D scale augmentation of x and y (uniform in [0.95, 1.05]).
"""
import numpy as np

from ..registry import TRANSFORMS

__all__ = ["project_to_image", "BottomCrop", "ColorJitter", "flip_image", "normalize_image",
           "FusionPointAugment", "FusionImageAugment",
           "resize_image_points", "PointScaleXY", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def project_to_image(xyz, proj_matrix, image_size):
    """Project LiDAR points into a camera image (KITTI: ``P2 @ Tr``).

    Args:
        xyz: float [N, 3] points in the LiDAR frame.
        proj_matrix: float [3, 4] (or [4, 4], last row unused) LiDAR -> homogeneous pixels.
        image_size: (width, height) of the image.

    Returns:
        (keep bool [N]: in front (x > 0) and strictly inside the image,
         pixels float32 [M, 2] (row, col) of the kept points, M = keep.sum()).
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    proj = np.asarray(proj_matrix, dtype=np.float64)[:3]
    width, height = image_size
    keep = xyz[:, 0] > 0                                           # in front of the vehicle
    hom = np.concatenate([xyz[keep], np.ones((int(keep.sum()), 1))], axis=1)  # [K, 4]
    uvw = hom @ proj.T                                             # [K, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    inside = (uv[:, 0] > 0) & (uv[:, 1] > 0) & (uv[:, 0] < width) & (uv[:, 1] < height)
    inside &= uvw[:, 2] > 0
    keep[keep] = inside
    return keep, np.ascontiguousarray(uv[inside][:, ::-1]).astype(np.float32)


@TRANSFORMS.register()
class BottomCrop:
    """Crop ``width x height`` at the bottom of the image at a uniformly random left edge.

    Args:
        width, height: crop size in pixels (2DPASS: 480 x 320).
    """

    def __init__(self, width=480, height=320):
        if int(width) < 1 or int(height) < 1:
            raise ValueError(f"BottomCrop: width and height must be positive, got "
                             f"{width} x {height}")
        self.width, self.height = int(width), int(height)

    def __call__(self, image, pixels, rng):
        """Args:
            image: [H, W, 3] array. pixels: float [M, 2] (row, col). rng: numpy Generator.

        Returns:
            (cropped image [height, width, 3], pixels of the kept points shifted into the
            crop, keep bool [M]).
        """
        h, w = image.shape[:2]
        if w < self.width or h < self.height:
            raise ValueError(f"BottomCrop: image of {w} x {h} pixels is smaller than the crop "
                             f"{self.width} x {self.height}")
        left = int(rng.random() * (w + 1 - self.width))
        top = h - self.height
        keep = ((pixels[:, 0] >= top) & (pixels[:, 0] < h) & (pixels[:, 1] >= left)
                & (pixels[:, 1] < left + self.width))
        out = pixels[keep].copy()
        out[:, 0] -= top
        out[:, 1] -= left
        return image[top:h, left:left + self.width], out, keep


def _grayscale(image):
    """ITU-R 601-2 luma of an RGB float image [H, W, 3] -> [H, W, 1] (PIL's 'L' mode)."""
    return (image[..., :1] * 0.299 + image[..., 1:2] * 0.587 + image[..., 2:3] * 0.114)


@TRANSFORMS.register()
class ColorJitter:
    """Random brightness, contrast and saturation, in random order (torchvision semantics).

    Each factor is drawn uniformly from ``[max(0, 1 - v), 1 + v]``; brightness scales the
    image, contrast blends it with its mean grey level, saturation with its grey image.

    Args:
        brightness, contrast, saturation: jitter strengths (2DPASS: 0.4 each); 0 = off.
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4):
        values = (float(brightness), float(contrast), float(saturation))
        if min(values) < 0:
            raise ValueError(f"ColorJitter: strengths must be >= 0, got {values}")
        self.values = values

    def __call__(self, image, rng):
        """image: uint8 or float [H, W, 3] in 0..255 -> float32 [H, W, 3] in 0..255."""
        out = np.asarray(image, dtype=np.float32)
        for op in rng.permutation(3):
            v = self.values[op]
            if v == 0:
                continue
            f = rng.uniform(max(0.0, 1.0 - v), 1.0 + v)
            if op == 0:
                out = out * f
            elif op == 1:
                out = out * f + (1.0 - f) * float(_grayscale(out).mean())
            else:
                out = out * f + (1.0 - f) * _grayscale(out)
            out = np.clip(out, 0.0, 255.0)
        return out.astype(np.float32)


def flip_image(image, img_indices):
    """Mirror the image left-right and the integer pixel columns with it.

    Args:
        image: [H, W, C]. img_indices: int [M, 2] (row, col).

    Returns:
        (flipped image, new int64 [M, 2] indices with col -> W - 1 - col).
    """
    flipped = np.ascontiguousarray(image[:, ::-1])
    idx = np.array(img_indices, dtype=np.int64, copy=True)
    idx[:, 1] = image.shape[1] - 1 - idx[:, 1]
    return flipped, idx


def normalize_image(image, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """RGB 0..255 [H, W, 3] -> float32 [3, H, W] of ``(image / 255 - mean) / std``."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    out = (np.asarray(image, dtype=np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def resize_image_points(image, pixels, size):
    """Resize the image to ``size = (width, height)`` and scale the pixel positions with it
    (2DPASS nuScenes: ``floor(pixel) * new / old`` per axis, bilinear image resize).

    Returns:
        (float32 [height, width, 3] image, float32 [M, 2] (row, col) pixels).
    """
    from .image import resize_linear
    h, w = image.shape[:2]
    new_w, new_h = int(size[0]), int(size[1])
    out = np.floor(np.asarray(pixels, dtype=np.float64))
    out[:, 0] *= new_h / h
    out[:, 1] *= new_w / w
    return resize_linear(image, (new_w, new_h)), out.astype(np.float32)


@TRANSFORMS.register()
class PointScaleXY:
    """Scale x and y by one factor drawn uniformly from ``[low, high]`` (z unchanged).

    Called like the :mod:`~paddlexseg.transforms.point_aug` steps:
    ``t(points, labels, rng) -> (points, labels)``.

    Args:
        low, high: range of the factor (2DPASS: 0.95, 1.05).
    """

    def __init__(self, low=0.95, high=1.05):
        if not 0 < float(low) <= float(high):
            raise ValueError(f"PointScaleXY: expected 0 < low <= high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def __call__(self, points, labels, rng):
        points = np.array(points, dtype=np.float32, copy=True)
        points[:, :2] *= np.float32(rng.uniform(self.low, self.high))
        return points, labels


class FusionPointAugment:
    """2DPASS's 3-D augmentation: rotation about z, flips, x/y scale and translation.

    Dropout (removing up to ``max_dropout`` of the points, the ratio drawn per scan) is a
    separate step, :meth:`dropout`, because it must run before the image projection.

    Args:
        rotate: rotate by a uniform angle in [0, 360) degrees.
        flip: mirror x and/or y, each with probability 0.5 (the original's 4 equally likely
            flip types).
        scale: (low, high) of the x/y scale factor, or None.
        translate_std: std (m) of the Gaussian shift per axis (a number or 3), or None.
        max_dropout: largest fraction of points dropped (0 = off).
    """

    def __init__(self, rotate=True, flip=True, scale=(0.95, 1.05), translate_std=0.1,
                 max_dropout=0.2):
        from .point_aug import PointFlip, PointRotateZ, PointTranslate
        if not 0.0 <= float(max_dropout) < 1.0:
            raise ValueError(f"FusionPointAugment.max_dropout: expected a fraction in [0, 1), "
                             f"got {max_dropout}")
        self.max_dropout = float(max_dropout)
        self.steps = []
        if rotate:
            self.steps.append(PointRotateZ(max_angle=180.0))
        if flip:
            self.steps.append(PointFlip(prob_x=0.5, prob_y=0.5))
        if scale is not None:
            if len(scale) != 2:
                raise ValueError(f"FusionPointAugment.scale: expected [low, high], got {scale}")
            self.steps.append(PointScaleXY(low=scale[0], high=scale[1]))
        if translate_std is not None and np.any(np.asarray(translate_std) != 0):
            self.steps.append(PointTranslate(std=translate_std))

    def dropout(self, num_points, rng):
        """Indices (sorted) of the points kept by a random dropout of this scan."""
        if self.max_dropout <= 0 or num_points == 0:
            return np.arange(num_points)
        ratio = rng.random() * self.max_dropout
        keep = rng.random(num_points) >= ratio
        if not keep.any():
            keep[0] = True
        return np.nonzero(keep)[0]

    def __call__(self, points, rng):
        """float32 [N, C] -> float32 [N, C] (x, y, z transformed, other columns kept)."""
        for step in self.steps:
            points, _ = step(points, None, rng)
        return points


class FusionImageAugment:
    """2DPASS's image pipeline with the points' pixel positions kept in step.

    Order as in the original: crop (or resize) -> integer pixel indices -> colour jitter ->
    horizontal flip -> normalization. Jitter and flip run only when ``train`` is True.

    Args:
        bottom_crop: [width, height] of a random-left bottom crop (SemanticKITTI 480 x 320),
            or None.
        resize: [width, height] to resize to (nuScenes 400 x 240), or None.
        color_jitter: [brightness, contrast, saturation] strengths, or None.
        flip_prob: probability of a horizontal flip.
        mean, std: normalization of the 0..1 RGB values.
    """

    def __init__(self, bottom_crop=(480, 320), resize=None, color_jitter=(0.4, 0.4, 0.4),
                 flip_prob=0.5, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.crop = None if bottom_crop is None else BottomCrop(*bottom_crop)
        self.resize = None if resize is None else (int(resize[0]), int(resize[1]))
        self.jitter = None if color_jitter is None else ColorJitter(*color_jitter)
        if not 0.0 <= float(flip_prob) <= 1.0:
            raise ValueError(f"FusionImageAugment.flip_prob: expected a probability, got "
                             f"{flip_prob}")
        self.flip_prob = float(flip_prob)
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, image, pixels, rng, train=True):
        """Args:
            image: uint8 [H, W, 3] RGB. pixels: float [M, 2] (row, col) of the image points.
            rng: numpy Generator. train: apply jitter and flip.

        Returns:
            (float32 [3, h, w] normalized image, int64 [M', 2] pixel indices,
             keep bool [M] marking the M' points still inside the image).
        """
        keep = np.ones(pixels.shape[0], dtype=bool)
        if self.crop is not None:
            image, pixels, keep = self.crop(image, pixels, rng)
        if self.resize is not None:
            image, pixels = resize_image_points(image, pixels, self.resize)
        indices = pixels.astype(np.int64)
        image = np.asarray(image, dtype=np.float32)
        if train and self.jitter is not None:
            image = self.jitter(image, rng)
        if train and rng.random() < self.flip_prob:
            image, indices = flip_image(image, indices)
        return normalize_image(image, self.mean, self.std), indices, keep
