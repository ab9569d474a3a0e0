"""Command-line flags of ``tools/*.py`` (PaddleSeg's names) and how they override a config.

Importing this module does not import Paddle: tools parse their flags, run
:func:`paddlexseg.runtime.setup_runtime` and only then import Paddle (``set_device``).
"""
import argparse
import os

from ..config import load_config
from ..registry import ConfigError
from ..runtime import add_runtime_flags

__all__ = ["train_parser", "val_parser", "config_from_args", "set_device", "add_backend_flags",
           "BACKENDS", "format_config"]

BACKENDS = ("dygraph", "inference", "auto")  # paddlexseg.apis.inference.with_backend


def _common(parser):
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu", "xpu", "npu"],
                        help="device to run on (gpu needs paddlepaddle-gpu)")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. --opts train.log_iters=5 model.num_classes=20")
    add_runtime_flags(parser)
    return parser


def train_parser():
    p = _common(argparse.ArgumentParser(description="Train a paddlexseg model"))
    p.add_argument("--save_dir", help="checkpoints, config.yml and vdl_log (default: "
                                      "output/<config file name>)")
    p.add_argument("--iters", type=int, help="override the config's iters")
    p.add_argument("--batch_size", type=int, help="samples per card")
    p.add_argument("--learning_rate", type=float, help="override lr_scheduler.learning_rate")
    p.add_argument("--do_eval", action="store_true", help="evaluate on val_dataset while training")
    p.add_argument("--use_vdl", action="store_true", help="log to VisualDL (save_dir/vdl_log)")
    p.add_argument("--resume_model", help="checkpoint folder to resume from ('auto': the newest "
                                          "in save_dir)")
    p.add_argument("--save_interval", type=int, help="checkpoint (and eval) every N iterations")
    p.add_argument("--log_iters", type=int, help="log every N iterations")
    p.add_argument("--keep_checkpoint_max", type=int, help="keep the newest N checkpoints")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--num_workers", type=int, help="data loader worker processes")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"],
                   help="fp16: AMP with loss scaling (GPU); bf16: AMP without scaling")
    p.add_argument("--no_progress", action="store_true",
                   help="hide progress bars (bars are only drawn on a terminal anyway)")
    p.add_argument("--print_config", action="store_true",
                   help="print the resolved config (_base_ merged, --opts and flags applied) "
                        "as YAML and exit without training")
    p.add_argument("--pretrained", help="fine-tune from these weights (model.pretrained): "
                                        "tensors of matching name and shape are loaded")
    return p


def add_backend_flags(parser):
    """``--backend dygraph|inference`` and ``--onednn/--no-onednn`` (val, predict, robustness)."""
    parser.add_argument("--backend", default="dygraph", choices=BACKENDS,
                        help="inference: export the model in-process and run it with Paddle "
                             "Inference (oneDNN on CPU: faster on full-size models, same "
                             "predictions up to float rounding); auto: inference when the "
                             "model's family can be exported (and, in val.py, no --aug_eval, "
                             "--is_slide or AMP is asked), dygraph otherwise; dygraph: run the "
                             "Python model (default; see docs/performance.md)")
    parser.add_argument("--onednn", action=argparse.BooleanOptionalAction, default=True,
                        help="with --backend inference on CPU: use oneDNN (default on)")
    return parser


def val_parser(outputs=False):
    """Evaluation flags; ``outputs`` adds val.py's ``--save_dir`` / ``--use_vdl`` (tools that
    extend this parser, e.g. robustness.py, bring their own)."""
    p = _common(argparse.ArgumentParser(description="Evaluate a paddlexseg model"))
    p.add_argument("--model_path", required=True, help=".pdparams file or checkpoint folder")
    p.add_argument("--aug_eval", action="store_true",
                   help="image models: average softmax over --scales and --flip_horizontal")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0],
                   help="with --aug_eval: resize factors, e.g. 0.75 1.0 1.25")
    p.add_argument("--flip_horizontal", action="store_true",
                   help="with --aug_eval: also evaluate the mirrored image")
    p.add_argument("--flip_vertical", action="store_true",
                   help="with --aug_eval: also evaluate the upside-down image (and, with "
                        "--flip_horizontal, the image mirrored both ways)")
    p.add_argument("--is_slide", action="store_true",
                   help="sliding-window evaluation (large images): --crop_size windows every "
                        "--stride pixels, scores averaged where windows overlap")
    p.add_argument("--crop_size", type=int, nargs=2, metavar=("W", "H"),
                   help="with --is_slide: window width and height")
    p.add_argument("--stride", type=int, nargs=2, metavar=("W", "H"),
                   help="with --is_slide: horizontal and vertical step between windows")
    if outputs:
        p.add_argument("--save_dir", default=None,
                       help="where metrics.json, confusion_matrix.png, class_iou.png (or "
                            "recall_curve.png) go (default: MODEL_PATH's folder + /val)")
        p.add_argument("--use_vdl", action="store_true",
                       help="also log the metrics and pictures to VisualDL (save_dir/vdl_log)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"],
                   help="fp16/bf16: AMP autocast (GPU); Paddle's CPU kernels run in float32")
    p.add_argument("--no_progress", action="store_true",
                   help="hide the progress bar (bars are only drawn on a terminal anyway)")
    add_backend_flags(p)
    return p


_TRAIN_FLAGS = {"iters": "iters", "batch_size": "batch_size",
                "learning_rate": "lr_scheduler.learning_rate",
                "save_interval": "train.save_interval", "log_iters": "train.log_iters",
                "keep_checkpoint_max": "train.keep_checkpoint_max", "seed": "train.seed",
                "num_workers": "train.num_workers", "pretrained": "model.pretrained"}


def config_from_args(args):
    """Load ``args.config`` with ``--opts`` and the flag overrides applied."""
    opts = list(args.opts)
    for flag, key in _TRAIN_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            opts.append(f"{key}={value}")
    if getattr(args, "iters", None) is not None:
        opts.append("epochs=null")
    cfg = load_config(args.config, opts)
    if cfg.get("iters") is not None and cfg.get("epochs") is not None:
        raise ConfigError(f"{args.config}: give either 'iters' or 'epochs', not both")
    return cfg


def format_config(cfg):
    """The resolved config as the YAML that ``save_dir/config.yml`` holds."""
    import yaml
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None)


def set_device(device):
    """Select the Paddle device (imports Paddle; call after the runtime set-up)."""
    import paddle
    if device == "gpu" and not paddle.is_compiled_with_cuda():
        raise SystemExit("--device gpu: this paddlepaddle build has no CUDA support; install "
                         "paddlepaddle-gpu or use --device cpu")
    if device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    paddle.set_device(device)
