"""benchmarks/bench_models.py: every requested cell runs or says why not; the table's ratios;
the torch twins hold the Paddle weights (skipped without torch)."""
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


def test_small_cells_run_and_skips_are_explained(bench, tmp_path, monkeypatch):
    # the real entries build full-size models; a narrow DarkNet-21 keeps the test short
    monkeypatch.setitem(bench.MODELS, "narrow-rangenet", (
        "rangenet/rangenet_darknet21_synthetic_quick.yml", "range_img", [1, 5, 64, 2048],
        [1, 5, 16, 64], "no twin for this test"))
    case = bench.Case("narrow-rangenet", quick=True, onednn=True, workdir=str(tmp_path))
    assert case.shape == [1, 5, 16, 64]

    def broken(case):
        raise ValueError("no such backend here")

    monkeypatch.setitem(bench.COLUMNS, "onnxruntime", broken)
    columns = ["paddle eval", "paddle infer", "infer no-onednn", "onnxruntime", "torch eval",
               "paddle train"]
    result, loads = bench.bench_case(case, columns, 1)
    assert set(result) == {"paddle eval", "paddle infer", "infer no-onednn", "paddle train"}
    assert min(result.values()) > 0 and len(case.times["paddle eval"]) == 1
    assert len(loads) == 2
    assert "onnxruntime: ValueError: no such backend here" in case.notes
    if importlib.util.find_spec("torch") is not None:
        assert "torch eval: no twin for this test" in case.notes
    points = bench.Case.__new__(bench.Case)
    points.twin, points.input_name, points.onednn = bench._SPCONV, "points", True
    assert bench.col_torch_eval(points) == bench._SPCONV
    assert bench.col_paddle_infer(points) == bench.NOT_EXPORTABLE
    assert bench.col_onnxruntime(points) == bench.NOT_EXPORTABLE


def test_strip_options(bench):
    argv = ["--models", "a", "b", "--repeat", "3", "--mkl=off", "--ab-mkl", "2", "--verbose"]
    assert bench._strip_options(argv, ("--models", "--mkl", "--ab-mkl")) == [
        "--repeat", "3", "--verbose"]


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


def test_torch_twin_has_the_paddle_weights(bench, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setitem(bench.MODELS, "small-vpr", (
        "event_vpr/event_vpr_resnet18_synthetic_quick.yml", "voxels", [1, 5, 260, 346],
        [1, 5, 40, 48], "event_vpr"))
    case = bench.Case("small-vpr", quick=True, onednn=True, workdir=str(tmp_path))
    result, _ = bench.bench_case(case, ["torch eval", "torch train"], 1)
    assert set(result) == {"torch eval", "torch train"}, case.notes
    note = [n for n in case.notes if n.startswith("torch twin")][0]
    diff = float(note.split("'descriptor' ")[1].split()[0])
    assert diff < 1e-5, note
    import torch_weights
    twin = case.torch_model()
    twin.vlad.conv = torch_weights.torch.nn.Conv2d(512, 8, 1, bias=True)  # no Paddle bias
    with pytest.raises(KeyError, match="vlad.conv.bias"):
        torch_weights.copy_from_paddle(twin, case.model)
