"""Pixel-wise cross entropy for image segmentation (ignore label 255).

detectron2's ``SemSegFPNHead.losses``: the coarse logits are bilinearly upsampled
(``align_corners=False``) to the label size and ``F.cross_entropy(..., ignore_index=255,
reduction="mean")`` is taken, i.e. the mean over non-ignored pixels (the weighted mean
``sum w[y] * nll / sum w[y]`` with class weights). Computed with ``log_softmax`` and
``take_along_axis`` (no ``F.nll_loss``, whose ``ignore_index`` path crashes Paddle 3.3.1); returns
0 instead of NaN when every pixel is ignored.
"""
import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..registry import LOSSES, ConfigError

__all__ = ["CrossEntropyLoss", "masked_cross_entropy", "check_class_weights", "checked_targets",
           "full_precision_log_softmax"]


def checked_targets(labels, num_classes, ignore_index, name):
    """(valid mask [N] bool, labels with ignored entries set to 0 [N] int64) for flat labels;
    raises ValueError naming ``name`` when a non-ignored label is outside [0, num_classes)."""
    labels = labels.astype("int64")
    if ignore_index is None:
        valid = paddle.ones(labels.shape, dtype="bool")
    else:
        valid = labels != ignore_index
    safe = paddle.where(valid, labels, paddle.zeros_like(labels))  # [N]
    if safe.shape[0] and (safe.min().item() < 0 or safe.max().item() >= num_classes):
        raise ValueError(f"{name}: labels must lie in [0, {num_classes}) or equal "
                         f"ignore_index={ignore_index}, got [{safe.min().item()}, "
                         f"{safe.max().item()}]")
    return valid, safe


def full_precision_log_softmax(logits):
    """``log_softmax`` over axis 1, computed in float32 when AMP produced half precision."""
    if logits.dtype not in (paddle.float32, paddle.float64):
        logits = logits.astype("float32")
    return F.log_softmax(logits, axis=1)


def masked_cross_entropy(logits, labels, ignore_index=255, class_weights=None, name="loss"):
    """Weighted-mean cross entropy over the labels that are not ``ignore_index``.

    Args:
        logits: float [N, C] raw scores.
        labels: int [N] class ids in [0, C) or ``ignore_index``.
        ignore_index: label value that contributes nothing (None: none).
        class_weights: optional float Tensor [C].
        name: prefix of error messages.

    Returns:
        scalar Tensor.
    """
    valid, safe = checked_targets(labels, logits.shape[1], ignore_index, name)
    logp = full_precision_log_softmax(logits)  # [N, C]
    nll = -paddle.take_along_axis(logp, safe.unsqueeze(1), axis=1).squeeze(1)  # [N]
    w = valid.astype(logp.dtype)
    if class_weights is not None:
        w = w * paddle.gather(class_weights.astype(logp.dtype), safe)
    total = w.sum()
    denom = paddle.where(total > 0, total, paddle.ones_like(total))
    return (w * nll).sum() / denom


def check_class_weights(class_weights, name):
    """List of >= 2 non-negative numbers -> float32 numpy array (None passes through)."""
    if class_weights is None:
        return None
    w = np.asarray(class_weights, dtype=np.float64)
    if w.ndim != 1 or w.size < 2 or (w < 0).any():
        raise ConfigError(f"{name}.class_weights: expected a list of >= 2 non-negative numbers, "
                          f"got {class_weights!r}")
    return w.astype(np.float32)


@LOSSES.register()
class CrossEntropyLoss(nn.Layer):
    """Cross entropy of [B, C, h, w] logits against [B, H, W] labels, upsampling the logits.

    Args:
        ignore_index: label value that contributes nothing (255 for Cityscapes train ids).
        class_weights: optional list of C per-class weights.
        align_corners: of the bilinear upsampling (detectron2: False).
    """

    def __init__(self, ignore_index=255, class_weights=None, align_corners=False):
        super().__init__()
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        weights = check_class_weights(class_weights, "CrossEntropyLoss")
        if weights is not None:
            self.register_buffer("class_weights", paddle.to_tensor(weights), persistable=False)
        else:
            self.class_weights = None

    def forward(self, logits, labels):
        """logits: float [B, C, h, w]; labels: int [B, H, W] -> scalar loss."""
        if logits.ndim != 4 or labels.ndim != 3 or labels.shape[0] != logits.shape[0]:
            raise ValueError(f"CrossEntropyLoss: expected logits [B, C, h, w] and labels "
                             f"[B, H, W], got {list(logits.shape)} and {list(labels.shape)}")
        num_classes = logits.shape[1]
        if self.class_weights is not None and self.class_weights.shape[0] != num_classes:
            raise ValueError(f"CrossEntropyLoss: {self.class_weights.shape[0]} class weights "
                             f"for logits with {num_classes} classes")
        h, w = labels.shape[1], labels.shape[2]
        if logits.shape[2] != h or logits.shape[3] != w:
            if logits.dtype not in (paddle.float32, paddle.float64):
                logits = logits.astype("float32")
            logits = F.interpolate(logits, size=[h, w], mode="bilinear",
                                   align_corners=self.align_corners)  # [B, C, H, W]
        flat = logits.transpose([0, 2, 3, 1]).reshape([-1, num_classes])  # [B*H*W, C]
        return masked_cross_entropy(flat, labels.reshape([-1]), self.ignore_index,
                                    self.class_weights, "CrossEntropyLoss")
