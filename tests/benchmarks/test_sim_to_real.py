"""benchmarks/sim_to_real.py end to end at a tiny budget, the synthetic 08 standing in for the
real folder (no real data in CI): it trains, scores, writes the JSON, compares with --before
and re-scores a checkpoint with --model_path."""
import importlib.util
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "sim_to_real", os.path.join(REPO, "benchmarks", "sim_to_real.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_score_compare_rescore(bench, synthetic_kitti, tmp_path, capsys):
    common = ["--real", synthetic_kitti, "--sequences", "8", "--train_root", synthetic_kitti,
              "--train_sequences", "0", "--iters", "2", "--width", "64", "--threads", "1"]
    first = str(tmp_path / "a")
    bench.main(common + ["--save_dir", first, "--beam_dropout", "0.1", "--scale", "0.05",
                         "--remission_jitter", "0.3"])
    out = capsys.readouterr().out
    with open(os.path.join(first, "real_iou.json")) as f:
        data = json.load(f)
    assert data["iters"] == 2 and data["range_image"] == [64, 64]
    assert data["augment"] == {"beam_dropout": 0.1, "scale": 0.05, "remission_jitter": 0.3}
    assert data["present"] and all(data["gt_points"][c] > 0 for c in data["present"])
    for name in data["present"]:
        assert f"| {name} | {data['gt_points'][name]} |" in out
    absent = [c for c, n in data["gt_points"].items() if n == 0]
    assert all(f"| {c} |" not in out for c in absent)
    assert f"{data['knn']['mIoU_present']:.3f}" in out and "official 19 classes" in out

    second = str(tmp_path / "b")
    bench.main(["--real", synthetic_kitti, "--sequences", "8", "--save_dir", second,
                "--model_path", os.path.join(first, "iter_2"), "--before",
                os.path.join(first, "real_iou.json"), "--threads", "1"])
    out = capsys.readouterr().out
    assert "before (KNN)" in out and "after (pixel)" in out
    with open(os.path.join(second, "real_iou.json")) as f:
        again = json.load(f)
    assert again["knn"]["iou"] == pytest.approx(data["knn"]["iou"])   # same weights and scans
    assert again["knn"]["mIoU_present"] == pytest.approx(data["knn"]["mIoU_present"])


def test_bad_before_file_is_a_user_error(bench, tmp_path):
    from paddlexseg.registry import ConfigError
    with pytest.raises(ConfigError, match="--before"):
        bench.main(["--real", str(tmp_path), "--before", str(tmp_path / "none.json"),
                    "--model_path", str(tmp_path)])
