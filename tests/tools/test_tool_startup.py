"""Tools parse their flags before importing Paddle: ``--help`` is fast and every flag has help."""
import importlib.util
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = ["tools/train.py", "tools/val.py", "tools/predict.py", "tools/export.py",
         "tools/robustness.py", "tools/convert_weights.py", "tools/dataset_stats.py",
         "tools/generate_synthetic.py", "deploy/python/infer.py"]
PARSERS = {"tools/predict.py": "predict_parser", "tools/export.py": "export_parser",
           "tools/robustness.py": "robustness_parser",
           "tools/convert_weights.py": "convert_parser", "deploy/python/infer.py": "infer_parser"}


def load(relpath):
    name = "startup_" + relpath.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_does_not_import_paddle_or_torch():
    code = ("import runpy, sys\n"
            "for tool in sys.argv[1:]:\n"
            "    sys.argv = [tool, '--help']\n"
            "    try:\n"
            "        runpy.run_path(tool, run_name='__main__')\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, (tool, e.code)\n"
            "print('IMPORTED', 'paddle' in sys.modules, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code] + TOOLS, capture_output=True, text=True,
                         timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "IMPORTED False False"
    assert out.stdout.count("usage:") == len(TOOLS)


def test_every_flag_has_help():
    from paddlexseg.engine.cli import train_parser, val_parser
    parsers = {"train": train_parser(), "val": val_parser()}
    parsers.update({path: getattr(load(path), fn)() for path, fn in PARSERS.items()})
    missing = [f"{name} {action.option_strings}" for name, parser in parsers.items()
               for action in parser._actions if action.option_strings and not action.help]
    assert missing == []
    for name, parser in parsers.items():
        if name != "tools/convert_weights.py":
            assert "--threads" in parser.format_help(), name


def test_convert_weights_help_lists_architectures_one_per_line():
    from paddlexseg.convert import ARCHS
    text = load("tools/convert_weights.py").convert_parser().format_help()
    lines = text.split("architectures:\n", 1)[1].splitlines()
    assert len(lines) == len(ARCHS)
    for line, (name, spec) in zip(lines, sorted(ARCHS.items())):
        assert line.split()[0] == name and line.rstrip().endswith(spec.description)


def test_robustness_flag_choices_equal_the_library():
    from paddlexseg.robustness.corruptions import CORRUPTIONS, SEVERITIES
    tool = load("tools/robustness.py")
    assert tool.CORRUPTION_NAMES == tuple(CORRUPTIONS)
    assert tool.SEVERITY_LEVELS == tuple(SEVERITIES)


def test_generate_synthetic_default_sequences_equal_the_library():
    from paddlexseg.datasets.synthetic.lidar_scenes import DEFAULT_SEQUENCES
    assert load("tools/generate_synthetic.py").DEFAULT_SEQUENCES == tuple(DEFAULT_SEQUENCES)


def test_generate_synthetic_passes_the_shared_flags_on_to_kitti3d(monkeypatch):
    # --beams / --azimuth_steps / --image_scale are parsed by the tool for semantickitti; for
    # kitti3d they must reach the generator (they used to be swallowed silently)
    tool = load("tools/generate_synthetic.py")
    seen = []
    monkeypatch.setitem(tool.KINDS, "kitti3d", seen.append)
    tool.main(["--kind", "kitti3d", "--out", "o", "--azimuth_steps", "512", "--decoys", "2",
               "--image_scale", "0.1"])
    assert seen == [["--root", "o", "--seed", "0", "--azimuth_steps=512", "--image_scale=0.1",
                     "--decoys", "2"]]
    tool.main(["--kind", "kitti3d", "--out", "o"])
    assert seen[-1] == ["--root", "o", "--seed", "0"]


@pytest.mark.parametrize("bad", ["0", "x"])
def test_bad_threads_exit_2_with_one_line(bad, capsys):
    from paddlexseg.tool_errors import run_tool
    tool = load("tools/val.py")
    if bad == "x":  # argparse's own check (type=int)
        with pytest.raises(SystemExit) as info:
            run_tool(tool.main, ["--config", "c.yml", "--model_path", "m", "--threads", bad])
        assert info.value.code == 2
        return
    env = {k: v for k, v in os.environ.items()}
    out = subprocess.run([sys.executable, "tools/val.py", "--config", "c.yml", "--model_path",
                          "m", "--threads", bad], capture_output=True, text=True, timeout=300,
                         cwd=REPO, env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == \
        "error: --threads: expected a positive number of threads, got 0"
