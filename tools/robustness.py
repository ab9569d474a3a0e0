"""Robustness of a LiDAR model to corrupted scans (SemanticKITTI-C / Robo3D spirit)::

    python tools/robustness.py --config CFG --model_path DIR_OR_PDPARAMS --save_dir out/robust \
        [--corruptions fog snow ...] [--severities 1 2 3] [--seed 0] [--beams 64]

Evaluates the config's ``val_dataset`` clean and under every corruption and severity with the
config's metric, prints the table and writes robustness.json, robustness.md and a bar chart
robustness.png to ``--save_dir``.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# parse the flags first, set threads / MKL up, then import Paddle (see paddlexseg/runtime.py)
from paddlexseg.engine.cli import config_from_args, set_device, val_parser  # noqa: E402
from paddlexseg.runtime import setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

# paddlexseg.robustness.corruptions.CORRUPTIONS / SEVERITIES (importing that package imports
# Paddle; tests/tools check these lists are equal)
CORRUPTION_NAMES = ("fog", "wet_ground", "snow", "motion_blur", "beam_missing", "crosstalk",
                    "incomplete_echo", "cross_sensor")
SEVERITY_LEVELS = (1, 2, 3)


def robustness_parser():
    p = val_parser()
    p.description = "Evaluate a LiDAR model on corrupted scans"
    p.add_argument("--save_dir", default="output/robustness", help="results, table and chart")
    p.add_argument("--corruptions", nargs="+", default=list(CORRUPTION_NAMES),
                   choices=list(CORRUPTION_NAMES), metavar="NAME",
                   help="corruptions to run (default: all): " + " ".join(CORRUPTION_NAMES))
    p.add_argument("--severities", nargs="+", type=int, default=list(SEVERITY_LEVELS),
                   choices=list(SEVERITY_LEVELS), help="severities to run (default: 1 2 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruptions")
    p.add_argument("--beams", type=int, default=64, help="sensor beams (64 KITTI, 32 nuScenes)")
    return p


def main(argv=None):
    args = robustness_parser().parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.robustness.evaluate import evaluate_robustness, format_table
    set_device(args.device)
    cfg = config_from_args(args)
    results = evaluate_robustness(cfg, args.model_path, args.save_dir, args.corruptions,
                                  args.severities, args.seed, args.beams,
                                  progress=not args.no_progress, backend=args.backend,
                                  onednn=args.onednn)
    print(format_table(results), flush=True)
    print(f"wrote {os.path.join(args.save_dir, 'robustness.png')}", flush=True)


if __name__ == "__main__":
    run_tool(main)
