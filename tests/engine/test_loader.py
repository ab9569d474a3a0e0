"""SafeLoader: a bad sample in the middle of a pass ends it with a DataError naming the file
(num_workers 0 and 2, never a hang), ``on_bad_sample: skip`` skips and counts, and worker
loading gives the same batches as the main process over several epochs."""
import contextlib
import faulthandler
import logging
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import toy  # noqa: E402

from paddlexseg.datasets.cityscapes import Cityscapes  # noqa: E402
from paddlexseg.datasets.errors import DataError  # noqa: E402
from paddlexseg.datasets.mvsec import MVSECPlaces, SequenceWriter, write_track  # noqa: E402
from paddlexseg.datasets.semantickitti import SemanticKITTI  # noqa: E402
from paddlexseg.datasets.synthetic.cityscapes_scenes import generate_cityscapes  # noqa: E402
from paddlexseg.engine.builder import build_loader  # noqa: E402
from paddlexseg.engine.sampler import ResumableBatchSampler  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402


@contextlib.contextmanager
def hang_guard(seconds=90):
    """Kill the test process (with the stacks) if the body hangs: a hang must fail, not stall."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _drain(dataset, workers, policy="error", batch_size=1):
    loader = build_loader(dataset, batch_size=batch_size, num_workers=workers,
                          on_bad_sample=policy)
    with hang_guard():
        return list(loader), loader


class _BadToy(toy.ToyDataset):
    """Toy samples; sample ``bad`` raises DataError, ``bug`` a plain IndexError."""

    def __init__(self, bad=(), bug=()):
        super().__init__(num_samples=8)
        self.bad, self.bug = set(bad), set(bug)

    def __getitem__(self, idx):
        if idx in self.bad:
            raise DataError(f"scan_{idx}.bin: truncated")
        if idx in self.bug:
            raise IndexError("index 9 is out of bounds")
        return super().__getitem__(idx)


# ---------------------------------------------------------------- the loader itself


@pytest.mark.parametrize("workers", [0, 2])
def test_error_reaches_the_main_thread(workers):
    with pytest.raises(DataError, match="scan_5.bin: truncated"):
        _drain(_BadToy(bad=[5]), workers, batch_size=2)
    with pytest.raises(IndexError, match="out of bounds"):  # bugs are not swallowed either
        _drain(_BadToy(bug=[3]), workers)


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_policy_warns_names_and_counts(workers, caplog):
    logger = logging.getLogger("paddlexseg")
    logger.addHandler(caplog.handler)
    try:
        batches, loader = _drain(_BadToy(bad=[2, 3]), workers, policy="skip", batch_size=2)
    finally:
        logger.removeHandler(caplog.handler)
    assert [b.image.shape[0] for b in batches] == [2, 2, 2]  # [0 1] [4 5] [6 7]; [2 3] dropped
    assert loader.skipped_total == 2
    assert "scan_2.bin: truncated" in caplog.text and "scan_3.bin" in caplog.text
    assert "skipped 2 bad sample(s)" in caplog.text
    with pytest.raises(DataError, match="every sample of this pass is bad"):
        _drain(_BadToy(bad=range(8)), workers, policy="skip")
    with pytest.raises(IndexError):  # skip is for bad data (DataError) only
        _drain(_BadToy(bug=[3]), workers, policy="skip")


class _KilledWorker(toy.ToyDataset):
    def __getitem__(self, idx):
        if idx == 3:
            os.kill(os.getpid(), 9)  # the OS kills a worker (out of memory)
        return super().__getitem__(idx)


def test_a_dead_worker_ends_the_pass():
    from paddlexseg.tool_errors import RunError
    with pytest.raises(RunError, match="worker of _KilledWorker died unexpectedly"):
        _drain(_KilledWorker(num_samples=8), 2)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="on_bad_sample"):
        build_loader(toy.ToyDataset(), on_bad_sample="ignore")
    with pytest.raises(ConfigError, match="num_workers"):
        build_loader(toy.ToyDataset(), num_workers=-1)
    with pytest.raises(ConfigError, match="batch_size"):
        build_loader(toy.ToyDataset(), batch_size=0)


def test_workers_match_main_process_over_epochs():
    """Several epochs of a resumable, epoch-seeded sampler: workers give the same batches."""
    ds = toy.ToyDataset(num_samples=10, augment=True)
    runs = {}
    for workers in (0, 2):
        sampler = ResumableBatchSampler(10, 3, shuffle=True, drop_last=False, seed=1)
        loader = build_loader(ds, sampler, num_workers=workers)
        out = []
        with hang_guard():
            for epoch in range(3):
                sampler.set_epoch(epoch, skip_batches=1 if epoch == 2 else 0)
                ds.set_epoch(epoch)
                for i, batch in enumerate(loader):
                    out.append(batch.image.numpy())
                    if epoch == 1 and i == 1:
                        break  # leaving a pass early shuts its workers down cleanly
        runs[workers] = out
    assert len(runs[0]) == 4 + 2 + 3
    for a, b in zip(runs[0], runs[2]):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- each reader, a bad file mid-pass


def _kitti_cases():
    def truncated(scan, label):
        with open(scan, "r+b") as f:
            f.truncate(os.path.getsize(scan) - 10)

    def short_label(scan, label):
        np.fromfile(label, np.uint32)[:-3].tofile(label)

    def empty(scan, label):
        open(scan, "wb").close()
        open(label, "wb").close()

    def unknown_id(scan, label):
        lab = np.fromfile(label, np.uint32)
        lab[5] = 9999
        lab.tofile(label)

    def all_nan(scan, label):
        pts = np.fromfile(scan, np.float32)
        np.full_like(pts, np.nan).tofile(scan)

    return {"truncated": (truncated, "000001.bin"), "short_label": (short_label, "000001.label"),
            "empty": (empty, "000001.bin"), "unknown_id": (unknown_id, "000001.label"),
            "all_nan": (all_nan, "000001.bin")}


@pytest.mark.filterwarnings("ignore:.*NaN/inf")
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("case", sorted(_kitti_cases()))
def test_semantickitti_bad_scan(synthetic_kitti, tmp_path, case, workers):
    root = str(tmp_path / "kitti")
    shutil.copytree(os.path.join(synthetic_kitti, "sequences", "08"),
                    os.path.join(root, "sequences", "08"))
    seq = os.path.join(root, "sequences", "08")
    corrupt, name = _kitti_cases()[case]
    corrupt(os.path.join(seq, "velodyne", "000001.bin"), os.path.join(seq, "labels",
                                                                      "000001.label"))
    ds = SemanticKITTI(root, [8], mode="val", projection={"H": 16, "W": 64})
    with pytest.raises(DataError, match=name):
        _drain(ds, workers)


@pytest.fixture(scope="module")
def cityscapes_root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cityscapes"))
    generate_cityscapes(path, n_train=0, n_val=3, size=(64, 32), seed=0)
    return path


def _cityscapes_cases():
    def truncated(img, label):
        with open(img, "r+b") as f:
            f.truncate(os.path.getsize(img) // 2)

    def random_bytes(img, label):
        with open(img, "wb") as f:
            f.write(np.random.default_rng(0).bytes(500))

    def small_image(img, label):  # smaller than the crop (and than its label)
        Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(img)

    def label_size(img, label):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(label)

    return {"truncated": truncated, "random_bytes": random_bytes, "small_image": small_image,
            "label_size": label_size}


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("case", sorted(_cityscapes_cases()))
def test_cityscapes_bad_png(cityscapes_root, tmp_path, case, workers):
    root = str(tmp_path / "cs")
    shutil.copytree(cityscapes_root, root)
    ds = Cityscapes(root, split="val", mode="train",
                    transforms=[{"type": "RandomPaddingCrop", "crop_size": [32, 16]}])
    img, label = ds.samples[1]
    _cityscapes_cases()[case](img, label)
    with pytest.raises(DataError, match=os.path.basename(img).split("_leftImg8bit")[0]):
        _drain(ds, workers)


def _events_cases():
    def empty(path):
        np.save(path, np.zeros((0, 4)))

    def malformed(path):
        np.save(path, np.zeros((5, 3)))

    def zero_bytes(path):
        open(path, "wb").close()

    def float32_epoch_times(path):
        ev = np.load(path)
        ev[:, 0] += 1.5e9  # Unix-epoch seconds: float32 spacing is 128 s there
        np.save(path, ev.astype(np.float32))

    return {"empty": empty, "malformed": malformed, "zero_bytes": zero_bytes,
            "float32_epoch_times": float32_epoch_times}


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("case", sorted(_events_cases()))
def test_events_bad_npy(tmp_path, case, workers):
    root = str(tmp_path / "mvsec")
    rng = np.random.default_rng(0)
    n = 600
    ev = np.stack([np.sort(rng.uniform(0, 6, n)), rng.integers(0, 16, n),
                   rng.integers(0, 12, n), rng.integers(0, 2, n)], axis=1)
    paths = SequenceWriter(root, "outdoor_day1", events_per_sample=200).add(ev).close()
    write_track(root, "outdoor_day1", np.stack([np.arange(-1, 8.0), np.zeros(9),
                                                np.arange(-1, 8.0)], axis=1))
    ds = MVSECPlaces(root, ["outdoor_day1"], query_fraction=0.3, num_bins=2,
                     sensor_size=(12, 16))
    bad = paths[1]
    _events_cases()[case](bad)
    with pytest.raises(DataError, match=os.path.basename(bad)):
        _drain(ds, workers)


_KILLED_PARENT = r"""
import os, sys, time
sys.path.insert(0, {testdir!r})
import toy
from paddlexseg.engine.builder import build_loader
loader = build_loader(toy.ToyDataset(8), batch_size=1, num_workers=2)
next(iter(loader))                                   # the workers are up
print(" ".join(str(p) for p in loader._pool._processes), flush=True)
time.sleep(60)                                       # killed by the test before this ends
"""


def test_workers_die_with_a_killed_parent(tmp_path):
    """A tool killed by SIGKILL (no clean-up runs) leaves no orphaned reader processes."""
    import signal
    import subprocess
    import time
    script = tmp_path / "parent.py"
    script.write_text(_KILLED_PARENT.format(testdir=os.path.dirname(__file__)))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + 30
        alive = pids
        while alive and time.time() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                     and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
        assert not alive, f"orphaned loader workers still running: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
