"""End to end on the tiny synthetic SemanticKITTI set: tools/train.py, tools/val.py, resume."""
import os
import subprocess
import sys

import numpy as np
import paddle

from paddlexseg.config import load_config
from paddlexseg.engine.trainer import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "rangenet", "rangenet_darknet21_synthetic_quick.yml")
SSG_CFG = os.path.join(ROOT, "configs", "squeezesegv3", "squeezesegv3_sac21_synthetic_quick.yml")


def _opts(root, model_opts=("model.backbone.width_mult=0.0625",), size="{H: 32, W: 256}"):
    return [f"train_dataset.root={root}", f"val_dataset.root={root}",
            "train_dataset.sequences=[0]", "val_dataset.sequences=[8]",
            f"train_dataset.projection={size}", f"val_dataset.projection={size}",
            "batch_size=1", "train.log_iters=1"] + list(model_opts)


def _run(tool, args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool)] + args,
                          capture_output=True, text=True, env=env, timeout=600)


def test_resume_rangenet_same_weights(synthetic_kitti, tmp_path):
    opts = _opts(synthetic_kitti) + ["iters=4", "train.save_interval=2"]
    straight, split = str(tmp_path / "a"), str(tmp_path / "b")
    Trainer(load_config(CFG, opts), straight, progress=False).train()
    Trainer(load_config(CFG, opts), split, progress=False, stop_after=2).train()
    Trainer(load_config(CFG, opts), split, resume_model=os.path.join(split, "iter_2"),
            progress=False).train()
    a = paddle.load(os.path.join(straight, "iter_4", "model.pdparams"))
    b = paddle.load(os.path.join(split, "iter_4", "model.pdparams"))
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)


def test_train_val_tools_with_visualdl(synthetic_kitti, tmp_path):
    from visualdl import LogReader
    out = str(tmp_path / "run")
    proc = _run("train.py", ["--config", CFG, "--save_dir", out, "--iters", "2", "--do_eval",
                             "--use_vdl", "--save_interval", "2", "--no_progress",
                             "--opts"] + _opts(synthetic_kitti))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[EVAL]" in proc.stdout
    logdir = os.path.join(out, "vdl_log")
    tags = LogReader(file_path=os.path.join(logdir, os.listdir(logdir)[0])).get_tags()
    scalars = set(tags["scalar"])
    for tag in ("train/loss", "train/lr", "train/weighted_cross_entropy", "train/lovasz_softmax",
                "val/mIoU", "val/IoU/car", "val/IoU/road"):
        assert tag in scalars, tag
    assert "val/range_prediction" in tags["image"]
    proc = _run("val.py", ["--config", CFG, "--model_path", os.path.join(out, "best_model"),
                           "--no_progress", "--opts"] + _opts(synthetic_kitti))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "car" in proc.stdout and "mIoU" in proc.stdout


def test_tools_report_user_errors_in_one_line(synthetic_kitti, tmp_path):
    proc = _run("train.py", ["--config", CFG, "--save_dir", str(tmp_path), "--iters", "1",
                             "--opts", "model.backbone.depht=3"] + _opts(synthetic_kitti))
    assert proc.returncode == 2
    assert "model.backbone.depht" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run("val.py", ["--config", CFG, "--model_path", str(tmp_path / "missing"),
                           "--opts"] + _opts(synthetic_kitti))
    assert proc.returncode == 2 and "model weights not found" in proc.stderr
    proc = _run("train.py", ["--config", CFG, "--save_dir", str(tmp_path), "--iters", "1",
                             "--opts", "train_dataset.root=/nonexistent"])
    assert proc.returncode == 2 and "/nonexistent" in proc.stderr, proc.stderr[-2000:]


def test_squeezesegv3_trains_and_validates(synthetic_kitti, tmp_path):
    """SqueezeSegV3 (full width, tiny 16x64 projection) through train + val with KNN (k=7)."""
    from paddlexseg.engine.validate import validate
    opts = _opts(synthetic_kitti, model_opts=(), size="{H: 16, W: 64}") + [
        "iters=2", "train.save_interval=2", "train.eval_interval=2"]
    out = str(tmp_path / "ssg")
    Trainer(load_config(SSG_CFG, opts), out, do_eval=True, progress=False).train()
    results = validate(load_config(SSG_CFG, opts), os.path.join(out, "best_model"),
                       progress=False)
    assert {"mIoU", "mIoU_noknn", "range_mIoU", "IoU/car"} <= set(results)
    assert all(np.isfinite(v) for v in results.values())
