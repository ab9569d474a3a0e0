"""The fusion interface shared by MVX-Net and the fusion zoo.

Two kinds of module, chosen by ``type:`` from :data:`FUSION_LAYERS`:

* :class:`PointFusionLayer` (point level, inside the voxel encoder, mmdet3d's ``fusion_layer``
  of ``DynamicVFE``):
  ``forward(img_feats, points, pts_feats, metas, pad_shape) -> [N, out_channels]``
  where ``img_feats`` is the list of image feature maps [B, C_l, H_l, W_l], ``points`` the B
  per-frame point tensors [Ni, >=3] (augmented LiDAR frame), ``pts_feats`` [sum Ni, C] the point
  features in the same order and ``metas`` DetBatch's per-frame dicts (calib, augmentation
  record, image resize / flip); ``pad_shape`` is the (H, W) of the padded image input.
* :class:`BEVFusionLayer` (BEV level, between the sparse encoder and the BEV backbone):
  ``forward(bev, img_feats, metas) -> [B, out_channels, H, W]``.

A module may return extra loss terms through ``aux_losses()`` (e.g. CEN's L1 on BN gammas).
"""
from paddle import nn

from ...registry import ConfigError, Registry

__all__ = ["FUSION_LAYERS", "PointFusionLayer", "BEVFusionLayer", "build_fusion_layer"]

FUSION_LAYERS = Registry("fusion_layer")


class PointFusionLayer(nn.Layer):
    """Base of point-level fusion: subclasses set ``out_channels`` and implement
    ``forward(img_feats, points, pts_feats, metas, pad_shape)``."""

    level = "point"
    out_channels = None

    def aux_losses(self):
        """Extra loss terms of the last forward (dict name -> scalar Tensor)."""
        return {}


class BEVFusionLayer(nn.Layer):
    """Base of BEV-level fusion: subclasses set ``out_channels`` and implement
    ``forward(bev, img_feats, metas)``."""

    level = "bev"
    out_channels = None

    def aux_losses(self):
        return {}


def build_fusion_layer(cfg, path, level=None):
    """Build a fusion module from ``{type: ..., **kwargs}``; ``level`` ('point' / 'bev')
    checks it is used where it fits (ConfigError naming ``path``)."""
    layer = FUSION_LAYERS.build(cfg, path=path)
    if level is not None and layer.level != level:
        raise ConfigError(f"{path}.type: {cfg['type']} is a {layer.level}-level fusion module; "
                          f"this place needs a {level}-level one")
    return layer
