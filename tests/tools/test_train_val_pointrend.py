"""PointRend through tools/train.py and tools/val.py (with --aug_eval) on tiny synthetic Cityscapes."""
import os
import subprocess
import sys

import pytest

from paddlexseg.datasets.synthetic.cityscapes_scenes import generate_cityscapes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "pointrend", "pointrend_resnet18_synthetic_cityscapes_quick.yml")


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cityscapes"))
    generate_cityscapes(root, n_train=2, n_val=1, size=(128, 64), seed=0)
    return root


def _run(tool, args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool)] + args,
                          capture_output=True, text=True, env=env, timeout=600)


def test_pointrend_train_then_aug_eval(cityscapes_root, tmp_path):
    opts = [f"train_dataset.root={cityscapes_root}", f"val_dataset.root={cityscapes_root}",
            "train_dataset.transforms.1.crop_size=[128, 64]", "model.train_num_points=64",
            "model.subdivision_num_points=256", "batch_size=2", "train.log_iters=1"]
    out = str(tmp_path / "pr")
    proc = _run("train.py", ["--config", CFG, "--save_dir", out, "--iters", "2", "--do_eval",
                             "--save_interval", "2", "--no_progress", "--opts"] + opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "coarse_mIoU" in proc.stdout
    proc = _run("val.py", ["--config", CFG, "--model_path", os.path.join(out, "best_model"),
                           "--aug_eval", "--scales", "0.75", "1.0", "--flip_horizontal",
                           "--no_progress", "--opts"] + opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "aug_eval: scales [0.75, 1.0]" in proc.stdout and "road" in proc.stdout


def test_print_config_slide_eval_pictures_and_predict_compare(cityscapes_root, tmp_path):
    opts = [f"train_dataset.root={cityscapes_root}", f"val_dataset.root={cityscapes_root}",
            "train_dataset.transforms.1.crop_size=[128, 64]", "model.train_num_points=64",
            "model.subdivision_num_points=256", "batch_size=2"]
    proc = _run("train.py", ["--config", CFG, "--print_config", "--iters", "7", "--opts"] + opts)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "iters: 7" in proc.stdout and "PointRendFPN" in proc.stdout
    out = str(tmp_path / "pr")
    # no --no_progress: piped output must carry no bars (no carriage returns / escapes)
    proc = _run("train.py", ["--config", CFG, "--save_dir", out, "--iters", "1", "--opts"] + opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for noise in ("\r", "\x1b[", "No ccache found", "always track global mean"):
        assert noise not in proc.stdout + proc.stderr, noise
    val_dir = str(tmp_path / "val")
    proc = _run("val.py", ["--config", CFG, "--model_path", os.path.join(out, "iter_1"),
                           "--is_slide", "--crop_size", "64", "64", "--stride", "48", "48",
                           "--save_dir", val_dir, "--use_vdl", "--opts"] + opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "is_slide: crop_size [64, 64], stride [48, 48]" in proc.stdout
    for name in ("metrics.json", "confusion_matrix.png", "class_iou.png"):
        assert os.path.getsize(os.path.join(val_dir, name)) > 100, name
    from visualdl import LogReader
    reader = LogReader(file_path=os.path.join(val_dir, "vdl_log", os.listdir(
        os.path.join(val_dir, "vdl_log"))[0]))
    assert {"val/confusion_matrix", "val/class_iou"} <= set(reader.get_tags().get("image", []))
    proc = _run("val.py", ["--config", CFG, "--model_path", os.path.join(out, "iter_1"),
                           "--is_slide", "--crop_size", "64", "64", "--opts"] + opts)
    assert proc.returncode == 2 and "error: --is_slide needs" in proc.stderr
    pred_dir = str(tmp_path / "pred")
    image_dir = os.path.join(cityscapes_root, "leftImg8bit", "val")
    proc = _run("predict.py", ["--config", CFG, "--model_path", os.path.join(out, "iter_1"),
                               "--image_path", image_dir, "--save_dir", pred_dir, "--opts"] + opts)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from PIL import Image
    compares = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(pred_dir, "compare"))
                for f in fs]
    assert len(compares) == 1
    with Image.open(compares[0]) as im:
        assert im.size == (3 * 128 + 2, 64)
