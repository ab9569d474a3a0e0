"""The ops benchmark runs at tiny sizes and every op agrees with its naive version."""
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ops.py"


def test_bench_ops_tiny(capsys):
    spec = importlib.util.spec_from_file_location("bench_ops", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--tiny"])
    ops = {row["op"] for row in rows}
    assert {"scatter (PointRend)", "gather", "scatter_max", "unique_rows", "hard_voxelize",
            "knn_backproject"} <= ops
    assert all(row["agree"] for row in rows), [r["op"] for r in rows if not r["agree"]]
    assert all(row["ours_ms"] > 0 for row in rows)
    printed = capsys.readouterr().out
    assert "knn_backproject" in printed and "speedup" in printed
