"""tools/predict.py and tools/export.py as a user runs them (flags, exit codes, outputs)."""
import importlib.util
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "apis"))
import tiny_models  # noqa: E402

from paddlexseg.apis.image_predict import predict_image  # noqa: E402
from paddlexseg.datasets.semantickitti import read_label  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def load(relpath, name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tools():
    return (load("tools/predict.py", "tool_predict"), load("tools/export.py", "tool_export"),
            load("deploy/python/infer.py", "tool_infer"))


@pytest.fixture(scope="module")
def range_files(synthetic_kitti, tmp_path_factory):
    folder = tmp_path_factory.mktemp("range_cfg")
    cfg = tiny_models.range_cfg(synthetic_kitti)
    return (tiny_models.write_config(cfg, folder / "cfg.yml"),
            tiny_models.make_weights(cfg, folder / "rn.pdparams"))


def exit_code(main, argv, capsys):
    with pytest.raises(SystemExit) as info:
        run_tool(main, argv)
    return info.value.code, capsys.readouterr().err


def test_predict_bad_inputs_exit_2_naming_the_file(tools, range_files, tmp_path, capsys):
    predict_tool = tools[0]
    cfg, weights = range_files
    bad = tmp_path / "scans"
    bad.mkdir()
    code, err = exit_code(predict_tool.main, ["--config", cfg, "--model_path", weights,
                                              "--input", str(bad), "--save_dir",
                                              str(tmp_path / "o"), "--no-knn"], capsys)
    assert code == 2 and f"error: {bad}: folder holds no .bin scans" in err
    (bad / "000003.bin").write_bytes(b"\0" * 33)
    code, err = exit_code(predict_tool.main, ["--config", cfg, "--model_path", weights,
                                              "--input", str(bad), "--no-knn"], capsys)
    assert code == 2 and "000003.bin: file size 33 bytes is not a positive multiple of 16" in err
    assert not (tmp_path / "o").exists()


def test_predict_cli_loose_scan_with_sequence_and_bev(tools, range_files, synthetic_kitti,
                                                      tmp_path, label_config):
    cfg, weights = range_files
    scan = tmp_path / "loose.bin"
    shutil.copy(os.path.join(synthetic_kitti, "sequences", "08", "velodyne", "000002.bin"), scan)
    save = tmp_path / "out"
    run_tool(tools[0].main, ["--config", cfg, "--model_path", weights, "--input", str(scan),
                             "--save_dir", str(save), "--sequence", "3", "--bev", "--no-knn",
                             "--no_progress"])
    semantic, _ = read_label(str(save / "sequences" / "03" / "predictions" / "loose.label"),
                             os.path.getsize(scan) // 16)
    assert set(np.unique(semantic)) <= set(label_config.learning_map_inv.tolist())
    range_png = np.asarray(Image.open(save / "visualization" / "03" / "loose.png"))
    assert range_png.shape == (tiny_models.RANGE_H, tiny_models.RANGE_W, 3)  # no ground truth
    assert (save / "visualization" / "03" / "loose_bev.png").is_file()


def test_export_cli_image_model_and_deploy_match_dygraph(tools, tmp_path, capsys):
    _, export_tool, infer = tools
    cfg = tiny_models.image_cfg()
    cfg_path = tiny_models.write_config(cfg, tmp_path / "cfg.yml")
    weights, model = tiny_models.make_weights(cfg, tmp_path / "pr.pdparams", return_model=True)
    code, err = exit_code(export_tool.main, ["--config", cfg_path, "--model_path", weights,
                                             "--save_dir", str(tmp_path / "x")], capsys)
    assert code == 2 and "--input_shape H W is required" in err

    export_dir = tmp_path / "export"
    run_tool(export_tool.main, ["--config", cfg_path, "--model_path", weights, "--save_dir",
                                str(export_dir), "--output_op", "softmax", "--input_shape",
                                "64", "96"])
    assert {"model.json", "model.pdiparams", "deploy.yaml"} <= set(os.listdir(export_dir))
    tiny_models.write_images(str(tmp_path / "images"), [(64, 96)], seed=3)
    predict_image(model, cfg, str(tmp_path / "images"), str(tmp_path / "dy"), progress=False,
                  outputs=["labelid"])
    infer.main(["--config", str(export_dir / "deploy.yaml"), "--input",
                str(tmp_path / "images"), "--save_dir", str(tmp_path / "deploy"),
                "--no_progress"])
    dygraph = np.asarray(Image.open(tmp_path / "dy" / "label" / "img0.png"))
    deployed = np.asarray(Image.open(tmp_path / "deploy" / "label" / "img0.png"))
    assert dygraph.shape == (64, 96) and len(np.unique(dygraph)) > 1
    np.testing.assert_array_equal(deployed, dygraph)
    color = np.asarray(Image.open(tmp_path / "deploy" / "color" / "img0.png"))
    assert color.shape == (64, 96, 3)
