"""PointRend: point sampling against NumPy, point selection, train/eval outputs, subdivision,
checkpoint key table and export (paddle.jit.save/load gives the same logits)."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddlexseg.models.layers.fpn import FPN, SemSegFPNHead
from paddlexseg.models.layers.point_sample import (calculate_uncertainty,
                                                   get_uncertain_point_coords_on_grid,
                                                   get_uncertain_point_coords_with_randomness,
                                                   point_sample)
from paddlexseg.models.pointrend import PointRendFPN, detectron2_to_paddle_key

SMALL = dict(backbone={"type": "ResNet", "depth": 18}, num_classes=5, fpn_channels=32,
             head_conv_dims=32, fc_dim=32, train_num_points=96, subdivision_num_points=300)


def _bilinear_ref(feat, coords):
    """NumPy grid_sample(align_corners=False, zeros padding) at [0, 1] points: [C,H,W],[P,2]."""
    c, h, w = feat.shape
    out = np.zeros((c, len(coords)))
    for p, (x, y) in enumerate(coords):
        ix, iy = x * w - 0.5, y * h - 0.5
        x0, y0 = int(np.floor(ix)), int(np.floor(iy))
        for xx, wx in ((x0, 1 - (ix - x0)), (x0 + 1, ix - x0)):
            for yy, wy in ((y0, 1 - (iy - y0)), (y0 + 1, iy - y0)):
                if 0 <= xx < w and 0 <= yy < h:
                    out[:, p] += wx * wy * feat[:, yy, xx]
    return out


def test_point_sample_matches_numpy_bilinear():
    rng = np.random.default_rng(0)
    feat = rng.normal(size=(2, 3, 5, 7)).astype(np.float32)
    coords = rng.uniform(0, 1, size=(2, 40, 2)).astype(np.float32)
    coords[:, :4] = [[0.0, 0.0], [1.0, 1.0], [0.01, 0.99], [0.5, 0.5]]  # borders and centre
    out = point_sample(paddle.to_tensor(feat), paddle.to_tensor(coords)).numpy()
    assert out.shape == (2, 3, 40)
    for b in range(2):
        np.testing.assert_allclose(out[b], _bilinear_ref(feat[b], coords[b]), atol=1e-5)
    grid = point_sample(paddle.to_tensor(feat), paddle.to_tensor(coords.reshape(2, 5, 8, 2)))
    np.testing.assert_allclose(grid.numpy().reshape(2, 3, 40), out, atol=1e-6)


def test_point_sample_nearest_picks_floor_pixel():
    labels = np.arange(4 * 6, dtype=np.float32).reshape(1, 1, 4, 6)
    coords = np.random.default_rng(1).uniform(0.001, 0.999, (1, 50, 2)).astype(np.float32)
    out = point_sample(paddle.to_tensor(labels), paddle.to_tensor(coords), mode="nearest")
    expect = np.floor(coords[0, :, 1] * 4) * 6 + np.floor(coords[0, :, 0] * 6)
    np.testing.assert_array_equal(out.numpy()[0, 0], expect)


def test_uncertainty_and_grid_selection():
    logits = paddle.to_tensor([[[[3.0, 0.0], [1.0, 2.0]], [[1.0, 0.5], [1.0, -1.0]],
                                [[0.0, 0.2], [0.9, 0.0]]]])  # [1, 3, 2, 2]
    unc = calculate_uncertainty(logits).numpy()
    np.testing.assert_allclose(unc, [[[[-2.0, -0.3], [-0.0, -2.0]]]], atol=1e-6)
    rng = np.random.default_rng(2)
    umap = rng.normal(size=(2, 1, 6, 10)).astype(np.float32)
    idx, coords = get_uncertain_point_coords_on_grid(paddle.to_tensor(umap), 7)
    flat = umap.reshape(2, -1)
    for b in range(2):
        assert set(idx.numpy()[b]) == set(np.argsort(-flat[b])[:7])
    i = idx.numpy()
    np.testing.assert_allclose(coords.numpy()[..., 0], (i % 10 + 0.5) / 10, atol=1e-6)
    np.testing.assert_allclose(coords.numpy()[..., 1], (i // 10 + 0.5) / 6, atol=1e-6)
    idx, _ = get_uncertain_point_coords_on_grid(paddle.to_tensor(umap), 1000)
    assert idx.shape == [2, 60]  # capped at H * W


def test_training_points_concentrate_on_uncertain_region():
    paddle.seed(0)
    x = paddle.linspace(-1, 1, 32).reshape([1, 1, 1, 32]).expand([2, 1, 16, 32])
    logits = paddle.concat([x * 5, -x * 5], axis=1)  # boundary at x = 0.5
    coords = get_uncertain_point_coords_with_randomness(logits, calculate_uncertainty, 100, 3,
                                                        0.75).numpy()
    assert coords.shape == (2, 100, 2) and coords.min() >= 0 and coords.max() <= 1
    important = np.abs(coords[:, :75, 0] - 0.5)
    randoms = np.abs(coords[:, 75:, 0] - 0.5)
    # the 75 most uncertain of 300 draws lie near the boundary (up to a few next to the top and
    # bottom borders, where zero padding shrinks the logits as in torch's grid_sample)
    assert (important < 0.15).mean() > 0.9 and randoms.max() > 0.3
    with pytest.raises(ValueError, match="importance_sample_ratio"):
        get_uncertain_point_coords_with_randomness(logits, calculate_uncertainty, 10, 3, 1.5)


def test_fpn_and_head_shapes_and_errors():
    feats = [paddle.randn([1, c, 32 // s, 64 // s]) for c, s in ((8, 1), (16, 2), (32, 4), (64, 8))]
    fpn = FPN(in_channels=(8, 16, 32, 64), in_strides=(4, 8, 16, 32), out_channels=32)
    pyramid = fpn(feats)
    assert {k: v.shape[2:] for k, v in pyramid.items()} == {
        "p2": [32, 64], "p3": [16, 32], "p4": [8, 16], "p5": [4, 8]}
    head = SemSegFPNHead(in_channels=32, conv_dims=32, num_classes=3)
    assert head(pyramid).shape == [1, 3, 32, 64]
    assert "p5.4.norm.weight" in head.state_dict()  # 3 conv + upsample stages from stride 32
    with pytest.raises(ValueError, match="multiple of 32"):
        SemSegFPNHead(in_channels=32, conv_dims=48)
    with pytest.raises(ValueError, match="strides must double"):
        FPN(in_channels=(8, 16), in_strides=(4, 16))


@pytest.fixture(scope="module")
def model():
    paddle.seed(0)
    return PointRendFPN(**SMALL)


def test_train_outputs_and_gradients(model):
    model.train()
    out = model(paddle.randn([2, 3, 64, 128]))
    assert list(out["logits"].shape) == [2, 5, 16, 32]
    assert list(out["point_logits"].shape) == [2, 5, 96]
    assert list(out["point_coords"].shape) == [2, 96, 2]
    assert out["point_coords"].stop_gradient
    (out["logits"].mean() + out["point_logits"].mean()).backward()
    for p in (model.point_head.fc1.weight, model.backbone.layer1[0].conv1.weight,
              model.coarse_sem_seg_head.predictor.weight, model.fpn.fpn_lateral5.weight):
        assert p.grad is not None and float(paddle.abs(p.grad).sum()) > 0
    model.clear_gradients()
    with pytest.raises(ValueError, match="divisible by 32"):
        model(paddle.randn([1, 3, 50, 64]))


def test_eval_subdivision_rewrites_only_uncertain_cells(model):
    model.eval()
    image = paddle.randn([2, 3, 64, 128])
    with paddle.no_grad():
        out = model(image)
        feats = model.fpn(model.backbone(image))
        coarse = model.coarse_sem_seg_head(feats)
        # reference for the first subdivision step, with NumPy selection and assignment
        up = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
        unc = calculate_uncertainty(up).numpy().reshape(2, -1)
        sel = np.argsort(-unc, axis=1, kind="stable")[:, :300]  # [2, 300]
        h, w = up.shape[2], up.shape[3]
        coords = np.stack([(sel % w + 0.5) / w, (sel // w + 0.5) / h], -1).astype(np.float32)
        pc = paddle.to_tensor(coords)
        plog = model.point_head(point_sample(feats["p2"], pc), point_sample(coarse, pc)).numpy()
        ref = up.numpy().reshape(2, 5, -1).copy()
        for b in range(2):
            ref[b][:, sel[b]] = plog[b]
        model.subdivision_steps = 1
        try:
            got, chosen = model.refine(feats, coarse)      # public parity hook
            got = got.numpy().reshape(2, 5, -1)
        finally:
            model.subdivision_steps = 2
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert len(chosen) == 1 and list(chosen[0].shape) == [2, 300]
    np.testing.assert_array_equal(np.sort(chosen[0].numpy(), 1), np.sort(sel, 1))
    assert list(out["logits"].shape) == [2, 5, 64, 128]
    assert list(out["coarse_logits"].shape) == [2, 5, 64, 128]
    np.testing.assert_allclose(out["coarse_logits"].numpy(),
                               F.interpolate(coarse, size=[64, 128], mode="bilinear").numpy(),
                               atol=1e-5)
    changed = np.abs(out["logits"].numpy() - out["coarse_logits"].numpy()).max(axis=1) > 1e-6
    assert 0 < changed.sum() < changed.size


def test_eval_pads_odd_sizes(model):
    model.eval()
    with paddle.no_grad():
        out = model(paddle.randn([1, 3, 50, 70]))
    assert list(out["logits"].shape) == [1, 5, 50, 70]
    assert np.isfinite(out["logits"].numpy()).all()


def _detectron2_pointrend_keys():
    bn = ("weight", "bias", "running_mean", "running_var")
    keys = ["backbone.bottom_up.stem.conv1.weight"]
    keys += [f"backbone.bottom_up.stem.conv1.norm.{p}" for p in bn]
    for s in range(2, 6):
        for b in range(2):
            for c in ["conv1", "conv2"] + (["shortcut"] if b == 0 and s > 2 else []):
                keys.append(f"backbone.bottom_up.res{s}.{b}.{c}.weight")
                keys += [f"backbone.bottom_up.res{s}.{b}.{c}.norm.{p}" for p in bn]
        keys += [f"backbone.fpn_{k}{s}.{p}" for k in ("lateral", "output")
                 for p in ("weight", "bias")]
    head = "sem_seg_head.coarse_sem_seg_head"
    for s, convs in ((2, 1), (3, 1), (4, 2), (5, 3)):
        for i in range(convs):
            j = 2 * i if s > 2 else 0
            keys += [f"{head}.p{s}.{j}.weight", f"{head}.p{s}.{j}.norm.weight",
                     f"{head}.p{s}.{j}.norm.bias"]
    keys += [f"{head}.predictor.weight", f"{head}.predictor.bias"]
    keys += [f"sem_seg_head.point_head.{n}.{p}" for n in ("fc1", "fc2", "fc3", "predictor")
             for p in ("weight", "bias")]
    return keys


def test_detectron2_key_table_covers_the_model(model):
    mapped = [detectron2_to_paddle_key(k) for k in _detectron2_pointrend_keys()]
    assert len(set(mapped)) == len(mapped)
    assert set(mapped) == set(model.state_dict())
    assert detectron2_to_paddle_key("pixel_mean") is None


def test_export_and_load_give_the_same_logits(model, tmp_path):
    model.eval()
    spec = [paddle.static.InputSpec([None, 3, 64, 128], "float32", "image")]
    static = paddle.jit.to_static(model, input_spec=spec, full_graph=True)
    paddle.jit.save(static, str(tmp_path / "model"))
    loaded = paddle.jit.load(str(tmp_path / "model"))
    loaded.eval()
    for batch in (2, 1):
        image = paddle.randn([batch, 3, 64, 128])
        with paddle.no_grad():
            ref = model(image)
            got = loaded(image)
        names = sorted(ref)  # a saved dict output comes back as a list in sorted-key order
        assert names == ["coarse_logits", "logits"] and len(got) == 2
        for name, tensor in zip(names, got):
            np.testing.assert_allclose(tensor.numpy(), ref[name].numpy(), atol=1e-4, rtol=1e-4)
