"""2DPASS (yanx27/2DPASS) Lightning checkpoints -> :class:`paddlexseg.models.TwoDPASS`.

The ``.ckpt`` holds ``state_dict`` with the original module names, which the Paddle model
keeps (``network/arch_2dpass.py``, ``baseline.py``, ``basic_block.py``)::

    model_3d.voxel_3d_generator.PPmodel.{0,2}                    Linear
    model_3d.spv_enc.{i}.v_enc.{0,1}.layers_in.0                 spconv SubMConv3d 1x1x1
    model_3d.spv_enc.{i}.v_enc.{0,1}.layers.{0,3}                spconv SubMConv3d 3x3x3
    model_3d.spv_enc.{i}.v_enc.{0,1}.{layers_in.1,layers.{1,4}}  BatchNorm1d
    model_3d.spv_enc.{i}.p_enc.{layer_in.0,PPmodel.{0,3,6},layer_out.{0,2}}  Linear
    model_3d.spv_enc.{i}.p_enc.PPmodel.{2,5}                     BatchNorm1d
    model_3d.classifier.{0,2}                                    Linear
    model_2d.{conv1,bn1,layer1..4}                               torchvision ResNet-34
    model_2d.deconv_layer{1..4}.0                                Conv2d 7x7
    model_2d.deconv_layer3.2, deconv_layer4.{2,4}                ConvTranspose2d
    fusion.{multihead_3d_classifier,multihead_fuse_classifier}.{i}.{0,2}, fusion.{leaners,
    fcs1,fcs2}.{i}.0, fusion.classifier.{0,2}                    Linear

Linear weights are transposed; spconv 2.x weights go from ``[Cout, kz, ky, kx, Cin]`` (KRSC,
what spconv 2.1 CUDA builds store) to ``[kz, ky, kx, Cin, Cout]`` with
:func:`paddlexseg.sparse.weight_from_spconv` (``--spconv-layout`` for the other layouts).
``*.ce_loss.weight`` (the class weights the losses register as buffers) is dropped. The
``-3d`` architectures build the LiDAR-only model (``baseline_only``) and drop the 2D branch and
fusion heads, which only act in training; the ``-2d`` architectures build the 2D branch alone
(:class:`~paddlexseg.models.twodpass.model.TwoDPASSImage`, keys ``model_2d.*``; the 3D network
and fusion heads are dropped) to check the image network against the original on its own.

spconv 2.x (every release) computes the 1x1x1 ``layers_in.0`` convolutions as
``torch.mm(features, weight.view(Cin, Cout))`` of the stored ``[Cout, 1, 1, 1, Cin]`` tensor;
the default conversion reads them that way (``--spconv-version``, docs/model_zoo.md).
"""
from .core import ArchSpec, Drop, Rule

__all__ = ["TWODPASS_RULES", "ARCHS"]

_P_ENC_LINEAR = r"(?:layer_in\.0|PPmodel\.[036]|layer_out\.[02])"

TWODPASS_RULES = [
    Drop(r"(?:model_3d\.criterion|fusion)\.ce_loss\.weight",
         "class weights of the original loss (paddlexseg losses take them from the config)"),
    Drop(r"(?:.+\.)?(?:train_acc|val_acc|val_iou)\..+", "metric state of the Lightning module"),
    Rule(r"model_3d\.voxel_3d_generator\.PPmodel\.[02]\.weight", r"\g<0>", "transpose"),
    Rule(r"model_3d\.spv_enc\.\d+\.p_enc\." + _P_ENC_LINEAR + r"\.weight", r"\g<0>", "transpose"),
    Rule(r"model_3d\.spv_enc\.\d+\.v_enc\.[01]\.(?:layers_in\.0|layers\.[03])\.weight", r"\g<0>",
         "spconv"),
    Rule(r"model_3d\.classifier\.[02]\.weight", r"\g<0>", "transpose"),
    Rule(r"model_2d\.deconv_layer(?:3\.2|4\.2|4\.4)\.weight", r"\g<0>", "conv_transpose"),
    Rule(r"fusion\.multihead_(?:3d|fuse)_classifier\.\d+\.[02]\.weight", r"\g<0>", "transpose"),
    Rule(r"fusion\.(?:leaners|fcs1|fcs2)\.\d+\.0\.weight", r"\g<0>", "transpose"),
    Rule(r"fusion\.classifier\.[02]\.weight", r"\g<0>", "transpose"),
    Rule(r"(?:model_3d|model_2d|fusion)\..+", r"\g<0>"),
]

_DROP_2D = Drop(r"(?:model_2d|fusion)\..+",
                "2D branch / fusion heads: training only, absent from the LiDAR-only model")

