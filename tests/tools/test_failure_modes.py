"""What the tools do when things go wrong: a bad scan mid-epoch ends train/val/robustness with
exit code 2 and one ``error:`` line (num_workers 0 and 2, never a hang), ``on_bad_sample: skip``
trains on, and user mistakes in the config end in one line."""
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from paddlexseg.datasets.errors import DataError
from paddlexseg.tool_errors import run_tool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "rangenet", "rangenet_darknet21_synthetic_quick.yml")
BAD = os.path.join("sequences", "{seq}", "velodyne", "000001.bin")


@pytest.fixture(scope="module")
def bad_kitti(synthetic_kitti, tmp_path_factory):
    """The tiny synthetic set with scan 000001 of both sequences truncated."""
    root = str(tmp_path_factory.mktemp("bad_kitti"))
    shutil.copytree(synthetic_kitti, root, dirs_exist_ok=True)
    for seq in ("00", "08"):
        path = os.path.join(root, BAD.format(seq=seq))
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 6)
    return root


def _opts(root, workers):
    size = "{H: 16, W: 64}"
    return [f"train_dataset.root={root}", f"val_dataset.root={root}",
            "train_dataset.sequences=[0]", "val_dataset.sequences=[8]",
            f"train_dataset.projection={size}", f"val_dataset.projection={size}",
            "batch_size=1", "train.log_iters=1", "model.backbone.width_mult=0.0625",
            f"train.num_workers={workers}"]


def _run(tool, args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    try:
        return subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool)] + args,
                              capture_output=True, text=True, env=env, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tools/{tool} hung (no exit within 240 s)")


def _assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr[-2000:]
    for needle in needles:
        assert needle in last, last


@pytest.mark.parametrize("workers", [0, 2])
def test_train_with_a_bad_scan_exits_2(bad_kitti, tmp_path, workers):
    proc = _run("train.py", ["--config", CFG, "--save_dir", str(tmp_path / "o"), "--iters", "3",
                             "--no_progress", "--opts"] + _opts(bad_kitti, workers))
    _assert_one_line_error(proc, BAD.format(seq="00"), "not a multiple of 16")


def test_train_skips_bad_scans_when_asked(bad_kitti, tmp_path):
    proc = _run("train.py", ["--config", CFG, "--save_dir", str(tmp_path / "o"), "--iters", "3",
                             "--no_progress", "--do_eval", "--save_interval", "3", "--opts",
                             "train.on_bad_sample=skip"] + _opts(bad_kitti, 2))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"skipped bad sample 1 of SemanticKITTI: {bad_kitti}" in proc.stdout
    assert "bad training sample(s) were skipped in this run" in proc.stdout
    assert "[EVAL]" in proc.stdout and os.path.isdir(tmp_path / "o" / "iter_3")


def test_val_and_robustness_with_a_bad_scan_exit_2(bad_kitti, tmp_path):
    from paddlexseg.config import load_config
    from paddlexseg.engine.builder import build_model
    import paddle
    weights = str(tmp_path / "w.pdparams")
    paddle.save(build_model(load_config(CFG, _opts(bad_kitti, 0))).state_dict(), weights)
    proc = _run("val.py", ["--config", CFG, "--model_path", weights, "--no_progress",
                           "--opts"] + _opts(bad_kitti, 2))
    _assert_one_line_error(proc, BAD.format(seq="08"))
    proc = _run("robustness.py", ["--config", CFG, "--model_path", weights, "--no_progress",
                                  "--save_dir", str(tmp_path / "r"), "--corruptions", "fog",
                                  "--severities", "1", "--opts"] + _opts(bad_kitti, 0))
    _assert_one_line_error(proc, BAD.format(seq="08"))
    proc = _run("val.py", ["--config", CFG, "--model_path", weights, "--no_progress",
                           "--aug_eval", "--opts"] + _opts(bad_kitti, 0))
    _assert_one_line_error(proc, "--aug_eval", "RangeNet")


def _tool_main(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}",
                                                  os.path.join(ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize("args,needle", [
    (["--opts", "iters.foo=2"], "--opts iters.foo: 'iters' is int"),
    (["--opts", "batch_size=two"], "'batch_size' must be an integer >= 1, got 'two'"),
    (["--batch_size", "0"], "'batch_size' must be an integer >= 1, got 0"),
    (["--opts", "train.num_workers=two"], "'train.num_workers' must be an integer >= 0"),
    (["--opts", "train.on_bad_sample=ignore"], "'train.on_bad_sample' must be 'error' or 'skip'"),
    (["--opts", "model.backbone.width_mult=wide"], "model.backbone.width_mult: expected a number"),
])
def test_config_mistakes_are_one_line(tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exit_info:
        run_tool(_tool_main("train"), ["--config", CFG, "--save_dir", str(tmp_path), "--no_progress"]
                 + args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err  # the runtime set-up's one line may come first
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last and "Traceback" not in err, err


def test_damaged_exported_model_is_a_data_error(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "deploy_infer_fm", os.path.join(ROOT, "deploy", "python", "infer.py"))
    infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer)
    (tmp_path / "model.json").write_text('{"program": {"regions": [')
    (tmp_path / "model.pdiparams").write_bytes(np.zeros(16, np.uint8).tobytes())
    info = {"family": "range", "model": "model.json", "params": "model.pdiparams",
            "input_name": "range_img", "input_shape": [None, 5, 16, 64], "output_op": "argmax",
            "num_classes": 20, "colors": [[0, 0, 0]] * 20, "projection": {}, "label_config": {},
            "knn": None}
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"Deploy": info}))
    folder, info = infer.load_deploy(str(tmp_path))
    from paddlexseg.apis.inference import DeployPredictor
    with pytest.raises(DataError, match="model.json: cannot load the exported model"):
        DeployPredictor(folder, info)


@pytest.mark.parametrize("args,needle", [
    (["--beams", "0"], "beams (--beams) must be an integer >= 1, got 0"),
    (["--azimuth_steps", "0"], "azimuth_steps (--azimuth_steps) must be an integer >= 8"),
    (["--scans", "-1"], "--scans) must be an integer >= 1, got -1"),
    (["--scans", "0"], "--scans) must be an integer >= 1, got 0"),
    (["--images", "--image_scale", "0"], "--image_scale must be > 0"),
])
def test_generate_synthetic_validates_its_arguments(tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exit_info:
        run_tool(_tool_main("generate_synthetic"), ["--kind", "semantickitti", "--out",
                                                    str(tmp_path / "g")] + args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err  # the runtime set-up's one line may come first
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last, err
    assert not os.path.exists(tmp_path / "g" / "sequences")
