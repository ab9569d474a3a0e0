"""tools/convert_weights.py end to end on a SqueezeSegV3-21 checkpoint folder (.npz files)."""
import importlib.util
import os
import sys

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_fixtures as cf  # noqa: E402

from paddlexseg.convert import build_model, get_arch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location(
        "convert_weights_tool", os.path.join(ROOT, "tools", "convert_weights.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ssg_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("SSGV3-21")
    for name, keys in cf.squeezesegv3_files(21).items():
        np.savez(folder / f"{name}.npz", **cf.synthetic_state(keys))
    return folder


def test_converts_a_folder_and_the_result_loads_strictly(ssg_folder, tmp_path, capsys):
    dst = tmp_path / "out" / "ssgv3_21.pdparams"
    _tool().main(["--arch", "squeezesegv3-21", "--src", str(ssg_folder), "--dst", str(dst)])
    printed = capsys.readouterr().out
    assert "status: OK" in printed and f"wrote {dst}" in printed
    report = (tmp_path / "out" / "ssgv3_21.report.txt").read_text()
    assert "segmentation_decoder.dec3.upconv.weight -> decoder.dec3.upconv.weight  " \
           "[256, 128, 1, 4] -> [256, 128, 1, 4]  conv_transpose" in report
    assert "momentum 0.9 (= torch momentum 0.1)" in report  # SAC blocks' BatchNorms
    model = build_model(get_arch("squeezesegv3-21"))
    state = paddle.load(str(dst))
    missing, unexpected = model.set_state_dict(state)
    assert not missing and not unexpected
    src = np.load(ssg_folder / "segmentation_head5.npz")
    np.testing.assert_array_equal(model.head5[1].weight.numpy(), src["1.weight"])


def test_refuses_unused_keys_and_missing_files_unless_allowed(ssg_folder, tmp_path, capsys):
    files = [str(ssg_folder / f"{n}.npz") for n in cf.squeezesegv3_files(21)]
    extra = tmp_path / "segmentation_head5.npz"
    head5 = dict(np.load(ssg_folder / "segmentation_head5.npz"))
    np.savez(extra, **head5, **{"2.weight": np.ones(3, np.float32)})
    dst = tmp_path / "a.pdparams"
    tool = _tool()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["--arch", "squeezesegv3-21", "--src", *files[:-1], str(extra),
                   "--dst", str(dst), "--report", str(tmp_path / "a.txt")])
    assert exit_info.value.code == 2 and not dst.exists()
    assert "segmentation_head5.2.weight" in (tmp_path / "a.txt").read_text()
    assert "refusing to write" in capsys.readouterr().err

    with pytest.raises(SystemExit):  # head5 file left out: its two weights are missing
        tool.main(["--arch", "squeezesegv3-21", "--src", *files[:-1], "--dst", str(dst)])
    assert "--allow-missing" in capsys.readouterr().out
    tool.main(["--arch", "squeezesegv3-21", "--src", *files[:-1], "--dst", str(dst),
               "--allow-missing"])
    state = paddle.load(str(dst))  # missing weights are written with their initial values
    assert set(state) == set(build_model(get_arch("squeezesegv3-21"), lazy=True).state_dict())
    np.testing.assert_array_equal(
        state["head4.1.bias"].numpy(), np.load(ssg_folder / "segmentation_head4.npz")["1.bias"])


def test_user_errors_exit_with_one_line(tmp_path, capsys, monkeypatch):
    tool = _tool()
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(tool.main, ["--arch", "squeezesegv3-21", "--src", str(tmp_path / "nope"),
                                  "--dst", str(tmp_path / "x.pdparams")])
    assert exit_info.value.code == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--arch", "no-such-arch", "--src", "a", "--dst", "b"])
    assert "invalid choice" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "torch", None)
    weights = tmp_path / "model_final.pth"
    weights.write_bytes(b"PK\x03\x04")
    with pytest.raises(SystemExit):
        tool.main(["--arch", "pointrend-r50", "--src", str(weights), "--dst", "x.pdparams"])
    assert "pip install -e .[convert]" in capsys.readouterr().err
