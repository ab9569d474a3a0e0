"""Write a synthetic data set to disk (no download needed).

The data of each quick config (the same commands as the config headers and docs/models.md):
    python tools/generate_synthetic.py --kind semantickitti --out data/synthetic_kitti
    python tools/generate_synthetic.py --kind semantickitti --out data/synthetic_kitti_fusion \
        --sequences 0 8 --azimuth_steps 1024 --images      # + image_2/*.png for 2DPASS
    python tools/generate_synthetic.py --kind cityscapes --out data/synthetic/cityscapes \
        --n_train 20 --n_val 4
    python tools/generate_synthetic.py --kind events --out data/synthetic/event_vpr
    python tools/generate_synthetic.py --kind kitti3d --out data/synthetic_kitti3d  # KITTI object
A smaller set: --kind semantickitti --out /tmp/k --sequences 0 8 --scans 4

For ``cityscapes``, ``events`` and ``kitti3d`` the remaining flags go to that generator
(``--help`` lists them).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paddlexseg.registry import ConfigError  # noqa: E402
from paddlexseg.runtime import setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

DEFAULT_SEQUENCES = (0, 1, 2, 8)  # paddlexseg.datasets.synthetic.lidar_scenes.DEFAULT_SEQUENCES
SEMANTICKITTI_DEFAULTS = {"beams": 64, "azimuth_steps": 2048, "image_scale": 0.5}
SHARED_FLAGS = ("beams", "azimuth_steps", "image_scale")  # parsed here, kitti3d has them too


def _semantickitti(args):
    from paddlexseg.datasets.synthetic.camera import generate_semantickitti_fusion
    from paddlexseg.datasets.synthetic.lidar_scenes import generate_semantickitti
    kwargs = dict(sequences=args.sequences or DEFAULT_SEQUENCES,
                  scans_per_sequence=8 if args.scans is None else args.scans, seed=args.seed,
                  beams=args.beams,
                  azimuth_steps=args.azimuth_steps)
    if not args.images:
        return generate_semantickitti(args.out, **kwargs)
    if not args.image_scale > 0:
        raise ConfigError(f"--image_scale must be > 0, got {args.image_scale}")
    out = generate_semantickitti_fusion(args.out, scale=args.image_scale, **kwargs)
    summary = dict(out["scans"])
    summary["seconds"] = round(out["scans"]["seconds"] + out["images"]["seconds"], 2)
    summary["images"] = sum(out["images"]["sequences"].values())
    return summary


def _cityscapes_main(argv):
    from paddlexseg.datasets.synthetic.cityscapes_scenes import main as cityscapes_main
    return cityscapes_main(argv)


def _events_main(argv):
    from paddlexseg.datasets.synthetic.events import main as events_main
    return events_main(argv)


def _kitti3d_main(argv):
    from paddlexseg.datasets.synthetic.kitti3d import main as kitti3d_main
    return kitti3d_main(argv)


KINDS = {"semantickitti": _semantickitti, "cityscapes": _cityscapes_main, "events": _events_main,
         "kitti3d": _kitti3d_main}


def parse_args(argv=None, known_only=False):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=sorted(KINDS), help="which data set")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (output is deterministic)")
    p.add_argument("--sequences", type=int, nargs="+", default=None,
                   help="sequence numbers (semantickitti default: 0 1 2 8)")
    p.add_argument("--scans", type=int, default=None, help="scans per sequence (default 8)")
    p.add_argument("--beams", type=int, default=None,
                   help="LiDAR beams (semantickitti default 64; kitti3d: passed on)")
    p.add_argument("--azimuth_steps", type=int, default=None,
                   help="LiDAR firings per revolution (semantickitti default 2048; kitti3d: "
                        "passed on)")
    p.add_argument("--images", action="store_true",
                   help="semantickitti: also render the left colour camera, image_2/*.png "
                        "(the input of 2DPASS)")
    p.add_argument("--image_scale", type=float, default=None,
                   help="semantickitti --images: render resolution factor of the 1241 x 376 "
                        "image (default 0.5; smaller is faster; the PNG keeps the full size); "
                        "kitti3d: passed on")
    return p.parse_known_args(argv) if known_only else p.parse_args(argv)


def main(argv=None):
    args, rest = parse_args(argv, known_only=True)
    setup_runtime()
    if args.images and args.kind != "semantickitti":
        raise SystemExit(f"generate_synthetic.py: --images applies to --kind semantickitti "
                         f"only, not {args.kind}")
    if args.kind != "semantickitti":
        # the shared flags parsed above are the generator's own too: pass on the ones given
        shared = [f"--{k}={getattr(args, k)}" for k in SHARED_FLAGS
                  if getattr(args, k) is not None]
        return KINDS[args.kind](["--root", args.out, "--seed", str(args.seed)] + shared + rest)
    args = parse_args(argv)
    for key, value in SEMANTICKITTI_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    summary = KINDS[args.kind](args)
    seqs = ", ".join(f"{k}: {v} scans" for k, v in summary["sequences"].items())
    images = f"; {summary['images']} images" if "images" in summary else ""
    print(f"wrote {args.kind} to {summary['root']} ({seqs}; {summary['points']} points{images}) "
          f"in {summary['seconds']} s")


if __name__ == "__main__":
    run_tool(main)
