"""Time ONNX Runtime against Paddle Inference and dygraph for every exportable family.

Each family's model (random weights; speed does not depend on them) runs one input of the
paper's size through three runners with the same number of CPU threads (2 by default):

* ``dygraph``: ``model(**inputs)`` under ``paddle.no_grad()``;
* ``paddle_inference``: the ``paddle.jit.save``'d program in a ``paddle.inference`` predictor
  (oneDNN off, as ``deploy/python/infer.py`` defaults to on Paddle 3.3.1; ``--onednn`` adds a
  column with oneDNN on and the crashing conv+activation fuse pass deleted);
* ``onnxruntime``: the same program converted by paddle2onnx (:func:`onnxruntime_runner`).

The runners are interleaved (A B C A B C ...) after one warm-up call each, the median of
``--repeats`` calls is reported with the load average beside it (the machine is shared), and
the ONNX output is compared with dygraph's (max-abs-diff; identical argmax).

    python benchmarks/bench_onnx.py                       # paper sizes (minutes on 2 cores)
    python benchmarks/bench_onnx.py --tiny                # seconds, for CI
    python benchmarks/bench_onnx.py --families rangenet --repeats 5

Sizes: RangeNet++ (DarkNet-21; ``--rangenet_config`` for DarkNet-53) and SqueezeSegV3-21 at
1 x 5 x 64 x 2048, PointRend R101-FPN at 1 x 3 x 512 x 1024, Event-VPR ResNet-34 at
1 x 5 x 260 x 346. ``onnxruntime_runner`` is the hook for ``benchmarks/bench_models.py``.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _is_amd():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return "AuthenticAMD" in f.read(4096)
    except OSError:
        return False


# MKL's fast path on AMD (docs: shared/PADDLE3_NOTES.md) must be chosen before Paddle loads MKL
if _is_amd():
    os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from paddlexseg.apis.onnx_export import export_layer  # noqa: E402

CFG = os.path.join(REPO, "configs")
FULL = {
    "rangenet": dict(config=f"{CFG}/rangenet/rangenet_darknet21_semantickitti_150e.yml",
                     input="range_img", shape=(5, 64, 2048)),
    "squeezesegv3": dict(config=f"{CFG}/squeezesegv3/squeezesegv3_sac21_semantickitti_150e.yml",
                         input="range_img", shape=(5, 64, 2048)),
    "pointrend": dict(config=f"{CFG}/pointrend/pointrend_resnet101_cityscapes_80k.yml",
                      input="image", shape=(3, 512, 1024)),
    "event_vpr": dict(config=f"{CFG}/event_vpr/event_vpr_resnet34_mvsec.yml", input="voxels",
                      shape=(5, 260, 346), output="descriptor"),
}
TINY = {
    "rangenet": dict(model={"type": "RangeNet", "num_classes": 20, "backbone": {
        "type": "DarkNet", "layers": 21, "width_mult": 0.125}}, input="range_img",
        shape=(5, 16, 64)),
    "squeezesegv3": dict(model={"type": "SqueezeSegV3", "num_classes": 20, "backbone": {
        "type": "SACNet", "layers": 21}}, input="range_img", shape=(5, 8, 32)),
    "pointrend": dict(model={"type": "PointRendFPN", "backbone": {"type": "ResNet", "depth": 18},
                             "num_classes": 19, "fpn_channels": 32, "head_conv_dims": 32,
                             "fc_dim": 16, "subdivision_steps": 2,
                             "subdivision_num_points": 128}, input="image", shape=(3, 64, 96)),
    "event_vpr": dict(model={"type": "EventVPR", "in_bins": 5, "backbone": {
        "type": "ResNet", "depth": 18}, "crop_size": 32, "num_clusters": 4, "dim": 512},
        input="voxels", shape=(5, 26, 34), output="descriptor"),
}


def onnxruntime_runner(model, inputs, outputs=("logits",), threads=2, workdir=None,
                       opset=None):
    """Export ``model`` to ONNX and return a runner over an ONNX Runtime CPU session.

    Args:
        model: dygraph model in eval mode; ``model(**inputs)`` returns a dict.
        inputs: {name: example np.ndarray}; the batch axis stays dynamic.
        outputs: the output keys to return, in order.
        threads: intra-op threads (inter-op 1, sequential execution).
        workdir: folder for the exported files (default: a new temporary folder).
        opset: ONNX opset (default 16).

    Returns:
        ``run(inputs) -> [np.ndarray per output]``, with attributes ``session``, ``path`` and
        ``export_seconds``.
    """
    import onnxruntime as ort
    workdir = workdir or tempfile.mkdtemp(prefix="bench_onnx_")
    path = os.path.join(workdir, "model.onnx")
    start = time.perf_counter()
    export_layer(model, inputs, outputs, path, opset)
    export_seconds = time.perf_counter() - start
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    keys = list(outputs)

    def run(feed):
        return session.run(keys, {k: np.ascontiguousarray(v) for k, v in feed.items()})

    run.session, run.path, run.export_seconds = session, path, export_seconds
    return run


def paddle_inference_runner(model, inputs, outputs=("logits",), threads=2, workdir=None,
                            onednn=False):
    """The model's ``paddle.jit.save``'d program in a Paddle Inference predictor (CPU), made by
    :func:`paddlexseg.apis.inference.create_predictor` (the deploy path's settings)."""
    from paddlexseg.apis.inference import _tensors_wrapper, create_predictor, run_predictor
    workdir = workdir or tempfile.mkdtemp(prefix="bench_pi_")
    names, keys = list(inputs), list(outputs)
    specs = [paddle.static.InputSpec([None] + list(v.shape[1:]), "float32", name=n)
             for n, v in inputs.items()]
    prefix = os.path.join(workdir, "model")
    layer = _tensors_wrapper(model, names, keys)
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=specs, full_graph=True), prefix)
    program = prefix + (".json" if os.path.isfile(prefix + ".json") else ".pdmodel")
    predictor = create_predictor(program, prefix + ".pdiparams", threads=threads, onednn=onednn)
    return lambda feed: run_predictor(predictor, [feed[n] for n in names])


