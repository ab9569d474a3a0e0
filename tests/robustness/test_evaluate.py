import importlib.util
import json
import os

import paddle
import pytest
import yaml

from paddlexseg.robustness.evaluate import evaluate_robustness, format_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(root):
    return {
        "model": {"type": "TwoDPASS", "num_classes": 20, "hidden_size": 8,
                  "spatial_shape": [100, 100, 12], "baseline_only": True},
        "val_dataset": {"type": "SemanticKITTIFusion", "root": root, "sequences": [8],
                        "mode": "val", "use_image": False, "max_points": 3000},
        "metric": {"type": "PointIoU", "label_config": "semantic-kitti"},
        "train": {"num_workers": 0},
    }


def test_table_chart_and_summary(synthetic_kitti, tmp_path):
    paddle.seed(0)
    res = evaluate_robustness(_cfg(synthetic_kitti), save_dir=str(tmp_path),
                              corruptions=["fog", "beam_missing"], severities=[1, 3],
                              progress=False, log=lambda line: None)
    assert res["main"] == "mIoU" and 0.0 <= res["clean"] <= 1.0
    assert sorted(res["corruptions"]) == ["beam_missing", "fog"]
    fog = res["corruptions"]["fog"]
    assert sorted(fog) == ["1", "3", "mean"] and fog["mean"] == pytest.approx(
        (fog["1"] + fog["3"]) / 2)
    means = [r["mean"] for r in res["corruptions"].values()]
    assert res["mCmIoU"] == pytest.approx(sum(means) / 2)
    assert res["mRR"] == pytest.approx(sum(m / res["clean"] for m in means) / 2)
    for name in ("robustness.json", "robustness.md", "robustness.png"):
        assert os.path.getsize(tmp_path / name) > 0
    with open(tmp_path / "robustness.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "robustness.json").read_text())["clean"] == res["clean"]
    table = format_table(res)
    assert "| fog |" in table and "mRR" in table
    with pytest.raises(ValueError, match="unknown corruptions"):
        evaluate_robustness(_cfg(synthetic_kitti), corruptions=["rain"])


def test_cli(synthetic_kitti, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("robustness_tool",
                                                  os.path.join(ROOT, "tools", "robustness.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from paddlexseg.engine.builder import build_model
    paddle.seed(1)
    cfg = _cfg(synthetic_kitti)
    paddle.save(build_model(cfg).state_dict(), str(tmp_path / "model.pdparams"))
    (tmp_path / "cfg.yml").write_text(yaml.safe_dump(cfg))
    tool.main(["--config", str(tmp_path / "cfg.yml"), "--model_path",
               str(tmp_path / "model.pdparams"), "--save_dir", str(tmp_path / "out"),
               "--corruptions", "snow", "--severities", "2", "--no_progress"])
    out = capsys.readouterr().out
    assert "| snow |" in out and "robustness.png" in out
    assert (tmp_path / "out" / "robustness.png").is_file()


def test_range_model_rangenet(synthetic_kitti, tmp_path):
    """The same tool on a projection-based model: corruption happens before the projection."""
    from paddlexseg.config import load_config
    cfg = load_config(os.path.join(ROOT, "configs", "rangenet",
                                   "rangenet_darknet21_synthetic_quick.yml"),
                      [f"val_dataset.root={synthetic_kitti}", "val_dataset.sequences=[8]",
                       "val_dataset.projection={H: 32, W: 256}",
                       "model.backbone.width_mult=0.0625"])
    paddle.seed(0)
    res = evaluate_robustness(cfg, save_dir=str(tmp_path), corruptions=["cross_sensor", "fog"],
                              severities=[2], progress=False, log=lambda line: None)
    assert res["main"] == "mIoU" and sorted(res["corruptions"]) == ["cross_sensor", "fog"]
    assert all(0.0 <= r["mean"] <= 1.0 for r in res["corruptions"].values())
    assert os.path.getsize(tmp_path / "robustness.png") > 0
