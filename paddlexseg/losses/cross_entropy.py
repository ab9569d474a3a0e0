"""Class-weighted cross entropy of RangeNet++ / SqueezeSegV3.

The original (PRBonn/lidar-bonnetal ``modules/trainer.py``) trains with
``nn.NLLLoss(weight=w)(log(softmax(logits).clamp(min=1e-8)), labels)`` where
``w = 1 / (content + epsilon_w)`` from the label YAML's class frequencies and ``w = 0`` for
``learning_ignore`` classes. With ``reduction='mean'`` that is
``sum_i w[y_i] * -log p_i[y_i] / sum_i w[y_i]``, which this loss reproduces (values and
gradients) without ``F.nll_loss`` (whose ``ignore_index`` path crashes Paddle 3.3.1), and which
returns 0 instead of NaN when every label is ignored.

The weights come from the config (``class_weights``): ``python tools/dataset_stats.py
--label_config semantic-kitti`` prints the real data's (from the label YAML's ``content``) and
``--config CFG`` those of a config's training set.
"""
import math

import numpy as np
import paddle
from paddle import nn

from ..registry import LOSSES, ConfigError
from .image_cross_entropy import checked_targets, full_precision_log_softmax

__all__ = ["WeightedCrossEntropyLoss", "content_class_weights", "flatten_logits"]

_LOG_MIN_PROB = math.log(1e-8)  # the original clamps probabilities at 1e-8 before the log


def content_class_weights(content, ignore=(), epsilon=0.001):
    """Inverse-frequency class weights ``1 / (content + epsilon)``, 0 for ignored classes.

    Args:
        content: [C] fraction of points per learning class (label YAML ``content``).
        ignore: learning ids whose weight is set to 0.
        epsilon: the original ``epsilon_w``.

    Returns:
        float64 numpy [C].
    """
    content = np.asarray(content, dtype=np.float64)
    weights = 1.0 / (content + epsilon)
    for i in ignore:
        weights[int(i)] = 0.0
    return weights


def flatten_logits(logits, labels, name):
    """Check and flatten ``logits [B, C, *S]`` / ``labels [B, *S]`` to ``[N, C]`` / ``[N]``.

    ``logits [N, C]`` with ``labels [N]`` pass through. ``name`` prefixes error messages.
    """
    expected = [logits.shape[0]] + list(logits.shape[2:])
    if logits.ndim < 2 or list(labels.shape) != expected:
        raise ValueError(f"{name}: labels of shape {list(labels.shape)} do not match logits of "
                         f"shape {list(logits.shape)}; expected labels {expected} "
                         f"(logits [B, C, H, W] with labels [B, H, W], or [N, C] with [N])")
    num_classes = logits.shape[1]
    if logits.ndim > 2:
        perm = [0] + list(range(2, logits.ndim)) + [1]
        logits = logits.transpose(perm)  # [B, *S, C]
    return logits.reshape([-1, num_classes]), labels.reshape([-1]).astype("int64")


@LOSSES.register()
class WeightedCrossEntropyLoss(nn.Layer):
    """Weighted NLL of the clamped softmax, normalised by the sum of the weights in the batch.

    Args:
        class_weights: per-class weights (list of C floats, e.g. printed by
            ``tools/dataset_stats.py``), or None for weight 1.
        ignore_index: label value that contributes nothing (besides zero-weight classes);
            None for none.
    """

    def __init__(self, class_weights=None, ignore_index=0):
        super().__init__()
        if class_weights is not None:
            weights = np.asarray(class_weights, dtype=np.float64)
            if weights.ndim != 1 or weights.size < 2 or (weights < 0).any():
                raise ConfigError(f"WeightedCrossEntropyLoss.class_weights: expected a list of "
                                  f">= 2 non-negative numbers, got {class_weights!r}")
        else:
            weights = None
        self.ignore_index = ignore_index
        self.num_classes = None if weights is None else int(weights.size)
        if weights is not None:
            self.register_buffer("class_weights",
                                 paddle.to_tensor(weights.astype(np.float32)), persistable=False)
        else:
            self.class_weights = None

    def forward(self, logits, labels):
        """Args:
            logits: float [B, C, H, W] (or [B, C, *S], or [N, C]) raw scores.
            labels: int [B, H, W] (or [B, *S], or [N]) learning ids.

        Returns:
            scalar loss (0 with zero gradients when no label carries weight).
        """
        logits, labels = flatten_logits(logits, labels, "WeightedCrossEntropyLoss")
        num_classes = logits.shape[1]
        if self.num_classes is not None and num_classes != self.num_classes:
            raise ValueError(f"WeightedCrossEntropyLoss: logits have {num_classes} classes but "
                             f"{self.num_classes} class weights were configured")
        valid, safe = checked_targets(labels, num_classes, self.ignore_index,
                                      "WeightedCrossEntropyLoss")
        logp = full_precision_log_softmax(logits)  # [N, C]
        logp = paddle.clip(logp, min=_LOG_MIN_PROB)  # == log(clamp(softmax, 1e-8))
        nll = -paddle.take_along_axis(logp, safe.unsqueeze(1), axis=1).squeeze(1)  # [N]
        if self.class_weights is None:
            w = valid.astype(logp.dtype)
        else:
            w = paddle.gather(self.class_weights.astype(logp.dtype), safe)  # [N]
            w = w * valid.astype(logp.dtype)
        total = w.sum()
        denom = paddle.where(total > 0, total, paddle.ones_like(total))
        return (w * nll).sum() / denom
