"""PointRend's point loss: cross entropy of point logits against labels sampled at the points.

detectron2 ``PointRendSemSegHead.forward`` (training): the label map is sampled at
``point_coords`` with ``point_sample(labels.float(), coords, mode="nearest",
align_corners=False)`` and ``F.cross_entropy(point_logits, point_labels, ignore_index=255)``
averages over the non-ignored points.
"""
import paddle
from paddle import nn

from ..models.layers.point_sample import point_sample
from ..registry import LOSSES
from .image_cross_entropy import check_class_weights, masked_cross_entropy

__all__ = ["PointCrossEntropyLoss", "sample_point_labels"]


def sample_point_labels(labels, point_coords):
    """Nearest label at each normalized point.

    Args:
        labels: int [B, H, W].
        point_coords: float [B, P, 2] (x, y) in [0, 1].

    Returns:
        int64 [B, P] (the pixel ``floor(x * W), floor(y * H)``, clipped to the image).
    """
    sampled = point_sample(labels.unsqueeze(1).astype("float32"), point_coords.astype("float32"),
                           align_corners=False, mode="nearest")  # [B, 1, P]
    return paddle.round(sampled.squeeze(1)).astype("int64")


@LOSSES.register()
class PointCrossEntropyLoss(nn.Layer):
    """Config: ``{type: PointCrossEntropyLoss, input: [point_logits, point_coords],
    target: labels}``.

    Args:
        ignore_index: label value that contributes nothing (255).
        class_weights: optional list of C per-class weights.
    """

    def __init__(self, ignore_index=255, class_weights=None):
        super().__init__()
        self.ignore_index = ignore_index
        weights = check_class_weights(class_weights, "PointCrossEntropyLoss")
        if weights is not None:
            self.register_buffer("class_weights", paddle.to_tensor(weights), persistable=False)
        else:
            self.class_weights = None

    def forward(self, point_logits, point_coords, labels):
        """point_logits: float [B, C, P]; point_coords: [B, P, 2]; labels: int [B, H, W]."""
        if (point_logits.ndim != 3 or point_coords.ndim != 3 or labels.ndim != 3
                or point_coords.shape[2] != 2 or point_coords.shape[1] != point_logits.shape[2]
                or not point_logits.shape[0] == point_coords.shape[0] == labels.shape[0]):
            raise ValueError(f"PointCrossEntropyLoss: expected point_logits [B, C, P], "
                             f"point_coords [B, P, 2] and labels [B, H, W], got "
                             f"{list(point_logits.shape)}, {list(point_coords.shape)} and "
                             f"{list(labels.shape)}")
        num_classes = point_logits.shape[1]
        if self.class_weights is not None and self.class_weights.shape[0] != num_classes:
            raise ValueError(f"PointCrossEntropyLoss: {self.class_weights.shape[0]} class "
                             f"weights for logits with {num_classes} classes")
        with paddle.no_grad():
            point_labels = sample_point_labels(labels, point_coords.detach())  # [B, P]
        flat = point_logits.transpose([0, 2, 1]).reshape([-1, num_classes])  # [B*P, C]
        return masked_cross_entropy(flat, point_labels.reshape([-1]), self.ignore_index,
                                    self.class_weights, "PointCrossEntropyLoss")
