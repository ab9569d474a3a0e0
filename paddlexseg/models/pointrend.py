"""PointRend on Semantic FPN for semantic segmentation.

Kirillov, Wu, He, Girshick, "PointRend: Image Segmentation as Rendering", CVPR 2020; port of
detectron2 ``projects/PointRend`` (``semantic_seg.py``, ``point_head.py``) with the
``pointrend_semantic_R_101_FPN_1x_cityscapes`` settings as defaults.

Train mode returns the coarse logits at stride 4 (the loss upsamples them to the label size) and
the point logits at 2048 points chosen by uncertainty (k=3, beta=0.75); eval mode refines the
coarse logits by adaptive subdivision (2 steps of bilinear x2 upsampling, the 8192 most
uncertain cells re-predicted by the point head) and returns logits at the input size.

detectron2 checkpoint keys map as (:func:`detectron2_to_paddle_key`):
``backbone.bottom_up.*`` -> ``backbone.*`` (see ``backbones/resnet.py``),
``backbone.fpn_*`` -> ``fpn.fpn_*``, ``sem_seg_head.coarse_sem_seg_head.*`` ->
``coarse_sem_seg_head.*``, ``sem_seg_head.point_head.*`` -> ``point_head.*``, with batch-norm
``running_mean``/``running_var`` -> ``_mean``/``_variance``; all weights keep their layout.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..ops.scatter import scatter
from ..registry import BACKBONES, MODELS
from .backbones.resnet import detectron2_to_paddle_key as _resnet_key
from .layers.fpn import FPN, SemSegFPNHead
from .layers.point_sample import (calculate_uncertainty, get_uncertain_point_coords_on_grid,
                                  get_uncertain_point_coords_with_randomness, point_sample)

__all__ = ["StandardPointHead", "PointRendRefiner", "PointRendFPN", "detectron2_to_paddle_key"]


class StandardPointHead(nn.Layer):
    """Point MLP as 1x1 Conv1D layers over [fine-grained features, coarse logits] per point.

    Args:
        in_channels: channels of the fine-grained features (256 for p2).
        num_classes: classes predicted per point (also the coarse feature channels).
        fc_dim: width of each hidden layer (256). num_fc: number of hidden layers (3).
        coarse_pred_each_layer: concatenate the coarse logits to every hidden layer's input
            (detectron2's semantic-segmentation configs: False).
    """

    def __init__(self, in_channels=256, num_classes=19, fc_dim=256, num_fc=3,
                 coarse_pred_each_layer=False):
        super().__init__()
        self.coarse_pred_each_layer = coarse_pred_each_layer
        msra = nn.initializer.KaimingNormal(nonlinearity="relu", mode="fan_out")
        zero = nn.initializer.Constant(0.0)
        dim_in = in_channels + num_classes
        self.fc_layers = []
        for k in range(num_fc):
            fc = nn.Conv1D(dim_in, fc_dim, 1, weight_attr=paddle.ParamAttr(initializer=msra),
                           bias_attr=paddle.ParamAttr(initializer=zero))
            self.add_sublayer(f"fc{k + 1}", fc)
            self.fc_layers.append(fc)
            dim_in = fc_dim + (num_classes if coarse_pred_each_layer else 0)
        self.predictor = nn.Conv1D(
            dim_in, num_classes, 1,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.Normal(std=0.001)),
            bias_attr=paddle.ParamAttr(initializer=zero))

    def forward(self, fine_grained_features, coarse_features):
        """[N, C_fine, P], [N, num_classes, P] -> point logits [N, num_classes, P]."""
        x = paddle.concat([fine_grained_features, coarse_features], axis=1)
        for fc in self.fc_layers:
            x = F.relu(fc(x))
            if self.coarse_pred_each_layer:
                x = paddle.concat([x, coarse_features], axis=1)
        return self.predictor(x)


class PointRendRefiner:
    """The point logic shared by :class:`PointRendFPN` and the head-only
    :class:`~paddlexseg.models.pointrend_head.PointRendSemSegHead` (public parity hooks).

    Needs the attributes ``point_head``, ``point_in_features``, ``num_classes``,
    ``train_num_points``, ``oversample_ratio``, ``importance_sample_ratio``,
    ``subdivision_steps`` and ``subdivision_num_points``.
    """

    def fine_features(self, feats, point_coords):
        """FPN features at points: {level: [B, C, h, w]}, [B, P, 2] in [0, 1] -> [B, C', P]."""
        parts = [point_sample(feats[f], point_coords, align_corners=False)
                 for f in self.point_in_features]
        return parts[0] if len(parts) == 1 else paddle.concat(parts, axis=1)  # [B, 256, P]

    def training_points(self, coarse, point_coords=None):
        """The training points [B, P, 2] (x, y in [0, 1]): ``point_coords`` when given (e.g.
        recorded from the original), else detectron2's uncertainty sampling with randomness."""
        if point_coords is not None:
            if point_coords.ndim != 3 or point_coords.shape[0] != coarse.shape[0] or \
                    point_coords.shape[2] != 2:
                raise ValueError(f"PointRend: point_coords must be [B, P, 2] with B = "
                                 f"{coarse.shape[0]}, got {list(point_coords.shape)}")
            return point_coords.astype(coarse.dtype)
        return get_uncertain_point_coords_with_randomness(
            coarse, calculate_uncertainty, self.train_num_points, self.oversample_ratio,
            self.importance_sample_ratio)

    def point_logits(self, feats, coarse, point_coords):
        """Point head at ``point_coords`` [B, P, 2] -> [B, num_classes, P]."""
        coarse_features = point_sample(coarse, point_coords, align_corners=False)
        return self.point_head(self.fine_features(feats, point_coords), coarse_features)

    def refine(self, feats, coarse):
        """Adaptive subdivision: upsample x2, re-predict the most uncertain cells, repeat.

        Args:
            feats: FPN features ``{"p2": [B, C, H/4, W/4], ...}``.
            coarse: coarse logits [B, num_classes, h, w].

        Returns:
            (refined logits [B, num_classes, h * 2^steps, w * 2^steps], list with one int64
            [B, P] tensor per subdivision step: the flat indices (row * width + col) of the
            cells re-predicted at that step, as detectron2's ``point_indices``).
        """
        logits = coarse
        c = self.num_classes
        chosen = []
        for _ in range(self.subdivision_steps):
            logits = F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=False)
            _, _, h, w = logits.shape
            uncertainty = calculate_uncertainty(logits)  # [B, 1, h, w]
            point_indices, point_coords = get_uncertain_point_coords_on_grid(
                uncertainty, self.subdivision_num_points)  # [B, P], [B, P, 2]
            point_logits = self.point_logits(feats, coarse, point_coords)  # [B, C, P]
            index = point_indices.unsqueeze(1).expand([-1, c, -1])  # [B, C, P]
            flat = logits.reshape([-1, c, h * w])
            logits = _write_points(flat, index, point_logits).reshape([-1, c, h, w])
            chosen.append(point_indices)
        return logits, chosen


@MODELS.register()
class PointRendFPN(PointRendRefiner, nn.Layer):
    """ResNet + FPN + Semantic FPN coarse head + PointRend point head.

    Args:
        backbone: backbone config, e.g. ``{type: ResNet, depth: 101}`` (C2..C5 outputs).
        num_classes: number of classes (19 for Cityscapes).
        fpn_channels: FPN width (256). fpn_norm: FPN norm ("" as detectron2).
        head_conv_dims: Semantic FPN conv width (128). head_norm: its norm ("GN").
        common_stride: stride of the coarse logits (4).
        point_in_features: pyramid levels sampled as fine-grained point features (("p2",)).
        fc_dim, num_fc, coarse_pred_each_layer: point head (256, 3, False).
        train_num_points: points per image in training (2048).
        oversample_ratio, importance_sample_ratio: training point selection (3, 0.75).
        subdivision_steps, subdivision_num_points: inference refinement (2, 8192).
        size_divisibility: inputs are padded (eval) or required (train) to a multiple of this
            (32 = the FPN's coarsest stride).

    Outputs (train): ``logits`` [B, C, H/4, W/4] coarse, ``point_logits`` [B, C, P],
    ``point_coords`` [B, P, 2] in [0, 1] (x, y). Outputs (eval): ``logits`` [B, C, H, W]
    refined, ``coarse_logits`` [B, C, H, W] bilinearly upsampled coarse logits.

    Parity hooks: ``forward(image, point_coords=...)`` trains on given points instead of
    sampled ones; :meth:`features` (FPN features and coarse logits), :meth:`refine` (refined
    logits and the chosen point indices per step) and :meth:`point_logits` are public.

    The eval forward survives ``paddle.jit.to_static`` with ``InputSpec([None, 3, H, W])``
    (H and W fixed: padding and subdivision use Python ints); a saved program returns the dict
    as a list in sorted-key order (``coarse_logits``, ``logits``).
    """

    def __init__(self, backbone, num_classes=19, fpn_channels=256, fpn_norm="", head_conv_dims=128,
                 head_norm="GN", common_stride=4, point_in_features=("p2",), fc_dim=256, num_fc=3,
                 coarse_pred_each_layer=False, train_num_points=2048, oversample_ratio=3,
                 importance_sample_ratio=0.75, subdivision_steps=2, subdivision_num_points=8192,
                 size_divisibility=32):
        super().__init__()
        self.backbone = BACKBONES.build(backbone, path="model.backbone")
        in_channels = list(self.backbone.out_channels)
        in_strides = list(self.backbone.out_strides)
        self.fpn = FPN(in_channels=in_channels, in_strides=in_strides, out_channels=fpn_channels,
                       norm=fpn_norm)
        levels = list(self.fpn.out_strides)
        for f in point_in_features:
            if f not in levels:
                raise ValueError(f"model.point_in_features: '{f}' is not an FPN level; "
                                 f"available: {levels}")
        self.coarse_sem_seg_head = SemSegFPNHead(
            in_features=levels, in_strides=[self.fpn.out_strides[f] for f in levels],
            in_channels=fpn_channels, num_classes=num_classes, conv_dims=head_conv_dims,
            common_stride=common_stride, norm=head_norm)
        self.point_head = StandardPointHead(
            in_channels=fpn_channels * len(point_in_features), num_classes=num_classes,
            fc_dim=fc_dim, num_fc=num_fc, coarse_pred_each_layer=coarse_pred_each_layer)
        self.num_classes = num_classes
        self.point_in_features = list(point_in_features)
        self.train_num_points = int(train_num_points)
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.subdivision_steps = int(subdivision_steps)
        self.subdivision_num_points = int(subdivision_num_points)
        self.size_divisibility = int(size_divisibility)

    def features(self, image):
        """image [B, 3, H, W] -> (FPN features {"p2": [B, 256, H/4, W/4], ...}, coarse logits
        [B, C, H/4, W/4])."""
        feats = self.fpn(self.backbone(image))
        return feats, self.coarse_sem_seg_head(feats)

    def forward(self, image, point_coords=None):
        """image: float [B, 3, H, W] normalized -> dict of outputs (see class docstring).

        ``point_coords`` (training only): float [B, P, 2] (x, y in [0, 1]) points for the
        point head instead of the uncertainty-sampled ones (e.g. recorded from detectron2).
        """
        h, w = image.shape[2], image.shape[3]
        d = self.size_divisibility
        if self.training:
            if h % d or w % d:
                raise ValueError(f"PointRendFPN: training input {h}x{w} must be divisible by "
                                 f"{d}; crop to e.g. 512x1024 (RandomPaddingCrop)")
            feats, coarse = self.features(image)
            point_coords = self.training_points(coarse, point_coords)  # [B, P, 2]
            point_logits = self.point_logits(feats, coarse, point_coords)  # [B, C, P]
            return {"logits": coarse, "point_logits": point_logits, "point_coords": point_coords}

        pad_h, pad_w = (-h) % d, (-w) % d
        if pad_h or pad_w:  # zero padding at the bottom/right, as detectron2's ImageList
            image = F.pad(image, [0, pad_w, 0, pad_h], mode="constant", value=0.0)
        feats, coarse = self.features(image)
        logits, _ = self.refine(feats, coarse)
        full_h, full_w = h + pad_h, w + pad_w
        logits = self._resize(logits, full_h, full_w)
        coarse_up = self._resize(coarse, full_h, full_w)
        if pad_h or pad_w:
            logits = logits[:, :, :h, :w]
            coarse_up = coarse_up[:, :, :h, :w]
        return {"logits": logits, "coarse_logits": coarse_up}

    @staticmethod
    def _resize(x, h, w):
        if x.shape[2] == h and x.shape[3] == w:
            return x
        return F.interpolate(x, size=[h, w], mode="bilinear", align_corners=False)


def _write_points(flat, index, point_logits):
    """``flat.scatter_(2, index, point_logits)`` of torch: [B, C, N] <- [B, C, P] at index.

    Eager mode uses ``ops.scatter`` (index checks, torch gradients); inside
    ``paddle.jit.to_static`` the same ``put_along_axis`` assignment is traced directly, since
    the op's eager argument checks cannot run on static values (the indices come from ``topk``
    and are in range by construction).
    """
    if paddle.in_dynamic_mode():
        return scatter(flat, 2, index, point_logits)
    return paddle.put_along_axis(flat, index, point_logits, 2, reduce="assign", broadcast=False)


def detectron2_to_paddle_key(key):
    """Map a detectron2 PointRend semantic-segmentation key to this model (None = drop)."""
    if key.startswith("backbone.bottom_up."):
        sub = _resnet_key(key[len("backbone.bottom_up."):])
        return None if sub is None else "backbone." + sub
    renames = {"running_mean": "_mean", "running_var": "_variance"}
    for src, dst in (("backbone.fpn_", "fpn.fpn_"),
                     ("sem_seg_head.coarse_sem_seg_head.", "coarse_sem_seg_head."),
                     ("sem_seg_head.point_head.", "point_head.")):
        if key.startswith(src):
            if key.endswith("num_batches_tracked"):
                return None
            head, _, last = (dst + key[len(src):]).rpartition(".")
            return f"{head}.{renames.get(last, last)}"
    if key in ("pixel_mean", "pixel_std"):
        return None
    raise KeyError(f"detectron2 PointRend key '{key}' has no Paddle counterpart")
