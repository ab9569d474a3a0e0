"""Pictures for VisualDL and predictions: label maps to RGB, and image stacking.

All helpers take and return NumPy arrays; images are uint8 ``[H, W, 3]`` RGB.
"""
import numpy as np

__all__ = ["colorize_labels", "gray_to_rgb", "stack_images", "side_by_side"]


def colorize_labels(labels, colors, mask=None):
    """Learning ids -> RGB through a colour table.

    Args:
        labels: int array [...] of class ids in ``[0, len(colors))``.
        colors: uint8 [C, 3] RGB colour per class (e.g. ``LabelConfig.colors``).
        mask: optional bool/int array [...]; pixels where it is 0 are drawn as class 0
            (how RangeNet++ logs predictions on empty range-image pixels).

    Returns:
        uint8 [..., 3].
    """
    colors = np.asarray(colors, dtype=np.uint8)
    if colors.ndim != 2 or colors.shape[1] != 3:
        raise ValueError(f"colorize_labels: colors must be [C, 3], got shape {colors.shape}")
    labels = np.asarray(labels).astype(np.int64)
    if mask is not None:
        labels = np.where(np.asarray(mask).astype(bool), labels, 0)
    if labels.size and (labels.min() < 0 or labels.max() >= len(colors)):
        raise ValueError(f"colorize_labels: labels span [{labels.min()}, {labels.max()}] but the "
                         f"colour table has {len(colors)} entries")
    return colors[labels]


def gray_to_rgb(values, mask=None):
    """Min-max normalise a float map (e.g. range) to a uint8 grey RGB image.

    Args:
        values: float [H, W].
        mask: optional [H, W]; the normalisation uses only pixels where it is non-zero and the
            others are drawn black.

    Returns:
        uint8 [H, W, 3].
    """
    values = np.asarray(values, dtype=np.float64)
    valid = np.ones(values.shape, bool) if mask is None else np.asarray(mask).astype(bool)
    out = np.zeros(values.shape, dtype=np.float64)
    if valid.any():
        lo, hi = values[valid].min(), values[valid].max()
        out[valid] = (values[valid] - lo) / (hi - lo) if hi > lo else 1.0
    gray = np.round(out * 255.0).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def _concat(images, axis, gap, gap_value, name):
    if not images:
        raise ValueError(f"{name}: expected at least one image")
    images = [np.asarray(im) for im in images]
    other = 1 - axis
    for im in images:
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"{name}: expected uint8 [H, W, 3] images, got {im.dtype} "
                             f"{im.shape}")
        if im.shape[other] != images[0].shape[other]:
            raise ValueError(f"{name}: images differ in {'width' if axis == 0 else 'height'}: "
                             f"{[i.shape[:2] for i in images]}")
    parts = []
    for i, im in enumerate(images):
        if i and gap:
            shape = list(im.shape)
            shape[axis] = gap
            parts.append(np.full(shape, gap_value, dtype=np.uint8))
        parts.append(im)
    return np.concatenate(parts, axis=axis)


def stack_images(images, gap=1, gap_value=255):
    """Stack same-width RGB images top to bottom, separated by ``gap`` rows of ``gap_value``."""
    return _concat(images, 0, gap, gap_value, "stack_images")


def side_by_side(images, gap=1, gap_value=255):
    """Place same-height RGB images left to right, separated by ``gap`` columns."""
    return _concat(images, 1, gap, gap_value, "side_by_side")
