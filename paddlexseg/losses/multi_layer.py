"""Deep-supervision loss of SqueezeSegV3: weighted cross entropy summed over the five heads.

The original (chenfengxu714/SqueezeSegV3 ``src/tasks/semantic/modules/trainer.py``) computes
``NLLLoss(weight=w)(log(p.clamp(min=1e-8)), labels_s)`` for the full-resolution softmax ``p`` and
each auxiliary head, and adds the five terms with equal weight. The labels of a head are the
full-resolution labels resized with ``F.upsample(mode='nearest')`` to the head's size
(``src = floor(dst * in / out)``, i.e. every 2nd/4th/8th column for the stride-2/4/8 heads);
the predictions are never upsampled. ``w = 1 / (content + epsilon_w)`` (the config's
``class_weights``) with 0 for ignored classes, and each term is
``sum_i w[y_i] * -log p_i[y_i] / sum_i w[y_i]``.
"""
import numpy as np
import paddle
from paddle import nn

from ..registry import LOSSES, ConfigError
from .cross_entropy import WeightedCrossEntropyLoss

__all__ = ["MultiLayerCrossEntropyLoss", "nearest_resize_labels"]


def _nearest_index(in_size, out_size):
    """Source indices of torch's legacy nearest resize: ``min(floor(dst * (in / out)), in - 1)``."""
    scale = np.float32(in_size) / np.float32(out_size)
    idx = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, in_size - 1)


def nearest_resize_labels(labels, size):
    """Resize integer labels like ``F.upsample(labels[:, None].float(), size, mode='nearest')``.

    Args:
        labels: int [B, H, W].
        size: (h, w) target size.

    Returns:
        int64 [B, h, w]; ``labels`` itself when the size already matches.
    """
    h_in, w_in = labels.shape[1], labels.shape[2]
    h, w = int(size[0]), int(size[1])
    if (h, w) == (h_in, w_in):
        return labels.astype("int64")
    out = labels.astype("int64")
    if h != h_in:
        out = paddle.index_select(out, paddle.to_tensor(_nearest_index(h_in, h)), axis=1)
    if w != w_in:
        out = paddle.index_select(out, paddle.to_tensor(_nearest_index(w_in, w)), axis=2)
    return out  # [B, h, w]


@LOSSES.register()
class MultiLayerCrossEntropyLoss(nn.Layer):
    """Sum over heads of the class-weighted cross entropy against resized labels.

    Config input: ``[logits, aux_logits_1, aux_logits_2, aux_logits_3, aux_logits_4]`` (the
    SqueezeSegV3 outputs); each head may have any resolution <= the labels'.

    Args:
        class_weights: per-class weights (list of C floats), e.g. ``1 / (content + 0.001)``
            printed by ``tools/dataset_stats.py``; None for weight 1.
        layer_weights: weight of each head's term, in input order; the original sums the five
            terms with weight 1.
        ignore_index: label value that contributes nothing (besides zero-weight classes);
            None for none.
    """

    def __init__(self, class_weights=None, layer_weights=(1.0, 1.0, 1.0, 1.0, 1.0),
                 ignore_index=0):
        super().__init__()
        if isinstance(layer_weights, (int, float)) or not layer_weights:
            raise ConfigError(f"MultiLayerCrossEntropyLoss.layer_weights: expected a non-empty "
                              f"list of numbers, one per input head, got {layer_weights!r}")
        self.layer_weights = [float(w) for w in layer_weights]
        # one weighted CE (same weights, same reduction) applied to every head
        try:
            self.ce = WeightedCrossEntropyLoss(class_weights=class_weights,
                                               ignore_index=ignore_index)
        except ConfigError as err:
            raise ConfigError(str(err).replace("WeightedCrossEntropyLoss",
                                               "MultiLayerCrossEntropyLoss")) from None

    def forward(self, *inputs):
        """Args:
            inputs: the head outputs in config order, each float [B, C, h_i, w_i] raw scores,
                followed by the int [B, H, W] labels (the loss composer appends the target).

        Returns:
            scalar ``sum_i layer_weights[i] * CE_i``.
        """
        *heads, labels = inputs
        if len(heads) != len(self.layer_weights):
            raise ValueError(f"MultiLayerCrossEntropyLoss: got {len(heads)} model outputs but "
                             f"{len(self.layer_weights)} layer_weights; list one weight per "
                             f"'input' entry")
        if labels.ndim != 3:
            raise ValueError(f"MultiLayerCrossEntropyLoss: labels must be [B, H, W], got shape "
                             f"{list(labels.shape)}")
        total = None
        for i, (logits, weight) in enumerate(zip(heads, self.layer_weights)):
            if logits.ndim != 4 or logits.shape[2] > labels.shape[1] \
                    or logits.shape[3] > labels.shape[2]:
                raise ValueError(f"MultiLayerCrossEntropyLoss: input {i} has shape "
                                 f"{list(logits.shape)}; expected [B, C, h, w] no larger than "
                                 f"the labels {list(labels.shape)}")
            target = nearest_resize_labels(labels, logits.shape[2:])
            term = weight * self.ce(logits, target)
            total = term if total is None else total + term
        return total
