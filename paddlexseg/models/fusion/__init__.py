"""Camera-LiDAR fusion modules behind one small interface (:mod:`.base`), selected by
``type:`` in a config (MVX-Net's ``fusion_layer``)."""
from paddlexseg._autoimport import import_submodules

from .base import FUSION_LAYERS, BEVFusionLayer, PointFusionLayer, build_fusion_layer

__all__ = ["FUSION_LAYERS", "PointFusionLayer", "BEVFusionLayer", "build_fusion_layer"]

import_submodules(__name__, __path__)
