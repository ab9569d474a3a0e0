"""Train a model: python tools/train.py --config CFG [--do_eval --use_vdl --save_dir DIR ...]

Multi-GPU: python -m paddle.distributed.launch --gpus 0,1,2,3 tools/train.py --config CFG --device gpu
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# parse the flags first, set threads / MKL up, then import Paddle (see paddlexseg/runtime.py)
from paddlexseg.engine.cli import (config_from_args, format_config, set_device,  # noqa: E402
                                   train_parser)
from paddlexseg.engine.run_lock import default_save_dir  # noqa: E402
from paddlexseg.runtime import setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def main(argv=None):
    args = train_parser().parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    cfg = config_from_args(args)
    if args.print_config:
        print(format_config(cfg), end="")
        return
    from paddlexseg.engine.trainer import Trainer
    set_device(args.device)
    save_dir = args.save_dir or default_save_dir(args.config)
    Trainer(cfg, save_dir, do_eval=args.do_eval, use_vdl=args.use_vdl,
            resume_model=args.resume_model, precision=args.precision,
            progress=not args.no_progress).train()


if __name__ == "__main__":
    run_tool(main)
