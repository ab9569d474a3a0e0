"""MVX-Net (Sindagi et al., "MVX-Net: Multimodal VoxelNet for 3D Object Detection", ICRA 2019),
the dynamic-voxel PointFusion variant of mmdetection3d: ``DynamicMVXFasterRCNN``
(``mmdet3d/models/detectors/mvx_two_stage.py`` / ``mvx_faster_rcnn.py``) with the
``mvxnet_fpn_dv_second_secfpn_8xb2-80e_kitti-3d-3class`` settings.

images [B, 3, H, W] (BGR minus mean, zero-padded to a multiple of ``pad_size_divisor``) ->
``img_backbone`` (ResNet, caffe style = stride in the 1x1 conv, stage 1 frozen, ``norm_eval``:
every BN uses its running statistics and has no gradient) -> ``img_neck`` (FPN, BN frozen the
same way, ``num_outs`` levels: extra levels are mmdet's stride-2 max pool of the last).
points -> dynamic voxels (:func:`paddlexseg.ops.dynamic_scatter.dynamic_voxelize`, points
outside the range dropped) -> ``pts_voxel_encoder`` (:class:`DynamicVFE` whose
``fusion_layer`` (e.g. :class:`~paddlexseg.models.fusion.point_fusion.PointFusion`) samples
the image features at each point's projection) -> the SECOND parts of
:mod:`paddlexseg.models.detectors.second` (``pts_middle_encoder``, ``pts_backbone``,
``pts_neck``, ``pts_bbox_head``), same outputs, losses and decoding.
"""
import paddle
from paddle import nn
import paddle.nn.functional as F

from ...registry import MODELS, ConfigError, check_kwargs
from ...ops.dynamic_scatter import dynamic_voxelize
from ...ops.voxelize import voxel_grid_shape
from ..backbones.resnet import ResNet
from ..fusion.base import build_fusion_layer
from ..layers.anchor3d_head import Anchor3DHead
from ..layers.dynamic_vfe import DynamicVFE
from ..layers.fpn import FPN
from ..layers.second_backbone import SECONDBackbone
from ..layers.second_fpn import SECONDFPN
from ..layers.sparse_encoder import SparseEncoder

__all__ = ["DynamicMVXFasterRCNN", "freeze_norm"]


def _build(cls, cfg, path, drop=()):
    cfg = {k: v for k, v in dict(cfg or {}).items() if k not in drop}
    if "type" in cfg:
        raise ConfigError(f"{path}.type: the MVX-Net assembly is fixed; remove the 'type' key")
    check_kwargs(cls, cfg, path)
    return cls(**cfg)


def freeze_norm(layer):
    """mmdet ``norm_eval=True`` with ``requires_grad=False`` BN: every BatchNorm below ``layer``
    uses its running statistics in training too and its affine parameters get no gradient."""
    for sub in layer.sublayers(include_self=True):
        if isinstance(sub, nn.layer.norm._BatchNormBase):
            sub._use_global_stats = True
            for p in sub.parameters():
                p.stop_gradient = True


class ImageNeck(nn.Layer):
    """mmdet ``FPN(in_channels, out_channels, num_outs)`` with ``add_extra_convs=False``:
    :class:`paddlexseg.models.layers.fpn.FPN` plus ``num_outs - len(in_channels)`` levels,
    each ``max_pool2d(kernel 1, stride 2)`` of the previous (mmdet's extra outputs)."""

    def __init__(self, in_channels, in_strides, out_channels=256, num_outs=5, norm="BN"):
        super().__init__()
        if num_outs < len(in_channels):
            raise ConfigError(f"model.img_neck.num_outs: {num_outs} is below the "
                              f"{len(in_channels)} input levels")
        self.fpn = FPN(in_channels, in_strides, out_channels, norm=norm)
        self.num_outs, self.out_channels = int(num_outs), int(out_channels)

    def forward(self, feats):
        outs = list(self.fpn(feats).values())                  # p2..p5, high resolution first
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return outs


