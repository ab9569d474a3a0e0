"""benchmarks/bench_second.py --tiny runs (train step and inference) and reports finite times."""
import importlib.util
import math
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bench_second_tiny():
    path = os.path.join(REPO, "benchmarks", "bench_second.py")
    spec = importlib.util.spec_from_file_location("bench_second", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    scan, boxes, labels = bench.simulated_scan()
    assert scan.shape[1] == 4 and boxes.shape[1] == 7 and labels.shape == (boxes.shape[0],)
    rows = bench.main(["--tiny", "--repeats", "1"])
    assert [r[0].split()[0] for r in rows] == ["train", "inference"]
    assert all(math.isfinite(r[1]) and r[1] > 0 for r in rows)
