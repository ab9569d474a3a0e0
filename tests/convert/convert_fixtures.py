"""Official checkpoint key names and shapes, generated from the original code's architecture rules.

Each generator returns ``{key: shape}`` exactly as the original PyTorch code's ``state_dict()``
names them (read from lidar-bonnetal ``backbones/darknet.py`` + ``decoders/darknet.py``,
SqueezeSegV3 ``backbones/SAC.py`` + ``decoders/SAC.py``, detectron2 ``resnet.py``/``fpn.py``/
``semantic_seg.py``/PointRend ``point_head.py``, 2DPASS ``baseline.py``/``basic_block.py``/
``arch_2dpass.py``), written independently of the paddlexseg models. ``SAMPLED`` lists keys
checked against the original sources by hand (for RangeNet and SqueezeSegV3 also against the
``state_dict()`` of the original modules instantiated with torch 2.13).
"""
import zlib

import numpy as np

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(out, prefix, channels, counter=True):
    for name in BN if counter else BN[:4]:
        out[f"{prefix}.{name}"] = () if name == "num_batches_tracked" else (channels,)


def _basic_block(out, prefix, inplanes, planes):
    """lidar-bonnetal BasicBlock(inplanes, planes): 1x1 conv to planes[0], 3x3 to planes[1]."""
    out[f"{prefix}.conv1.weight"] = (planes[0], inplanes, 1, 1)
    _bn(out, f"{prefix}.bn1", planes[0])
    out[f"{prefix}.conv2.weight"] = (planes[1], planes[0], 3, 3)
    _bn(out, f"{prefix}.bn2", planes[1])


def _decoder(channels, strides):
    """Decoder ``dec5..dec1``: upconv [1, 4] (stride 2) or conv 3x3, bn, residual."""
    out = {}
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:])):
        p = f"dec{5 - i}"
        if strides[i] == 2:
            out[f"{p}.upconv.weight"] = (cin, cout, 1, 4)   # ConvTranspose2d [in, out, kh, kw]
            out[f"{p}.upconv.bias"] = (cout,)
        else:
            out[f"{p}.conv.weight"] = (cout, cin, 3, 3)
            out[f"{p}.conv.bias"] = (cout,)
        _bn(out, f"{p}.bn", cout)
        _basic_block(out, f"{p}.residual", cout, (cin, cout))
    return out


def rangenet_files(layers, num_classes=20):
    """{file name: {key: shape}} of lidar-bonnetal's backbone / segmentation_decoder / head."""
    blocks = {21: [1, 1, 2, 2, 1], 53: [1, 2, 8, 8, 4]}[layers]
    bb = {"conv1.weight": (32, 5, 3, 3)}
    _bn(bb, "bn1", 32)
    chans = [32, 64, 128, 256, 512, 1024]
    for i in range(5):
        p0, p1 = chans[i], chans[i + 1]
        bb[f"enc{i + 1}.conv.weight"] = (p1, p0, 3, 3)
        _bn(bb, f"enc{i + 1}.bn", p1)
        for j in range(blocks[i]):
            _basic_block(bb, f"enc{i + 1}.residual_{j}", p1, (p0, p1))
    dec = _decoder([1024, 512, 256, 128, 64, 32], [2, 2, 2, 2, 2])
    head = {"1.weight": (num_classes, 32, 3, 3), "1.bias": (num_classes,)}
    return {"backbone": bb, "segmentation_decoder": dec, "segmentation_head": head}


