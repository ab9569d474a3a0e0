"""Converted SECOND against mmdet3d's modules rebuilt in torch (skipped without torch).

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
