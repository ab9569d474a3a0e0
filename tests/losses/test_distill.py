import numpy as np
import paddle
import pytest

from paddlexseg.losses.distill import CrossModalKLLoss, kl_divergence
from paddlexseg.registry import ConfigError


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _torch_kl_mean(student, teacher):
    """torch F.kl_div(log_softmax(s), softmax(t)) with reduction='mean' in NumPy."""
    p, q = _softmax(teacher), _softmax(student)
    return float((p * (np.log(p) - np.log(q))).mean())


def test_matches_torch_formula_and_reductions():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)) * 2
    ref = _torch_kl_mean(s, t)
    st, tt = paddle.to_tensor(s, "float32"), paddle.to_tensor(t, "float32")
    assert np.isclose(kl_divergence(st, tt).item(), ref, rtol=1e-5)
    assert np.isclose(kl_divergence(st, tt, "batchmean").item(), ref * 5, rtol=1e-5)
    assert np.isclose(kl_divergence(st, tt, "sum").item(), ref * 35, rtol=1e-5)
    assert abs(kl_divergence(st, st).item()) < 1e-6


def test_teacher_is_detached_and_student_gets_gradient():
    rng = np.random.default_rng(1)
    s = paddle.to_tensor(rng.normal(size=(4, 3)), "float32", stop_gradient=False)
    t = paddle.to_tensor(rng.normal(size=(4, 3)), "float32", stop_gradient=False)
    CrossModalKLLoss()(s, t).backward()
    assert t.grad is None
    assert s.grad is not None and float(s.grad.abs().sum()) > 0


def test_scales_averaged_and_empty_is_zero():
    rng = np.random.default_rng(2)
    pairs = [(rng.normal(size=(6, 4)), rng.normal(size=(6, 4))) for _ in range(3)]
    loss = CrossModalKLLoss()([paddle.to_tensor(a, "float32") for a, _ in pairs],
                              [paddle.to_tensor(b, "float32") for _, b in pairs])
    assert np.isclose(loss.item(), np.mean([_torch_kl_mean(a, b) for a, b in pairs]), rtol=1e-5)
    empty = paddle.zeros([0, 4])
    empty.stop_gradient = False
    out = CrossModalKLLoss()(empty, paddle.zeros([0, 4]))
    assert out.item() == 0.0 and np.isfinite(out.item())


def test_errors():
    with pytest.raises(ConfigError, match="reduction"):
        CrossModalKLLoss(reduction="avg")
    with pytest.raises(ValueError, match="equal shape"):
        kl_divergence(paddle.zeros([3, 4]), paddle.zeros([3, 5]))
    with pytest.raises(ValueError, match="scales"):
        CrossModalKLLoss()([paddle.zeros([2, 3])], [])
