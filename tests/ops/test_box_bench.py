"""The box benchmark runs at tiny sizes and every op agrees with its naive version."""
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_boxes.py"


def test_bench_boxes_tiny(capsys):
    spec = importlib.util.spec_from_file_location("bench_boxes", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--tiny"])
    ops = {row["op"] for row in rows}
    assert {"box_iou_bev (packed)", "nms_bev", "dynamic voxelize+mean", "dynamic voxelize+max",
            "points_in_boxes"} <= ops
    assert all(row["agree"] for row in rows), [r["op"] for r in rows if not r["agree"]]
    assert all(row["ours_ms"] > 0 for row in rows)
    assert "load average" in capsys.readouterr().out
