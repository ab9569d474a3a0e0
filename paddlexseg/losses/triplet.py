"""Triplet margin loss over grouped descriptors (Event-VPR / NetVLAD training).

The Event-VPR reproduction applies ``torch.nn.TripletMarginWithDistanceLoss(margin,
distance_function=cosine_distance)`` to (anchor, positive, negative_j) for every negative j of
the batch: ``max(d(a, p) - d(a, n_j) + margin, 0)`` averaged over the batch. Here the terms
are averaged over groups and negatives (``reduction="mean"``) or summed over negatives and
averaged over groups as the reproduction's loop does (``reduction="sum"``). Gradients flow
through all members (the reproduction computed the positive under ``no_grad``).
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..registry import LOSSES

__all__ = ["TripletMarginLoss"]


@LOSSES.register()
class TripletMarginLoss(nn.Layer):
    """Margin loss on groups (anchor, positive, negative_1..n) stacked along axis 0.

    Args:
        margin: required gap between the negative and the positive distance.
        distance: "cosine" (1 - cosine similarity) or "euclidean" (L2 distance).
        group_size: 2 + n; None takes it from the batch (config ``target: group_size``).
        reduction: "mean" over groups and negatives, or "sum" over negatives then mean over
            groups.
    """

    def __init__(self, margin=0.1, distance="cosine", group_size=None, reduction="mean"):
        super().__init__()
        if distance not in ("cosine", "euclidean"):
            raise ValueError(f"TripletMarginLoss.distance must be 'cosine' or 'euclidean', "
                             f"got {distance!r}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"TripletMarginLoss.reduction must be 'mean' or 'sum', "
                             f"got {reduction!r}")
        if group_size is not None and int(group_size) < 3:
            raise ValueError(f"TripletMarginLoss.group_size must be >= 3 (anchor, positive, "
                             f"negatives), got {group_size}")
        self.margin = float(margin)
        self.distance = distance
        self.group_size = None if group_size is None else int(group_size)
        self.reduction = reduction

    def _dist(self, a, b):
        if self.distance == "cosine":
            return 1.0 - F.cosine_similarity(a, b, axis=-1)
        return paddle.sqrt(((a - b) ** 2).sum(axis=-1) + 1e-12)

    def forward(self, descriptor, group_size=None):
        """descriptor: [B * group_size, D] -> scalar loss.

        Args:
            descriptor: stacked descriptors, group g at rows g * G .. g * G + G - 1 in the order
                (anchor, positive, negatives...).
            group_size: G from the batch; must agree with the configured one if both are given.
        """
        g = self.group_size
        if group_size is not None:
            group_size = int(group_size)
            if g is not None and g != group_size:
                raise ValueError(f"TripletMarginLoss: configured group_size {g} but the batch "
                                 f"has groups of {group_size}")
            g = group_size
        if g is None:
            raise ValueError("TripletMarginLoss needs group_size (constructor or batch target)")
        n_rows, dim = descriptor.shape[0], descriptor.shape[1]
        if g < 3 or n_rows % g:
            raise ValueError(f"TripletMarginLoss: {n_rows} descriptors do not form groups of "
                             f"{g} (anchor, positive, >= 1 negative)")
        groups = descriptor.reshape([n_rows // g, g, dim])          # [B, G, D]
        anchor = groups[:, 0:1, :]                                  # [B, 1, D]
        d_pos = self._dist(anchor, groups[:, 1:2, :])               # [B, 1]
        d_neg = self._dist(anchor.expand([n_rows // g, g - 2, dim]), groups[:, 2:, :])  # [B, n]
        terms = F.relu(d_pos - d_neg + self.margin)                 # [B, n]
        if self.reduction == "sum":
            return terms.sum(axis=1).mean()
        return terms.mean()
