"""Public parity hooks (issue 19): head-only / 2D-only converter archs and their models, the
PointRend refine step and recorded training points, 2DPASS image features, the range models'
dropout switch and combined range-model state dicts."""
import os
import sys

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_fixtures as cf  # noqa: E402

from paddlexseg.convert import (build_model, convert_state_dict, get_arch,  # noqa: E402
                                load_into_model, target_spec)
from paddlexseg.models.pointrend import PointRendFPN  # noqa: E402
from paddlexseg.models.pointrend_head import PointRendSemSegHead  # noqa: E402
from paddlexseg.models.rangenet import RangeNet  # noqa: E402
from paddlexseg.models.squeezesegv3 import SqueezeSegV3  # noqa: E402
from paddlexseg.models.twodpass.model import TwoDPASS, TwoDPASSImage  # noqa: E402

SMALL_HEAD = dict(num_classes=5, fpn_channels=32, head_conv_dims=32, fc_dim=32,
                  train_num_points=96, subdivision_num_points=300)


def test_pointrend_head_arch_converts_sem_seg_head_keys_alone():
    spec = get_arch("pointrend-head")
    keys = cf.pointrend_keys(50)
    head_only = {k: s for k, s in keys.items() if k.startswith("sem_seg_head.")}
    model = build_model(spec, lazy=True)
    for state in (cf.synthetic_state(head_only), cf.synthetic_state(keys)):
        converted, report = convert_state_dict(state, spec.mapper(), target_spec(model))
        assert report.errors() == [] and set(converted) == set(model.state_dict())
    assert any(src.startswith("backbone.bottom_up.") for src, _ in report.dropped)
    load_into_model(converted, model)
    assert isinstance(model, PointRendSemSegHead)


def test_pointrend_head_and_refine_step_reproduce_the_full_model():
    paddle.seed(0)
    full = PointRendFPN(backbone={"type": "ResNet", "depth": 18}, **SMALL_HEAD)
    head = PointRendSemSegHead(**SMALL_HEAD)
    head.set_state_dict({k: v for k, v in full.state_dict().items()
                         if k.startswith(("coarse_sem_seg_head.", "point_head."))})
    image = paddle.randn([1, 3, 64, 96])
    full.eval(), head.eval()
    with paddle.no_grad():
        feats, coarse = full.features(image)
        refined, chosen = full.refine(feats, coarse)
        out = head(**feats)
        assert len(chosen) == 2 == len(out["point_indices"])
        for a, b in zip(chosen, out["point_indices"]):
            assert list(a.shape) == [1, 300]
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_allclose(out["logits"].numpy(), refined.numpy(), atol=1e-5)
        np.testing.assert_allclose(full(image)["logits"].numpy(),
                                   paddle.nn.functional.interpolate(
                                       refined, size=[64, 96], mode="bilinear").numpy(),
                                   atol=1e-5)
    # recorded training points instead of paddle.rand: both models, same point logits
    full.train(), head.train()
    coords = paddle.to_tensor(np.random.default_rng(0).uniform(0, 1, (1, 50, 2))
                              .astype(np.float32))
    a = full(image, point_coords=coords)
    b = head(**{k: v.detach() for k, v in full.features(image)[0].items()}, point_coords=coords)
    np.testing.assert_array_equal(a["point_coords"].numpy(), coords.numpy())
    np.testing.assert_allclose(a["point_logits"].numpy(), b["point_logits"].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match=r"point_coords must be \[B, P, 2\]"):
        full(image, point_coords=coords[:, :, :1])


