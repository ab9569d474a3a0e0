"""mmdetection3d SECOND and MVX-Net checkpoints -> :class:`paddlexseg.models.SECOND` /
:class:`paddlexseg.models.DynamicMVXFasterRCNN`.

The ``.pth`` files of the mmdet3d model zoo hold ``{"meta": ..., "state_dict": ...}`` (plus
``optimizer`` / ``message_hub`` in 1.x); the converter reads ``state_dict``. Module names
(``mmdet3d/models``: ``middle_encoders/sparse_encoder.py``, ``voxel_encoders/voxel_encoder.py``,
``layers/fusion_layers/point_fusion.py``, ``backbones/second.py``, ``necks/second_fpn.py``,
``dense_heads/anchor3d_head.py``; mmdet ``ResNet`` / ``FPN``), with ``pts_`` in front of the
LiDAR parts of MVX-Net::

    middle_encoder.conv_input.{0 SubMConv3d, 1 BN1d}                     kept
    middle_encoder.encoder_layers.encoder_layer{i}.{j}.{0 spconv, 1 BN1d}   kept
    middle_encoder.conv_out.{0 SparseConv3d (3,1,1), 1 BN1d}              kept
    backbone.blocks.{i}.{3k Conv2d, 3k+1 BN}                              kept
    neck.deblocks.{i}.{0 ConvTranspose2d, 1 BN}                           kept
    bbox_head.conv_{cls,reg,dir_cls}                                      kept
    img_backbone.{conv1,bn1,layer{1..4}.{j}.{conv,bn}{1..3},downsample}  kept (caffe ResNet)
    img_neck.lateral_convs.{i}.{conv,bn}   -> img_neck.fpn.fpn_lateral{i+2}.{-,norm}
    img_neck.fpn_convs.{i}.{conv,bn}       -> img_neck.fpn.fpn_output{i+2}.{-,norm}
    pts_voxel_encoder.vfe_layers.{i}.{0 Linear, 1 BN1d}                  Linear transposed
    pts_voxel_encoder.fusion_layer.lateral_convs.{l}.conv -> ...lateral_convs.{l}
    pts_voxel_encoder.fusion_layer.{img,pts}_transform.{0 Linear, 1 BN1d}  Linear transposed

Sparse-conv weights: mmcv's ``ops.SparseConvolution`` (mmdet3d without spconv 2.x, and the
published checkpoints trained that way) stores ``[kz, ky, kx, Cin, Cout]`` (RSCK, ours as is);
mmdet3d with spconv 2.x installed registers spconv's modules and writes ``[Cout, kz, ky, kx,
Cin]`` (KRSC; ``mmdet3d/models/layers/spconv/overwrite_spconv/write_spconv2.py`` permutes old
checkpoints that way when loading). The layout is read off the weight shapes (``conv_input``
has ``Cin != Cout``), so no flag is needed; ``--spconv-layout`` overrides it. No sparse conv
here has kernel volume 1, so spconv 2.x's ``conv1x1`` reading does not arise.
"""
from .core import ArchSpec, Rule

__all__ = ["second_rules", "mvxnet_rules", "ARCHS"]


def second_rules(prefix=""):
    """Rules of the SECOND parts (``pts_`` prefix inside MVX-Net)."""
    p = prefix
    return [
        Rule(p + r"middle_encoder\.(?:conv_input|conv_out|encoder_layers\.encoder_layer\d+\.\d+)"
             r"\.0\.weight", r"\g<0>", "spconv"),
        Rule(p + r"neck\.deblocks\.\d+\.0\.weight", r"\g<0>", "conv_transpose"),
        Rule(p + r"(?:middle_encoder|backbone|neck|bbox_head)\..+", r"\g<0>"),
    ]


def _fpn(match):
    kind = {"lateral_convs": "fpn_lateral", "fpn_convs": "fpn_output"}[match[1]]
    norm = "" if match[3] == "conv" else "norm."
    return f"img_neck.fpn.{kind}{int(match[2]) + 2}.{norm}{match[4]}"


def mvxnet_rules():
    """Rules of ``DynamicMVXFasterRCNN`` with PointFusion."""
    fusion = r"pts_voxel_encoder\.fusion_layer\."
    return [
        Rule(r"pts_voxel_encoder\.vfe_layers\.\d+\.0\.weight", r"\g<0>", "transpose"),
        Rule(fusion + r"(?:img|pts)_transform\.0\.weight", r"\g<0>", "transpose"),
        Rule(fusion + r"lateral_convs\.(\d+)\.conv\.(weight|bias)",
             r"pts_voxel_encoder.fusion_layer.lateral_convs.\1.\2"),
        Rule(fusion + r"(?:img|pts)_transform\.[01]\..+", r"\g<0>"),
        Rule(r"pts_voxel_encoder\.vfe_layers\.\d+\.1\..+", r"\g<0>"),
        Rule(r"img_neck\.(lateral_convs|fpn_convs)\.(\d+)\.(conv|bn)\.(.+)", _fpn),
        Rule(r"img_backbone\..+", r"\g<0>"),
    ] + second_rules("pts_")


_BOXES = ("mmdet3d >= 1.0 box convention (LiDAR sizes (l, w, h), anchors [3.9, 1.6, 1.56]); "
          "checkpoints of mmdet3d < 1.0.0rc0 (e.g. the v0.1.0_models FP16 ones) convert "
          "key for key but regress (w, l, h) with the old yaw: their boxes decode wrong")

_SPCONV = ("sparse-conv weights: mmcv [kz, ky, kx, Cin, Cout] (RSCK) or spconv 2.x [Cout, kz, "
           "ky, kx, Cin] (KRSC), read off the weight shapes; --spconv-layout overrides")

ARCHS = {spec.name: spec for spec in (
    ArchSpec(
        name="second-kitti-3class",
        model="configs/second/second_hv_secfpn_kitti-3d-3class.yml",
        rules=second_rules(),
        description="SECOND (hv_secfpn), KITTI 3 classes, mmdetection3d",
        sources="one mmdetection3d .pth (its state_dict)",
        published="mmdetection3d model zoo, configs/second: second_hv_secfpn_8xb6-80e_kitti-"
                  "3d-3class-b086d0a3.pth (download.openmmlab.com/mmdetection3d/v1.1.0_models)",
        config="configs/second/second_hv_secfpn_kitti-3d-3class.yml",
        notes=(_SPCONV, _BOXES),
        detect_spconv=True),
    ArchSpec(
        name="mvxnet-kitti-3class",
        model="configs/mvxnet/mvxnet_fpn_dv_second_secfpn_kitti-3d-3class.yml",
        rules=mvxnet_rules(),
        description="MVX-Net (dynamic voxels, PointFusion, FPN), KITTI 3 classes, mmdetection3d",
        sources="one mmdetection3d .pth (its state_dict)",
        published="mmdetection3d model zoo, configs/mvxnet: mvxnet_fpn_dv_second_secfpn_8xb2-"
                  "80e_kitti-3d-3class-8963258a.pth (download.openmmlab.com/mmdetection3d/"
                  "v1.1.0_models)",
        config="configs/mvxnet/mvxnet_fpn_dv_second_secfpn_kitti-3d-3class.yml",
        notes=(_SPCONV, _BOXES, "MVX-Net images: BGR minus the caffe mean [102.98, 115.95, "
               "122.77], std 1 (the config's image_mean / image_std), padded to a multiple "
               "of 32"),
        detect_spconv=True),
)}
