"""Limit the OpenBLAS threads NumPy uses, for the calling thread only.

The NumPy backend runs many small GEMMs; with several OpenBLAS threads on a busy CPU (or next
to Paddle's own OpenMP threads) a single [64, n] x [n, 64] product was measured taking seconds
instead of a millisecond. OpenBLAS >= 0.3.27 has ``openblas_set_num_threads_local``, which
changes the count for the calling thread only; without it (another BLAS, another OS) this is
a no-op.
"""
import contextlib
import ctypes
import functools

__all__ = ["blas_threads"]


@functools.lru_cache(maxsize=1)
def _set_threads_local():
    """``openblas_set_num_threads_local`` of the OpenBLAS loaded in this process, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f
                            if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return None
    for path in paths:
        try:
            fn = getattr(ctypes.CDLL(path), "openblas_set_num_threads_local", None)
        except OSError:
            continue
        if fn is not None:
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            return fn
    return None


@contextlib.contextmanager
def blas_threads(count):
    """Run the block with ``count`` OpenBLAS threads in this thread (None: leave as is)."""
    fn = _set_threads_local() if count else None
    if fn is None:
        yield
        return
    previous = fn(int(count))
    try:
        yield
    finally:
        fn(previous)
