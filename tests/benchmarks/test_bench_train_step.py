"""benchmarks/bench_train_step.py: every phase is timed, across an epoch boundary."""
import copy
import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "engine"))
import toy  # noqa: E402

from paddlexseg.config import validate  # noqa: E402


def test_phases_are_timed_over_an_epoch_boundary():
    spec = importlib.util.spec_from_file_location(
        "bench_train_step", os.path.join(REPO, "benchmarks", "bench_train_step.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cfg = validate(copy.deepcopy(toy.TOY_CFG))  # 12 samples, batch 4: 3 steps per epoch
    res = bench.run(cfg, iters=4, warmup=1, num_workers=0, profile=False)
    assert set(res) == {"wall", "cpu"} and set(res["cpu"]) == set(bench.PHASES)
    for phase in ("data", "forward", "backward", "total"):
        assert res["wall"][phase] > 0, phase
    assert res["wall"]["total"] >= res["wall"]["forward"] + res["wall"]["backward"]
