"""2DPASS segmentation losses: frequency-weighted cross entropy, multi-scale and voxel terms.

Yan et al., "2DPASS", ECCV 2022 (``network/baseline.py`` criterion and ``xModalKD``):

* the class weights are ``(max_c f_c / f_c) ** (1/3)`` of the class frequencies ``f`` given as
  point counts (``seg_labelweights`` in the original config); the ignored class has count 0,
  i.e. an infinite weight, which torch never multiplies because its points are ignored. Here
  ignored classes get weight 0 so that no ``inf * 0 = NaN`` can appear;
* the cross entropy is torch's weighted mean ``sum w[y] nll / sum w[y]`` over non-ignored
  points (computed without ``F.nll_loss``, see PADDLE3_NOTES);
* ``seg_loss = CE + Lovasz(softmax)``; per scale the 3D voxel predictions are trained against
  the majority label of their points (``voxelize_labels``), summed over scales, and the fused
  predictions against the image points' labels, scaled by ``lambda_seg2d / num_scales``.
"""
import numpy as np
import paddle
from paddle import nn

from ..registry import LOSSES, ConfigError
from .image_cross_entropy import masked_cross_entropy
from .lovasz import LovaszSoftmaxLoss

__all__ = ["frequency_class_weights", "voxel_majority_labels", "FrequencyWeightedCELoss",
           "MultiScaleSegLoss", "VoxelSegLoss"]