@MODELS.register()
class DynamicMVXFasterRCNN(nn.Layer):
    """Args (each a dict of the part's keyword arguments, mmdet3d names):
        img_backbone: :class:`ResNet` (+ ``norm_eval``: freeze every BN, default True).
        img_neck: :class:`ImageNeck` (``out_channels``, ``num_outs``, ``norm``; + ``norm_eval``).
        pts_voxel_encoder: :class:`DynamicVFE` (with ``fusion_layer``).
        pts_middle_encoder / pts_backbone / pts_neck / pts_bbox_head: as SECOND.
        pad_size_divisor: images are zero-padded to a multiple of it (32).
        bev_fusion: optional BEV-level fusion module (``type:`` from
            :data:`paddlexseg.models.fusion.FUSION_LAYERS`, e.g. ``GraphBEVFusion``,
            ``ChannelExchange``) applied to the sparse encoder's BEV map before ``pts_backbone``.
    """

    def __init__(self, img_backbone, img_neck, pts_voxel_encoder, pts_middle_encoder,
                 pts_backbone, pts_neck, pts_bbox_head, pad_size_divisor=32, bev_fusion=None):
        super().__init__()
        img_backbone, img_neck = dict(img_backbone), dict(img_neck)
        self.img_backbone = _build(ResNet, img_backbone, "model.img_backbone", ("norm_eval",))
        if img_backbone.get("norm_eval", True):
            freeze_norm(self.img_backbone)
        self.img_neck = _build(ImageNeck, dict(img_neck, in_channels=self.img_backbone.out_channels,
                                               in_strides=self.img_backbone.out_strides),
                               "model.img_neck", ("norm_eval",))
        if img_neck.get("norm_eval", True):
            freeze_norm(self.img_neck)
        self.pts_voxel_encoder = _build(DynamicVFE, pts_voxel_encoder, "model.pts_voxel_encoder")
        self.pts_middle_encoder = _build(SparseEncoder, pts_middle_encoder,
                                         "model.pts_middle_encoder")
        self.bev_fusion = None if bev_fusion is None else \
            build_fusion_layer(bev_fusion, "model.bev_fusion", level="bev")
        self.pts_backbone = _build(SECONDBackbone, pts_backbone, "model.pts_backbone")
        self.pts_neck = _build(SECONDFPN, pts_neck, "model.pts_neck")
        self.pts_bbox_head = _build(Anchor3DHead, pts_bbox_head, "model.pts_bbox_head")
        self.pad_size_divisor = int(pad_size_divisor)
        vfe = self.pts_voxel_encoder
        self.voxel_size = [vfe.vx, vfe.vy, vfe.vz]
        self.point_cloud_range = vfe.point_cloud_range
        grid = voxel_grid_shape(self.voxel_size, self.point_cloud_range)
        sparse = self.pts_middle_encoder.sparse_shape
        if list(sparse[1:]) != list(grid[1:]) or sparse[0] not in (grid[0], grid[0] + 1):
            raise ConfigError(f"model.pts_middle_encoder.sparse_shape: {sparse} does not fit "
                              f"the voxel grid {list(grid)} (Z, Y, X) of "
                              f"model.pts_voxel_encoder (expected [{grid[0] + 1}, {grid[1]}, "
                              f"{grid[2]}])")
        if self.pts_middle_encoder.in_channels != vfe.out_channels:
            raise ConfigError(f"model.pts_middle_encoder.in_channels: "
                              f"{self.pts_middle_encoder.in_channels} but the voxel encoder "
                              f"outputs {vfe.out_channels}")
        self.class_count = self.pts_bbox_head.num_classes

    def extract_img_feat(self, images):
        """images [B, 3, H, W] -> (list of image levels, padded (H, W))."""
        h, w = images.shape[2:]
        d = self.pad_size_divisor
        ph, pw = -(-h // d) * d, -(-w // d) * d
        if (ph, pw) != (h, w):
            images = F.pad(images, [0, pw - w, 0, ph - h], data_format="NCHW")
        return self.img_neck(self.img_backbone(images)), (ph, pw)

    def voxelize(self, points):
        """Per-frame points -> (kept points per frame, features [N, C], coors int32 [N, 4])."""
        kept, coors = [], []
        for b, pts in enumerate(points):
            c = dynamic_voxelize(pts, self.voxel_size, self.point_cloud_range)   # [Ni, 3]
            idx = paddle.nonzero((c >= 0).all(axis=1)).flatten()
            kept.append(paddle.gather(pts, idx))
            c = paddle.gather(c, idx)
            coors.append(paddle.concat([paddle.full([c.shape[0], 1], b, "int32"), c], axis=1))
        return kept, paddle.concat(kept, axis=0), paddle.concat(coors, axis=0)

    def extract_pts_feat(self, points, img_feats=None, metas=None, pad_shape=None):
        """points (list of [Ni, 4]) (+ image levels) -> dense BEV map [B, C, H, W]."""
        kept, feats, coors = self.voxelize(points)
        voxel_feats, voxel_coors = self.pts_voxel_encoder(feats, coors, kept, img_feats, metas,
                                                          pad_shape)
        bev = self.pts_middle_encoder(voxel_feats, voxel_coors, len(points))
        if self.bev_fusion is not None and img_feats is not None:
            bev = self.bev_fusion(bev, img_feats, metas, pad_shape, kept)
        return bev

    def fusion_layers(self):
        """The fusion modules of this model (point level, BEV level)."""
        return [m for m in (self.pts_voxel_encoder.fusion_layer, self.bev_fusion)
                if m is not None]

    def forward_dense(self, spatial_features):
        """BEV features [B, C, H, W] -> head maps (SECOND backbone, neck and head)."""
        x = self.pts_neck(self.pts_backbone(spatial_features))
        cls_score, bbox_pred, dir_cls_pred = self.pts_bbox_head(x)
        return {"cls_score": cls_score, "bbox_pred": bbox_pred, "dir_cls_pred": dir_cls_pred}

    def forward(self, points, images=None, metas=None):
        """points: B float32 [Ni, 4] LiDAR scans (augmented); images [B, 3, H, W]; metas: the
        DetBatch metas (calib, augmentation record, image scale / flip). Without images and
        with a fusion layer the model refuses (a fusion model must see its camera).

        Returns the SECOND outputs (``cls_score``, ``bbox_pred``, ``dir_cls_pred``,
        ``anchors`` and, in eval mode, ``detections``).
        """
        img_feats = pad_shape = None
        if self.fusion_layers():
            if images is None or metas is None:
                raise ValueError("DynamicMVXFasterRCNN: the fusion layer needs images and metas "
                                 "(set load_image: true in the dataset config)")
            img_feats, pad_shape = self.extract_img_feat(images)
        bev = self.extract_pts_feat(points, img_feats, metas, pad_shape)
        out = self.forward_dense(bev)
        h, w = out["cls_score"].shape[2:]
        out["anchors"] = self.pts_bbox_head.get_anchors(h, w)
        aux = [v for m in self.fusion_layers() for v in m.aux_losses().values()]
        out["fusion_aux_loss"] = paddle.add_n(aux) if aux else paddle.zeros([])
        if not self.training:
            out["detections"] = self.predict_boxes(out)
        return out

    @paddle.no_grad()
    def predict_boxes(self, outputs, metas=None):
        """Decoded, NMS-ed LiDAR boxes per frame (as :meth:`SECOND.predict_boxes`)."""
        return self.pts_bbox_head.predict(outputs["cls_score"], outputs["bbox_pred"],
                                          outputs["dir_cls_pred"], outputs["anchors"])
