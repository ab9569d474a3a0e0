"""Silence the harmless messages Paddle 3.3.1 prints, and only those.

* ``No ccache found ...`` (a ``UserWarning`` from ``import paddle``; it concerns compiling C++
  extensions, which paddlexseg never does);
* ``When training, we now always track global mean and variance.`` (a ``UserWarning`` from
  every ``BatchNorm`` forward in training mode that has ``use_global_stats`` unset);
* ``Paddle static graph(PIR) not support input out tensor for now!!!!!`` (a glog warning that
  ``libpaddle`` writes to stderr while ``paddle.jit.save`` traces a model;
  :func:`native_output_filtered` drops that line only);
* ``WARNING: OMP_NUM_THREADS set to N, not 1 ... PLEASE USE OMP_NUM_THREADS WISELY.`` (printed to
  ``sys.stderr`` by ``paddle.base.__bootstrap__`` at ``import paddle`` whenever
  ``OMP_NUM_THREADS`` > 1, which :mod:`paddlexseg.runtime` sets on purpose: the wheel uses MKL,
  not OpenBLAS, and data-parallel runs are one process per card with their own threads;
  :func:`import_paddle_quietly` drops those two lines only).

Everything else (including other ``UserWarning``s) still prints. Set ``PADDLEXSEG_VERBOSE=1`` to
see these messages too.
"""
import contextlib
import io
import os
import re
import sys
import tempfile
import warnings

__all__ = ["quiet_known_warnings", "native_output_filtered", "import_paddle_quietly",
           "PYTHON_NOISE", "NATIVE_NOISE", "IMPORT_NOISE"]

PYTHON_NOISE = (r"No ccache found", r"When training, we now always track global mean")
NATIVE_NOISE = (r"PIR\)? not support input out tensor",)
IMPORT_NOISE = (r"^WARNING: OMP_NUM_THREADS set to \d+, not 1\. ",
                r"^PLEASE USE OMP_NUM_THREADS WISELY\.$")


def _verbose():
    return bool(os.environ.get("PADDLEXSEG_VERBOSE"))


def quiet_known_warnings():
    """Install ``warnings`` filters for :data:`PYTHON_NOISE` (idempotent)."""
    if _verbose():
        return
    for pattern in PYTHON_NOISE:
        warnings.filterwarnings("ignore", message=pattern, category=UserWarning)


@contextlib.contextmanager
def native_output_filtered(patterns=NATIVE_NOISE):
    """Capture what native code writes to file descriptors 1 and 2 inside the block and replay
    it afterwards without the lines matching ``patterns`` (regular expressions).

    Python-level output in the block is captured and replayed too (in order per stream).
    """
    if _verbose():
        yield
        return
    regex = re.compile("|".join(patterns))
    saved, captures = [], []
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            stream.flush()
            saved.append((fd, stream, os.dup(fd)))
        except (OSError, ValueError, AttributeError):
            continue  # no real file descriptor (e.g. pytest's capture): leave it alone
        tmp = tempfile.TemporaryFile(mode="w+b")
        captures.append(tmp)
        os.dup2(tmp.fileno(), fd)
    try:
        yield
    finally:
        for (fd, stream, old), tmp in zip(saved, captures):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
            os.dup2(old, fd)
            os.close(old)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            tmp.close()
            kept = [line for line in text.splitlines(keepends=True) if not regex.search(line)]
            if kept:
                stream.write("".join(kept))
                stream.flush()


def import_paddle_quietly():
    """``import paddle`` with :data:`IMPORT_NOISE` dropped from what it prints to ``sys.stderr``
    (other lines are replayed); returns the module. A no-op filter when Paddle is already
    imported or ``PADDLEXSEG_VERBOSE`` is set."""
    if "paddle" in sys.modules or _verbose():
        import paddle
        return paddle
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            import paddle
    finally:
        regex = re.compile("|".join(IMPORT_NOISE))
        kept = [line for line in buffer.getvalue().splitlines(keepends=True)
                if not regex.search(line.rstrip("\n"))]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return paddle
