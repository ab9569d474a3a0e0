"""Evaluate a model: python tools/val.py --config CFG --model_path DIR_OR_PDPARAMS"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# parse the flags first, set threads / MKL up, then import Paddle (see paddlexseg/runtime.py)
from paddlexseg.engine.cli import config_from_args, set_device, val_parser  # noqa: E402
from paddlexseg.runtime import setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def main(argv=None):
    args = val_parser(outputs=True).parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.engine.validate import validate
    set_device(args.device)
    cfg = config_from_args(args)
    validate(cfg, args.model_path, precision=args.precision, progress=not args.no_progress,
             aug_eval=args.aug_eval, scales=args.scales, flip_horizontal=args.flip_horizontal,
             flip_vertical=args.flip_vertical, is_slide=args.is_slide, crop_size=args.crop_size,
             stride=args.stride, save_dir=args.save_dir, use_vdl=args.use_vdl,
             backend=args.backend, onednn=args.onednn)


if __name__ == "__main__":
    run_tool(main)