def test_twodpass_2d_arch_and_return_features():
    spec = get_arch("2dpass-small-2d")
    state = cf.synthetic_state(cf.twodpass_keys(64, 4))
    model = build_model(spec, lazy=True)
    converted, report = convert_state_dict(state, spec.mapper(), target_spec(model))
    assert report.errors() == [] and set(converted) == set(model.state_dict())
    assert all(k.startswith("model_2d.") for k in converted)
    assert any(src.startswith("model_3d.") for src, _ in report.dropped)

    paddle.seed(1)
    tiny = dict(num_classes=6, hidden_size=8, spatial_shape=[40, 40, 8],
                min_volume=[-10, -10, -2], max_volume=[10, 10, 1])
    full = TwoDPASS(return_features=True, **tiny)
    image_net = TwoDPASSImage(hidden_size=8)
    image_net.set_state_dict({k: v for k, v in full.state_dict().items()
                              if k.startswith("model_2d.")})
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-10, -10, -2], [10, 10, 1], (200, 3))
    inputs = {"points": paddle.to_tensor(np.concatenate([xyz, rng.uniform(0, 1, (200, 1))], 1)
                                         .astype(np.float32)),
              "batch_idx": paddle.zeros([200], "int64"),
              "img": paddle.to_tensor(rng.normal(size=(1, 3, 32, 48)).astype(np.float32)),
              "img_indices": paddle.to_tensor(np.stack([rng.integers(0, 32, 30),
                                                        rng.integers(0, 48, 30)], 1)),
              "point2img_index": paddle.to_tensor(np.sort(rng.choice(200, 30, replace=False)))}
    full.eval(), image_net.eval()
    with paddle.no_grad():
        feats = full(**inputs)["img_features"]
        alone = image_net(inputs["img"], inputs["img_indices"])["img_features"]
    assert sorted(feats) == [2, 4, 8, 16]
    for scale in feats:
        assert list(feats[scale].shape) == [30, 8]
        np.testing.assert_allclose(feats[scale].numpy(), alone[scale].numpy(), atol=1e-5)
    full.train()
    assert "img_features" in full(**inputs)
    full.return_features = False
    assert "img_features" not in full(**inputs)


@pytest.mark.parametrize("cls, backbone", [
    (RangeNet, {"type": "DarkNet", "layers": 21, "output_stride": 32, "dropout": 0.5}),
    (SqueezeSegV3, {"type": "SACNet", "layers": 21, "output_stride": 8, "dropout": 0.5})])
def test_range_models_dropout_flag(cls, backbone):
    x = paddle.randn([1, 5, 8, 64])
    on = cls(backbone=backbone, head_dropout=0.5, decoder_dropout=0.5)
    off = cls(backbone=backbone, head_dropout=0.5, decoder_dropout=0.5, dropout=False)
    drops = [m for m in off.sublayers() if isinstance(m, (paddle.nn.Dropout2D,
                                                          paddle.nn.Dropout))]
    assert drops and all(m.p == 0.0 for m in drops)
    assert all(m.p == 0.5 for m in on.sublayers() if isinstance(m, paddle.nn.Dropout2D))
    assert set(on.state_dict()) == set(off.state_dict())          # same checkpoint keys
    off.set_state_dict(on.state_dict())
    on.train(), off.train()
    with paddle.no_grad():
        a, b = off(x)["logits"].numpy(), off(x)["logits"].numpy()
        np.testing.assert_array_equal(a, b)                        # deterministic in train mode
        assert not np.allclose(on(x)["logits"].numpy(), on(x)["logits"].numpy())


@pytest.mark.parametrize("arch, files, modules", [
    ("rangenet-darknet21", cf.rangenet_files(21),
     {"backbone": "backbone", "segmentation_decoder": "decoder",
      "segmentation_head": "head"}),
    ("squeezesegv3-21", cf.squeezesegv3_files(21),
     dict({"backbone": "backbone", "segmentation_decoder": "decoder"},
          **{f"segmentation_head{i}": f"head{i}" for i in range(1, 6)}))])
def test_range_converters_accept_one_combined_state_dict(arch, files, modules):
    spec = get_arch(arch)
    per_file = [(f"/ckpt/{name}", cf.synthetic_state(keys)) for name, keys in files.items()]
    merged, _ = spec.combine(per_file)
    combined = {f"{modules[name]}.{k}": v for (path, arrays), name in zip(per_file, files)
                for k, v in arrays.items()}                       # Segmentator.state_dict()
    again, notes = spec.combine([("/ckpt/model.pth", combined)])
    assert sorted(again) == sorted(merged) and any("combined state dict" in n for n in notes)
    for key in merged:
        np.testing.assert_array_equal(again[key], merged[key])
    model = build_model(spec, lazy=True)
    _, report = convert_state_dict(again, spec.mapper(), target_spec(model))
    assert report.errors() == []
