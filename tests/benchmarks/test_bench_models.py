"""benchmarks/bench_models.py: every requested cell runs or says why not; the table's ratios."""
import importlib.util
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench_models", os.path.join(REPO, "benchmarks", "bench_models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_cells_run_and_skips_are_explained(bench, tmp_path, monkeypatch):
    # the real entries build full-size models; a narrow DarkNet-21 keeps the test short
    monkeypatch.setitem(bench.MODELS, "narrow-rangenet", (
        "rangenet/rangenet_darknet21_synthetic_quick.yml", "range_img", [1, 5, 64, 2048],
        [1, 5, 16, 64], None))
    case = bench.Case("narrow-rangenet", quick=True, onednn=True, workdir=str(tmp_path))
    assert case.shape == [1, 5, 16, 64]

    def broken(case):
        raise ValueError("no such backend here")

    monkeypatch.setitem(bench.COLUMNS, "onnxruntime", broken)
    result, loads = bench.bench_case(case, ["paddle eval", "paddle infer", "onnxruntime"], 1)
    assert set(result) == {"paddle eval", "paddle infer"} and min(result.values()) > 0
    assert len(loads) == 2
    assert "onnxruntime: ValueError: no such backend here" in case.notes
    squeeze = bench.Case.__new__(bench.Case)
    squeeze.torch_layers, squeeze.input_name = None, "range_img"
    assert bench.col_torch_eval(squeeze) == bench.NO_TORCH
    squeeze.input_name = "points"
    assert "not exportable" in bench.col_paddle_infer(squeeze)
    assert "not exportable" in bench.col_onnxruntime(squeeze)


def test_table_ratios(bench):
    columns = ["paddle eval", "torch eval", "paddle train", "torch train"]
    rows = [("m", [1, 5, 64, 2048], {"paddle eval": 1.0, "torch eval": 2.0, "paddle train": 3.0,
                                      "torch train": 2.0}, [1.0, 2.0]),
            ("n", [4], {"paddle eval": 1.0}, [0.5, 0.5])]
    lines = bench.format_table(rows, columns).splitlines()
    assert "eval / torch" in lines[0] and "train / torch" in lines[0]
    assert "infer / torch" not in lines[0]  # paddle infer was not run
    assert lines[2].endswith("| 0.50 | 1.50 | 1.0-2.0 |")
    assert lines[3].endswith("| 1.000 | - | - | - | - | - | 0.5-0.5 |")