def frequency_class_weights(class_counts, power=1.0 / 3.0, ignore_index=0, name="loss"):
    """``(max f / f) ** power`` per class from point counts; 0 for ``ignore_index``.

    Args:
        class_counts: [C] number of points (or frequency) per learning class.
        power: exponent (2DPASS: 1/3).
        ignore_index: class whose weight is set to 0 (its count may be 0); None for none.
        name: prefix of error messages.

    Returns:
        float32 numpy [C].

    Raises:
        ConfigError: fewer than 2 counts, a negative count, or a zero count for a class that
            is not ignored (its weight would be infinite).
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size < 2 or (counts < 0).any():
        raise ConfigError(f"{name}.class_counts: expected a list of >= 2 non-negative numbers, "
                          f"got {class_counts!r}")
    zero = [c for c in np.nonzero(counts == 0)[0].tolist() if c != ignore_index]
    if zero:
        raise ConfigError(f"{name}.class_counts: classes {zero} have count 0 but are not "
                          f"ignore_index={ignore_index}; their weight would be infinite")
    freq = counts / counts.sum()
    weights = np.zeros_like(freq)
    valid = freq > 0
    weights[valid] = np.power(freq.max() / freq[valid], float(power))
    if ignore_index is not None and 0 <= ignore_index < weights.size:
        weights[ignore_index] = 0.0
    return weights.astype(np.float32)


def voxel_majority_labels(labels, inverse, num_voxels, num_classes):
    """Most frequent point label of every voxel (2DPASS ``voxelize_labels``).

    Ties go to the smallest label id. Labels equal to the ignore id take part in the vote, as
    in the original, so a voxel of mostly unlabeled points is ignored.

    Args:
        labels: int [N] point labels in [0, num_classes).
        inverse: int [N] voxel row of each point, in [0, num_voxels).
        num_voxels, num_classes: V and C.

    Returns:
        int64 [V].
    """
    labels = labels.astype("int64").reshape([-1])
    key = inverse.astype("int64").reshape([-1]) * num_classes + labels        # [N]
    counts = paddle.bincount(key, minlength=num_voxels * num_classes)         # [V*C]
    return counts[:num_voxels * num_classes].reshape([num_voxels, num_classes]).argmax(axis=1)


class _SegTerm(nn.Layer):
    """CE (frequency weighted) + ``lovasz_weight`` * Lovasz-Softmax on [M, C] logits."""

    def __init__(self, class_counts, power, ignore_index, lovasz_weight, name):
        super().__init__()
        self.ignore_index = ignore_index
        self.lovasz_weight = float(lovasz_weight)
        if class_counts is not None:
            weights = frequency_class_weights(class_counts, power, ignore_index, name)
            self.register_buffer("class_weights", paddle.to_tensor(weights), persistable=False)
        else:
            self.class_weights = None
        self.lovasz = LovaszSoftmaxLoss(ignore_index=ignore_index) if lovasz_weight else None
        self.name = name

    def seg_loss(self, logits, labels):
        if logits.ndim != 2 or labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
            raise ValueError(f"{self.name}: expected logits [M, C] and labels [M], got "
                             f"{list(logits.shape)} and {list(labels.shape)}")
        if self.class_weights is not None and self.class_weights.shape[0] != logits.shape[1]:
            raise ValueError(f"{self.name}: {self.class_weights.shape[0]} class counts for "
                             f"logits with {logits.shape[1]} classes")
        loss = masked_cross_entropy(logits, labels, self.ignore_index, self.class_weights,
                                    self.name)
        if self.lovasz is not None:
            loss = loss + self.lovasz_weight * self.lovasz(logits, labels)
        return loss


@LOSSES.register()
class FrequencyWeightedCELoss(_SegTerm):
    """Cross entropy with 2DPASS class weights ``(max f / f) ** power`` (no Lovasz term).

    Config: ``{type: FrequencyWeightedCELoss, input: logits, target: labels,
    class_counts: [0, 55437630, ...]}``.

    Args:
        class_counts: [C] point counts per learning class (None: unweighted).
        power: exponent of the weights (1/3).
        ignore_index: label that contributes nothing (0).
    """

    def __init__(self, class_counts=None, power=1.0 / 3.0, ignore_index=0):
        super().__init__(class_counts, power, ignore_index, 0.0, "FrequencyWeightedCELoss")

    def forward(self, logits, labels):
        """logits: float [N, C]; labels: int [N] -> scalar."""
        return self.seg_loss(logits, labels)


@LOSSES.register()
class MultiScaleSegLoss(_SegTerm):
    """``CE + lovasz_weight * Lovasz`` of per-scale logits against one label vector.

    2DPASS uses it for the fused predictions of every scale against the image points'
    labels (``seg_loss_2d``, averaged over scales: ``reduction: mean``).

    Config: ``{type: MultiScaleSegLoss, input: scale_fuse_logits, target: img_labels,
    weight: 1.0}``.

    Args:
        class_counts, power, ignore_index: as FrequencyWeightedCELoss.
        lovasz_weight: weight of the Lovasz term (1 in xModalKD).
        reduction: "mean" or "sum" over the scales.
    """

    def __init__(self, class_counts=None, power=1.0 / 3.0, ignore_index=0, lovasz_weight=1.0,
                 reduction="mean"):
        super().__init__(class_counts, power, ignore_index, lovasz_weight, "MultiScaleSegLoss")
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"MultiScaleSegLoss.reduction: expected mean or sum, got "
                              f"{reduction!r}")
        self.reduction = reduction

    def forward(self, scale_logits, labels):
        """scale_logits: list of float [M, C] (or one tensor); labels: int [M] -> scalar."""
        if isinstance(scale_logits, paddle.Tensor):
            scale_logits = [scale_logits]
        terms = [self.seg_loss(logits, labels) for logits in scale_logits]
        total = paddle.add_n(terms) if len(terms) > 1 else terms[0]
        return total / len(terms) if self.reduction == "mean" else total


@LOSSES.register()
class VoxelSegLoss(_SegTerm):
    """Per-scale voxel predictions against the majority label of their points.

    2DPASS ``seg_loss_3d``: for each scale, the 3D classifier's voxel logits [V_s, C] are
    trained against :func:`voxel_majority_labels` of the point labels, summed over scales.

    Config: ``{type: VoxelSegLoss, input: [scale_logits, scale_inv], target: labels}``.

    Args:
        class_counts, power, ignore_index: as FrequencyWeightedCELoss.
        lovasz_weight: weight of the Lovasz term (1 in xModalKD).
        reduction: "sum" (2DPASS) or "mean" over the scales.
    """

    def __init__(self, class_counts=None, power=1.0 / 3.0, ignore_index=0, lovasz_weight=1.0,
                 reduction="sum"):
        super().__init__(class_counts, power, ignore_index, lovasz_weight, "VoxelSegLoss")
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"VoxelSegLoss.reduction: expected mean or sum, got {reduction!r}")
        self.reduction = reduction

    def forward(self, scale_logits, scale_inverse, labels):
        """Args:
            scale_logits: list of float [V_s, C] voxel logits.
            scale_inverse: list of int [N] voxel row of each point, per scale.
            labels: int [N] point labels.
        """
        if isinstance(scale_logits, paddle.Tensor):
            scale_logits, scale_inverse = [scale_logits], [scale_inverse]
        if len(scale_logits) != len(scale_inverse):
            raise ValueError(f"VoxelSegLoss: {len(scale_logits)} logit scales but "
                             f"{len(scale_inverse)} inverse maps")
        terms = []
        for logits, inverse in zip(scale_logits, scale_inverse):
            if inverse.shape[0] != labels.shape[0]:
                raise ValueError(f"VoxelSegLoss: inverse map of {inverse.shape[0]} points for "
                                 f"{labels.shape[0]} labels")
            with paddle.no_grad():
                voxel_labels = voxel_majority_labels(labels, inverse, logits.shape[0],
                                                     logits.shape[1])
            terms.append(self.seg_loss(logits, voxel_labels))
        total = paddle.add_n(terms) if len(terms) > 1 else terms[0]
        return total / len(terms) if self.reduction == "mean" else total
