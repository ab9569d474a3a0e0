"""The state-dict keys and shapes of mmdetection3d's SECOND and MVX-Net KITTI 3-class checkpoints.

Written from the mmdet3d / mmdet / mmcv sources, not from the paddlexseg models, so that the
converter tests compare two independent descriptions:

* ``SparseEncoder`` (``middle_encoders/sparse_encoder.py``, ``make_sparse_convmodule``):
  ``conv_input`` = SubMConv3d(in, 16, 3) + BN1d; ``encoder_layers.encoder_layer{i}.{j}`` with
  channels ((16,), (32,)*3, (64,)*3, (64,)*3), block 0 of stages 2..4 a SparseConv3d;
  ``conv_out`` = SparseConv3d(64, 128, (3, 1, 1)) + BN1d; every conv ``bias=False``. mmcv
  ``SparseConvolution.weight`` is ``[*kernel_size, Cin, Cout]``; spconv 2.x's (mmdet3d 1.x with
  spconv installed) ``[Cout, *kernel_size, Cin]``.
* ``SECOND`` backbone: ``blocks.{i}`` = [Conv2d(3x3, no bias), BN, ReLU] * (1 + layer_num).
* ``SECONDFPN``: ``deblocks.{i}`` = [ConvTranspose2d(k = stride, no bias), BN, ReLU]
  (``use_conv_for_no_stride=False``: stride 1 is a deconv too).
* ``Anchor3DHead``: ``conv_cls`` / ``conv_reg`` / ``conv_dir_cls`` 1x1 with bias; 3 sizes x 2
  rotations = 6 anchors per location.
* mmdet ``ResNet`` depth 50 (``bn1``, ``layer{s}.{b}.{conv,bn}{1,2,3}``, ``downsample.{0,1}``);
  ``FPN`` with ``norm_cfg=BN``: ``lateral_convs.{i}`` / ``fpn_convs.{i}`` are ConvModules
  (``conv`` without bias, ``bn``); num_outs 5 without extra convs -> 4 of each.
* ``DynamicVFE``: ``vfe_layers.{i}`` = [Linear(no bias), BN1d, ReLU], in 4 + 3 + 3 = 10, then
  2 * 64.
* ``PointFusion``: ``lateral_convs.{l}`` = ConvModule(256, 128, 3) without norm (``conv`` with
  bias), ``img_transform`` = [Linear(5 * 128, 128), BN1d], ``pts_transform`` =
  [Linear(64, 128), BN1d].
"""
import numpy as np

__all__ = ["second_keys", "mvxnet_keys", "official_state", "SPARSE_LAYERS"]

# (name, Cin, Cout, kernel) of the sparse encoder; Cin of conv_input is the voxel feature width
SPARSE_LAYERS = [("conv_input", None, 16, (3, 3, 3)),
                 ("encoder_layers.encoder_layer1.0", 16, 16, (3, 3, 3)),
                 ("encoder_layers.encoder_layer2.0", 16, 32, (3, 3, 3)),
                 ("encoder_layers.encoder_layer2.1", 32, 32, (3, 3, 3)),
                 ("encoder_layers.encoder_layer2.2", 32, 32, (3, 3, 3)),
                 ("encoder_layers.encoder_layer3.0", 32, 64, (3, 3, 3)),
                 ("encoder_layers.encoder_layer3.1", 64, 64, (3, 3, 3)),
                 ("encoder_layers.encoder_layer3.2", 64, 64, (3, 3, 3)),
                 ("encoder_layers.encoder_layer4.0", 64, 64, (3, 3, 3)),
                 ("encoder_layers.encoder_layer4.1", 64, 64, (3, 3, 3)),
                 ("encoder_layers.encoder_layer4.2", 64, 64, (3, 3, 3)),
                 ("conv_out", 64, 128, (3, 1, 1))]


def _bn(keys, name, c):
    for p in ("weight", "bias", "running_mean", "running_var"):
        keys[f"{name}.{p}"] = (c,)
    keys[f"{name}.num_batches_tracked"] = ()


