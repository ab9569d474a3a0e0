"""Every config under configs/mvxnet/ loads and builds; the KITTI one has mmdet3d's shapes."""
import glob
import os

import pytest

from paddlexseg.config import load_config
from paddlexseg.engine.builder import build_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = [p for p in sorted(glob.glob(os.path.join(ROOT, "configs", "mvxnet", "*.yml")))
           if "kitti-3d-3class" not in p]           # the full one is built above


def test_kitti_config_has_mmdet3d_shapes():
    cfg = load_config(os.path.join(ROOT, "configs", "mvxnet",
                                   "mvxnet_fpn_dv_second_secfpn_kitti-3d-3class.yml"))
    params = {k: list(v.shape) for k, v in build_model(cfg).named_parameters()}
    fusion = "pts_voxel_encoder.fusion_layer."
    assert params[fusion + "lateral_convs.4.weight"] == [128, 256, 3, 3]
    assert params[fusion + "img_transform.0.weight"] == [640, 128]      # Paddle Linear: [in, out]
    assert params[fusion + "pts_transform.0.weight"] == [64, 128]
    assert params["pts_voxel_encoder.vfe_layers.0.0.weight"] == [10, 64]
    assert params["pts_voxel_encoder.vfe_layers.1.0.weight"] == [128, 64]
    assert params["img_backbone.layer4.2.conv3.weight"] == [2048, 512, 1, 1]
    assert params["img_backbone.layer2.0.conv1.weight"] == [128, 256, 1, 1]
    assert params["img_neck.fpn.fpn_lateral5.weight"] == [256, 2048, 1, 1]
    assert params["pts_bbox_head.conv_cls.weight"] == [18, 512, 1, 1]
    assert cfg["optimizer"]["clip_grad_norm"] == 35
    assert cfg["lr_scheduler"]["learning_rate"] == 0.003


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_builds(path):
    cfg = load_config(path)
    model = build_model(cfg)
    if "lidar-only" in path:                 # the fusion ablation's control: no camera at all
        assert not model.fusion_layers()
        assert not cfg["train_dataset"]["load_image"] and not cfg["val_dataset"]["load_image"]
        return
    assert cfg["train_dataset"]["load_image"] and cfg["val_dataset"]["load_image"]
    assert model.pts_voxel_encoder.fusion_layer is not None or \
        getattr(model, "bev_fusion", None) is not None
