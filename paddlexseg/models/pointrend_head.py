"""PointRend's semantic-segmentation head alone, on given FPN features (a parity hook).

detectron2's ``PointRendSemSegHead`` (``projects/PointRend/point_rend/semantic_seg.py``): the
Semantic FPN coarse head plus the point head, without backbone and FPN. It holds the same
sublayers as :class:`~paddlexseg.models.pointrend.PointRendFPN` (``coarse_sem_seg_head``,
``point_head``), so ``tools/convert_weights.py --arch pointrend-head`` converts the
``sem_seg_head.*`` keys of a detectron2 checkpoint alone, and the head can be checked against
detectron2 on recorded FPN features, layer by layer, with recorded training points.
"""
from paddle import nn

from ..registry import MODELS
from .layers.fpn import SemSegFPNHead
from .pointrend import PointRendRefiner, StandardPointHead

__all__ = ["PointRendSemSegHead"]


@MODELS.register()
class PointRendSemSegHead(PointRendRefiner, nn.Layer):
    """Coarse Semantic FPN head + PointRend point head on FPN features p2..p5.

    Args:
        num_classes: classes (19 Cityscapes). fpn_channels: channels of each FPN level (256).
        in_features, in_strides: the FPN levels read by the coarse head and their strides.
        head_conv_dims, head_norm, common_stride: coarse head (128, "GN", 4).
        point_in_features, fc_dim, num_fc, coarse_pred_each_layer: point head.
        train_num_points, oversample_ratio, importance_sample_ratio: training points.
        subdivision_steps, subdivision_num_points: inference refinement.

    ``forward(p2, p3, p4, p5, point_coords=None)`` returns, in training, ``logits`` (coarse,
    [B, C, H/4, W/4]), ``point_logits`` [B, C, P] and ``point_coords`` [B, P, 2] (the given
    ones, else sampled); in eval, ``logits`` refined to stride ``4 / 2^steps``,
    ``coarse_logits`` [B, C, H/4, W/4] and ``point_indices`` (list of [B, P] per step).
    """

    def __init__(self, num_classes=19, fpn_channels=256, in_features=("p2", "p3", "p4", "p5"),
                 in_strides=(4, 8, 16, 32), head_conv_dims=128, head_norm="GN", common_stride=4,
                 point_in_features=("p2",), fc_dim=256, num_fc=3, coarse_pred_each_layer=False,
                 train_num_points=2048, oversample_ratio=3, importance_sample_ratio=0.75,
                 subdivision_steps=2, subdivision_num_points=8192):
        super().__init__()
        self.in_features = list(in_features)
        if len(self.in_features) != len(in_strides):
            raise ValueError(f"PointRendSemSegHead: {len(self.in_features)} in_features but "
                             f"{len(in_strides)} in_strides")
        unknown = [f for f in point_in_features if f not in self.in_features]
        if unknown:
            raise ValueError(f"PointRendSemSegHead.point_in_features: {unknown} not in "
                             f"in_features {self.in_features}")
        self.coarse_sem_seg_head = SemSegFPNHead(
            in_features=self.in_features, in_strides=list(in_strides), in_channels=fpn_channels,
            num_classes=num_classes, conv_dims=head_conv_dims, common_stride=common_stride,
            norm=head_norm)
        self.point_head = StandardPointHead(
            in_channels=fpn_channels * len(point_in_features), num_classes=num_classes,
            fc_dim=fc_dim, num_fc=num_fc, coarse_pred_each_layer=coarse_pred_each_layer)
        self.num_classes = int(num_classes)
        self.point_in_features = list(point_in_features)
        self.train_num_points = int(train_num_points)
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.subdivision_steps = int(subdivision_steps)
        self.subdivision_num_points = int(subdivision_num_points)

    def forward(self, p2, p3=None, p4=None, p5=None, point_coords=None):
        """FPN features [B, 256, H/s, W/s] per level -> dict (see the class docstring)."""
        given = {"p2": p2, "p3": p3, "p4": p4, "p5": p5}
        missing = [f for f in self.in_features if given.get(f) is None]
        if missing:
            raise ValueError(f"PointRendSemSegHead: FPN features {missing} are needed")
        feats = {f: given[f] for f in self.in_features}
        coarse = self.coarse_sem_seg_head(feats)                            # [B, C, H/4, W/4]
        if self.training:
            point_coords = self.training_points(coarse, point_coords)       # [B, P, 2]
            return {"logits": coarse, "point_logits": self.point_logits(feats, coarse,
                                                                        point_coords),
                    "point_coords": point_coords}
        logits, chosen = self.refine(feats, coarse)
        return {"logits": logits, "coarse_logits": coarse, "point_indices": chosen}
