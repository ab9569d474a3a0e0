"""Data loading that never hangs: samples are read in the main process or in forked worker
processes, and batches are collated in the main process.

Why not ``paddle.io.DataLoader`` (Paddle 3.3.1, measured here):

* with ``num_workers=0`` an exception raised by ``__getitem__`` is printed from the loader's
  thread and the main thread then blocks forever in ``ReadNextList``;
* with ``num_workers>=1`` a batch holding Paddle tensors *created in the worker* (our datasets'
  ``collate`` calls ``paddle.to_tensor``) makes the worker segfault when the iterator shuts its
  workers down at the end of the first epoch ("Unexpected segmentation fault encountered in
  DataLoader workers"), and the next read fails with "Blocking queue is killed".

Here workers only run ``dataset[i]`` (NumPy) and send the samples back pickled; ``collate`` (which
creates the tensors) runs in the main process. An exception in a sample reaches the main thread
with its type and message (a ``DataError`` ends the tool with exit code 2 and one line), a worker
that dies (killed, out of memory) ends the run with a RunError (one line, exit code 2) instead
of a hang.

Bad samples (``on_bad_sample``):

* ``error`` (default): the first ``DataError`` ends the run, naming the file;
* ``skip``: a sample raising ``DataError`` is dropped with a warning naming it; each pass logs
  how many were skipped, and a pass in which every sample is bad is an error. Other exceptions
  (bugs, not bad data) always end the run.
"""
import concurrent.futures as cf
import multiprocessing as mp
import os
import random
import signal

import numpy as np

from ..datasets.errors import DataError
from ..registry import ConfigError
from ..tool_errors import RunError
from .logging import get_logger

__all__ = ["SafeLoader", "BAD_SAMPLE_POLICIES", "SequentialBatches"]

BAD_SAMPLE_POLICIES = ("error", "skip")

_WORKER_DATASET = None  # in a worker process: the dataset it reads


class SequentialBatches:
    """Batches of consecutive indices ``[0..bs-1], [bs..2bs-1], ...`` (the last may be short)."""

    def __init__(self, num_samples, batch_size=1):
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)

    def __iter__(self):
        for start in range(0, self.num_samples, self.batch_size):
            yield list(range(start, min(start + self.batch_size, self.num_samples)))

    def __len__(self):
        return -(-self.num_samples // self.batch_size)


def _read(dataset, indices, skip):
    """``[dataset[i] for i in indices]``; with ``skip``, DataErrors become ``(i, message)``."""
    samples, bad = [], []
    for i in indices:
        try:
            samples.append(dataset[i])
        except DataError as e:
            if not skip:
                raise
            bad.append((int(i), str(e)))
    return samples, bad


def _die_with_parent(parent_pid):
    """Linux: the kernel kills this worker (SIGKILL: it only reads samples) when its parent dies, so a tool killed by
    SIGTERM / SIGKILL (no interpreter shutdown, no pool clean-up) leaves no orphaned readers."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)    # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):                   # not Linux: shutdown at exit only
        return
    if os.getppid() != parent_pid:                      # the parent died before prctl
        os._exit(1)


def _worker_init(dataset, base_seed, parent_pid=None):
    global _WORKER_DATASET
    _WORKER_DATASET = dataset  # forked: inherited, not pickled
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the main process
    seed = (base_seed + os.getpid()) % 2 ** 32    # distinct global RNG streams per worker
    random.seed(seed)
    np.random.seed(seed)


def _worker_read(indices, epoch, skip):
    dataset = _WORKER_DATASET
    if epoch is not None and getattr(dataset, "epoch", None) != epoch:
        dataset.set_epoch(epoch)
    return _read(dataset, indices, skip)


class SafeLoader:
    """Iterates ``batch_sampler`` and yields ``collate(samples)`` for each list of indices.

    Args:
        dataset: map-style dataset (``__getitem__`` returns NumPy / plain Python values).
        batch_sampler: iterable of index lists with ``__len__`` (re-iterated every pass).
        collate: ``samples -> batch``, run in the main process.
        num_workers: 0 reads in the main process; N > 0 forks N reader processes once and
            reuses them in every pass (the epoch travels with each task: ``set_epoch``).
        on_bad_sample: ``error`` or ``skip`` (see the module docstring).
        prefetch: batches in flight per worker.
    """

    def __init__(self, dataset, batch_sampler, collate, num_workers=0, on_bad_sample="error",
                 prefetch=2):
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(f"train.on_bad_sample: expected one of {BAD_SAMPLE_POLICIES}, "
                              f"got {on_bad_sample!r}")
        if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
            raise ConfigError(f"train.num_workers: expected an integer >= 0, got {num_workers!r}")
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.collate = collate
        self.num_workers = num_workers
        self.skip = on_bad_sample == "skip"
        self.prefetch = max(int(prefetch), 1)
        self.skipped_total = 0
        self.logger = get_logger()
        self._pool = None

    def __len__(self):
        return len(self.batch_sampler)

    def __iter__(self):
        name = type(self.dataset).__name__
        skipped = yielded = 0
        reads = self._reads_serial() if self.num_workers == 0 else self._reads_parallel()
        try:
            for samples, bad in reads:
                for index, message in bad:
                    self.logger.warning(f"skipped bad sample {index} of {name}: {message}")
                skipped += len(bad)
                if samples:
                    yielded += 1
                    yield self.collate(samples)
        finally:
            reads.close()
            self.skipped_total += skipped
            if skipped:
                self.logger.warning(f"on_bad_sample: skip: skipped {skipped} bad sample(s) of "
                                    f"{name} in this pass")
        if skipped and not yielded:
            raise DataError(f"{name}: every sample of this pass is bad ({skipped} skipped); "
                            f"see the warnings above")

    def _reads_serial(self):
        for indices in self.batch_sampler:
            yield _read(self.dataset, indices, self.skip)

    def _reads_parallel(self):
        epoch = getattr(self.dataset, "epoch", None) if hasattr(self.dataset, "set_epoch") else None
        if self._pool is None:  # persistent: forked once, reused by every pass
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            base_seed = int(np.random.randint(0, 2 ** 31 - 1))
            self._pool = cf.ProcessPoolExecutor(self.num_workers, mp_context=ctx,
                                                initializer=_worker_init,
                                                initargs=(self.dataset, base_seed, os.getpid()))
        pool = self._pool
        pending = []
        try:
            batches = iter(self.batch_sampler)
            while True:
                while len(pending) < self.num_workers * self.prefetch:
                    indices = next(batches, None)
                    if indices is None:
                        break
                    pending.append(pool.submit(_worker_read, list(indices), epoch, self.skip))
                if not pending:
                    return
                try:
                    result = pending.pop(0).result()
                except cf.process.BrokenProcessPool:
                    raise RunError(
                        f"a data loader worker of {type(self.dataset).__name__} died unexpectedly "
                        f"(killed, or out of memory?); try a lower train.num_workers") from None
                yield result
        except GeneratorExit:  # the consumer left the pass early: keep the workers
            for f in pending:
                f.cancel()
            raise
        except BaseException:  # an error ends the run: stop the workers now
            for f in pending:
                f.cancel()
            self.close()
            raise

    def close(self):
        """Stop the worker processes (they are also stopped at interpreter exit)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
