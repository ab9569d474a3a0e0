"""Each architecture: official key names/shapes -> converted -> loaded strictly into the model.

The synthetic checkpoints come from ``convert_fixtures`` (names generated from the original code's
rules). Expected target names and values are computed here independently of the converter's
rules: names by the families' naming conventions (and, for PointRend, the model's own
``detectron2_to_paddle_key``), values by the kind of Paddle layer that owns each parameter.
"""
import os
import re
import sys

import numpy as np
import pytest
from paddle import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_fixtures as cf  # noqa: E402

from paddlexseg.convert import (ARCHS, build_model, convert_state_dict, get_arch,  # noqa: E402
                                load_into_model, target_spec)
from paddlexseg.convert.archs import model_config  # noqa: E402
from paddlexseg.models.pointrend import detectron2_to_paddle_key  # noqa: E402
from paddlexseg.sparse import SubMConv3d  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BN = {"running_mean": "_mean", "running_var": "_variance"}


def _bn_rename(key):
    head, _, last = key.rpartition(".")
    return f"{head}.{_BN.get(last, last)}"


def _expected_name(arch, src):
    if arch.startswith(("rangenet", "squeezesegv3")):
        file, _, key = src.partition(".")
        prefix = {"backbone": "backbone", "segmentation_decoder": "decoder"}.get(file)
        prefix = prefix or re.sub(r"segmentation_head(\d?)", r"head\1", file)
        return _bn_rename(f"{prefix}.{key}")
    if arch.startswith("pointrend"):
        return detectron2_to_paddle_key(src)
    return _bn_rename(src)  # 2DPASS keeps the original module names


def _expected_value(model, layers, dst, src_array):
    owner, _, param = dst.rpartition(".")
    layer = layers.get(owner)
    if param == "weight" and isinstance(layer, nn.Linear):
        return src_array.T
    if param == "weight" and isinstance(layer, SubMConv3d):
        if src_array.shape[1:4] == (1, 1, 1):  # spconv 2.x conv1x1: weight.view(Cin, Cout)
            return src_array.reshape(src_array.shape[4], src_array.shape[0])[None, None, None]
        return np.transpose(src_array, (1, 2, 3, 4, 0))  # [Cout, k,k,k, Cin] -> [k,k,k, Cin, Cout]
    if dst == "backbone.conv1.weight" and arch_is_pointrend(model):
        return src_array[:, ::-1]
    return src_array


def arch_is_pointrend(model):
    return type(model).__name__ == "PointRendFPN"


def _sources_shapes(arch):
    """(file names, {file name: {key: shape}}) of an official checkpoint."""
    depth = int(re.search(r"(\d+)$", arch).group(1)) if not arch.startswith("2dpass") else 0
    if arch.startswith("rangenet"):
        files = cf.rangenet_files(depth)
    elif arch.startswith("squeezesegv3"):
        files = cf.squeezesegv3_files(depth)
    elif arch.startswith("pointrend"):
        files = {"model_final.pkl": cf.pointrend_keys(depth)}
    else:
        hidden, scales = {"2dpass-small": (64, 4), "2dpass-large": (256, 6)}[
            arch.replace("-3d", "")]
        files = {"last.ckpt": cf.twodpass_keys(hidden, scales)}
    return list(files), files


def _sources(arch):
    """(list of (file path, {key: array}), {file name: {key: shape}}) of an official checkpoint."""
    _, files = _sources_shapes(arch)
    sources = [(f"/ckpt/{name}", cf.synthetic_state(keys)) for name, keys in files.items()]
    return sources, files


def _check_names(arch, report):
    for entry in report.mapped:
        assert entry.dst == _expected_name(arch, entry.src), entry
    dropped = {src for src, _ in report.dropped}
    assert all(k.endswith(("num_batches_tracked", "pixel_mean", "pixel_std", "ce_loss.weight"))
               or k.startswith(("model_2d.", "fusion.")) for k in dropped)
    if arch.endswith("-3d"):
        assert any(k.startswith("model_2d.") for k in dropped)


@pytest.mark.parametrize("arch", ["rangenet-darknet21", "squeezesegv3-21", "pointrend-r50",
                                  "2dpass-small", "2dpass-small-3d"])
