"""CPU speed of every model family at its paper input size, against PyTorch when installed.

Columns (one backend function each, see ``COLUMNS``): ``paddle eval`` (dygraph forward, no
grad), ``paddle train`` (one step: train-mode forward, a loss, backward, SGD update),
``paddle infer`` (the exported program through Paddle Inference, oneDNN on CPU; the deploy
path), ``infer no-onednn`` (the same predictor with oneDNN off), ``onnxruntime`` (the same
program in ONNX Runtime, with the ``onnx`` extra), ``torch eval`` / ``torch train`` (the same
architecture in PyTorch with the same weights: ``benchmarks/torch_<family>.py``, built and
checked by ``torch_twins.py``, which prints the largest output difference before timing).
2DPASS and SECOND have no twin (their originals need spconv / CUDA ops); they are timed in
Paddle only. Each cell is the median of ``--repeat`` runs after one warm-up; the columns of a
model are run interleaved (A B C A B C ...) so that load from other jobs hits all alike, and
the load average is printed. The train step's loss is the mean of every float output (the same
in both frameworks; the real losses are a negligible part of a step). Batch size 1.

    python benchmarks/bench_models.py --sizes small --repeat 1     # seconds per model
    python benchmarks/bench_models.py --models rangenet-dn21 --repeat 5 --threads 2
    python benchmarks/bench_models.py --mkl off        # MKL_DEBUG_CPU_TYPE unset (before)
    python benchmarks/bench_models.py --ab-mkl 2       # per model: MKL on, off, on, off
                                                       # (subprocesses), medians of all runs

To add a column, write ``def col_x(case) -> callable or str`` (a str is a reason to skip) and
add it to ``COLUMNS``; ``case`` holds the Paddle model, the input arrays and the export folder
(``case.exported()``).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from paddlexseg.runtime import apply_threads, setup_runtime  # noqa: E402  (imports no Paddle)

from bench_cases import _SPCONV, MODELS, NOT_EXPORTABLE, Case  # noqa: E402,F401  (the table)


def _float_outputs_mean(outputs, float_type):
    values = [v.mean() for v in outputs.values()
              if hasattr(v, "dtype") and v.dtype == float_type and not getattr(
                  v, "stop_gradient", False)]
    return sum(values)


def col_paddle_eval(case):
    import paddle
    inputs = case.paddle_inputs()

    def run():
        _dygraph_threads(paddle)
        case.model.eval()
        with paddle.no_grad():
            out = case.model(**inputs)
        next(iter(out.values())).numpy()  # wait for the result
    return run


_THREADS = {"n": None}  # math threads of this run (main sets it)


def _dygraph_threads(paddle):
    """Re-apply the math threads before a dygraph run: running a Paddle Inference predictor in
    the process leaves Paddle's dygraph math on 1 thread (measured with Paddle 3.3.1: CPU
    seconds = wall seconds after a predictor ran, until ``set_num_threads`` is called again)."""
    if _THREADS["n"]:
        paddle.base.core.set_num_threads(int(_THREADS["n"]))


def col_paddle_train(case):
    import paddle
    inputs = case.paddle_inputs()
    opt = paddle.optimizer.SGD(learning_rate=1e-6, parameters=case.model.parameters())
    model = case.model.model_3d if case.input_name == "points" else case.model
    if case.input_name == "points":
        inputs["batch_size"] = 1

    def run():
        _dygraph_threads(paddle)
        model.train()
        loss = _float_outputs_mean(model(**inputs), paddle.float32)
        loss.backward()
        opt.step()
        opt.clear_grad()
        case.model.eval()
    return run


def _predictor_column(case, onednn):
    if case.input_name in ("points", "scan"):
        return NOT_EXPORTABLE
    from paddlexseg.apis.inference import create_predictor, run_predictor
    prefix = case.exported()
    predictor = create_predictor(prefix + ".json", prefix + ".pdiparams", onednn=onednn)
    arrays = list(case.inputs.values())
    return lambda: run_predictor(predictor, arrays)


def col_paddle_infer(case):
    return _predictor_column(case, case.onednn)


def col_infer_no_onednn(case):
    return _predictor_column(case, False)


def _torch_input(case):
    import torch
    return torch.from_numpy(case.inputs[case.input_name])


def col_torch_eval(case):
    if not case.twin.isidentifier():  # a reason, not a torch_twins.TWINS key
        return case.twin
    import torch
    twin, x = case.torch_model(), _torch_input(case)

    def run():
        twin.eval()
        with torch.no_grad():
            twin(x)
    return run


def col_torch_train(case):
    if not case.twin.isidentifier():
        return case.twin
    import torch
    from torch_twins import torch_loss
    twin, x = case.torch_model(), _torch_input(case)
    opt = torch.optim.SGD(twin.parameters(), lr=1e-6)

    def run():
        twin.train()
        torch_loss(twin(x)).backward()
        opt.step()
        opt.zero_grad()
        twin.eval()
    return run


def col_onnxruntime(case):
    """ONNX Runtime (CPU, the runtime set-up's threads) on the same program
    (``bench_onnx.onnxruntime_runner``; needs ``pip install -e .[onnx]``)."""
    if case.input_name in ("points", "scan"):
        return NOT_EXPORTABLE
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed (pip install -e .[onnx])"
    import paddle
    from bench_onnx import onnxruntime_runner
    with paddle.no_grad():
        keys = [k for k, v in case.model(**case.paddle_inputs()).items()
                if isinstance(v, paddle.Tensor)][:1]
    run = onnxruntime_runner(case.model, dict(case.inputs), outputs=keys,
                             threads=setup_runtime().threads,
                             workdir=os.path.join(case.workdir, case.name + "_onnx"))
    return lambda: run(case.inputs)


# column name -> backend function (callable to time, or a str: why the cell is empty)
COLUMNS = {"paddle eval": col_paddle_eval, "paddle infer": col_paddle_infer,
           "infer no-onednn": col_infer_no_onednn, "onnxruntime": col_onnxruntime,
           "torch eval": col_torch_eval, "paddle train": col_paddle_train,
           "torch train": col_torch_train}
DEFAULT_COLUMNS = [c for c in COLUMNS if c != "onnxruntime"]
# ratio column -> (numerator, denominator)
RATIOS = {"eval / torch": ("paddle eval", "torch eval"),
          "infer / torch": ("paddle infer", "torch eval"),
          "no-onednn / torch": ("infer no-onednn", "torch eval"),
          "ort / torch": ("onnxruntime", "torch eval"),
          "train / torch": ("paddle train", "torch train")}


def bench_case(case, columns, repeats, verbose=False):
    """Median seconds per column (None when skipped) and the load averages seen; with
    ``verbose`` every run is printed as it ends (wall and process CPU seconds)."""
    runs, times, cpu_times = {}, {}, {}
    for name in columns:
        if name.startswith("torch") and not _have_torch():
            runs[name] = "torch is not installed"
            continue
        try:
            runs[name] = COLUMNS[name](case)
        except Exception as err:  # noqa: BLE001 - reported in the table's notes
            runs[name] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:160]}"
    ready = {k: v for k, v in runs.items() if callable(v)}
    for name, run in ready.items():
        start = time.perf_counter()
        run()  # warm-up (allocations, oneDNN primitive caches)
        if verbose:
            print(f"  {case.name} {name}: warm-up {time.perf_counter() - start:.2f} s", flush=True)
    loads = [os.getloadavg()[0]]
    for i in range(repeats):
        for name, run in ready.items():  # interleaved: A B C A B C
            start, cpu = time.perf_counter(), time.process_time()
            run()
            times.setdefault(name, []).append(time.perf_counter() - start)
            cpu_times.setdefault(name, []).append(time.process_time() - cpu)
            if verbose:
                print(f"  {case.name} {name}: run {i + 1} {times[name][-1]:.2f} s wall, "
                      f"{cpu_times[name][-1]:.2f} s CPU, load {os.getloadavg()[0]:.1f}",
                      flush=True)
    loads.append(os.getloadavg()[0])
    result = {k: statistics.median(v) for k, v in times.items()}
    case.times, case.cpu_times = times, cpu_times
    case.notes += [f"{k}: {v}" for k, v in runs.items() if isinstance(v, str)]
    return result, loads


def _have_torch():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def format_table(rows, columns):
    ratios = [r for r, (a, b) in RATIOS.items() if a in columns and b in columns]
    head = ["model", "input"] + [f"{c} (s)" for c in columns] + ratios + ["load avg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, shape, result, loads in rows:
        cells = [name, "x".join(str(s) for s in shape)]
        cells += [f"{result[c]:.3f}" if c in result else "-" for c in columns]
        for r in ratios:
            a, b = RATIOS[r]
            cells.append(f"{result[a] / result[b]:.2f}" if a in result and b in result else "-")
        cells.append(f"{loads[0]:.1f}-{loads[1]:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                   metavar="NAME", help="models to run (default: all): " + " ".join(MODELS))
    p.add_argument("--columns", nargs="+", default=DEFAULT_COLUMNS, choices=list(COLUMNS),
                   metavar="COL", help="columns to run (default: all but onnxruntime): " +
                   ", ".join(COLUMNS))
    p.add_argument("--sizes", choices=("paper", "small"), default="paper",
                   help="paper input sizes (default) or small ones (checks that every cell "
                        "runs; timings meaningless)")
    p.add_argument("--quick", "--tiny", dest="sizes", action="store_const", const="small",
                   help="same as --sizes small")
    p.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3,
                   help="timed runs per cell (median)")
    p.add_argument("--threads", type=int, default=None,
                   help="math threads for Paddle and torch (default: available cores)")
    p.add_argument("--mkl", choices=("on", "off"), default="on",
                   help="off: no MKL_DEBUG_CPU_TYPE (MKL's slow path on AMD; the 'before')")
    p.add_argument("--ab-mkl", type=int, default=0, metavar="ROUNDS",
                   help="per model, ROUNDS x (a process with --mkl on, one with --mkl off); "
                        "medians over all their runs")
    p.add_argument("--no-runtime", dest="runtime", action="store_false",
                   help="skip paddlexseg.runtime (Paddle's defaults: 1 thread, no MKL setting "
                        "on AMD)")
    p.add_argument("--no-onednn", dest="onednn", action="store_false",
                   help="paddle infer without oneDNN")
    p.add_argument("--verbose", action="store_true", help="print every run as it ends")
    p.add_argument("--width", type=int, default=None,
                   help="override the input width (last dimension) of image-like inputs")
    p.add_argument("--omp-passive", action="store_true",
                   help="OMP_WAIT_POLICY=PASSIVE for Paddle and torch: on a loaded machine "
                        "spinning OpenMP threads waste their time slices (torch at 2 threads "
                        "measured 10x slower than at 1 under load 13); leave off on an idle one")
    p.add_argument("--json", default=None, help="also write the raw run times to this file")
    args = p.parse_args(argv)
    began = time.perf_counter()
    if args.ab_mkl:
        rows = ab_mkl(args, argv if argv is not None else sys.argv[1:])
        print(f"\ntotal {time.perf_counter() - began:.0f} s")
        return rows
    if args.omp_passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    threads = args.threads
    if args.runtime:
        threads = setup_runtime(args.threads).threads
        if args.mkl == "off":
            os.environ.pop("MKL_DEBUG_CPU_TYPE", None)
        apply_threads(threads)
        _THREADS["n"] = threads
    import paddle
    import paddlexseg
    paddlexseg.load_all()
    if _have_torch() and any(c.startswith("torch") for c in args.columns):
        import torch
        torch.set_num_threads(threads or 1)
    rows, raw, workdir = [], {}, tempfile.mkdtemp(prefix="bench_models_")
    print(f"paddle {paddle.__version__}, threads {threads or 'Paddle default (1)'}, "
          f"runtime set-up {'on' if args.runtime else 'off'}, MKL_DEBUG_CPU_TYPE="
          f"{os.environ.get('MKL_DEBUG_CPU_TYPE', '(unset)')}, oneDNN inference "
          f"{'on' if args.onednn else 'off'}, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}, {args.sizes} sizes, {args.repeat} repeats, "
          f"load average {os.getloadavg()}", flush=True)
    for name in args.models:
        case = Case(name, args.sizes == "small", args.onednn, workdir, args.width)
        result, loads = bench_case(case, args.columns, args.repeat, args.verbose)
        rows.append((name, case.shape, result, loads))
        raw[name] = {"shape": case.shape, "times": case.times, "cpu": case.cpu_times,
                     "loads": loads,
                     "notes": case.notes}
        print(format_table(rows[-1:], args.columns).splitlines()[-1], flush=True)
        for note in case.notes:
            print(f"  {name}: {note}", flush=True)
    print()
    print(format_table(rows, args.columns))
    print(f"\ntotal {time.perf_counter() - began:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(raw, f, indent=1)
    return rows


def ab_mkl(args, argv):
    """MKL fix on / off in alternating subprocesses (A B A B); a table per setting."""
    import subprocess
    base = _strip_options(argv, ("--ab-mkl", "--mkl", "--json", "--models"))
    merged = {"on": {}, "off": {}}
    workdir = tempfile.mkdtemp(prefix="bench_models_ab_")
    for name in args.models:
        for r in range(args.ab_mkl):
            for mkl in ("on", "off"):
                out = os.path.join(workdir, f"{name}_{mkl}_{r}.json")
                cmd = [sys.executable, os.path.abspath(__file__)] + base + [
                    "--models", name, "--mkl", mkl, "--json", out]
                print(f"[{name} round {r + 1} MKL fix {mkl}] load {os.getloadavg()[0]:.1f}",
                      flush=True)
                subprocess.run(cmd, check=True)
                with open(out, encoding="utf-8") as f:
                    got = json.load(f)[name]
                entry = merged[mkl].setdefault(name, {"shape": got["shape"], "times": {},
                                                      "cpu": {}, "loads": []})
                for key in ("times", "cpu"):
                    for col, ts in got[key].items():
                        entry[key].setdefault(col, []).extend(ts)
                entry["loads"] += got["loads"]
    rows = {}
    for mkl in ("on", "off"):
        rows[mkl] = [(n, e["shape"], {c: statistics.median(t) for c, t in e["times"].items()},
                      [min(e["loads"]), max(e["loads"])]) for n, e in merged[mkl].items()]
        print(f"\nMKL_DEBUG_CPU_TYPE {'=5 (fix on)' if mkl == 'on' else 'unset (fix off)'}, "
              f"medians of {args.ab_mkl} x {args.repeat} runs:")
        print(format_table(rows[mkl], args.columns))
        cpu = [(n, e["shape"], {c: statistics.median(t) for c, t in e["cpu"].items()},
                [min(e["loads"]), max(e["loads"])]) for n, e in merged[mkl].items()]
        print("process CPU seconds (all threads; less sensitive to other jobs' load):")
        print(format_table(cpu, args.columns))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(merged, f, indent=1)
    return rows


def _strip_options(argv, names):
    """``argv`` without the options ``names`` and their values (``--x v``, ``--x=v``, nargs+)."""
    out, skip = [], False
    for a in argv:
        if a.startswith("--"):
            skip = a.split("=")[0] in names
            if skip and "=" in a:
                skip = False
                continue
        if not skip:
            out.append(a)
    return out


if __name__ == "__main__":
    main()
