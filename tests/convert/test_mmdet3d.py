"""mmdetection3d SECOND / MVX-Net checkpoints -> paddlexseg (issue 13, item 5).

The fixtures are torch-free state dicts with the official key names and shapes
(:mod:`mmdet3d_fixtures`, written from the mmdet3d sources) and random values, in both sparse-conv
layouts: mmcv's ``[kz, ky, kx, Cin, Cout]`` and spconv 2.x's ``[Cout, kz, ky, kx, Cin]``. They
are converted for the models of the full KITTI 3-class configs, loaded strictly, and the sparse
kernels are checked numerically against spconv's definition computed from the source arrays.
"""
import importlib.util
import os
import sys
from collections import OrderedDict

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmdet3d_fixtures as mf  # noqa: E402

from paddlexseg.convert import (ConversionError, build_model, convert_checkpoint,  # noqa: E402
                                get_arch, load_into_model)
from paddlexseg.convert.archs import detect_spconv, target_spec  # noqa: E402
from paddlexseg.convert.core import ArchSpec, ParamSpec, Rule, convert_state_dict  # noqa: E402
from paddlexseg.sparse import SparseTensor  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = {"second-kitti-3class": mf.second_keys, "mvxnet-kitti-3class": mf.mvxnet_keys}


def _tool():
    spec = importlib.util.spec_from_file_location(
        "convert_weights_tool", os.path.join(ROOT, "tools", "convert_weights.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def targets():
    return {arch: target_spec(build_model(get_arch(arch), lazy=True)) for arch in TABLES}


def _convert(arch, state, target):
    spec = get_arch(arch)
    layout, mm, note = detect_spconv(state, spec, target)
    out, report = convert_state_dict(state, spec.mapper(layout, mm), target, arch=arch)
    return out, report, layout


@pytest.mark.parametrize("arch", sorted(TABLES))
@pytest.mark.parametrize("spconv", [1, 2])
def test_every_official_key_maps_to_the_config_model(arch, spconv, targets):
    keys = TABLES[arch](spconv)
    state = {k: np.zeros(s, np.int64 if k.endswith("tracked") else np.float32)
             for k, s in keys.items()}
    out, report, layout = _convert(arch, state, targets[arch])
    assert layout == ("RSCK" if spconv == 1 else "KRSC")
    assert report.ok(), report.errors()
    assert not report.unused and not report.missing and set(out) == set(targets[arch])
    assert {src for src, _ in report.dropped} == {k for k in keys if k.endswith("tracked")}


def _subm_reference(feats, coords, weight, layout):
    """spconv SubMConv3d from the stored weight: out[o] = sum_k x[o + k - c] W_k."""
    site = {tuple(c): i for i, c in enumerate(coords.tolist())}
    ks = weight.shape[1:4] if layout == "KRSC" else weight.shape[:3]
    out = np.zeros((len(coords), weight.shape[0] if layout == "KRSC" else weight.shape[-1]))
    for o, c in enumerate(coords.tolist()):
        for k in np.ndindex(*ks):
            n = (c[0],) + tuple(c[1 + a] + k[a] - (ks[a] - 1) // 2 for a in range(3))
            if n in site:
                w = weight[(slice(None),) + k].T if layout == "KRSC" else weight[k]
                out[o] += feats[site[n]] @ w               # [Cin] @ [Cin, Cout]
    return out


def _conv_out_reference(feats, coords, weight, layout, depth):
    """spconv SparseConv3d kernel (3, 1, 1), stride (2, 1, 1), padding 0: input z = 2 o + k."""
    out = {}
    for x, c in zip(feats, coords.tolist()):
        for kz in range(3):
            oz = c[1] - kz
            if oz % 2 or not 0 <= oz // 2 < (depth - 3) // 2 + 1:
                continue
            w = weight[:, kz, 0, 0, :].T if layout == "KRSC" else weight[kz, 0, 0]
            key = (c[0], oz // 2, c[2], c[3])
            out[key] = out.get(key, 0) + x @ w
    return out


def _check_sparse_kernels(encoder, state, prefix, layout):
    """The converted conv_input / conv_out compute what spconv computes with the stored ones."""
    rng = np.random.default_rng(1)
    shape = (5, 4, 6)
    flat = rng.choice(np.prod(shape), 40, replace=False)
    coords = np.concatenate([np.zeros((40, 1), np.int64),
                             np.stack(np.unravel_index(flat, shape), 1)], 1)
    for layer, name in ((encoder.conv_input[0], "conv_input"), (encoder.conv_out[0], "conv_out")):
        src = state[f"{prefix}middle_encoder.{name}.0.weight"].astype(np.float64)
        cin = src.shape[-1] if layout == "KRSC" else src.shape[-2]
        feats = rng.standard_normal((40, cin)).astype(np.float32)
        x = SparseTensor(paddle.to_tensor(feats), paddle.to_tensor(coords), shape, 1)
        with paddle.no_grad():
            y = layer(x)
        got = y.features.numpy()
        if name == "conv_input":
            np.testing.assert_allclose(got, _subm_reference(feats, coords, src, layout),
                                       rtol=1e-4, atol=1e-3)
        else:
            want = _conv_out_reference(feats, coords, src, layout, shape[0])
            rows = [tuple(c) for c in y.indices.numpy().tolist()]
            assert sorted(rows) == sorted(want)
            np.testing.assert_allclose(got, np.stack([want[r] for r in rows]), rtol=1e-4,
                                       atol=1e-3)


def test_second_spconv2_checkpoint_through_the_tool(tmp_path, capsys):
    state = mf.official_state(mf.second_keys(spconv=2))
    src = tmp_path / "second.npz"
    np.savez(src, **state)
    dst = tmp_path / "second.pdparams"
    _tool().main(["--arch", "second-kitti-3class", "--src", str(src), "--dst", str(dst)])
    printed = capsys.readouterr().out
    assert "status: OK" in printed and "spconv layout KRSC (spconv 2.x" in printed
    model = build_model(get_arch("second-kitti-3class"))
    missing, unexpected = model.set_state_dict(paddle.load(str(dst)))
    assert not missing and not unexpected
    enc = model.middle_encoder
    np.testing.assert_array_equal(enc.conv_input[0].weight.numpy(),
                                  state["middle_encoder.conv_input.0.weight"]
                                  .transpose(1, 2, 3, 4, 0))
    np.testing.assert_array_equal(enc.conv_out[1]._mean.numpy(),
                                  state["middle_encoder.conv_out.1.running_mean"])
    np.testing.assert_array_equal(model.neck.deblocks[1][0].weight.numpy(),
                                  state["neck.deblocks.1.0.weight"])
    np.testing.assert_array_equal(model.bbox_head.conv_dir_cls.bias.numpy(),
                                  state["bbox_head.conv_dir_cls.bias"])
    _check_sparse_kernels(enc, state, "", "KRSC")


def test_mvxnet_mmcv_checkpoint_loads_strictly_with_values_in_place(targets):
    state = mf.official_state(mf.mvxnet_keys(spconv=1), seed=2)
    out, report, layout = _convert("mvxnet-kitti-3class", state, targets["mvxnet-kitti-3class"])
    assert layout == "RSCK" and report.ok(), report.errors()
    model = build_model(get_arch("mvxnet-kitti-3class"), lazy=True)
    load_into_model(out, model)
    vfe = model.pts_voxel_encoder
    np.testing.assert_array_equal(vfe.vfe_layers[1][0].weight.numpy(),
                                  state["pts_voxel_encoder.vfe_layers.1.0.weight"].T)
    fusion = vfe.fusion_layer
    np.testing.assert_array_equal(
        fusion.img_transform[0].weight.numpy(),
        state["pts_voxel_encoder.fusion_layer.img_transform.0.weight"].T)
    np.testing.assert_array_equal(
        fusion.lateral_convs[3].bias.numpy(),
        state["pts_voxel_encoder.fusion_layer.lateral_convs.3.conv.bias"])
    fpn = model.img_neck.fpn
    np.testing.assert_array_equal(fpn.fpn_lateral4.weight.numpy(),
                                  state["img_neck.lateral_convs.2.conv.weight"])
    np.testing.assert_array_equal(fpn.fpn_output5.norm._variance.numpy(),
                                  state["img_neck.fpn_convs.3.bn.running_var"])
    np.testing.assert_array_equal(model.img_backbone.layer3[5].bn2.weight.numpy(),
                                  state["img_backbone.layer3.5.bn2.weight"])
    np.testing.assert_array_equal(model.pts_middle_encoder.conv_input[0].weight.numpy(),
                                  state["pts_middle_encoder.conv_input.0.weight"])
    _check_sparse_kernels(model.pts_middle_encoder, state, "pts_", "RSCK")


def test_unknown_and_missing_keys_are_refused_in_one_error(tmp_path, capsys):
    keys = mf.second_keys(spconv=1)
    state = {k: np.zeros(s, np.float32) for k, s in keys.items()}
    del state["backbone.blocks.1.4.running_var"]
    state["bbox_head.conv_iou.weight"] = np.zeros((6, 512, 1, 1), np.float32)
    src = tmp_path / "bad.npz"
    np.savez(src, **state)
    dst = tmp_path / "bad.pdparams"
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(["--arch", "second-kitti-3class", "--src", str(src), "--dst", str(dst)])
    assert exit_info.value.code == 2 and not dst.exists()
    out, err = capsys.readouterr()
    assert "refusing to write" in err
    assert "bbox_head.conv_iou.weight" in out and "backbone.blocks.1.4._variance" in out


def test_mmengine_pth_with_meta_and_optimizer(tmp_path):
    """A 1.x checkpoint file: ``meta``, ``state_dict`` (with torch's ``_metadata``, spconv 2.x
    modules at version 2), ``message_hub`` and ``optimizer``."""
    torch = pytest.importorskip("torch")
    state = mf.official_state(mf.second_keys(spconv=2))
    sd = OrderedDict((k, torch.from_numpy(np.array(v))) for k, v in state.items())
    sd._metadata = OrderedDict([("", {"version": 1}), ("middle_encoder.conv_input.0",
                                                       {"version": 2})])
    path = tmp_path / "second_hv_secfpn_8xb6-80e_kitti-3d-3class.pth"
    torch.save({"meta": {"mmdet3d_version": "1.1.0", "epoch": 80,
                         "dataset_meta": {"classes": ("Pedestrian", "Cyclist", "Car")}},
                "state_dict": sd, "message_hub": {"log_scalars": {}},
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.0018}]}}, path)
    out, report, model = convert_checkpoint("second-kitti-3class", [str(path)])
    assert report.ok(), report.errors()
    assert any("'state_dict' entry" in n for n in report.notes)
    assert any("spconv layout KRSC (spconv 2.x" in n for n in report.notes)
    load_into_model(out, model)
    np.testing.assert_array_equal(model.backbone.blocks[1][15].weight.numpy(),
                                  state["backbone.blocks.1.15.weight"])


def _one_layer_spec():
    return ArchSpec(name="one", model={}, rules=[Rule(r"w", r"w", "spconv")], description="",
                    sources="", published="", config="", detect_spconv=True)


def test_layout_detection_needs_a_flag_only_when_the_shapes_are_ambiguous():
    spec, target = _one_layer_spec(), {"w": ParamSpec((3, 3, 3, 16, 16), kind="sparse_conv")}
    square = {"w": np.zeros((3, 3, 3, 16, 16), np.float32)}
    with pytest.raises(ConversionError, match="RSCK, RSKC: pass --spconv-layout or "
                                              "--spconv-version"):
        detect_spconv(square, spec, target)
    assert detect_spconv(square, spec, target, "1.2.1")[:2] == ("RSCK", False)
    krsc = {"w": np.zeros((16, 3, 3, 3, 16), np.float32)}
    assert detect_spconv(krsc, spec, target)[:2] == ("KRSC", True)
    wrong = {"w": np.zeros((3, 3, 3, 8, 16), np.float32)}
    assert "not detected" in detect_spconv(wrong, spec, target)[2]
    with pytest.raises(ConversionError, match="--spconv-version"):
        detect_spconv(krsc, spec, target, "3.0")
