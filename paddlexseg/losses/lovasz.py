"""Lovasz-Softmax loss: a convex surrogate of the per-class Jaccard (IoU) loss.

Berman, Rannen Triki, Blaschko: "The Lovasz-Softmax loss: A tractable surrogate for the
optimization of the intersection-over-union measure in neural networks", CVPR 2018.
The version used by SalsaNext / lidar-bonnetal forks (``Lovasz_Softmax.py``): softmax
probabilities, pixels labelled ``ignore`` removed, averaged over the classes present in the
labels (``classes='present'``). The per-class Python loop of the original is vectorised over
classes: one column-wise sort of the ``[P, C]`` error matrix.
"""
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..registry import LOSSES
from .cross_entropy import flatten_logits

__all__ = ["LovaszSoftmaxLoss", "lovasz_grad", "lovasz_softmax_flat"]


def lovasz_grad(gt_sorted):
    """Gradient of the Lovasz extension w.r.t. sorted errors (Alg. 1 of the paper), per column.

    Args:
        gt_sorted: float [P, C] foreground indicators, each column sorted by decreasing error.

    Returns:
        float [P, C].
    """
    gts = gt_sorted.sum(axis=0, keepdim=True)  # [1, C]
    intersection = gts - paddle.cumsum(gt_sorted, axis=0)
    union = gts + paddle.cumsum(1.0 - gt_sorted, axis=0)  # >= 1 everywhere
    jaccard = 1.0 - intersection / union  # [P, C]
    if gt_sorted.shape[0] > 1:
        jaccard = paddle.concat([jaccard[:1], jaccard[1:] - jaccard[:-1]], axis=0)
    return jaccard


def lovasz_softmax_flat(probas, labels):
    """Lovasz-Softmax over flat predictions, averaged over the classes present in ``labels``.

    Args:
        probas: float [P, C] class probabilities.
        labels: int64 [P] ground truth in [0, C).

    Returns:
        scalar; 0 (keeping the graph) when ``P == 0``.
    """
    if probas.shape[0] == 0:
        return probas.sum() * 0.0
    num_classes = probas.shape[1]
    fg = F.one_hot(labels, num_classes).astype(probas.dtype)  # [P, C]
    errors = (fg - probas).abs()  # [P, C]
    # sum(sort(errors) * grad) == sum(errors * unsort(grad)): the (detached) Lovasz gradient is
    # computed in sorted order and scattered back, so the graph holds one product instead of a
    # differentiable gather of the [P, C] errors; the gradient is bit-identical, the value
    # differs by float rounding of the sum only, and the loss's forward + backward time
    # about halves on CPU (docs/performance.md)
    with paddle.no_grad():
        perm = paddle.argsort(errors, axis=0, descending=True)  # [P, C]
        # fg sorted per column, i.e. take_along_axis(fg, perm, 0), from a 1-D gather of the
        # labels (6x faster on CPU; same 0/1 values)
        labels_sorted = paddle.gather(labels, perm.reshape([-1])).reshape(perm.shape)
        fg_sorted = (labels_sorted == paddle.arange(num_classes, dtype=labels.dtype))
        grad_sorted = lovasz_grad(fg_sorted.astype(probas.dtype))
        grad = paddle.put_along_axis(paddle.zeros_like(grad_sorted), perm, grad_sorted, axis=0)
    per_class = (errors * grad).sum(axis=0)  # [C]
    present = (fg.sum(axis=0) > 0).astype(probas.dtype)  # [C]
    return (per_class * present).sum() / paddle.clip(present.sum(), min=1.0)


@LOSSES.register()
class LovaszSoftmaxLoss(nn.Layer):
    """Lovasz-Softmax loss on logits (the softmax is applied here).

    Args:
        ignore_index: label value whose pixels are removed before the loss; None keeps all.
        per_image: average the loss computed per image instead of over the whole batch
            (an image without valid pixels contributes 0 to the mean, as in the original).
    """

    def __init__(self, ignore_index=0, per_image=False):
        super().__init__()
        self.ignore_index = ignore_index
        self.per_image = bool(per_image)

    def _flat_loss(self, logits, labels):
        logits, labels = flatten_logits(logits, labels, "LovaszSoftmaxLoss")  # [P, C], [P]
        num_classes = logits.shape[1]
        if self.ignore_index is not None:
            keep = paddle.nonzero(labels != self.ignore_index).reshape([-1])  # [P']
            logits = paddle.gather(logits, keep, axis=0)
            labels = paddle.gather(labels, keep, axis=0)
        if labels.shape[0] and (labels.min().item() < 0 or labels.max().item() >= num_classes):
            raise ValueError(f"LovaszSoftmaxLoss: labels must lie in [0, {num_classes}) (or "
                             f"equal ignore_index={self.ignore_index}), got "
                             f"[{labels.min().item()}, {labels.max().item()}]")
        if logits.dtype not in (paddle.float32, paddle.float64):
            logits = logits.astype("float32")  # AMP: sort and cumsum in full precision
        probas = F.softmax(logits, axis=1)  # [P', C]
        return lovasz_softmax_flat(probas, labels)

    def forward(self, logits, labels):
        """Args:
            logits: float [B, C, H, W] (or [N, C]) raw scores.
            labels: int [B, H, W] (or [N]) learning ids.

        Returns:
            scalar loss.
        """
        if not self.per_image or logits.ndim == 2:
            return self._flat_loss(logits, labels)
        losses = [self._flat_loss(logits[i:i + 1], labels[i:i + 1])
                  for i in range(logits.shape[0])]
        return paddle.add_n(losses) / len(losses)
