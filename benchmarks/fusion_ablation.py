"""Fusion ablation (issue #13): the LiDAR-only control and every fusion module of the zoo,
trained with the same budget and seed on synthetic KITTI 3-D, then evaluated twice: with the
right images and with the images shuffled across frames (each frame keeps its own calib, so
the projection is unchanged and only the content is wrong; ``paddlexseg.engine.image_dependence``).

One config per variant (``configs/mvxnet/*_synthetic-kitti3d_quick.yml``); the control is the
same model without fusion module or camera. Per variant: ``--iters`` iterations (batch 2, the
config's schedule with its warm-up cut to a fifth of the run), seed ``--seed``, then the KITTI
metric on the val split. Two protocols:

- ``scratch``: every variant from random weights.
- ``lidar-pretrained`` (``--pretrained CKPT``): every variant's LiDAR branch (voxel encoder,
  sparse encoder, SECOND backbone / neck / head: the tensors matching by name and shape) starts
  from the LiDAR-only checkpoint CKPT (``mvxnet_lidar-only_synthetic-kitti3d_quick.yml``
  trained first); image branch and fusion module start fresh; the control continues from CKPT
  for the same ``--iters``.

Columns: Car / Pedestrian / Cyclist 3D AP40 moderate (right images; shuffled images for the
fusion variants), Car BEV AP40 moderate (right (shuffled)), parameters a forward uses, median
train iteration time (wall, loader + forward + backward + optimizer), median inference time
per val frame. Writes ``ablation.md`` and ``ablation.json`` to ``--out``; each variant's run is
in ``--out/<variant>``.

Usage (docs/mvxnet.md)::

    python tools/generate_synthetic.py --kind kitti3d --out data/synthetic_kitti3d_decoys \
        --n_train 100 --n_val 30 --decoys 2
    python tools/train.py --config configs/mvxnet/mvxnet_lidar-only_synthetic-kitti3d_quick.yml \
        --save_dir output/lidar_pretrain --iters 450 --opts \
        train_dataset.root=data/synthetic_kitti3d_decoys \
        val_dataset.root=data/synthetic_kitti3d_decoys
    python benchmarks/fusion_ablation.py --data data/synthetic_kitti3d_decoys --iters 100 \
        --pretrained output/lidar_pretrain/iter_450 --out output/fusion_ablation --jobs 8
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from paddlexseg.runtime import setup_runtime  # noqa: E402

CONFIGS = REPO / "configs" / "mvxnet"
VARIANTS = {                                    # name -> quick config; the first is the control
    "lidar-only": "mvxnet_lidar-only_synthetic-kitti3d_quick.yml",
    "pointfusion": "mvxnet_pointfusion_synthetic-kitti3d_quick.yml",
    "lifusion": "mvxnet_lifusion_synthetic-kitti3d_quick.yml",
    "learnable-align": "mvxnet_learnable-align_synthetic-kitti3d_quick.yml",
    "prefusioncat-fusionnn": "mvxnet_prefusioncat-fusionnn_synthetic-kitti3d_quick.yml",
    "graph-summation": "mvxnet_graph-summation_synthetic-kitti3d_quick.yml",
    "graph-gnn-aligned": "mvxnet_graph-gnn-aligned_synthetic-kitti3d_quick.yml",
    "channel-exchange": "mvxnet_channel-exchange_synthetic-kitti3d_quick.yml",
}
CLASSES = ("Car", "Pedestrian", "Cyclist")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="synthetic KITTI 3-D root (with images)")
    p.add_argument("--out", required=True, help="output folder (runs, ablation.md / .json)")
    p.add_argument("--iters", type=int, default=200, help="training iterations per variant")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seed", type=int, default=0, help="training seed and image shuffle seed")
    p.add_argument("--threads", type=int, default=1, help="math threads per training process")
    p.add_argument("--pretrained", default=None,
                   help="LiDAR-only checkpoint: the lidar-pretrained protocol (default: scratch)")
    p.add_argument("--jobs", type=int, default=1, help="variants trained in parallel processes")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra config overrides for every variant")
    return p.parse_args(argv)


def variant_config(name, args):
    """The variant's config with the ablation's data, budget, seed and protocol."""
    from paddlexseg.config import load_config
    cfg = load_config(str(CONFIGS / VARIANTS[name]), [
        f"train_dataset.root={args.data}", f"val_dataset.root={args.data}",
        f"iters={args.iters}", "epochs=null", f"train.seed={args.seed}",
        f"train.save_interval={args.iters}", f"train.eval_interval={args.iters}",
        f"train.log_iters={max(1, args.iters // 10)}", "train.keep_checkpoint_max=1",
        "train.num_workers=0"] + list(args.opts))
    sched = cfg["lr_scheduler"]
    if "warmup_iters" in sched:
        sched["warmup_iters"] = min(int(sched["warmup_iters"]), max(1, args.iters // 5))
    if args.pretrained:
        cfg["model"]["pretrained"] = str(args.pretrained)
    return cfg


@contextlib.contextmanager
def iteration_times(times):
    """Append the wall time between successive training steps to ``times`` (the trainer's
    ``train_step`` is wrapped while the context is open)."""
    from paddlexseg.engine import trainer
    original, last = trainer.train_step, [None]

    def timed(*a, **k):
        now = time.perf_counter()
        if last[0] is not None:
            times.append(now - last[0])
        last[0] = now
        return original(*a, **k)

    trainer.train_step = timed
    try:
        yield times
    finally:
        trainer.train_step = original


def _ap(results, cls, kind="3d"):
    value = results.get(f"{cls}/{kind}/AP40/moderate")
    return None if value is None else round(float(value), 2)


def run_variant(name, args):
    """Train and evaluate one variant; returns (and writes ``out/name/result.json``) its row."""
    import numpy as np
    from paddlexseg.engine.image_dependence import (count_used_parameters,
                                                    evaluate_image_dependence)
    from paddlexseg.engine.evaluate import evaluate
    from paddlexseg.engine import builder
    from paddlexseg.engine.trainer import Trainer
    cfg = variant_config(name, args)
    save_dir = os.path.join(args.out, name)
    times = []
    start = time.time()
    with iteration_times(times):
        trainer = Trainer(cfg, save_dir, do_eval=False, progress=False)
        trainer.train()
    train_seconds = time.time() - start
    model = trainer.model
    fusion = bool(model.fusion_layers())
    row = {"variant": name, "config": VARIANTS[name], "iters": args.iters, "seed": args.seed,
           "protocol": "lidar-pretrained" if args.pretrained else "scratch",
           "params": count_used_parameters(model),
           "train_step_s": round(float(np.median(times)), 3) if times else None,
           "train_seconds": round(train_seconds, 1)}
    if fusion:
        res = evaluate_image_dependence(model, cfg, seed=args.seed)
        right, shuffled, infer = res["right"], res["shuffled"], res["infer_times"]
    else:
        from paddlexseg.engine.image_dependence import TimedModel
        timed = TimedModel(model)
        dataset = builder.build_dataset(cfg, "val_dataset")
        right = evaluate(timed, builder.build_loader(dataset, batch_size=1),
                         builder.build_metric(cfg), progress=False)
        shuffled, infer = None, timed.times
    row["infer_s"] = round(float(np.median(infer)), 3)
    row["right"] = {c: _ap(right, c) for c in CLASSES}
    row["shuffled"] = None if shuffled is None else {c: _ap(shuffled, c) for c in CLASSES}
    row["car_bev"] = {"right": _ap(right, "Car", "bev"),
                      "shuffled": None if shuffled is None else _ap(shuffled, "Car", "bev")}
    row["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    os.makedirs(save_dir, exist_ok=True)
    with open(os.path.join(save_dir, "result.json"), "w") as f:
        json.dump(row, f, indent=1)
    return row


def _cell(v):
    return "-" if v is None else f"{v:.1f}"


def format_table(rows):
    """Markdown table of the result rows (the control first)."""
    head = ("| variant | Car | Ped | Cyc | Car, shuffled images | Ped, shuffled | Cyc, shuffled "
            "| Car BEV (shuffled) | params | train s/iter | infer s/frame |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        sh = r["shuffled"] or {}
        lines.append(f"| {r['variant']} | " + " | ".join(_cell(r["right"][c]) for c in CLASSES)
                     + " | " + " | ".join(_cell(sh.get(c)) for c in CLASSES)
                     + f" | {_cell(r['car_bev']['right'])} ({_cell(r['car_bev']['shuffled'])})"
                     + f" | {r['params'] / 1e6:.2f} M | {r['train_step_s']} | {r['infer_s']} |")
    return "\n".join(lines)


def _spawn(names, args):
    """Run ``names`` in up to ``args.jobs`` child processes (one variant each)."""
    pending, running = list(names), []
    base = [sys.executable, os.path.abspath(__file__), "--data", args.data, "--out", args.out,
            "--iters", str(args.iters), "--seed", str(args.seed), "--threads", str(args.threads),
            "--jobs", "1", "--opts", *args.opts] + (["--pretrained", args.pretrained]
                                                    if args.pretrained else [])
    failed = []
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            os.makedirs(os.path.join(args.out, name), exist_ok=True)
            log = open(os.path.join(args.out, name + ".log"), "w")
            # each run in its own session (so its own scheduler autogroup, as a separately
            # started job would be): parallel runs then share the CPU as separate jobs do
            running.append((name, subprocess.Popen(base + ["--variants", name, "--child"],
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True), log))
        time.sleep(2)
        for item in list(running):
            if item[1].poll() is not None:
                running.remove(item)
                item[2].close()
                if item[1].returncode:
                    failed.append(item[0])
    return failed


def main(argv=None):
    child = argv is None and "--child" in sys.argv
    argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--child"]
    args = parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    os.makedirs(args.out, exist_ok=True)
    load_start = os.getloadavg()
    t0 = time.time()
    failed = []
    if args.jobs > 1 and len(args.variants) > 1:
        failed = _spawn(args.variants, args)
    else:
        for name in args.variants:
            run_variant(name, args)
    if child:
        return None
    rows = []
    for name in args.variants:
        path = os.path.join(args.out, name, "result.json")
        if os.path.isfile(path):
            with open(path) as f:
                rows.append(json.load(f))
    protocol = f"lidar-pretrained ({args.pretrained})" if args.pretrained else "scratch"
    header = (f"Protocol {protocol}, {args.iters} iterations per variant, batch 2, seed "
              f"{args.seed}, {args.threads} thread(s) per run, {args.jobs} run(s) in parallel; "
              f"data {args.data}; load average {load_start[0]:.1f} at start, "
              f"{os.getloadavg()[0]:.1f} at end; {time.time() - t0:.0f} s in all. "
              f"3D AP40 moderate (KITTI), val split.")
    table = format_table(rows)
    if failed:
        table += "\n\nfailed (see their logs): " + ", ".join(failed)
    with open(os.path.join(args.out, "ablation.md"), "w") as f:
        f.write(header + "\n\n" + table + "\n")
    with open(os.path.join(args.out, "ablation.json"), "w") as f:
        json.dump({"header": header, "rows": rows, "failed": failed}, f, indent=1)
    print(header + "\n\n" + table, flush=True)
    return rows


if __name__ == "__main__":
    main()
