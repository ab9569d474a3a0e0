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
