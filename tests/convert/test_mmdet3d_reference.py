"""Converted SECOND / MVX-Net against mmdet3d's modules rebuilt in torch (skipped without torch).

The sparse encoder needs spconv 2.x too (``pip install spconv``, the CPU build). The reference is
mmdet3d's ``SparseEncoder`` as ``make_sparse_convmodule`` builds it (spconv ``SubMConv3d`` /
``SparseConv3d`` without bias, ``BatchNorm1d(eps=1e-3)``, ``ReLU``; names ``conv_input``,
``encoder_layers.encoder_layer{i}.{j}``, ``conv_out``), loaded strictly from the fixture with
the official names. A checkpoint in mmcv's layout is loaded the way mmdet3d 1.x does with
spconv 2.x installed (``overwrite_spconv/write_spconv2.py``: ``[kz, ky, kx, Cin, Cout]`` permuted
to ``[Cout, kz, ky, kx, Cin]``).
"""
import os
import sys

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmdet3d_fixtures as mf  # noqa: E402

from paddlexseg.convert import build_model, convert_checkpoint, get_arch, load_into_model  # noqa
from paddlexseg.convert.archs import target_spec  # noqa: E402
from paddlexseg.convert.core import convert_state_dict  # noqa: E402

SHAPE = [41, 32, 32]


def _reference_encoder(torch, sp):
    """mmdet3d SparseEncoder (KITTI defaults, in_channels 4) on spconv 2.x."""
    def block(conv):
        return sp.SparseSequential(conv, torch.nn.BatchNorm1d(conv.out_channels, eps=1e-3,
                                                              momentum=0.01), torch.nn.ReLU())

    enc = torch.nn.Module()
    enc.conv_input = block(sp.SubMConv3d(4, 16, 3, padding=1, bias=False, indice_key="subm1"))
    enc.encoder_layers = sp.SparseSequential()
    paddings = ((1,), (1, 1, 1), (1, 1, 1), ((0, 1, 1), 1, 1))
    cin = 16
    for i, chans in enumerate(((16,), (32, 32, 32), (64, 64, 64), (64, 64, 64))):
        stage = sp.SparseSequential()
        for j, cout in enumerate(chans):
            if i and not j:
                conv = sp.SparseConv3d(cin, cout, 3, stride=2, padding=paddings[i][j],
                                       bias=False, indice_key=f"spconv{i + 1}")
            else:
                conv = sp.SubMConv3d(cin, cout, 3, padding=paddings[i][j], bias=False,
                                     indice_key=f"subm{i + 1}")
            stage.add_module(str(j), block(conv))
            cin = cout
        enc.encoder_layers.add_module(f"encoder_layer{i + 1}", stage)
    enc.conv_out = block(sp.SparseConv3d(64, 128, (3, 1, 1), stride=(2, 1, 1), padding=0,
                                         bias=False, indice_key="spconv_down2"))
    return enc


def _scaled_state(spconv):
    """The fixture with weights scaled by 1/sqrt(fan-in), so 12 layers stay O(1)."""
    state = mf.official_state(mf.second_keys(spconv=spconv), seed=3)
    for key, value in state.items():
        if key.startswith("middle_encoder.") and value.ndim == 5:
            state[key] = value / np.float32(np.sqrt(value.size / max(value.shape)))
    return state