def test_official_keys_convert_and_load_strictly(arch):
    spec = get_arch(arch)
    sources, _ = _sources(arch)
    state, _ = spec.combine(sources)
    model = build_model(spec, lazy=True)
    converted, report = convert_state_dict(state, spec.mapper(), target_spec(model), arch=arch)
    assert report.errors() == [], report.format()[:3000]
    assert not report.unused and not report.missing and not report.problems
    assert set(converted) == set(model.state_dict())
    assert len(report.mapped) + len(report.dropped) == len(state)
    _check_names(arch, report)
    load_into_model(converted, model)  # raises on unexpected keys or changed values
    params, layers = model.state_dict(), dict(model.named_sublayers())
    for entry in report.mapped:
        expected = _expected_value(model, layers, entry.dst, state[entry.src])
        assert np.array_equal(params[entry.dst].numpy(), expected), entry


@pytest.mark.parametrize("arch", ["rangenet-darknet53", "squeezesegv3-53", "pointrend-r101",
                                  "2dpass-large", "2dpass-large-3d"])
def test_large_variants_match_names_shapes_and_layer_kinds(arch):
    """Same as above without weights: a lazily built model's parameter table and zero-cost
    (broadcast) source arrays; values are covered by the small variant of each family."""
    spec = get_arch(arch)
    _, files = _sources_shapes(arch)
    state = {}
    for name, keys in files.items():
        prefix = f"{name}." if len(files) > 1 else ""
        state.update({prefix + k: np.broadcast_to(np.float32(0.5), s) for k, s in keys.items()})
    model = build_model(spec, lazy=True)
    target = target_spec(model)
    converted, report = convert_state_dict(state, spec.mapper(), target, arch=arch)
    assert report.errors() == [], report.format()[:3000]
    assert set(converted) == set(target) and len(report.mapped) + len(report.dropped) == len(state)
    _check_names(arch, report)


@pytest.mark.parametrize("arch", sorted(cf.SAMPLED))
def test_sampled_official_keys_are_in_the_fixture(arch):
    _, files = _sources_shapes(arch)
    for file, key, shape in cf.SAMPLED[arch]:
        keys = files[file] if file else next(iter(files.values()))
        assert keys.get(key) == shape, (file, key)


def test_unrelated_checkpoint_is_refused_with_named_keys():
    spec = get_arch("squeezesegv3-21")
    sources, _ = _sources("rangenet-darknet21")  # wrong family: DarkNet encoder, 1024-wide
    sources = [(p, s) for p, s in sources if not p.endswith("segmentation_head")]
    state, _ = spec.combine(sources)
    model = build_model(spec, lazy=True)
    _, report = convert_state_dict(state, spec.mapper(), target_spec(model), arch=spec.name)
    errors = report.errors()
    assert any("no such parameter" in p for p in report.problems)
    assert "head1.1.weight" in report.missing and any("missing" in e for e in errors)


def test_lidar_only_arch_accepts_a_baseline_only_checkpoint():
    spec = get_arch("2dpass-small-3d")
    state = cf.synthetic_state(cf.twodpass_keys(64, 4, full=False, class_weights=False))
    model = build_model(spec, lazy=True)
    converted, report = convert_state_dict(state, spec.mapper(), target_spec(model))
    assert report.errors() == []
    assert all(src.endswith("num_batches_tracked") for src, _ in report.dropped)
    assert len(converted) == len(model.state_dict())


def _plain(value):
    """Tuples as lists, recursively (YAML gives lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _config_model(path):
    from paddlexseg.config import load_config
    return load_config(path)["model"]


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_arch_model_matches_its_config_file(arch):
    """The converter builds the model the referenced config evaluates, up to the overrides
    the report notes name (PointRend: stride_in_1x1 for detectron2's MSRA ResNets)."""
    spec = ARCHS[arch]
    path = os.path.join(ROOT, spec.config.split(" ")[0])
    assert os.path.isfile(path), path
    cfg = _config_model(path)
    ours = model_config(spec)               # a dict, or the model section of a config file
    if arch.endswith("-2d") or arch == "pointrend-head":     # a part of the config's model
        assert ours.pop("type") in ("TwoDPASSImage", "PointRendSemSegHead")
    if arch.endswith("-3d"):
        assert ours.pop("baseline_only") is True
        cfg.pop("baseline_only", None)
    if arch.startswith("pointrend") and "backbone" in ours:
        assert ours["backbone"].pop("stride_in_1x1") is True
        assert any("stride_in_1x1" in n for n in spec.notes)
    for key, value in cfg.items():
        if key in ours:
            assert _plain(ours[key]) == _plain(value), (arch, key)
