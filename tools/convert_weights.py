"""Convert an official PyTorch checkpoint into paddlexseg weights (see docs/model_zoo.md)::

    python tools/convert_weights.py --arch rangenet-darknet21 --src darknet21/ \
        --dst output/rangenet_darknet21.pdparams [--allow-missing] [--report FILE]

``--src`` takes the checkpoint file(s) (lidar-bonnetal / SqueezeSegV3 folders of per-network
files, detectron2 ``.pkl``/``.pth``, Lightning ``.ckpt``, mmdetection3d ``.pth``, or ``.npz`` state
dicts). Every key is
mapped and checked against a freshly built paddlexseg model; nothing is written when a source
key is unused, a target key is missing (unless --allow-missing) or a shape differs. torch is
needed only for ``torch.save`` files: ``pip install -e .[convert]``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# paddlexseg.convert does not import Paddle or torch: --help answers at once
from paddlexseg.convert import (ARCHS, ConversionError, MissingTorchError,  # noqa: E402
                                convert_checkpoint, save_converted)
from paddlexseg.convert.core import TRANSFORMS  # noqa: E402
from paddlexseg.runtime import add_runtime_flags, setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def convert_parser():
    width = max(len(n) for n in ARCHS)
    p = argparse.ArgumentParser(
        description="Convert an official PyTorch checkpoint to a paddlexseg .pdparams",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="architectures:\n" + "\n".join(f"  {n:<{width}}  {s.description}"
                                               for n, s in sorted(ARCHS.items())))
    p.add_argument("--arch", required=True, choices=sorted(ARCHS), metavar="NAME",
                   help="architecture (listed below)")
    p.add_argument("--src", required=True, nargs="+", metavar="PATH",
                   help="checkpoint file(s), or the folder of a multi-file checkpoint")
    p.add_argument("--dst", required=True, help="output .pdparams file")
    p.add_argument("--allow-missing", action="store_true",
                   help="write even if some model weights are not in the checkpoint (they keep "
                        "their initialisation, e.g. a head you retrain)")
    p.add_argument("--report", default=None, metavar="FILE",
                   help="write the full key-by-key report here (default: <dst>.report.txt)")
    p.add_argument("--spconv-layout", default=None,
                   choices=[t.split(":")[1] for t in TRANSFORMS if t.startswith("spconv:")],
                   help="layout of spconv weights: KRSC (spconv 2.x default), RSKC (spconv 2.x "
                        "Native/CPU), RSCK (spconv 1.x, mmcv); default: read off the weight "
                        "shapes for the mmdet3d architectures, else from --spconv-version, else "
                        "KRSC")
    p.add_argument("--spconv-version", default=None, metavar="X.Y.Z",
                   help="spconv release the checkpoint was trained with (e.g. 2.1.16): every 2.x "
                        "computes kernel-volume-1 convs from the weight's raw memory, which the "
                        "conversion reproduces; 1.x does not (default: 2.x)")
    add_runtime_flags(p)
    return p


def main(argv=None):
    args = convert_parser().parse_args(argv)
    setup_runtime(args.threads)
    try:
        converted, report, model = convert_checkpoint(args.arch, args.src,
                                                      spconv_layout=args.spconv_layout,
                                                      spconv_version=args.spconv_version)
    except (ConversionError, MissingTorchError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    report_path = args.report or os.path.splitext(args.dst)[0] + ".report.txt"
    folder = os.path.dirname(os.path.abspath(report_path))
    os.makedirs(folder, exist_ok=True)
    with open(report_path, "w") as f:
        f.write(report.format(args.allow_missing))
    summary = report.format(args.allow_missing).split("\n## ")[0].rstrip()
    print(summary)
    errors = report.errors(args.allow_missing)
    if errors:
        print(f"error: refusing to write {args.dst} ({len(errors)} problems; full report in "
              f"{report_path})", file=sys.stderr)
        sys.exit(2)
    try:
        save_converted(converted, model, args.dst)
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {args.dst} ({len(converted)} tensors); report: {report_path}")


if __name__ == "__main__":
    run_tool(main)
