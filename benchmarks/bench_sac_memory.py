"""Peak memory and time of SqueezeSegV3 with the original unfold SAC vs the chunked SAC.

Every (variant, mode) runs in a fresh subprocess so that the peak resident set size
(``getrusage().ru_maxrss``) belongs to that measurement only; the figure printed is the peak
minus the RSS just before the measured call (model, input and optimizer already built).
``tracemalloc`` does not see Paddle's allocations, hence RSS.

Modes: ``forward`` (eval mode, no grad: one forward) and ``train`` (train mode: forward, the
five-head ``MultiLayerCrossEntropyLoss``, backward and an SGD step). Each measured call runs
``--repeats`` times (train: once); the time is the fastest run, the peak covers all of them.
Wall time and process CPU time (all threads) are printed: on a shared machine the CPU time is
the steadier figure. The script also
checks that both variants give the same logits and loss (same seed, same weights).

Usage::

    python benchmarks/bench_sac_memory.py            # 1 x 5 x 64 x 2048, SAC-21
    python benchmarks/bench_sac_memory.py --tiny     # 1 x 5 x 8 x 128, seconds (CI)

The encoder column is the peak when the SAC backbone's forward returns (in train mode: the
activations it keeps for backward); the model column covers the whole call. In eval mode the
model peak is set by the full-resolution decoder convolutions (Paddle's CPU conv2d builds an
im2col buffer), not by SAC.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("naive", "ours")
MODES = ("forward", "train")


def _rss_mb():
    """Current resident set size in MiB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except OSError:
        return _peak_mb()


def _peak_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10  # bytes vs KiB


def worker(args):
    """Measure one (variant, mode) in this process; print a JSON line."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import paddle

    import paddlexseg.losses  # noqa: F401  (fills LOSSES)
    import paddlexseg.models  # noqa: F401  (fills MODELS, BACKBONES)
    from paddlexseg.registry import LOSSES, MODELS
    paddle.seed(0)
    model = MODELS.build({"type": "SqueezeSegV3", "num_classes": 20,
                          "backbone": {"type": "SACNet", "layers": args.layers,
                                       "memory_efficient": args.variant == "ours"}})
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.standard_normal((args.batch, 5, args.height, args.width))
                         .astype("float32"))
    labels = paddle.to_tensor(rng.integers(0, 20, (args.batch, args.height, args.width)))
    loss_fn = LOSSES.build({"type": "MultiLayerCrossEntropyLoss"})
    opt = paddle.optimizer.Momentum(learning_rate=1e-3, momentum=0.9,
                                    parameters=model.parameters())
    names = ["logits", "aux_logits_1", "aux_logits_2", "aux_logits_3", "aux_logits_4"]

    def step():
        if args.mode == "forward":
            with paddle.no_grad():
                return model(x)["logits"]
        out = model(x)
        loss = loss_fn(*[out[k] for k in names], labels)
        loss.backward()
        opt.step()
        opt.clear_grad()
        return loss

    model.train(args.mode == "train")
    backbone_peak = []  # peak RSS when the (SAC) backbone has finished its forward
    model.backbone.register_forward_post_hook(lambda *_: backbone_peak.append(_peak_mb()))
    base = _rss_mb()
    times, cpu_times = [], []
    result = None
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = step()
        result.numpy()  # force completion
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        if args.mode == "train":  # later repeats would see updated weights
            break
    peak = _peak_mb()
    record = {"variant": args.variant, "mode": args.mode, "base_mb": base,
              "peak_delta_mb": peak - base, "backbone_delta_mb": backbone_peak[0] - base,
              "time_s": min(times), "cpu_s": min(cpu_times)}
    if args.mode == "forward":
        np.save(args.dump, result.numpy())
    else:
        record["loss"] = float(result.item())
    print(json.dumps(record))


def _run(variant, mode, args, dump):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--variant", variant,
           "--mode", mode, "--height", str(args.height), "--width", str(args.width),
           "--batch", str(args.batch), "--layers", str(args.layers),
           "--repeats", str(args.repeats), "--dump", dump]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_sac_memory: the {variant}/{mode} worker failed "
                         f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="8 x 128 input, for CI")
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--layers", type=int, default=21, choices=[21, 53])
    parser.add_argument("--repeats", type=int, default=1,
                        help="forward runs per worker (the fastest is reported)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.tiny:
        args.height, args.width = 8, 128
    import numpy as np

    print(f"SqueezeSegV3-{args.layers}, input {args.batch}x5x{args.height}x{args.width}, "
          f"one process per measurement; memory = peak RSS - RSS before the call")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        logits = {}
        for variant in VARIANTS:
            for mode in MODES:
                dump = os.path.join(tmp, f"{variant}.npy")
                rows[variant, mode] = _run(variant, mode, args, dump)
                if mode == "forward":
                    logits[variant] = np.load(dump)
    print("peak MiB above the pre-call RSS: 'encoder' = when the SAC backbone's forward ends, "
          "'model' = whole call (decoder and backward included)")
    print("time: wall seconds (process CPU seconds, all threads)")
    print(f"{'variant':8s} {'fwd encoder':>12s} {'fwd model':>10s} {'fwd time':>15s} "
          f"{'train encoder':>14s} {'train model':>12s} {'train time':>15s}")
    for variant in VARIANTS:
        f, t = rows[variant, "forward"], rows[variant, "train"]
        f_time = f"{f['time_s']:.2f} ({f['cpu_s']:.2f})"
        t_time = f"{t['time_s']:.2f} ({t['cpu_s']:.2f})"
        print(f"{variant:8s} {f['backbone_delta_mb']:12.1f} {f['peak_delta_mb']:10.1f} "
              f"{f_time:>15s} {t['backbone_delta_mb']:14.1f} {t['peak_delta_mb']:12.1f} "
              f"{t_time:>15s}")
    ratios = []
    for mode in MODES:
        for part, key in (("encoder", "backbone_delta_mb"), ("model", "peak_delta_mb")):
            ratio = rows["ours", mode][key] / max(rows["naive", mode][key], 1e-9)
            ratios.append(f"{mode} {part} {ratio:.2f}")
    print(f"memory ours/naive: {', '.join(ratios)}")
    diff = float(np.abs(logits["ours"] - logits["naive"]).max())
    print(f"max |ours - naive| eval logits: {diff:.2e}; train loss naive "
          f"{rows['naive', 'train']['loss']:.6f}, ours {rows['ours', 'train']['loss']:.6f}")


if __name__ == "__main__":
    main()
