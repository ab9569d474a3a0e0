"""SqueezeSegV3: SAC equivalence (memory-efficient vs unfold), structure, outputs, benchmark."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import paddlexseg.losses  # noqa: F401  (registers the losses)
import paddlexseg.models  # noqa: F401  (registers models and backbones)
from paddlexseg.config import load_config
from paddlexseg.losses.composer import LossComposer
from paddlexseg.models.backbones.sac import SACAggregate, SACBlock, SACNet, sac_aggregate_naive
from paddlexseg.registry import MODELS, ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tensor(shape, seed, grad=True):
    t = paddle.to_tensor(np.random.default_rng(seed).standard_normal(shape).astype("float32"))
    t.stop_gradient = not grad
    return t


def _grads(tensors):
    return [None if t.grad is None else t.grad.numpy().copy() for t in tensors]


@pytest.mark.parametrize("need", [(True, True, True, True), (False, True, False, True),
                                  (True, False, True, False)])
def test_sac_aggregate_matches_unfold(need):
    n, c, cout, h, w = 2, 3, 4, 5, 6
    args = [_tensor([n, c, h, w], 0), _tensor([n, 9 * c, h, w], 1),
            _tensor([cout, 9 * c, 1, 1], 2), _tensor([cout], 3)]
    for t, g in zip(args, need):
        t.stop_gradient = not g
    gy = _tensor([n, cout, h, w], 4, grad=False)
    ref = sac_aggregate_naive(*args)
    (ref * gy).sum().backward()
    ref_grads = _grads(args)
    for t in args:
        t.clear_gradient()
    out = SACAggregate.apply(*args)
    (out * gy).sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
    for i, (a, b) in enumerate(zip(_grads(args), ref_grads)):
        assert (a is None) == (not need[i]) and (b is None) == (not need[i])
        if need[i]:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"grad of input {i}")


def test_sac_aggregate_offsets_against_numpy():
    # an independent NumPy 3x3 neighbourhood sum pins down the unfold channel order (c * 9 + k)
    n, c, cout, h, w = 1, 2, 3, 4, 5
    x, a, wt, b = (_tensor([n, c, h, w], 5), _tensor([n, 9 * c, h, w], 6),
                   _tensor([cout, 9 * c, 1, 1], 7), _tensor([cout], 8))
    xp = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    a5 = a.numpy().reshape(n, c, 9, h, w)
    w3 = wt.numpy().reshape(cout, c, 9)
    ref = np.zeros((n, cout, h, w), np.float64) + b.numpy()[None, :, None, None]
    for k in range(9):
        dy, dx = divmod(k, 3)
        prod = xp[:, :, dy:dy + h, dx:dx + w] * a5[:, :, k]
        ref += np.einsum("oc,nchw->nohw", w3[:, :, k], prod)
    np.testing.assert_allclose(SACAggregate.apply(x, a, wt, b).numpy(), ref, rtol=1e-5, atol=1e-5)


def _paired_blocks(c):
    paddle.seed(0)
    fast = SACBlock(c, memory_efficient=True)
    naive = SACBlock(c, memory_efficient=False)
    naive.set_state_dict(fast.state_dict())
    # non-trivial BN statistics so that the folded eval path is really exercised
    for blk in (fast, naive):
        bn = blk.attention_x[1]
        bn._mean.set_value(paddle.full(bn._mean.shape, 0.3))
        bn._variance.set_value(paddle.full(bn._variance.shape, 2.0))
    return fast, naive


@pytest.mark.parametrize("frozen", [False, True])
def test_sac_block_train_matches_unfold(frozen):
    fast, naive = _paired_blocks(4)
    xyz, feat = _tensor([2, 3, 4, 8], 10), _tensor([2, 4, 4, 8], 11, grad=not frozen)
    if frozen:  # frozen attention BN affine and 1x1 conv: the fused op must skip those grads
        for blk in (fast, naive):
            for p in (blk.attention_x[1].weight, blk.attention_x[1].bias,
                      blk.position_mlp_2[0].weight):
                p.stop_gradient = True
    outs, grads = [], []
    for blk in (fast, naive):
        blk.train()
        xyz.clear_gradient()
        feat.clear_gradient()
        out = blk(xyz, feat)
        (out * out).sum().backward()
        outs.append(out.numpy())
        grads.append([xyz.grad.numpy(), None if frozen else feat.grad.numpy()]
                     + [p.grad.numpy() for p in blk.parameters() if not p.stop_gradient])
        assert (feat.grad is None) == frozen
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for a, b in zip(*grads):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # BN running statistics updated identically
    for (k, a), (_, b) in zip(fast.state_dict().items(), naive.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6, err_msg=k)


def test_sac_block_eval_folded_matches_unfold():
    fast, naive = _paired_blocks(3)
    fast.eval()
    naive.eval()
    xyz, feat = _tensor([1, 3, 5, 6], 12, grad=False), _tensor([1, 3, 5, 6], 13, grad=False)
    with paddle.no_grad():
        np.testing.assert_allclose(fast(xyz, feat).numpy(), naive(xyz, feat).numpy(),
                                   rtol=1e-5, atol=1e-5)


def _expected_sac_params(blocks, in_channels=5):
    # independent count from the original SAC.py layer list
    def sac_block(c):  # conv7 (3 -> 9C, bias), BN(9C), conv1x1 (9C -> C, bias), BN, conv3x3, BN
        return (3 * 49 * 9 * c + 9 * c) + 18 * c + (9 * c * c + c) + 2 * c + (9 * c * c + c) + 2 * c

    total = in_channels * 32 * 9 + 2 * 32
    for c, cout, nb, ds in zip([32, 64, 128, 256, 256], [64, 128, 256, 256, 256], blocks,
                               [True, True, True, False, False]):
        total += nb * sac_block(c) + ((c * cout * 9 + 2 * cout) if ds else 0)
    return total


@pytest.mark.parametrize("layers,blocks", [(21, [1, 1, 2, 2, 1]), (53, [1, 2, 8, 8, 4])])
def test_backbone_parameters_match_original(layers, blocks):
    net = SACNet(layers=layers)
    trainable = sum(int(np.prod(p.shape)) for p in net.parameters() if not p.stop_gradient)
    assert trainable == _expected_sac_params(blocks)
    state = net.state_dict()
    assert list(state["enc1.residual_0.attention_x.0.weight"].shape) == [288, 3, 7, 7]
    assert list(state["enc3.conv.weight"].shape) == [256, 128, 3, 3]
    assert list(state["enc4.residual_1.position_mlp_2.3.weight"].shape) == [256, 256, 3, 3]
    assert f"enc3.residual_{blocks[2] - 1}.position_mlp_2.4._variance" in state
    assert "enc4.conv.weight" not in state  # stages 4 and 5 do not downsample
    # BN momenta as the original: bn_d 0.01 in the stem, 0.1 hard-coded in SAC blocks
    assert abs(net.bn1._momentum - 0.99) < 1e-9
    assert abs(net.enc1.residual_0.attention_x[1]._momentum - 0.9) < 1e-9


def test_model_outputs_and_gradients():
    paddle.seed(1)
    model = MODELS.build({"type": "SqueezeSegV3", "num_classes": 6,
                          "backbone": {"type": "SACNet", "layers": 21}})
    x = _tensor([2, 5, 4, 32], 20, grad=False)
    out = model(x)
    expected = {"logits": 32, "aux_logits_1": 16, "aux_logits_2": 8, "aux_logits_3": 4,
                "aux_logits_4": 4}
    assert {k: list(v.shape) for k, v in out.items()} == \
        {k: [2, 6, 4, w] for k, w in expected.items()}
    sum(v.mean() for v in out.values()).backward()
    for name in ("backbone.conv1.weight", "backbone.enc5.residual_0.attention_x.0.weight",
                 "decoder.dec1.upconv.weight", "head1.1.weight", "head5.1.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and float(np.abs(grad.numpy()).sum()) > 0, name
    model.eval()
    with paddle.no_grad():
        out_eval = model(x)
    assert set(out_eval) == set(expected) and np.isfinite(out_eval["logits"].numpy()).all()
    assert "segmentation_head5" not in model.state_dict()
    assert list(model.state_dict()["head5.1.weight"].shape) == [6, 32, 3, 3]
    assert list(model.state_dict()["decoder.dec3.residual.conv1.weight"].shape) == [256, 128, 1, 1]


def test_output_stride_4_and_errors():
    model = MODELS.build({"type": "SqueezeSegV3", "num_classes": 3,
                          "backbone": {"type": "SACNet", "layers": 21, "output_stride": 4}})
    assert model.backbone.strides == [2, 2, 1, 1, 1] and model.decoder.strides == [1, 1, 1, 2, 2]
    model.eval()
    with paddle.no_grad():
        out = model(_tensor([1, 5, 2, 16], 21, grad=False))
    assert [v.shape[3] for v in out.values()] == [16, 8, 4, 4, 4]
    with pytest.raises(ValueError, match="divisible by the output stride 4"):
        model(_tensor([1, 5, 2, 18], 22, grad=False))
    with pytest.raises(ConfigError, match="SACNet.layers"):
        SACNet(layers=34)
    with pytest.raises(ConfigError, match="model.backbone.depth: unknown key"):
        MODELS.build({"type": "SqueezeSegV3", "backbone": {"type": "SACNet", "depth": 21}})


@pytest.mark.parametrize("name", ["squeezesegv3_sac21_semantickitti_150e",
                                  "squeezesegv3_sac53_semantickitti_150e",
                                  "squeezesegv3_sac21_synthetic_quick"])
def test_configs_build(name):
    cfg = load_config(os.path.join(ROOT, "configs", "squeezesegv3", f"{name}.yml"))
    model_cfg = dict(cfg["model"])
    model_cfg["backbone"] = dict(model_cfg["backbone"], layers=21)  # SAC-53 is built above
    model = MODELS.build(model_cfg, path="model")
    composer = LossComposer(cfg["losses"])
    assert composer.entries[0][2] == ["logits", "aux_logits_1", "aux_logits_2", "aux_logits_3",
                                      "aux_logits_4"]
    assert model.backbone.output_stride == 8 and cfg["metric"]["knn"]["k"] == 7


def test_memory_benchmark_tiny():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_sac_memory.py"),
                           "--tiny"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("naive", "ours"))]
    assert len(lines) == 2, proc.stdout
    assert "max |ours - naive|" in proc.stdout


def test_width_mult_scales_encoder_and_decoder():
    paddle.seed(2)
    full = MODELS.build({"type": "SqueezeSegV3", "num_classes": 5,
                         "backbone": {"type": "SACNet", "layers": 21}})
    small = MODELS.build({"type": "SqueezeSegV3", "num_classes": 5,
                          "backbone": {"type": "SACNet", "layers": 21, "width_mult": 0.125}})
    shapes = {k: list(v.shape) for k, v in small.state_dict().items()}
    assert set(shapes) == set(full.state_dict())  # same names: checkpoints stay comparable
    assert shapes["backbone.conv1.weight"] == [4, 5, 3, 3]            # 32 / 8
    assert shapes["backbone.enc5.residual_0.attention_x.0.weight"] == [9 * 32, 3, 7, 7]
    assert shapes["head1.1.weight"] == [5, 32, 1, 1] and shapes["head5.1.weight"] == [5, 4, 3, 3]
    assert small.backbone.last_channels == 32 and small.decoder.channels == [32, 32, 16, 8, 4]
    out = small(_tensor([1, 5, 4, 32], 21, grad=False))
    assert list(out["logits"].shape) == [1, 5, 4, 32]
    assert list(out["aux_logits_4"].shape) == [1, 5, 4, 4]
