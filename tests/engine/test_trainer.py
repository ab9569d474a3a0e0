import copy
import os
import sys

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import toy  # noqa: E402

from paddlexseg.config import validate  # noqa: E402
from paddlexseg.engine.checkpoint import latest_checkpoint  # noqa: E402
from paddlexseg.engine.trainer import Trainer  # noqa: E402


def _cfg(**train):
    cfg = copy.deepcopy(toy.TOY_CFG)
    cfg["train"].update(train)
    return validate(cfg)


def _weights(save_dir, name):
    return paddle.load(os.path.join(save_dir, name, "model.pdparams"))


def test_resume_gives_identical_weights(tmp_path):
    straight = str(tmp_path / "straight")
    Trainer(_cfg(), straight, progress=False).train()
    split = str(tmp_path / "split")
    Trainer(_cfg(), split, progress=False, stop_after=3).train()
    # the resumed run gets the full schedule (6 iterations) and continues from iter_3
    Trainer(_cfg(), split, resume_model=os.path.join(split, "iter_3"), progress=False).train()
    a, b = _weights(straight, "iter_6"), _weights(split, "iter_6")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)


def test_resume_with_accumulation_and_epochs(tmp_path):
    cfg = _cfg(accumulate_steps=2, save_interval=1)
    cfg.pop("iters")
    cfg["epochs"] = 2  # 3 batches/epoch, accumulate 2 -> 1 iter/epoch
    straight = str(tmp_path / "a")
    Trainer(copy.deepcopy(cfg), straight, progress=False).train()
    assert latest_checkpoint(straight).endswith("iter_2")
    split = str(tmp_path / "b")
    Trainer(copy.deepcopy(cfg), split, progress=False, stop_after=1).train()
    Trainer(copy.deepcopy(cfg), split, resume_model="auto", progress=False).train()
    a, b = _weights(straight, "iter_2"), _weights(split, "iter_2")
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)


def test_keeps_last_k_and_best_and_config(tmp_path):
    out = str(tmp_path / "o")
    Trainer(_cfg(save_interval=1, keep_checkpoint_max=2), out, do_eval=True,
            progress=False).train()
    iters = sorted(d for d in os.listdir(out) if d.startswith("iter_"))
    assert iters == ["iter_5", "iter_6"]
    assert os.path.isfile(os.path.join(out, "best_model", "model.pdparams"))
    assert os.path.isfile(os.path.join(out, "best_model", "metrics.json"))
    assert os.path.isfile(os.path.join(out, "config.yml"))
    assert not [d for d in os.listdir(out) if ".tmp" in d or ".old" in d]


def test_visualdl_tags(tmp_path):
    from visualdl import LogReader
    out = str(tmp_path / "v")
    Trainer(_cfg(), out, do_eval=True, use_vdl=True, progress=False).train()
    logdir = os.path.join(out, "vdl_log")
    files = [os.path.join(logdir, f) for f in os.listdir(logdir)]
    reader = LogReader(file_path=files[0])
    tags = reader.get_tags()
    scalars = set(tags.get("scalar", []))
    for tag in ("train/loss", "train/toy_ce", "train/lr", "val/acc", "val/IoU/dummy"):
        assert tag in scalars, (tag, scalars)
    assert "val/toy" in tags.get("image", [])
    assert len(reader.get_data("scalar", "train/loss")) == 6


def test_nan_loss_is_reported(tmp_path):
    cfg = _cfg()
    cfg["lr_scheduler"]["learning_rate"] = 1e30
    with pytest.raises(FloatingPointError, match="checkpoint"):
        Trainer(cfg, str(tmp_path / "n"), progress=False).train()


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_amp_switch_runs(tmp_path, precision):
    out = str(tmp_path / precision)
    Trainer(_cfg(), out, precision=precision, progress=False).train()
    w = _weights(out, "iter_6")
    assert all(np.isfinite(v.numpy()).all() for v in w.values())


def test_data_init_hook(tmp_path):
    calls = []

    def init_from_data(batches):
        calls.append([b.image.shape[0] for b in batches])

    with pytest.raises(Exception, match="data_init_batches: ToyNet has no init_from_data"):
        Trainer(_cfg(data_init_batches=2), str(tmp_path / "a"), progress=False).train()
    toy.ToyNet.init_from_data = staticmethod(init_from_data)
    try:
        Trainer(_cfg(data_init_batches=2), str(tmp_path / "b"), progress=False).train()
        assert calls == [[4, 4]]
        # not again when resuming: the checkpoint already holds the initialised weights
        Trainer(_cfg(data_init_batches=2), str(tmp_path / "b"), resume_model="auto",
                progress=False).train()
        assert calls == [[4, 4]]
    finally:
        del toy.ToyNet.init_from_data
