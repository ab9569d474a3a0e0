"""detectron2 PointRend semantic FPN checkpoints -> :class:`paddlexseg.models.PointRendFPN`.

detectron2 (``projects/PointRend``) names, with ``s`` = 2..5, ``b`` = block, ``k`` = 1..3::

    backbone.bottom_up.stem.conv1.weight            -> backbone.conv1.weight (BGR -> RGB, below)
    backbone.bottom_up.stem.conv1.norm.*            -> backbone.bn1.*
    backbone.bottom_up.res{s}.{b}.conv{k}.weight    -> backbone.layer{s-1}.{b}.conv{k}.weight
    backbone.bottom_up.res{s}.{b}.conv{k}.norm.*    -> backbone.layer{s-1}.{b}.bn{k}.*
    backbone.bottom_up.res{s}.{b}.shortcut.weight   -> backbone.layer{s-1}.{b}.downsample.0.weight
    backbone.bottom_up.res{s}.{b}.shortcut.norm.*   -> backbone.layer{s-1}.{b}.downsample.1.*
    backbone.fpn_{lateral,output}{s}.{weight,bias}  -> fpn.fpn_{lateral,output}{s}.*
    sem_seg_head.coarse_sem_seg_head.*              -> coarse_sem_seg_head.* (p2.0..p5.4, predictor)
    sem_seg_head.point_head.*                       -> point_head.*          (fc1..fc3, predictor)

The backbone norms are FrozenBatchNorm2d (buffers weight, bias, running_mean, running_var;
eps 1e-5, no counter), the head norms GroupNorm(32). ``pixel_mean``/``pixel_std`` (stored by
older detectron2 versions) are dropped. Conv1d point-head weights ``[out, in, 1]`` equal Paddle
``Conv1D``'s. detectron2 feeds BGR images; the stem conv's input channels are reversed
(``bgr_to_rgb``) so the converted model takes the RGB images paddlexseg's datasets produce.
"""
from .core import ArchSpec, Drop, Rule

__all__ = ["POINTREND_RULES", "POINTREND_HEAD_RULES", "ARCHS", "PIXEL_MEAN_RGB",
           "PIXEL_STD_RGB"]

_BB = r"backbone\.bottom_up\."
_RES = _BB + r"res([2-5])\.(\d+)\."

# detectron2's PIXEL_MEAN (BGR, 0..255) [103.530, 116.280, 123.675], std 1, as the arguments of
# paddlexseg's Normalize ((image / 255 - mean) / std on RGB images)
PIXEL_MEAN_RGB = (0.485, 0.456, 0.406)
PIXEL_STD_RGB = (1.0 / 255.0,) * 3


def _layer(m, rest):
    return f"backbone.layer{int(m.group(1)) - 1}.{m.group(2)}.{rest}"


POINTREND_RULES = [
    Drop(r"pixel_(mean|std)", "input normalisation constants; paddlexseg applies them in the "
                              "Normalize transform (see the report notes)"),
    Rule(_BB + r"stem\.conv1\.weight", "backbone.conv1.weight", "bgr_to_rgb"),
    Rule(_BB + r"stem\.conv1\.norm\.(\w+)", r"backbone.bn1.\1"),
    Rule(_RES + r"conv([1-3])\.weight", lambda m: _layer(m, f"conv{m.group(3)}.weight")),
    Rule(_RES + r"conv([1-3])\.norm\.(\w+)", lambda m: _layer(m, f"bn{m.group(3)}.{m.group(4)}")),
    Rule(_RES + r"shortcut\.weight", lambda m: _layer(m, "downsample.0.weight")),
    Rule(_RES + r"shortcut\.norm\.(\w+)", lambda m: _layer(m, f"downsample.1.{m.group(3)}")),
    Rule(r"backbone\.(fpn_(?:lateral|output)[2-5]\.\w+)", r"fpn.\1"),
    Rule(r"sem_seg_head\.coarse_sem_seg_head\.(.+)", r"coarse_sem_seg_head.\1"),
    Rule(r"sem_seg_head\.point_head\.(.+)", r"point_head.\1"),
]

