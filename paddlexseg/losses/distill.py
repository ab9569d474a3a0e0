"""Cross-modal knowledge distillation: KL divergence from fused (2D+3D) to 3D-only predictions.

2DPASS (Yan et al., ECCV 2022), ``xModalKD.fusion_to_single_KD``::

    xm_loss = F.kl_div(F.log_softmax(pts_pred, dim=1), F.softmax(fuse_pred.detach(), dim=1))

i.e. ``KL(softmax(teacher) || softmax(student))`` with the teacher (the fused prediction)
detached, and torch's default ``reduction='mean'``: the sum over all ``M x C`` elements divided
by ``M * C`` (not the per-point "batchmean"). The original adds ``lambda_xm / num_scales``
times this per scale; give a list of per-scale logits and ``weight: lambda_xm`` in the config to
get the same sum (the scales are averaged here).
"""
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..registry import LOSSES, ConfigError

__all__ = ["CrossModalKLLoss", "kl_divergence"]

_REDUCTIONS = ("mean", "batchmean", "sum")


def kl_divergence(student_logits, teacher_logits, reduction="mean"):
    """``KL(softmax(teacher) || softmax(student))`` with the teacher detached.

    Args:
        student_logits, teacher_logits: float [M, C] raw scores.
        reduction: "mean" (over all M*C elements, torch's default), "batchmean" (over M) or
            "sum".

    Returns:
        scalar; 0 (keeping the graph) when M == 0.
    """
    if list(student_logits.shape) != list(teacher_logits.shape) or student_logits.ndim != 2:
        raise ValueError(f"CrossModalKLLoss: expected student and teacher logits of equal shape "
                         f"[M, C], got {list(student_logits.shape)} and "
                         f"{list(teacher_logits.shape)}")
    if student_logits.shape[0] == 0:
        return student_logits.sum() * 0.0
    log_q = F.log_softmax(student_logits.astype("float32"), axis=1)          # [M, C]
    log_p = F.log_softmax(teacher_logits.detach().astype("float32"), axis=1)  # [M, C]
    elem = paddle.exp(log_p) * (log_p - log_q)          # p log p - p log q; 0 where p == 0
    total = elem.sum()
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / student_logits.shape[0]
    return total / (student_logits.shape[0] * student_logits.shape[1])


@LOSSES.register()
class CrossModalKLLoss(nn.Layer):
    """KL distillation of fused predictions into 3D predictions, averaged over scales.

    Config: ``{type: CrossModalKLLoss, input: [scale_point_logits, scale_fuse_logits],
    target: null, weight: 0.05}``.

    Args:
        reduction: "mean" (torch ``F.kl_div`` default, as in 2DPASS), "batchmean" or "sum".
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"CrossModalKLLoss.reduction: expected one of {_REDUCTIONS}, got "
                              f"{reduction!r}")
        self.reduction = reduction

    def forward(self, student_logits, teacher_logits):
        """Args:
            student_logits: float [M, C] (3D-only), or a list of them (one per scale).
            teacher_logits: float [M, C] (fused, detached here), or a list of equal length.

        Returns:
            scalar: the KL (mean over the scales for lists).
        """
        if isinstance(student_logits, paddle.Tensor):
            student_logits, teacher_logits = [student_logits], [teacher_logits]
        if len(student_logits) != len(teacher_logits) or not student_logits:
            raise ValueError(f"CrossModalKLLoss: got {len(student_logits)} student and "
                             f"{len(teacher_logits)} teacher scales; expected equal, non-empty")
        terms = [kl_divergence(s, t, self.reduction)
                 for s, t in zip(student_logits, teacher_logits)]
        return paddle.add_n(terms) / len(terms) if len(terms) > 1 else terms[0]
