"""Synthetic-to-real: train a range model on synthetic scans only, print its IoU on real scans.

Generates procedural SemanticKITTI scans (or takes --train_root), trains RangeNet++
(DarkNet-21, 64 x --width range images) for a fixed --iters budget on them alone, then scores
the last checkpoint (no model selection) on the real folder --real (SemanticKITTI layout,
--sequences) with the official SemanticKITTI IoU. The table lists the classes present in the
real labels and their mean; the official 19-class mIoU and the accuracy are printed too.

    python benchmarks/sim_to_real.py --real /path/to/SemanticKITTI/dataset --sequences 8 \
        --iters 200 --save_dir output/s2r_before
    # same budget, another generator / options; --before puts the first run's column beside
    python benchmarks/sim_to_real.py --real ... --iters 200 --beam_dropout 0.1 \
        --save_dir output/s2r_after --before output/s2r_before/real_iou.json
    # score an existing checkpoint only (its config.yml gives model and projection)
    python benchmarks/sim_to_real.py --real ... --model_path output/x/iter_200 \
        --before a/real_iou.json b/real_iou.json --titles A B this

Writes <save_dir>/real_iou.json (the numbers and the run facts) and the checkpoint.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from paddlexseg.runtime import add_runtime_flags, setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

QUICK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "rangenet",
                     "rangenet_darknet21_synthetic_quick.yml")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real", required=True, help="folder of real scans holding sequences/")
    p.add_argument("--sequences", type=int, nargs="+", default=[8], help="real sequences")
    p.add_argument("--save_dir", default="output/sim_to_real")
    p.add_argument("--train_root", default=None,
                   help="synthetic folder to train on (default: generate into save_dir)")
    p.add_argument("--train_sequences", type=int, nargs="+", default=None,
                   help="synthetic sequences (default 0..--gen_sequences-1)")
    p.add_argument("--gen_sequences", type=int, default=8, help="sequences to generate")
    p.add_argument("--gen_scans", type=int, default=16, help="scans per generated sequence")
    p.add_argument("--gen_seed", type=int, default=0, help="generator seed")
    p.add_argument("--config", default=QUICK, help="range-model config giving model and losses")
    p.add_argument("--iters", type=int, default=200,
                   help="training budget in optimizer steps (200: the docs' figure)")
    p.add_argument("--batch_size", type=int, default=2)
    p.add_argument("--lr", type=float, default=0.004)
    p.add_argument("--width", type=int, default=1024,
                   help="range-image columns (rows: 64, the HDL-64E's beams)")
    p.add_argument("--width_mult", type=float, default=0.125, help="DarkNet-21 channel multiplier")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--no_knn", action="store_true", help="skip KNN post-processing")
    p.add_argument("--beam_dropout", type=float, default=0.0,
                   help="train-time probability of dropping a whole laser ring")
    p.add_argument("--scale", type=float, default=0.0,
                   help="train-time global scale jitter: factor in [1-s, 1+s]")
    p.add_argument("--remission_jitter", type=float, default=0.0,
                   help="train-time remission gain range (log-uniform 1/(1+s)..1+s) + noise")
    p.add_argument("--model_path", default=None,
                   help="score this checkpoint instead of training (uses its config.yml)")
    p.add_argument("--before", nargs="+", default=[], metavar="JSON",
                   help="real_iou.json of earlier runs, shown as columns before this one")
    p.add_argument("--titles", nargs="+", default=None,
                   help="column titles, one per --before file and one for this run")
    add_runtime_flags(p)
    return p.parse_args(argv)


def _train(args):
    from paddlexseg.apis import sim_to_real as s2r
    from paddlexseg.engine.trainer import Trainer
    train_root = args.train_root
    seqs = args.train_sequences or list(range(args.gen_sequences))
    if train_root is None:
        train_root = os.path.join(args.save_dir, "synthetic")
        info = s2r.generate_training_set(train_root, seqs, args.gen_scans, args.gen_seed)
        print(f"generated {sum(info['sequences'].values())} synthetic scans in "
              f"{info['seconds']:.0f} s -> {train_root}", flush=True)
    augment = {k: getattr(args, k) for k in s2r.DOMAIN_AUGMENT if getattr(args, k)}
    cfg = s2r.sim_to_real_config(args.config, train_root, seqs, args.real, args.sequences,
                                 args.iters, width=args.width, width_mult=args.width_mult,
                                 batch_size=args.batch_size, learning_rate=args.lr,
                                 knn=not args.no_knn, augment=augment, seed=args.seed)
    load0, tic, cpu = os.getloadavg(), time.time(), time.process_time()
    Trainer(cfg, args.save_dir, progress=False).train()
    facts = {"train_seconds": round(time.time() - tic, 1),
             "train_cpu_seconds": round(time.process_time() - cpu, 1), "iters": args.iters,
             "batch_size": args.batch_size, "range_image": [64, args.width],
             "width_mult": args.width_mult, "augment": augment, "train_root": train_root,
             "train_sequences": seqs, "load_before": load0, "load_after": os.getloadavg()}
    return cfg, os.path.join(args.save_dir, f"iter_{args.iters}"), facts


def main(argv=None):
    args = parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.apis import sim_to_real as s2r
    before = [s2r.load_results(p) for p in args.before]
    if args.model_path:
        cfg = s2r.checkpoint_config(args.model_path, args.config, knn=not args.no_knn)
        model_path, facts = args.model_path, {"model_path": args.model_path}
    else:
        cfg, model_path, facts = _train(args)
    tic = time.time()
    metric = s2r.evaluate_folder(cfg, model_path, root=args.real, sequences=args.sequences)
    results = s2r.present_class_results(metric)
    facts["eval_seconds"] = round(time.time() - tic, 1)
    path = s2r.save_results(results, os.path.join(args.save_dir, "real_iou.json"),
                            real=os.path.abspath(args.real), real_sequences=args.sequences,
                            **facts)
    print(f"\nreal scans: {args.real} sequences {args.sequences}; facts: {facts}")
    print(s2r.format_table(results, before, args.titles))
    print(f"wrote {path}")


if __name__ == "__main__":
    run_tool(main)