def _second(keys, prefix, voxel_channels, spconv):
    for name, cin, cout, k in SPARSE_LAYERS:
        cin = voxel_channels if cin is None else cin
        shape = (cout, *k, cin) if spconv == 2 else (*k, cin, cout)
        keys[f"{prefix}middle_encoder.{name}.0.weight"] = shape
        _bn(keys, f"{prefix}middle_encoder.{name}.1", cout)
    cin = 256
    for i, (cout, n) in enumerate(((128, 5), (256, 5))):
        for j in range(n + 1):
            keys[f"{prefix}backbone.blocks.{i}.{3 * j}.weight"] = (cout, cin, 3, 3)
            _bn(keys, f"{prefix}backbone.blocks.{i}.{3 * j + 1}", cout)
            cin = cout
    for i, (cin, cout, s) in enumerate(((128, 256, 1), (256, 256, 2))):
        keys[f"{prefix}neck.deblocks.{i}.0.weight"] = (cin, cout, s, s)   # ConvTranspose2d
        _bn(keys, f"{prefix}neck.deblocks.{i}.1", cout)
    for name, per_anchor in (("conv_cls", 3), ("conv_reg", 7), ("conv_dir_cls", 2)):
        keys[f"{prefix}bbox_head.{name}.weight"] = (6 * per_anchor, 512, 1, 1)
        keys[f"{prefix}bbox_head.{name}.bias"] = (6 * per_anchor,)


def second_keys(spconv=1):
    """``{key: shape}`` of second_hv_secfpn_8xb6-80e_kitti-3d-3class (``spconv``: 1 = mmcv
    layout, 2 = spconv 2.x layout)."""
    keys = {}
    _second(keys, "", 4, spconv)
    return keys


def _resnet50(keys, prefix):
    keys[f"{prefix}conv1.weight"] = (64, 3, 7, 7)
    _bn(keys, f"{prefix}bn1", 64)
    cin = 64
    for s, (blocks, mid) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=1):
        for b in range(blocks):
            name = f"{prefix}layer{s}.{b}"
            for c, (ci, co, k) in enumerate(((cin, mid, 1), (mid, mid, 3), (mid, 4 * mid, 1)),
                                            start=1):
                keys[f"{name}.conv{c}.weight"] = (co, ci, k, k)
                _bn(keys, f"{name}.bn{c}", co)
            if b == 0:
                keys[f"{name}.downsample.0.weight"] = (4 * mid, cin, 1, 1)
                _bn(keys, f"{name}.downsample.1", 4 * mid)
            cin = 4 * mid


def mvxnet_keys(spconv=1):
    """``{key: shape}`` of mvxnet_fpn_dv_second_secfpn_8xb2-80e_kitti-3d-3class."""
    keys = {}
    _resnet50(keys, "img_backbone.")
    for i, cin in enumerate((256, 512, 1024, 2048)):
        keys[f"img_neck.lateral_convs.{i}.conv.weight"] = (256, cin, 1, 1)
        _bn(keys, f"img_neck.lateral_convs.{i}.bn", 256)
    for i in range(4):
        keys[f"img_neck.fpn_convs.{i}.conv.weight"] = (256, 256, 3, 3)
        _bn(keys, f"img_neck.fpn_convs.{i}.bn", 256)
    vfe = "pts_voxel_encoder."
    keys[f"{vfe}vfe_layers.0.0.weight"] = (64, 10)
    _bn(keys, f"{vfe}vfe_layers.0.1", 64)
    keys[f"{vfe}vfe_layers.1.0.weight"] = (64, 128)
    _bn(keys, f"{vfe}vfe_layers.1.1", 64)
    for level in range(5):
        keys[f"{vfe}fusion_layer.lateral_convs.{level}.conv.weight"] = (128, 256, 3, 3)
        keys[f"{vfe}fusion_layer.lateral_convs.{level}.conv.bias"] = (128,)
    for name, cin in (("img_transform", 5 * 128), ("pts_transform", 64)):
        keys[f"{vfe}fusion_layer.{name}.0.weight"] = (128, cin)
        keys[f"{vfe}fusion_layer.{name}.0.bias"] = (128,)
        _bn(keys, f"{vfe}fusion_layer.{name}.1", 128)
    _second(keys, "pts_", 128, spconv)
    return keys


def official_state(keys, seed=0):
    """Random float32 values (int64 step counters) for a ``{key: shape}`` table."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.asarray(1000, np.int64)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            state[key] = rng.standard_normal(shape, dtype=np.float32)
    return state
