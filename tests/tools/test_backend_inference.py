"""``--backend inference`` of tools/val.py, tools/predict.py and tools/robustness.py equals the
dygraph results (tiny RangeNet++ on the synthetic SemanticKITTI set)."""
import importlib.util
import json
import os
import re
import sys

import numpy as np
import paddle
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "apis"))
import tiny_models  # noqa: E402

from paddlexseg.tool_errors import run_tool  # noqa: E402


def load(relpath):
    name = "backend_" + os.path.basename(relpath).replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files(synthetic_kitti, tmp_path_factory):
    folder = tmp_path_factory.mktemp("backend")
    cfg = tiny_models.range_cfg(synthetic_kitti)
    cfg["model"]["backbone"]["width_mult"] = 0.25
    return (tiny_models.write_config(cfg, folder / "cfg.yml"),
            tiny_models.make_weights(cfg, folder / "rn.pdparams", seed=2))


def test_val_inference_backend_equals_dygraph(files, capsys):
    cfg, weights = files
    val = load("tools/val.py")
    reports, logs = [], []
    for backend in ("dygraph", "auto"):  # auto: inference here (inference: predict, robustness)
        run_tool(val.main, ["--config", cfg, "--model_path", weights, "--no_progress",
                            "--backend", backend])
        out = capsys.readouterr().out  # log lines (time stamped) and the metric report
        reports.append([line for line in out.splitlines()
                        if not re.match(r"\d\d:\d\d:\d\d ", line)])
        logs.append(out)
    assert any("mIoU" in line for line in reports[0])
    assert reports[0] == reports[1]
    assert "--backend auto: inference" in logs[1] and "Paddle Inference" in logs[1]
    assert "Paddle Inference" not in logs[0]


def test_auto_backend_resolution():
    from paddlexseg.apis.inference import resolve_backend
    from paddlexseg.registry import ConfigError
    range_cfg = {"model": {"type": "RangeNet"}}
    point_cfg = {"model": {"type": "TwoDPASS"}}
    assert resolve_backend("auto", range_cfg) == "inference"
    assert resolve_backend("auto", point_cfg) == "dygraph"
    assert resolve_backend("auto") == "dygraph"
    assert resolve_backend("dygraph", point_cfg) == "dygraph"
    assert resolve_backend("inference", range_cfg) == "inference"
    with pytest.raises(ConfigError, match="expected one of dygraph, inference, auto"):
        resolve_backend("onnx", range_cfg)


def test_predict_inference_backend_equals_dygraph(files, synthetic_kitti, tmp_path):
    cfg, weights = files
    predict = load("tools/predict.py")
    velo = os.path.join(synthetic_kitti, "sequences", "08", "velodyne")
    for backend in ("dygraph", "inference"):
        run_tool(predict.main, ["--config", cfg, "--model_path", weights, "--input", velo,
                                "--save_dir", str(tmp_path / backend), "--no-knn",
                                "--no_progress", "--backend", backend])
    rel = os.path.join("sequences", "08", "predictions")
    names = sorted(os.listdir(tmp_path / "dygraph" / rel))
    assert len(names) == 3
    for name in names:
        a = np.fromfile(tmp_path / "dygraph" / rel / name, dtype=np.uint32)
        b = np.fromfile(tmp_path / "inference" / rel / name, dtype=np.uint32)
        np.testing.assert_array_equal(a, b)
        assert len(np.unique(a)) > 1


def test_robustness_inference_backend_equals_dygraph(files, tmp_path):
    cfg, weights = files
    robustness = load("tools/robustness.py")
    results = []
    for backend in ("dygraph", "inference"):
        paddle.seed(0)
        run_tool(robustness.main, ["--config", cfg, "--model_path", weights, "--save_dir",
                                   str(tmp_path / backend), "--corruptions", "fog",
                                   "--severities", "2", "--no_progress", "--backend", backend])
        with open(tmp_path / backend / "robustness.json") as f:
            results.append(json.load(f))
    assert results[0] == results[1]


def test_point_models_refuse_the_inference_backend():
    from paddlexseg.apis.inference import with_backend
    from paddlexseg.registry import ConfigError
    with pytest.raises(ConfigError, match="TwoDPASS .point family. cannot be exported"):
        with_backend(object(), "inference", cfg={"model": {"type": "TwoDPASS"}})
