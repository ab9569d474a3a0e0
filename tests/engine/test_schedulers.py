"""Warm-up schedules: the first optimizer step never runs at learning rate 0."""
import pytest

from paddlexseg.engine import schedulers as S


def _lrs(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.get_lr())
        sched.step()
    return out


@pytest.mark.parametrize("cls,kwargs", [
    (S.WarmupPoly, {}), (S.WarmupCosine, {}), (S.Constant, {}),
    (S.WarmupExponential, {"warmup_epochs": 1.0}), (S.StepDecay, {"step_iters": 100}),
])
def test_first_step_above_zero_and_full_rate_at_end_of_warmup(cls, kwargs):
    kwargs = dict(kwargs)
    if cls is not S.WarmupExponential:
        kwargs["warmup_iters"] = 4
    sched = cls(learning_rate=0.1, total_iters=20, iters_per_epoch=4, **kwargs)
    lrs = _lrs(sched, 6)
    assert lrs[0] == pytest.approx(0.025)          # step 1 of 4: a quarter of the rate
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert all(b > a for a, b in zip(lrs[:3], lrs[1:4]))


def test_warmup_start_lr_is_the_floor():
    sched = S.WarmupPoly(learning_rate=0.01, warmup_iters=2, warmup_start_lr=0.002,
                         total_iters=10)
    assert _lrs(sched, 3)[:2] == pytest.approx([0.006, 0.01])


def test_no_warmup_starts_at_the_rate():
    sched = S.WarmupPoly(learning_rate=0.01, total_iters=10, power=1.0)
    assert _lrs(sched, 2) == pytest.approx([0.01, 0.009])
