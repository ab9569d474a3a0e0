"""SECOND (Yan et al., "SECOND: Sparsely Embedded Convolutional Detection", Sensors 2018) as
mmdetection3d's ``VoxelNet`` with the ``hv_second_secfpn`` KITTI settings.

points -> hard voxels (``voxel_layer``) -> mean VFE (``voxel_encoder``) -> sparse 3-D encoder
(``middle_encoder``) -> dense BEV map [B, 256, 200, 176] -> ``backbone`` -> ``neck`` ->
``bbox_head``. Sub-layer and parameter names are mmdet3d's, so a checkpoint converter is a key
map. The dense part (``forward_dense``: backbone, neck, head) is what ``tools/export.py``
exports; voxelization, the sparse encoder, decoding and NMS run in Python.
"""
import paddle
from paddle import nn

from ...registry import MODELS, ConfigError, check_kwargs
from ..layers.anchor3d_head import Anchor3DHead
from ..layers.second_backbone import SECONDBackbone
from ..layers.second_fpn import SECONDFPN
from ..layers.sparse_encoder import SparseEncoder
from ..layers.vfe import HardSimpleVFE, HardVoxelizer

__all__ = ["SECOND"]


def _build(cls, cfg, path):
    cfg = dict(cfg or {})
    if "type" in cfg:
        raise ConfigError(f"{path}.type: the SECOND assembly is fixed; remove the 'type' key")
    check_kwargs(cls, cfg, path)
    return cls(**cfg)


@MODELS.register()
class SECOND(nn.Layer):
    """Args (each a dict of the part's keyword arguments):
        voxel_layer: :class:`HardVoxelizer` (voxel_size, point_cloud_range, max_num_points,
            max_voxels).
        voxel_encoder: :class:`HardSimpleVFE`.
        middle_encoder: :class:`SparseEncoder`.
        backbone: :class:`SECONDBackbone`.
        neck: :class:`SECONDFPN`.
        bbox_head: :class:`Anchor3DHead` (anchors, test-time settings).
    """

    def __init__(self, voxel_layer, middle_encoder, backbone, neck, bbox_head,
                 voxel_encoder=None):
        super().__init__()
        self.voxelizer = _build(HardVoxelizer, voxel_layer, "model.voxel_layer")
        self.voxel_encoder = _build(HardSimpleVFE, voxel_encoder, "model.voxel_encoder")
        self.middle_encoder = _build(SparseEncoder, middle_encoder, "model.middle_encoder")
        self.backbone = _build(SECONDBackbone, backbone, "model.backbone")
        self.neck = _build(SECONDFPN, neck, "model.neck")
        self.bbox_head = _build(Anchor3DHead, bbox_head, "model.bbox_head")
        grid = self.voxelizer.grid_shape
        sparse = self.middle_encoder.sparse_shape
        if list(sparse[1:]) != list(grid[1:]) or sparse[0] not in (grid[0], grid[0] + 1):
            raise ConfigError(f"model.middle_encoder.sparse_shape: {sparse} does not fit the "
                              f"voxel grid {list(grid)} (Z, Y, X) of model.voxel_layer "
                              f"(expected [{grid[0] + 1}, {grid[1]}, {grid[2]}] as mmdet3d)")
        self.class_count = self.bbox_head.num_classes

    def extract_bev(self, points):
        """points: list of B [Ni, 4] tensors -> dense BEV features [B, C, H, W]."""
        voxels, num_points, coors = self.voxelizer(points, training=self.training)
        feats = self.voxel_encoder(voxels, num_points)                     # [M, 4]
        return self.middle_encoder(feats, coors, len(points))

    def forward_dense(self, spatial_features):
        """BEV features [B, C, H, W] -> head maps (the exported part)."""
        x = self.neck(self.backbone(spatial_features))
        cls_score, bbox_pred, dir_cls_pred = self.bbox_head(x)
        return {"cls_score": cls_score, "bbox_pred": bbox_pred, "dir_cls_pred": dir_cls_pred}

    def forward(self, points):
        """points: list of B float32 [Ni, 4] (x, y, z, intensity) LiDAR scans.

        Returns:
            dict: ``cls_score`` [B, A*C, H, W], ``bbox_pred`` [B, A*7, H, W],
            ``dir_cls_pred`` [B, A*2, H, W], ``anchors`` [H, W, S, R, 7] and, in eval mode,
            ``detections`` (list of per-frame dicts, see :meth:`predict_boxes`).
        """
        out = self.forward_dense(self.extract_bev(points))
        h, w = out["cls_score"].shape[2:]
        out["anchors"] = self.bbox_head.get_anchors(h, w)
        if not self.training:
            out["detections"] = self.predict_boxes(out)
        return out

    @paddle.no_grad()
    def predict_boxes(self, outputs, metas=None):
        """Decoded, NMS-ed LiDAR boxes per frame: list of dicts ``boxes_3d`` [K, 7],
        ``scores_3d`` [K], ``labels_3d`` [K] (NumPy). ``metas`` is unused (KITTI's boxes need
        no per-frame correction)."""
        return self.bbox_head.predict(outputs["cls_score"], outputs["bbox_pred"],
                                      outputs["dir_cls_pred"], outputs["anchors"])