def squeezesegv3_files(layers, num_classes=20):
    """{file name: {key: shape}} of SqueezeSegV3's seven checkpoint files (OS 8)."""
    blocks = {21: [1, 1, 2, 2, 1], 53: [1, 2, 8, 8, 4]}[layers]
    bb = {"conv1.weight": (32, 5, 3, 3)}
    _bn(bb, "bn1", 32)
    planes = [(32, 64, True), (64, 128, True), (128, 256, True), (256, 256, False),
              (256, 256, False)]
    for i, (p0, p1, ds) in enumerate(planes):
        for j in range(blocks[i]):
            p = f"enc{i + 1}.residual_{j}"
            bb[f"{p}.attention_x.0.weight"] = (9 * p0, 3, 7, 7)
            bb[f"{p}.attention_x.0.bias"] = (9 * p0,)
            _bn(bb, f"{p}.attention_x.1", 9 * p0)
            bb[f"{p}.position_mlp_2.0.weight"] = (p0, 9 * p0, 1, 1)
            bb[f"{p}.position_mlp_2.0.bias"] = (p0,)
            _bn(bb, f"{p}.position_mlp_2.1", p0)
            bb[f"{p}.position_mlp_2.3.weight"] = (p0, p0, 3, 3)
            bb[f"{p}.position_mlp_2.3.bias"] = (p0,)
            _bn(bb, f"{p}.position_mlp_2.4", p0)
        if ds:
            bb[f"enc{i + 1}.conv.weight"] = (p1, p0, 3, 3)
            _bn(bb, f"enc{i + 1}.bn", p1)
    files = {"backbone": bb,
             "segmentation_decoder": _decoder([256, 256, 256, 128, 64, 32], [1, 1, 2, 2, 2])}
    for i, (c, k) in enumerate([(256, 1), (256, 1), (128, 1), (64, 1), (32, 3)]):
        files[f"segmentation_head{i + 1}"] = {"1.weight": (num_classes, c, k, k),
                                              "1.bias": (num_classes,)}
    return files


def pointrend_keys(depth, num_classes=19, with_pixel_stats=True):
    """detectron2 PointRend semantic FPN state dict (FrozenBN backbone, GN head)."""
    out = {}
    bb = "backbone.bottom_up."
    out[bb + "stem.conv1.weight"] = (64, 3, 7, 7)
    _bn(out, bb + "stem.conv1.norm", 64, counter=False)
    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    cin = 64
    for s, n in zip(range(2, 6), blocks):
        bott, cout = 64 * 2 ** (s - 2), 256 * 2 ** (s - 2)
        for b in range(n):
            p = f"{bb}res{s}.{b}."
            if b == 0:
                out[p + "shortcut.weight"] = (cout, cin, 1, 1)
                _bn(out, p + "shortcut.norm", cout, counter=False)
            for k, shape in ((1, (bott, cin if b == 0 else cout, 1, 1)), (2, (bott, bott, 3, 3)),
                             (3, (cout, bott, 1, 1))):
                out[f"{p}conv{k}.weight"] = shape
                _bn(out, f"{p}conv{k}.norm", shape[0], counter=False)
        cin = cout
    for s, c in zip(range(2, 6), (256, 512, 1024, 2048)):
        out[f"backbone.fpn_lateral{s}.weight"] = (256, c, 1, 1)
        out[f"backbone.fpn_lateral{s}.bias"] = (256,)
        out[f"backbone.fpn_output{s}.weight"] = (256, 256, 3, 3)
        out[f"backbone.fpn_output{s}.bias"] = (256,)
    head = "sem_seg_head.coarse_sem_seg_head."
    for s, idxs in ((2, [0]), (3, [0]), (4, [0, 2]), (5, [0, 2, 4])):
        for n, i in enumerate(idxs):
            out[f"{head}p{s}.{i}.weight"] = (128, 256 if n == 0 else 128, 3, 3)
            out[f"{head}p{s}.{i}.norm.weight"] = (128,)
            out[f"{head}p{s}.{i}.norm.bias"] = (128,)
    out[head + "predictor.weight"] = (num_classes, 128, 1, 1)
    out[head + "predictor.bias"] = (num_classes,)
    ph = "sem_seg_head.point_head."
    for k, cin in ((1, 256 + num_classes), (2, 256), (3, 256)):
        out[f"{ph}fc{k}.weight"] = (256, cin, 1)
        out[f"{ph}fc{k}.bias"] = (256,)
    out[ph + "predictor.weight"] = (num_classes, 256, 1)
    out[ph + "predictor.bias"] = (num_classes,)
    if with_pixel_stats:
        out["pixel_mean"] = (3, 1, 1)
        out["pixel_std"] = (3, 1, 1)
    return out