_NOTES = (
    "PointRend: detectron2's MSRA ResNets put the stride on the first 1x1 conv of a bottleneck: "
    "the converted weights need model.backbone.stride_in_1x1: true (wrong predictions, but no "
    "load error, without it).",
    "PointRend: conv1 was converted to take RGB; normalise with Normalize(mean=[0.485, 0.456, "
    "0.406], std=[0.00392157, 0.00392157, 0.00392157]) (= detectron2's BGR pixel_mean "
    "[103.53, 116.28, 123.675], std 1 on 0..255 images) instead of the ImageNet mean/std.",
    "PointRend: detectron2 evaluates Cityscapes at 1024 x 2048 (MIN_SIZE_TEST 1024), zero-padded "
    "(after normalisation) to a multiple of 32, as PointRendFPN's eval forward.",
    "PointRend: the backbone norms were FrozenBatchNorm2d; the Paddle BatchNorm2D layers equal "
    "them in eval mode but update their statistics when fine-tuned (see ResNet frozen_stages).",
)


def _pointrend(depth):
    published = ("https://dl.fbaipublicfiles.com/detectron2/PointRend/SemanticSegmentation/"
                 "pointrend_semantic_R_101_FPN_1x_cityscapes/202576688/model_final_cf6ac1.pkl "
                 "(detectron2 projects/PointRend/README.md)" if depth == 101 else
                 "no official semantic R-50 checkpoint: converts detectron2 checkpoints trained "
                 "with pointrend_semantic_R_101_FPN_1x_cityscapes.yaml and "
                 "MODEL.RESNETS.DEPTH 50")
    return ArchSpec(
        name=f"pointrend-r{depth}",
        model={"type": "PointRendFPN", "num_classes": 19,
               "backbone": {"type": "ResNet", "depth": depth, "variant": "b",
                            "stride_in_1x1": True, "pretrained": None},
               "fpn_channels": 256, "head_conv_dims": 128, "head_norm": "GN",
               "common_stride": 4, "point_in_features": ["p2"], "fc_dim": 256, "num_fc": 3,
               "coarse_pred_each_layer": False, "train_num_points": 2048,
               "oversample_ratio": 3, "importance_sample_ratio": 0.75,
               "subdivision_steps": 2, "subdivision_num_points": 8192},
        rules=POINTREND_RULES,
        description=f"PointRend + Semantic FPN, ResNet-{depth}, Cityscapes (detectron2)",
        sources="one detectron2 checkpoint (.pkl from the model zoo, or a .pth of a "
                "detectron2 training run)",
        published=published,
        config=f"configs/pointrend/pointrend_resnet{depth}_cityscapes_80k.yml "
               f"(with the backbone and Normalize overrides of the notes)",
        notes=_NOTES,
    )


POINTREND_HEAD_RULES = [
    Drop(r"pixel_(mean|std)", "input normalisation constants"),
    Drop(r"backbone\..+", "backbone / FPN: not part of the head-only model"),
    Rule(r"sem_seg_head\.coarse_sem_seg_head\.(.+)", r"coarse_sem_seg_head.\1"),
    Rule(r"sem_seg_head\.point_head\.(.+)", r"point_head.\1"),
]

_HEAD = ArchSpec(
    name="pointrend-head",
    model={"type": "PointRendSemSegHead", "num_classes": 19, "fpn_channels": 256,
           "head_conv_dims": 128, "head_norm": "GN", "common_stride": 4,
           "point_in_features": ["p2"], "fc_dim": 256, "num_fc": 3,
           "coarse_pred_each_layer": False, "train_num_points": 2048, "oversample_ratio": 3,
           "importance_sample_ratio": 0.75, "subdivision_steps": 2,
           "subdivision_num_points": 8192},
    rules=POINTREND_HEAD_RULES,
    description="PointRend semantic head alone (detectron2 sem_seg_head: coarse Semantic FPN "
                "head + point head), on given FPN features, for parity checks",
    sources="a detectron2 checkpoint, or a state dict of its sem_seg_head.* keys alone "
            "(backbone keys are dropped)",
    published="the sem_seg_head.* part of the pointrend-r101 checkpoint",
    config="configs/pointrend/pointrend_resnet101_cityscapes_80k.yml (its head; "
           "PointRendSemSegHead in Python)",
    notes=("PointRend head-only: PointRendSemSegHead.forward(p2, p3, p4, p5, point_coords=None) "
           "takes detectron2's FPN features; in eval it returns the refined logits and the "
           "point indices chosen at every subdivision step.",),
)

ARCHS = {spec.name: spec for spec in (_pointrend(50), _pointrend(101), _HEAD)}
