"""paddlexseg.runtime: threads and MKL dispatch decided before Paddle starts."""
import os
import subprocess
import sys

import pytest

from paddlexseg import runtime
from paddlexseg.registry import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cpuinfo(tmp_path):
    def make(vendor):
        path = tmp_path / f"cpuinfo_{vendor}"
        path.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: 25\n")
        return str(path)
    return make


def test_amd_gets_mkl_avx2_path_and_all_cores(cpuinfo):
    s = runtime.plan_runtime(environ={}, cpuinfo=cpuinfo("AuthenticAMD"), cores=6)
    assert s.vendor == "AuthenticAMD" and s.threads == 6 and s.threads_source == "available cores"
    assert s.env == {"OMP_NUM_THREADS": "6", "MKL_NUM_THREADS": "6", "MKL_DEBUG_CPU_TYPE": "5"}
    assert s.kept == {}
    assert "MKL_DEBUG_CPU_TYPE=5" in s.describe() and "6 math threads" in s.describe()


@pytest.mark.parametrize("vendor", ["GenuineIntel", "HygonGenuine", None])
def test_other_vendors_get_no_mkl_setting(cpuinfo, tmp_path, vendor):
    path = cpuinfo(vendor) if vendor else str(tmp_path / "missing")
    s = runtime.plan_runtime(environ={}, cpuinfo=path, cores=2)
    assert "MKL_DEBUG_CPU_TYPE" not in s.env and s.vendor == vendor


def test_user_values_win(cpuinfo):
    amd = cpuinfo("AuthenticAMD")
    env = {"MKL_DEBUG_CPU_TYPE": "0", "OMP_NUM_THREADS": "3"}
    s = runtime.plan_runtime(environ=env, cpuinfo=amd, cores=8)
    assert s.threads == 3 and s.threads_source == "OMP_NUM_THREADS set by you"
    assert s.env == {"MKL_NUM_THREADS": "3"}  # nothing the user set is overwritten
    assert s.kept == {"MKL_DEBUG_CPU_TYPE": "0"}
    assert "MKL_DEBUG_CPU_TYPE=0 (set by you, kept)" in s.describe()
    # the environment variable of paddlexseg, then the flag, are explicit requests
    s = runtime.plan_runtime(environ=dict(env, PADDLEXSEG_NUM_THREADS="4"), cpuinfo=amd, cores=8)
    assert (s.threads, s.env["OMP_NUM_THREADS"]) == (4, "4")
    s = runtime.plan_runtime(threads=1, environ=dict(env, PADDLEXSEG_NUM_THREADS="4"),
                             cpuinfo=amd, cores=8)
    assert (s.threads, s.threads_source, s.env["OMP_NUM_THREADS"]) == (1, "--threads", "1")
    # a user MKL_NUM_THREADS differing from OMP_NUM_THREADS is kept and shown
    s = runtime.plan_runtime(environ={"MKL_NUM_THREADS": "1"}, cpuinfo=amd, cores=2)
    assert s.kept == {"MKL_NUM_THREADS": "1"} and s.env["OMP_NUM_THREADS"] == "2"


@pytest.mark.parametrize("bad", [0, -2, "x"])
def test_bad_thread_counts_are_config_errors(cpuinfo, bad):
    with pytest.raises(ConfigError, match="positive number of threads"):
        runtime.plan_runtime(threads=bad, environ={}, cpuinfo=cpuinfo("AuthenticAMD"))
    with pytest.raises(ConfigError, match="PADDLEXSEG_NUM_THREADS"):
        runtime.plan_runtime(environ={"PADDLEXSEG_NUM_THREADS": str(bad)},
                             cpuinfo=cpuinfo("AuthenticAMD"))


def _fresh(code, env):
    """Run ``code`` in a new interpreter (the set-up acts once per process)."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_DEBUG_CPU_TYPE",
                             "PADDLEXSEG_NUM_THREADS")}
    full_env.update(env, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def test_setup_sets_the_environment_once_before_paddle_and_logs_once():
    code = ("import os, sys\n"
            "from paddlexseg.runtime import setup_runtime\n"
            "a = setup_runtime(threads=1)\n"
            "b = setup_runtime(threads=2)\n"  # later calls change nothing
            "assert a is b and 'paddle' not in sys.modules\n"
            "print(os.environ['OMP_NUM_THREADS'], os.environ.get('MKL_DEBUG_CPU_TYPE'),"
            " a.vendor)\n")
    out = _fresh(code, {})
    assert out.returncode == 0, out.stderr
    omp, mkl, vendor = out.stdout.split()
    assert omp == "1" and (mkl == "5") == (vendor == "AuthenticAMD")
    assert out.stderr.count("runtime: 1 math threads (--threads)") == 1


def test_apply_threads_sets_paddle_math_threads(monkeypatch):
    calls = []
    core = type("Core", (), {"set_num_threads": staticmethod(calls.append)})
    fake = type("Paddle", (), {"base": type("Base", (), {"core": core})})
    monkeypatch.setitem(sys.modules, "paddle", fake)
    monkeypatch.setitem(runtime._STATE, "applied", None)
    assert runtime.apply_threads(3) == 3 and runtime.apply_threads(3) == 3
    assert calls == [3]  # once per count
    runtime.apply_threads(1)
    assert calls == [3, 1]


def test_tool_start_has_no_omp_threads_warning_and_keeps_the_threads():
    code = ("import sys\n"
            "from paddlexseg.runtime import setup_runtime\n"
            "setup_runtime(threads=2, import_paddle=True)\n"
            "import paddle, os\n"
            "print(os.environ['OMP_NUM_THREADS'])\n"
            "print('after import', file=sys.stderr)\n")
    out = _fresh(code, {})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2"]
    assert "OMP_NUM_THREADS set to" not in out.stderr
    assert "OMP_NUM_THREADS WISELY" not in out.stderr
    assert "runtime: 2 math threads (--threads)" in out.stderr and "after import" in out.stderr
