"""Console logging and VisualDL scalars/images, on rank 0 only.

Progress bars are drawn only when both stdout and stderr are terminals (:func:`show_progress`):
piped into a file, ``tee`` or a notebook cell (AI Studio), a run prints one plain log line per
``log_iters`` (with ETA) instead of bars with cursor-movement escapes. Log lines go through
``tqdm.write`` so that, on a terminal, they print above a live bar instead of being glued to it.
"""
import logging
import os
import sys

import numpy as np

__all__ = ["get_logger", "show_progress", "VisualDLWriter"]


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def show_progress(requested=True):
    """Whether to draw tqdm bars: ``requested`` (not ``--no_progress``) and both stdout and
    stderr are terminals."""
    return bool(requested) and _isatty(sys.stdout) and _isatty(sys.stderr)


class _TqdmAwareHandler(logging.StreamHandler):
    """Writes each record with ``tqdm.write`` (clears and redraws an active bar) to the
    *current* ``sys.stdout`` (looked up at each record, so a redirected or captured stdout,
    e.g. ``contextlib.redirect_stdout`` or pytest's capsys, gets the lines)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; stdout is looked up instead
        pass

    def emit(self, record):
        try:
            from tqdm import tqdm
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def get_logger(name="paddlexseg", rank=0):
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = _TqdmAwareHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    return logger


class VisualDLWriter:
    """Thin wrapper of ``visualdl.LogWriter``; a no-op when disabled or not rank 0."""

    def __init__(self, logdir, enabled=True, rank=0):
        self._writer = None
        if enabled and rank == 0:
            from visualdl import LogWriter
            os.makedirs(logdir, exist_ok=True)
            self._writer = LogWriter(logdir=logdir)
            self.logdir = logdir

    def scalars(self, values, step, prefix=""):
        if self._writer is None:
            return
        for key, value in values.items():
            if value is None or not np.isfinite(value):
                continue
            self._writer.add_scalar(tag=f"{prefix}{key}", value=float(value), step=int(step))

    def image(self, tag, image, step):
        if self._writer is not None:
            self._writer.add_image(tag=tag, img=np.asarray(image, dtype=np.uint8), step=int(step))

    def flush(self):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
