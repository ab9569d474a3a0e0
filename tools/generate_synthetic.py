"""Write a synthetic data set to disk (no download needed).

Example:
    python tools/generate_synthetic.py --kind semantickitti --out data/synthetic_kitti
    python tools/generate_synthetic.py --kind semantickitti --out /tmp/k --sequences 0 8 --scans 4
    python tools/generate_synthetic.py --kind cityscapes --out data/synthetic_cityscapes --n_train 20
    python tools/generate_synthetic.py --kind events --out data/synthetic_events

For ``cityscapes`` and ``events`` the remaining flags go to that generator (``--help`` lists them).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddlexseg.datasets.synthetic.lidar_scenes import (  # noqa: E402
    DEFAULT_SEQUENCES, generate_semantickitti)


def _semantickitti(args):
    return generate_semantickitti(
        args.out, sequences=args.sequences or DEFAULT_SEQUENCES,
        scans_per_sequence=args.scans or 8, seed=args.seed, beams=args.beams,
        azimuth_steps=args.azimuth_steps)


def _cityscapes_main(argv):
    from paddlexseg.datasets.synthetic.cityscapes_scenes import main as cityscapes_main
    return cityscapes_main(argv)


def _events_main(argv):
    from paddlexseg.datasets.synthetic.events import main as events_main
    return events_main(argv)


KINDS = {"semantickitti": _semantickitti, "cityscapes": _cityscapes_main, "events": _events_main}


def parse_args(argv=None, known_only=False):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=sorted(KINDS), help="which data set")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (output is deterministic)")
    p.add_argument("--sequences", type=int, nargs="+", default=None,
                   help="sequence numbers (semantickitti default: 0 1 2 8)")
    p.add_argument("--scans", type=int, default=None, help="scans per sequence (default 8)")
    p.add_argument("--beams", type=int, default=64, help="LiDAR beams (semantickitti)")
    p.add_argument("--azimuth_steps", type=int, default=2048,
                   help="LiDAR firings per revolution (semantickitti)")
    return p.parse_known_args(argv) if known_only else p.parse_args(argv)


def main(argv=None):
    args, rest = parse_args(argv, known_only=True)
    if args.kind != "semantickitti":
        return KINDS[args.kind](["--root", args.out, "--seed", str(args.seed)] + rest)
    args = parse_args(argv)
    summary = KINDS[args.kind](args)
    seqs = ", ".join(f"{k}: {v} scans" for k, v in summary["sequences"].items())
    print(f"wrote {args.kind} to {summary['root']} ({seqs}; {summary['points']} points) "
          f"in {summary['seconds']} s")


if __name__ == "__main__":
    main()