@pytest.mark.parametrize("spconv", [1, 2])
def test_converted_sparse_encoder_equals_mmdet3d_on_spconv(spconv, tmp_path):
    torch = pytest.importorskip("torch")
    sp = pytest.importorskip("spconv.pytorch")
    state = _scaled_state(spconv)
    ref = _reference_encoder(torch, sp)
    ref_state = {}
    for key, value in state.items():
        if key.startswith("middle_encoder."):
            if value.ndim == 5 and spconv == 1:          # mmdet3d 1.x loading an mmcv file
                value = np.ascontiguousarray(value.transpose(4, 0, 1, 2, 3))
            ref_state[key[len("middle_encoder."):]] = torch.from_numpy(np.array(value))
    ref.load_state_dict(ref_state, strict=True)
    ref.eval()

    path = tmp_path / "second.npz"
    np.savez(path, **state)
    out, report, model = convert_checkpoint("second-kitti-3class", [str(path)],
                                            model=build_model(get_arch("second-kitti-3class")))
    assert report.ok(), report.errors()
    load_into_model(out, model)
    encoder = model.middle_encoder
    encoder.sparse_shape = SHAPE                         # a small grid for the comparison

    rng = np.random.default_rng(spconv)
    flat = rng.choice(int(np.prod(SHAPE)), 300, replace=False)
    coords = np.concatenate([np.zeros((300, 1), np.int32),
                             np.stack(np.unravel_index(flat, SHAPE), 1).astype(np.int32)], 1)
    feats = rng.standard_normal((300, 4)).astype(np.float32)
    with torch.no_grad():
        x = sp.SparseConvTensor(torch.from_numpy(feats), torch.from_numpy(coords), SHAPE, 1)
        x = ref.conv_out(ref.encoder_layers(ref.conv_input(x))).dense()
        want = x.reshape(1, -1, *x.shape[3:]).numpy()      # [1, 128 * 2, 4, 4]
    with paddle.no_grad():
        got = encoder(paddle.to_tensor(feats), paddle.to_tensor(coords), 1).numpy()
    assert got.shape == want.shape == (1, 256, 4, 4)
    assert np.abs(want).max() > 0.1 and (want > 0).mean() > 0.05
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def _reference_dense(torch):
    """mmdet3d SECOND backbone + SECONDFPN + Anchor3DHead (KITTI 3-class settings) in torch."""
    nn = torch.nn

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    net = nn.Module()
    net.backbone, net.neck, net.bbox_head = nn.Module(), nn.Module(), nn.Module()
    blocks, cin = [], 256
    for cout, stride in ((128, 1), (256, 2)):
        layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), bn(cout),
                  nn.ReLU()]
        for _ in range(5):
            layers += [nn.Conv2d(cout, cout, 3, padding=1, bias=False), bn(cout), nn.ReLU()]
        blocks.append(nn.Sequential(*layers))
        cin = cout
    net.backbone.blocks = nn.ModuleList(blocks)
    net.neck.deblocks = nn.ModuleList([
        nn.Sequential(nn.ConvTranspose2d(cin, 256, s, stride=s, bias=False), bn(256), nn.ReLU())
        for cin, s in ((128, 1), (256, 2))])
    for name, per_anchor in (("conv_cls", 3), ("conv_reg", 7), ("conv_dir_cls", 2)):
        setattr(net.bbox_head, name, nn.Conv2d(512, 6 * per_anchor, 1))
    return net


def test_converted_dense_part_equals_mmdet3d_in_torch():
    """backbone, neck and head of the converted SECOND against mmdet3d's modules in torch."""
    torch = pytest.importorskip("torch")
    state = mf.official_state(mf.second_keys(spconv=1), seed=4)
    for key, value in state.items():        # weights scaled by 1/sqrt(fan-in): outputs O(1)
        if value.ndim == 4:
            fan_in = value.shape[0 if key.startswith("neck.") else 1] * value[0, 0].size
            state[key] = value / np.float32(np.sqrt(fan_in))
    ref = _reference_dense(torch)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()
                         if not k.startswith("middle_encoder.")}, strict=True)
    ref.eval()
    spec = get_arch("second-kitti-3class")
    model = build_model(spec, lazy=True)
    out, report = convert_state_dict(state, spec.mapper("RSCK", False), target_spec(model))
    assert report.ok(), report.errors()
    load_into_model(out, model)
    bev = np.random.default_rng(5).standard_normal((1, 256, 8, 8)).astype(np.float32)
    with torch.no_grad():
        x = ref.backbone.blocks[0](torch.from_numpy(bev))
        x = torch.cat([ref.neck.deblocks[0](x), ref.neck.deblocks[1](ref.backbone.blocks[1](x))],
                      dim=1)
        want = {name: getattr(ref.bbox_head, name)(x).numpy()
                for name in ("conv_cls", "conv_reg", "conv_dir_cls")}
    with paddle.no_grad():
        got = model.forward_dense(paddle.to_tensor(bev))
    for name, key in (("conv_cls", "cls_score"), ("conv_reg", "bbox_pred"),
                      ("conv_dir_cls", "dir_cls_pred")):
        assert got[key].shape == list(want[name].shape) and want[name].std() > 0.1
        np.testing.assert_allclose(got[key].numpy(), want[name], rtol=1e-4, atol=1e-4)


