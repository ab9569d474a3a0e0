"""No run silently loses work: the save_dir lock, temp-folder clean-up, full disks, pruning
only a run's own checkpoints, damaged checkpoint files and checkpoints of another model."""
import copy
import errno
import logging
import os
import pickle
import signal
import subprocess
import sys
import time

import paddle
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import toy  # noqa: E402

from paddlexseg.config import validate  # noqa: E402
from paddlexseg.datasets.errors import DataError  # noqa: E402
from paddlexseg.engine import checkpoint as ckpt  # noqa: E402
from paddlexseg.engine.run_lock import (SaveDirLock, default_save_dir,  # noqa: E402
                                        sweep_stale_temp)
from paddlexseg.engine.trainer import Trainer  # noqa: E402
from paddlexseg.tool_errors import RunError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(**train):
    cfg = copy.deepcopy(toy.TOY_CFG)
    cfg["train"].update(train)
    return validate(cfg)


def _holder(save_dir):
    """A live process holding the lock of ``save_dir`` (prints 'locked' once it does)."""
    code = (f"import sys, time; sys.path.insert(0, {ROOT!r})\n"
            f"from paddlexseg.engine.run_lock import SaveDirLock\n"
            f"SaveDirLock({save_dir!r}).acquire(); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_refuses_a_live_run_and_takes_over_a_dead_one(tmp_path, caplog):
    save_dir = str(tmp_path / "run")
    proc = _holder(save_dir)
    try:
        with pytest.raises(RunError, match=rf"in use by another training run \(pid {proc.pid}"):
            SaveDirLock(save_dir).acquire()
        with pytest.raises(RunError, match="in use"):  # the trainer refuses before writing
            Trainer(_cfg(), save_dir, progress=False).train()
        assert not os.path.exists(os.path.join(save_dir, "config.yml"))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    logger = logging.getLogger("lock-test")
    with caplog.at_level(logging.WARNING, logger="lock-test"):
        lock = SaveDirLock(save_dir, logger).acquire()
    assert f"lock of run pid {proc.pid}, which is no longer running" in caplog.text
    lock.release()
    with SaveDirLock(save_dir):  # released: can be taken again
        pass


def test_default_save_dir_is_per_config():
    assert default_save_dir("configs/rangenet/rangenet_darknet21_kitti.yml") == os.path.join(
        "output", "rangenet_darknet21_kitti")


def test_sweep_removes_only_dead_processes_temp(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=60)
    dead_pid = int(dead.stdout)
    for name in (f"iter_4.tmp{dead_pid}", f"iter_2.old{dead_pid}", f"iter_6.tmp{os.getpid()}"):
        os.makedirs(tmp_path / name)
    (tmp_path / f"config.yml.tmp{dead_pid}").write_text("")
    os.makedirs(tmp_path / "iter_4")
    os.makedirs(tmp_path / "iter_2")
    os.makedirs(tmp_path / f"best_model.old{dead_pid}")  # killed mid-replace: best_model gone
    (tmp_path / f"best_model.old{dead_pid}" / "model.pdparams").write_text("w")
    removed = sorted(os.path.basename(p) for p in sweep_stale_temp(str(tmp_path)))
    assert removed == sorted([f"iter_4.tmp{dead_pid}", f"iter_2.old{dead_pid}",
                              f"config.yml.tmp{dead_pid}"])
    assert sorted(os.listdir(tmp_path)) == sorted(["iter_2", "iter_4", "best_model",
                                                   f"iter_6.tmp{os.getpid()}"])
    assert (tmp_path / "best_model" / "model.pdparams").read_text() == "w"


def test_full_disk_removes_the_partial_folder_and_names_the_path(tmp_path, monkeypatch):
    model = toy.ToyNet()
    ckpt.save_checkpoint(str(tmp_path), "iter_1", model, train_state={"iter": 1})
    real_save = paddle.save

    def full_disk(obj, path, *a, **k):
        real_save(obj, path)  # a partial file exists, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(paddle, "save", full_disk)
    with pytest.raises(RunError, match=r"iter_2: No space left on device while writing "
                                       r".*iter_2\.tmp\d+/model\.pdparams"):
        ckpt.save_checkpoint(str(tmp_path), "iter_2", model, train_state={"iter": 2})
    assert sorted(os.listdir(tmp_path)) == ["iter_1"]


def test_pruning_keeps_another_runs_checkpoints(tmp_path):
    out = str(tmp_path / "o")
    Trainer(_cfg(save_interval=1, keep_checkpoint_max=2), out, progress=False).train()
    assert sorted(d for d in os.listdir(out) if d.startswith("iter_")) == ["iter_5", "iter_6"]
    cfg = _cfg(save_interval=1, keep_checkpoint_max=2)
    cfg["iters"] = 3  # a new, shorter run in the same folder: its iter_1..3 sort first
    Trainer(cfg, out, progress=False).train()
    iters = sorted(d for d in os.listdir(out) if d.startswith("iter_"))
    assert iters == ["iter_2", "iter_3", "iter_5", "iter_6"]
    assert ckpt.run_of(os.path.join(out, "iter_3")) != ckpt.run_of(os.path.join(out, "iter_6"))


def test_resume_auto_with_nothing_says_so(tmp_path, caplog):
    logger = logging.getLogger("paddlexseg")
    logger.addHandler(caplog.handler)
    try:
        Trainer(_cfg(), str(tmp_path / "fresh"), resume_model="auto", progress=False).train()
    finally:
        logger.removeHandler(caplog.handler)
    assert "--resume_model auto: no checkpoint in" in caplog.text


@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("good"))
    Trainer(_cfg(), out, progress=False).train()
    return os.path.join(out, "iter_6")


@pytest.mark.parametrize("name", ["model.pdparams", "model.pdopt", "train_state.pkl"])
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_checkpoint_file_is_a_data_error(good_ckpt, tmp_path, name, damage):
    import shutil
    dst = str(tmp_path / "iter_6")
    shutil.copytree(good_ckpt, dst)
    path = os.path.join(dst, name)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write({"empty": b"", "truncated": data[: len(data) // 2],
                 "garbage": os.urandom(300)}[damage])
    trainer = Trainer(_cfg(), str(tmp_path), resume_model=dst, progress=False)
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        trainer.train()


def test_checkpoint_of_another_model_is_a_data_error(good_ckpt, tmp_path):
    paddle.save({"other.weight": paddle.zeros([3])}, str(tmp_path / "other.pdparams"))
    with pytest.raises(DataError, match="other.pdparams does not fit the model"):
        ckpt.load_model_weights(toy.ToyNet(), str(tmp_path / "other.pdparams"))
    with open(tmp_path / "list.pdparams", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(DataError, match="list.pdparams"):
        ckpt.load_model_weights(toy.ToyNet(), str(tmp_path / "list.pdparams"))


def test_interrupted_save_leaves_only_temp_which_the_next_run_sweeps(tmp_path):
    """kill -9 during a save leaves iter_N.tmp<pid>; the next run removes it at start."""
    out = str(tmp_path / "o")
    Trainer(_cfg(), out, progress=False, stop_after=3).train()
    code = (f"import os, sys, time; sys.path.insert(0, {ROOT!r})\n"
            f"os.makedirs(os.path.join({out!r}, 'iter_6.tmp%d' % os.getpid()))\n"
            f"print('written', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.1)
    Trainer(_cfg(), out, resume_model="auto", progress=False).train()
    assert not [d for d in os.listdir(out) if ".tmp" in d]