def _linear(out, prefix, cin, cout):
    out[f"{prefix}.weight"] = (cout, cin)
    out[f"{prefix}.bias"] = (cout,)


def twodpass_keys(hidden, num_scales, num_classes=20, full=True, class_weights=True):
    """The Lightning ``state_dict`` of 2DPASS (``full``) or of its baseline_only model."""
    h, out = hidden, {}
    m3 = "model_3d."
    _linear(out, m3 + "voxel_3d_generator.PPmodel.0", 4 + 6, h)
    _linear(out, m3 + "voxel_3d_generator.PPmodel.2", h, h)
    for i in range(num_scales):
        for j in range(2):
            p = f"{m3}spv_enc.{i}.v_enc.{j}."
            out[p + "layers_in.0.weight"] = (h, 1, 1, 1, h)        # spconv 2.x KRSC
            _bn(out, p + "layers_in.1", h)
            out[p + "layers.0.weight"] = (h, 3, 3, 3, h)
            _bn(out, p + "layers.1", h)
            out[p + "layers.3.weight"] = (h, 3, 3, 3, h)
            _bn(out, p + "layers.4", h)
        p = f"{m3}spv_enc.{i}.p_enc."
        _linear(out, p + "layer_in.0", h, h)
        _linear(out, p + "PPmodel.0", h, h // 2)
        _bn(out, p + "PPmodel.2", h // 2)
        _linear(out, p + "PPmodel.3", h // 2, h // 2)
        _bn(out, p + "PPmodel.5", h // 2)
        _linear(out, p + "PPmodel.6", h // 2, h)
        _linear(out, p + "layer_out.0", 2 * h, h)
        _linear(out, p + "layer_out.2", h, h)
    _linear(out, m3 + "classifier.0", h * num_scales, 128)
    _linear(out, m3 + "classifier.2", 128, num_classes)
    if class_weights:
        out[m3 + "criterion.ce_loss.weight"] = (num_classes,)
    if not full:
        return out
    m2 = "model_2d."
    out[m2 + "conv1.weight"] = (64, 3, 7, 7)
    _bn(out, m2 + "bn1", 64)
    cin = 64
    for s, (n, c) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=1):
        for b in range(n):
            p = f"{m2}layer{s}.{b}."
            out[p + "conv1.weight"] = (c, cin if b == 0 else c, 3, 3)
            _bn(out, p + "bn1", c)
            out[p + "conv2.weight"] = (c, c, 3, 3)
            _bn(out, p + "bn2", c)
            if b == 0 and (s > 1):
                out[p + "downsample.0.weight"] = (c, cin, 1, 1)
                _bn(out, p + "downsample.1", c)
        cin = c
    out[m2 + "deconv_layer1.0.weight"] = (h, 64, 7, 7)
    out[m2 + "deconv_layer2.0.weight"] = (h, 128, 7, 7)
    out[m2 + "deconv_layer3.0.weight"] = (64, 256, 7, 7)
    out[m2 + "deconv_layer3.2.weight"] = (64, h, 3, 3)                # ConvTranspose2d
    out[m2 + "deconv_layer3.2.bias"] = (h,)
    out[m2 + "deconv_layer4.0.weight"] = (64, 512, 7, 7)
    out[m2 + "deconv_layer4.2.weight"] = (64, 64, 3, 3)
    out[m2 + "deconv_layer4.2.bias"] = (64,)
    out[m2 + "deconv_layer4.4.weight"] = (64, h, 3, 3)
    out[m2 + "deconv_layer4.4.bias"] = (h,)
    f = "fusion."
    for i in range(num_scales):
        for head in ("multihead_3d_classifier", "multihead_fuse_classifier"):
            _linear(out, f"{f}{head}.{i}.0", h, 128)
            _linear(out, f"{f}{head}.{i}.2", 128, num_classes)
        _linear(out, f"{f}leaners.{i}.0", h, h)
        _linear(out, f"{f}fcs1.{i}.0", 2 * h, h)
        _linear(out, f"{f}fcs2.{i}.0", h, h)
    _linear(out, f + "classifier.0", h * num_scales, 128)
    _linear(out, f + "classifier.2", 128, num_classes)
    if class_weights:
        out[f + "ce_loss.weight"] = (num_classes,)
    return out


# (file or "", key, shape) read off the original sources; RangeNet / SqueezeSegV3 entries were also
# seen in the state_dict() of the original torch modules
SAMPLED = {
    "rangenet-darknet21": [
        ("backbone", "enc3.residual_1.conv1.weight", (128, 256, 1, 1)),
        ("backbone", "enc5.residual_0.bn2.num_batches_tracked", ()),
        ("segmentation_decoder", "dec5.upconv.weight", (1024, 512, 1, 4)),
        ("segmentation_decoder", "dec3.residual.bn1.bias", (256,)),
        ("segmentation_head", "1.weight", (20, 32, 3, 3)),
    ],
    "rangenet-darknet53": [
        ("backbone", "enc4.conv.weight", (512, 256, 3, 3)),
        ("backbone", "enc5.residual_3.bn2.num_batches_tracked", ()),
    ],
    "squeezesegv3-21": [
        ("backbone", "enc3.residual_1.attention_x.1.running_mean", (1152,)),
        ("backbone", "enc5.residual_0.position_mlp_2.4.num_batches_tracked", ()),
        ("segmentation_decoder", "dec5.conv.weight", (256, 256, 3, 3)),
        ("segmentation_head1", "1.weight", (20, 256, 1, 1)),
        ("segmentation_head5", "1.weight", (20, 32, 3, 3)),
    ],
    "squeezesegv3-53": [
        ("backbone", "enc3.bn.running_var", (256,)),
        ("backbone", "enc5.residual_3.position_mlp_2.4.num_batches_tracked", ()),
    ],
    "pointrend-r101": [
        ("", "backbone.bottom_up.res4.22.conv3.norm.running_var", (1024,)),
        ("", "backbone.bottom_up.res2.0.shortcut.weight", (256, 64, 1, 1)),
        ("", "backbone.fpn_lateral5.weight", (256, 2048, 1, 1)),
        ("", "sem_seg_head.coarse_sem_seg_head.p5.4.norm.weight", (128,)),
        ("", "sem_seg_head.point_head.fc1.weight", (256, 275, 1)),
    ],
    "2dpass-small": [
        ("", "model_3d.spv_enc.3.v_enc.1.layers.3.weight", (64, 3, 3, 3, 64)),
        ("", "model_3d.spv_enc.0.p_enc.PPmodel.6.weight", (64, 32)),
        ("", "model_2d.deconv_layer4.4.weight", (64, 64, 3, 3)),
        ("", "fusion.fcs1.2.0.weight", (64, 128)),
        ("", "fusion.classifier.0.weight", (128, 256)),
    ],
}


def synthetic_array(key, shape):
    """Deterministic float32 values that differ per key and per position (int64 for counters)."""
    if key.endswith("num_batches_tracked"):
        return np.array(1234, dtype=np.int64)
    n = int(np.prod(shape)) if shape else 1
    offset = zlib.crc32(key.encode()) % 1000
    values = (np.arange(n, dtype=np.float32) % 9973) * np.float32(1e-3) + np.float32(offset)
    return values.reshape(shape)


def synthetic_state(keys):
    """{key: synthetic array} for a {key: shape} dict."""
    return {k: synthetic_array(k, s) for k, s in keys.items()}