def dygraph_runner(model, outputs=("logits",)):
    def run(feed):
        with paddle.no_grad():
            out = model(**{k: paddle.to_tensor(v) for k, v in feed.items()})
        return [out[k].numpy() for k in outputs]
    return run


def build(spec):
    from paddlexseg.config import load_config
    from paddlexseg.engine import builder
    cfg = {"model": spec["model"]} if "model" in spec else load_config(spec["config"])
    paddle.seed(0)
    model = builder.build_model(cfg)
    model.eval()
    return model, cfg["model"]


def _load():
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def bench_family(name, spec, repeats, threads, onednn):
    """Time the runners on one input; returns the result row (dict)."""
    model, model_cfg = build(spec)
    output = spec.get("output", "logits")
    x = np.random.default_rng(0).standard_normal((1,) + spec["shape"]).astype(np.float32)
    feed = {spec["input"]: x}
    runners = {"dygraph": dygraph_runner(model, [output])}
    with tempfile.TemporaryDirectory() as tmp:
        runners["paddle_inference"] = paddle_inference_runner(model, feed, [output], threads,
                                                              os.path.join(tmp, "pi"))
        if onednn:
            runners["pi_onednn"] = paddle_inference_runner(model, feed, [output], threads,
                                                           os.path.join(tmp, "pi1"), True)
        ort_run = onnxruntime_runner(model, feed, [output], threads, tmp)
        runners["onnxruntime"] = ort_run
        outs = {k: run(feed)[0] for k, run in runners.items()}  # warm-up, and the outputs
        times = {k: [] for k in runners}
        loads = [_load()]
        for _ in range(repeats):
            for key, run in runners.items():
                start = time.perf_counter()
                run(feed)
                times[key].append((time.perf_counter() - start) * 1000.0)
            loads.append(_load())
    ref, got = outs["dygraph"], outs["onnxruntime"]
    row = {"family": name, "model": model_cfg.get("type"), "input": "x".join(map(str, x.shape)),
           "export_s": ort_run.export_seconds,
           "max_abs_diff": float(np.abs(got - ref).max()),
           "load": f"{loads[0]} .. {loads[-1]}"}
    if ref.ndim == 4:  # fraction of pixels whose argmax differs (near-ties of random weights)
        row["argmax_mismatch"] = float((got.argmax(1) != ref.argmax(1)).mean())
    for key, values in times.items():
        row[key] = statistics.median(values)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny models and inputs (CI)")
    p.add_argument("--families", nargs="+", default=list(FULL), choices=list(FULL))
    p.add_argument("--repeats", type=int, default=None, help="timed calls per runner "
                   "(default 3, tiny 2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--onednn", action="store_true",
                   help="add Paddle Inference with oneDNN (conv+activation fuse pass deleted)")
    p.add_argument("--rangenet_config", default=None, help="config for the rangenet row")
    args = p.parse_args(argv)
    specs = TINY if args.tiny else dict(FULL)
    if args.rangenet_config and not args.tiny:
        specs["rangenet"] = dict(specs["rangenet"], config=args.rangenet_config)
    repeats = args.repeats or (2 if args.tiny else 3)
    paddle.base.core.set_num_threads(args.threads)
    paddle.set_device("cpu")
    print(f"threads {args.threads}, median of {repeats} interleaved calls, "
          f"MKL_DEBUG_CPU_TYPE={os.environ.get('MKL_DEBUG_CPU_TYPE', '-')}, "
          f"load average (1/5/15 min) before .. after each family", flush=True)
    cols = ["dygraph", "paddle_inference"] + (["pi_onednn"] if args.onednn else []) + \
        ["onnxruntime"]
    print("| family | input | " + " | ".join(f"{c} ms" for c in cols) +
          " | dygraph / ORT | ORT max-abs-diff | argmax mismatch | load |", flush=True)
    print("|" + "---|" * (len(cols) + 6), flush=True)
    rows = []
    for name in args.families:
        row = bench_family(name, specs[name], repeats, args.threads, args.onednn)
        rows.append(row)
        print(f"| {name} ({row['model']}) | {row['input']} | " +
              " | ".join(f"{row[c]:.0f}" for c in cols) +
              f" | {row['dygraph'] / row['onnxruntime']:.2f}x | {row['max_abs_diff']:.1e} | "
              f"{row.get('argmax_mismatch', '-')} | {row['load']} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
