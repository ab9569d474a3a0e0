"""CPU runtime set-up shared by every tool, deploy script and benchmark.

Importing this module does not import Paddle. Call :func:`setup_runtime` after parsing the
command line and *before* ``import paddle`` (MKL and OpenMP read their environment when they
start), then :func:`apply_threads` once Paddle is imported (``tools/*`` do both through
:func:`setup_runtime` with ``import_paddle=True``). Measured on Paddle 3.3.1 (see
docs/deploy.md, "CPU speed"):

* after ``import paddle`` MKL and OpenMP run **one thread**; we use the available cores
  (``os.sched_getaffinity``), overridable by ``--threads`` or ``PADDLEXSEG_NUM_THREADS``;
  a user-set ``OMP_NUM_THREADS`` is kept when neither is given;
* the MKL 2019 bundled with the Paddle wheel takes a slow code path on AMD processors (2048^3
  sgemm 35 GFLOP/s instead of ~90); ``MKL_DEBUG_CPU_TYPE=5`` selects the AVX2 path. It is set
  only when ``/proc/cpuinfo`` says ``AuthenticAMD`` and the user has not set it.

Every decision is logged once per process, on stderr, naming where each value came from.
"""
import os
import sys

from .registry import ConfigError

__all__ = ["ENV_THREADS", "RuntimeSettings", "available_cores", "cpu_vendor", "plan_runtime",
           "setup_runtime", "apply_threads", "add_runtime_flags"]

ENV_THREADS = "PADDLEXSEG_NUM_THREADS"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_STATE = {"settings": None, "logged": False, "applied": None}


class RuntimeSettings:
    """What :func:`plan_runtime` decided.

    Attributes:
        threads: math threads for MKL / OpenMP / Paddle.
        threads_source: ``--threads``, ``PADDLEXSEG_NUM_THREADS``, ``OMP_NUM_THREADS`` (user)
            or ``available cores``.
        vendor: ``AuthenticAMD``, ``GenuineIntel``, ... or None when unknown.
        env: the environment variables to set (name -> value); only values the user did not set,
            except the thread variables when ``--threads`` / ``PADDLEXSEG_NUM_THREADS`` ask for
            another count.
        kept: user-set variables left as they were (name -> value).
        notes: warnings to log with the settings.
    """

    def __init__(self, threads, threads_source, vendor, env, kept):
        self.threads = threads
        self.threads_source = threads_source
        self.vendor = vendor
        self.env = env
        self.kept = kept
        self.notes = []

    def describe(self):
        """One log line."""
        parts = [f"{self.threads} math threads ({self.threads_source})"]
        mkl = self.env.get("MKL_DEBUG_CPU_TYPE")
        if mkl is not None:
            parts.append(f"MKL_DEBUG_CPU_TYPE={mkl} (AMD CPU: MKL's AVX2 path)")
        for name, value in sorted(self.kept.items()):
            parts.append(f"{name}={value} (set by you, kept)")
        parts += self.notes
        return "runtime: " + ", ".join(parts) + f"; CPU vendor {self.vendor or 'unknown'}"


def available_cores():
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_vendor(cpuinfo="/proc/cpuinfo"):
    """``vendor_id`` of the first processor in ``cpuinfo`` (None if unreadable)."""
    try:
        with open(cpuinfo, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        return None
    return None


def _positive_int(value, name):
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"{name}: expected a positive number of threads, got {value!r}")
    return n


def plan_runtime(threads=None, environ=None, cpuinfo="/proc/cpuinfo", cores=None):
    """Decide threads and MKL dispatch without changing anything.

    Args:
        threads: the ``--threads`` flag (None: not given).
        environ: the environment to read (default ``os.environ``).
        cpuinfo: path of ``/proc/cpuinfo`` (tests pass a fake one).
        cores: available cores (default :func:`available_cores`).

    Returns:
        RuntimeSettings.

    Raises:
        ConfigError: ``threads`` or ``PADDLEXSEG_NUM_THREADS`` is not a positive integer.
    """
    environ = os.environ if environ is None else environ
    env, kept = {}, {}
    if threads is not None:
        n, source = _positive_int(threads, "--threads"), "--threads"
    elif environ.get(ENV_THREADS):
        n, source = _positive_int(environ[ENV_THREADS], ENV_THREADS), ENV_THREADS
    elif environ.get("OMP_NUM_THREADS"):
        n, source = _positive_int(environ["OMP_NUM_THREADS"], "OMP_NUM_THREADS"), \
            "OMP_NUM_THREADS set by you"
    else:
        n, source = cores or available_cores(), "available cores"
    explicit = source in ("--threads", ENV_THREADS)
    for name in _THREAD_VARS:
        if name in environ and not explicit:
            if environ[name] != str(n):
                kept[name] = environ[name]
        else:
            env[name] = str(n)
    vendor = cpu_vendor(cpuinfo)
    if "MKL_DEBUG_CPU_TYPE" in environ:
        kept["MKL_DEBUG_CPU_TYPE"] = environ["MKL_DEBUG_CPU_TYPE"]
    elif vendor == "AuthenticAMD":
        env["MKL_DEBUG_CPU_TYPE"] = "5"
    return RuntimeSettings(n, source, vendor, env, kept)


def setup_runtime(threads=None, import_paddle=False, log=True):
    """Apply :func:`plan_runtime` to ``os.environ`` (first call only) and log it once.

    Call before ``import paddle``. A later call returns the first call's settings (a tool that
    calls a library that calls it again changes nothing). With ``import_paddle`` Paddle is
    imported and :func:`apply_threads` run.

    Returns:
        RuntimeSettings.
    """
    settings = _STATE["settings"]
    if settings is None:
        settings = plan_runtime(threads)
        if "paddle" in sys.modules:
            settings.notes.append("warning: paddle was imported before the set-up")
        os.environ.update(settings.env)
        _STATE["settings"] = settings
    if log and not _STATE["logged"]:
        print(settings.describe(), file=sys.stderr, flush=True)
        _STATE["logged"] = True
    if import_paddle:
        apply_threads(settings.threads)
    return settings


def apply_threads(threads=None):
    """Set Paddle's CPU math threads (``paddle.base.core.set_num_threads``); imports Paddle.

    Args:
        threads: count (default: the :func:`setup_runtime` decision, running it if needed).
    """
    if threads is None:
        threads = setup_runtime().threads
    if _STATE["applied"] == threads:
        return threads
    from ._quiet import import_paddle_quietly
    paddle = import_paddle_quietly()  # without its "OMP_NUM_THREADS set to N, not 1" warning
    paddle.base.core.set_num_threads(int(threads))
    _STATE["applied"] = int(threads)
    return int(threads)


def add_runtime_flags(parser):
    """Add ``--threads`` to an argparse parser (the runtime set-up's override)."""
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help=f"CPU math threads (default: ${ENV_THREADS}, else $OMP_NUM_THREADS, "
                             f"else all available cores)")
    return parser