def _reference_mvx_parts(torch):
    """mmdet ResNet-50 (caffe) + FPN (BN, 5 outputs), mmdet3d DynamicVFE layers and PointFusion
    layers in torch, with the official module names."""
    nn, F = torch.nn, torch.nn.functional

    class ConvModule(nn.Module):
        def __init__(self, cin, cout, k, norm):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=not norm)
            self.bn = nn.BatchNorm2d(cout) if norm else None

        def forward(self, x):
            x = self.conv(x)
            return x if self.bn is None else self.bn(x)

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, mid, 1, stride, bias=False)   # caffe: stride in 1x1
            self.conv2 = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
            self.conv3 = nn.Conv2d(mid, 4 * mid, 1, bias=False)
            self.bn1, self.bn2 = nn.BatchNorm2d(mid), nn.BatchNorm2d(mid)
            self.bn3 = nn.BatchNorm2d(4 * mid)
            self.downsample = None if cin == 4 * mid else nn.Sequential(
                nn.Conv2d(cin, 4 * mid, 1, stride, bias=False), nn.BatchNorm2d(4 * mid))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))

    net = nn.Module()
    net.img_backbone = res = nn.Module()
    res.conv1, res.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
    cin = 64
    for s, (n, mid) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512)), start=1):
        setattr(res, f"layer{s}", nn.Sequential(*[
            Bottleneck(cin if b == 0 else 4 * mid, mid, 2 if s > 1 and b == 0 else 1)
            for b in range(n)]))
        cin = 4 * mid
    net.img_neck = nn.Module()
    net.img_neck.lateral_convs = nn.ModuleList([ConvModule(c, 256, 1, True)
                                                for c in (256, 512, 1024, 2048)])
    net.img_neck.fpn_convs = nn.ModuleList([ConvModule(256, 256, 3, True) for _ in range(4)])
    net.pts_voxel_encoder = vfe = nn.Module()
    vfe.vfe_layers = nn.ModuleList([
        nn.Sequential(nn.Linear(cin, 64, bias=False), nn.BatchNorm1d(64, eps=1e-3), nn.ReLU())
        for cin in (10, 128)])
    vfe.fusion_layer = fusion = nn.Module()
    fusion.lateral_convs = nn.ModuleList([ConvModule(256, 128, 3, False) for _ in range(5)])
    fusion.img_transform = nn.Sequential(nn.Linear(640, 128), nn.BatchNorm1d(128, eps=1e-3))
    fusion.pts_transform = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128, eps=1e-3))

    def image_levels(img):
        x = F.max_pool2d(F.relu(res.bn1(res.conv1(img))), 3, 2, 1)
        feats = []
        for s in range(1, 5):
            x = getattr(res, f"layer{s}")(x)
            feats.append(x)
        lat = [conv(f) for conv, f in zip(net.img_neck.lateral_convs, feats)]
        for i in range(3, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:],
                                                    mode="nearest")
        outs = [conv(x) for conv, x in zip(net.img_neck.fpn_convs, lat)]
        return outs + [F.max_pool2d(outs[-1], 1, stride=2)]

    return net, image_levels


def test_converted_mvxnet_image_branch_and_point_layers_equal_mmdet_in_torch():
    torch = pytest.importorskip("torch")
    state = mf.official_state(mf.mvxnet_keys(spconv=1), seed=6)
    for key, value in state.items():        # weights scaled by 1/sqrt(fan-in): outputs O(1)
        if value.ndim in (2, 4) and not key.startswith("pts_neck."):
            state[key] = value / np.float32(np.sqrt(value[0].size))
    ref, image_levels = _reference_mvx_parts(torch)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()
                         if k.startswith(("img_", "pts_voxel_encoder."))}, strict=True)
    ref.eval()
    spec = get_arch("mvxnet-kitti-3class")
    model = build_model(spec, lazy=True)
    out, report = convert_state_dict(state, spec.mapper("RSCK", False), target_spec(model))
    assert report.ok(), report.errors()
    load_into_model(out, model)

    rng = np.random.default_rng(7)
    img = rng.standard_normal((1, 3, 64, 96)).astype(np.float32)
    with torch.no_grad():
        want = [f.numpy() for f in image_levels(torch.from_numpy(img))]
    with paddle.no_grad():
        got, pad = model.extract_img_feat(paddle.to_tensor(img))
    assert pad == (64, 96) and len(got) == len(want) == 5
    for g, w in zip(got, want):
        assert g.shape == list(w.shape) and w.std() > 0.1
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-3, atol=1e-3 * np.abs(w).max())

    vfe, tvfe = model.pts_voxel_encoder, ref.pts_voxel_encoder
    pairs = [(vfe.vfe_layers[0], tvfe.vfe_layers[0], (50, 10)),
             (vfe.vfe_layers[1], tvfe.vfe_layers[1], (50, 128)),
             (vfe.fusion_layer.img_transform, tvfe.fusion_layer.img_transform, (50, 640)),
             (vfe.fusion_layer.pts_transform, tvfe.fusion_layer.pts_transform, (50, 64)),
             (vfe.fusion_layer.lateral_convs[4], tvfe.fusion_layer.lateral_convs[4],
              (1, 256, 6, 5))]
    for ours, theirs, shape in pairs:
        x = rng.standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            w = theirs(torch.from_numpy(x)).numpy()
        with paddle.no_grad():
            np.testing.assert_allclose(ours(paddle.to_tensor(x)).numpy(), w, rtol=1e-4,
                                       atol=1e-4 * np.abs(w).max())
