"""The framework-free conversion core: rules, transforms, checks and the report."""
import numpy as np
import pytest

from paddlexseg.convert.core import (ArchSpec, ConversionError, Drop, KeyMapper, ParamSpec, Rule,
                                     apply_transform, convert_state_dict)
from paddlexseg.convert.rangenet import bonnetal_files
from paddlexseg.sparse import weight_from_spconv


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_first_matching_rule_wins_and_bn_names_are_generic():
    mapper = KeyMapper([Drop(r"skip\..*", "not needed"),
                        Rule(r"a\.(fc)\.weight", r"b.\1.weight", "transpose"),
                        Rule(r"a\.(.+)", r"b.\1"),
                        Rule(r"res(\d)\.(.+)",
                             lambda m: f"layer{int(m.group(1)) - 1}.{m.group(2)}")])
    assert mapper("a.fc.weight") == ("b.fc.weight", "transpose")
    assert mapper("a.fc.bias") == ("b.fc.bias", "copy")
    assert mapper("a.bn.running_mean") == ("b.bn._mean", "copy")
    assert mapper("a.bn.running_var") == ("b.bn._variance", "copy")
    assert mapper("res3.conv.weight") == ("layer2.conv.weight", "copy")
    assert isinstance(mapper("a.bn.num_batches_tracked"), Drop)
    assert mapper("skip.x").reason == "not needed"
    assert mapper("other.weight") is None
    with pytest.raises(ConversionError, match="unknown transform 'flip'"):
        KeyMapper([Rule("x", "y", "flip")])


def test_transforms_match_their_definitions():
    w = _arr(5, 3)
    np.testing.assert_array_equal(apply_transform("transpose", w), w.T)
    k = _arr(4, 3, 3, 3, 2)  # spconv 2.x KRSC [Cout, kz, ky, kx, Cin]
    ours = apply_transform("spconv:KRSC", k)
    assert ours.shape == (3, 3, 3, 2, 4)
    np.testing.assert_array_equal(ours[1, 2, 0, :, 3], k[3, 1, 2, 0, :])
    np.testing.assert_array_equal(ours, weight_from_spconv(k, "KRSC"))
    r = _arr(3, 3, 3, 4, 2)  # RSKC [kz, ky, kx, Cout, Cin]
    np.testing.assert_array_equal(apply_transform("spconv:RSKC", r)[0, 1, 2], r[0, 1, 2].T)
    c = _arr(8, 3, 7, 7)
    np.testing.assert_array_equal(apply_transform("bgr_to_rgb", c)[:, 0], c[:, 2])
    t = _arr(6, 4, 1, 4)
    assert apply_transform("conv_transpose", t) is not None
    np.testing.assert_array_equal(apply_transform("conv_transpose", t), t)
    with pytest.raises(ConversionError, match="2-D Linear"):
        apply_transform("transpose", _arr(2, 3, 4))


def _target():
    return {"fc.weight": ParamSpec((3, 5), "float32", "linear", "weight"),
            "fc.bias": ParamSpec((5,), "float32", "linear", "bias"),
            "up.weight": ParamSpec((4, 2, 1, 4), "float32", "conv_transpose", "weight"),
            "bn._mean": ParamSpec((2,), "float32", "other", "_mean")}


def test_convert_checks_shapes_kinds_and_lists_unused_and_missing():
    mapper = KeyMapper([Rule(r"fc\.weight", "fc.weight", "transpose"),
                        Rule(r"up\.weight", "up.weight", "conv_transpose"),
                        Rule(r"(.+)", r"\1")])
    state = {"fc.weight": _arr(5, 3).astype(np.float64), "up.weight": _arr(4, 2, 1, 4),
             "bn.running_mean": _arr(2), "bn.num_batches_tracked": np.array(7)}
    out, report = convert_state_dict(state, mapper, _target(), arch="toy")
    assert report.missing == ["fc.bias"] and not report.problems and not report.unused
    assert out["fc.weight"].dtype == np.float32 and out["fc.weight"].shape == (3, 5)
    np.testing.assert_allclose(out["fc.weight"], state["fc.weight"].T)
    assert [m.note for m in report.mapped if m.dst == "fc.weight"] == ["float64 -> float32"]
    assert report.dropped[0][0] == "bn.num_batches_tracked"
    assert not report.ok() and report.ok(allow_missing=True)
    assert "--allow-missing" in report.errors()[0]
    text = report.format()
    assert "status: REFUSED" in text and "bn.running_mean -> bn._mean  [2] -> [2]  copy" in text
    assert "status: OK" in report.format(allow_missing=True)

    state["extra.weight"] = _arr(1)
    _, report = convert_state_dict(state, KeyMapper([Rule(r"(fc|up|bn)\..+", r"\g<0>")]),
                                   _target())
    problems = "\n".join(report.problems)
    # fc.weight copied: its kind needs 'transpose'; up.weight copied: needs 'conv_transpose'
    assert "'copy' does not suit a 'linear'" in problems
    assert "'copy' does not suit a 'conv_transpose'" in problems
    assert report.unused == ["extra.weight"]
    assert any("unused" in e for e in report.errors(allow_missing=True))


def test_convert_reports_shape_mismatch_duplicates_and_unknown_targets():
    mapper = KeyMapper([Rule(r"fc\.weight(_copy)?", "fc.weight", "transpose"),
                        Rule(r"(.+)", r"\1")])
    state = {"fc.weight": _arr(5, 3), "fc.weight_copy": _arr(5, 3), "fc.bias": _arr(4),
             "nope.weight": _arr(2)}
    _, report = convert_state_dict(state, mapper, _target())
    problems = "\n".join(report.problems)
    assert "both 'fc.weight' and 'fc.weight_copy' map to it" in problems
    assert "fc.bias -> fc.bias: shape [4] (copy) gives [4], the Paddle model expects [5]" \
        in problems
    assert "nope.weight -> nope.weight: the Paddle model has no such parameter" in problems
    assert not report.ok(allow_missing=True)


def test_without_target_only_rules_apply():
    out, report = convert_state_dict({"x.weight": _arr(2, 3)},
                                     KeyMapper([Rule(r"x\.weight", "y.weight", "transpose")]))
    assert out["y.weight"].shape == (3, 2) and report.ok() and report.missing == []


def test_arch_spec_mapper_sets_the_spconv_layout():
    spec = ArchSpec(name="toy", model={}, rules=[Rule(r"conv\.weight", r"\g<0>", "spconv")],
                    description="", sources="", published="", config="")
    assert spec.mapper()("conv.weight")[1] == "spconv2:KRSC"          # spconv 2.x default
    assert spec.mapper("RSCK")("conv.weight")[1] == "spconv:RSCK"      # spconv 1.x
    assert spec.mapper("RSKC")("conv.weight") == ("conv.weight", "spconv2:RSKC")


def test_bonnetal_files_prefix_keys_by_file_name():
    combine = bonnetal_files(("backbone", "segmentation_head"))
    merged, notes = combine([("/x/backbone_train", {"conv1.weight": 1}),
                             ("/x/segmentation_head.npz", {"1.bias": 2})])
    assert merged == {"backbone.conv1.weight": 1, "segmentation_head.1.bias": 2}
    assert any("_train" in n for n in notes)
    with pytest.raises(ConversionError, match="unexpected checkpoint file name 'decoder'"):
        combine([("/x/decoder", {})])
    with pytest.raises(ConversionError, match="already given"):
        combine([("/x/backbone", {}), ("/y/backbone.pth", {})])
    _, notes = combine([("/x/backbone", {})])
    assert "no file given for: segmentation_head" in notes