_PUBLISHED = ("Google Drive folder of the 2DPASS README model zoo "
              "(https://drive.google.com/drive/folders/1Xy6p_h827lv8J-2iZU8T6SLFkxfoXPBE)")

_NOTES = (
    "2DPASS: spconv weights assumed in spconv 2.x's default KRSC layout [Cout, kz, ky, kx, Cin] "
    "(the original was tested with spconv-cu111 2.1.16); pass --spconv-layout RSKC for "
    "checkpoints of CPU-only (Native) spconv builds, --spconv-version 1.x for spconv 1.x ones. "
    "spconv 2.x multiplies by the raw memory of a 1x1x1 weight read as [Cin, Cout] (its conv1x1 "
    "torch.mm path), which the spconv2 transform reproduces.",
    "2DPASS: inference uses the 3D branch only; the paper's TTA numbers need num_vote 12 "
    "(model.num_vote), vanilla numbers num_vote 1. Points outside the voxel volume must be "
    "removed before the model, as the original dataloader does.",
)

# (name, config stem, dataset classes, hidden size, scales, spatial shape, z range)
_VARIANTS = (
    ("2dpass-small", "twodpass_4scale64_semantickitti", 20, 64, [2, 4, 8, 16],
     [1000, 1000, 60], (-4, 2), "4 scales x 64 channels, SemanticKITTI"),
    ("2dpass-large", "twodpass_6scale256_semantickitti", 20, 256, [2, 4, 8, 16, 16, 16],
     [1000, 1000, 60], (-4, 2), "6 scales x 256 channels, SemanticKITTI"),
    ("2dpass-nusc-128", "twodpass_6scale128_nuscenes", 17, 128, [2, 4, 8, 16, 16, 16],
     [1000, 1000, 70], (-4, 3), "6 scales x 128 channels, nuScenes"),
    ("2dpass-nusc-256", "twodpass_6scale256_nuscenes", 17, 256, [2, 4, 8, 16, 16, 16],
     [1000, 1000, 70], (-4, 3), "6 scales x 256 channels, nuScenes"),
)


def _config(stem, lidar_only):
    if lidar_only and stem == "twodpass_4scale64_semantickitti":
        return "configs/twodpass/twodpass_baseline_4scale64_semantickitti.yml"
    return f"configs/twodpass/{stem}.yml" + (" with model.baseline_only: true" if lidar_only
                                             else "")


def _twodpass(name, config, classes, hidden, scales, shape, zrange, what, lidar_only):
    model = {"type": "TwoDPASS", "num_classes": classes, "input_dims": 4,
             "hidden_size": hidden, "scale_list": scales, "spatial_shape": shape,
             "min_volume": [-50, -50, zrange[0]], "max_volume": [50, 50, zrange[1]],
             "backbone_2d": "resnet34", "pretrained_2d": None, "baseline_only": lidar_only,
             "num_vote": 1}
    return ArchSpec(
        name=name + ("-3d" if lidar_only else ""),
        model=model,
        rules=([_DROP_2D] if lidar_only else []) + TWODPASS_RULES,
        description=f"2DPASS {what}" + (", LiDAR-only inference model" if lidar_only
                                          else ", with the 2D branch for training"),
        sources="one PyTorch Lightning .ckpt (its state_dict)",
        published=_PUBLISHED,
        config=_config(config, lidar_only),
        notes=_NOTES,
    )


_DROP_3D = Drop(r"(?:model_3d|fusion)\..+",
                "3D network / fusion heads: absent from the 2D-only model")


def _twodpass_2d(name, config, classes, hidden, scales, shape, zrange, what):
    return ArchSpec(
        name=name + "-2d",
        model={"type": "TwoDPASSImage", "hidden_size": hidden, "backbone_2d": "resnet34",
               "pretrained_2d": None},
        rules=[_DROP_3D] + TWODPASS_RULES,
        description=f"2DPASS {what}, the 2D branch (ResNet-34 FCN) alone, for parity checks",
        sources="one PyTorch Lightning .ckpt (its state_dict), or a state dict of model_2d.* "
                "keys",
        published=_PUBLISHED,
        config=f"configs/twodpass/{config}.yml (its model_2d; TwoDPASSImage in Python)",
        notes=("2DPASS 2D-only: TwoDPASSImage(hidden_size).forward(img, img_indices) returns "
               "the per-scale image features at the image points; TwoDPASS(return_features="
               "true) returns the same from the full model.",),
    )


ARCHS = {spec.name: spec for spec in (_twodpass(*v, lidar_only=flag) for v in _VARIANTS
                                      for flag in (False, True))}
ARCHS.update({spec.name: spec for spec in (_twodpass_2d(*v) for v in _VARIANTS)})
