"""Export a trained model for Paddle Inference (deploy/python/infer.py)::

    python tools/export.py --config CFG --model_path DIR_OR_PDPARAMS --save_dir output/export \
        [--output_op argmax|softmax|none] [--input_shape H W] [--format paddle|onnx [--opset N]]

Writes model.json + model.pdiparams (Paddle 3 PIR; model.pdmodel under the old IR) and
deploy.yaml; ``--format onnx`` adds model.onnx (pip install -e .[onnx]); see docs/deploy.md.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# parse the flags first, set threads / MKL up, then import Paddle (see paddlexseg/runtime.py)
from paddlexseg.engine.cli import config_from_args, set_device  # noqa: E402
from paddlexseg.runtime import add_runtime_flags, setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

OUTPUT_OPS = ("none", "softmax", "argmax")  # paddlexseg.apis.export.OUTPUT_OPS (checked there)


def export_parser():
    p = argparse.ArgumentParser(description="Export a paddlexseg model for Paddle Inference")
    p.add_argument("--config", required=True, help="YAML config file")
    p.add_argument("--model_path", default=None,
                   help=".pdparams file or checkpoint folder (omit to export random weights)")
    p.add_argument("--save_dir", default="output/export", help="output folder")
    p.add_argument("--output_op", choices=OUTPUT_OPS, default=None,
                   help="op appended to the logits (default: the config's export.output_op, "
                        "else argmax)")
    p.add_argument("--input_shape", nargs=2, type=int, default=None, metavar=("H", "W"),
                   help="spatial input size (default: the projection H W for range models; "
                        "MVX-Net: the camera image size, default val_dataset.image_size)")
    # --- ONNX (issue 20) ---
    p.add_argument("--format", choices=("paddle", "onnx"), default="paddle",
                   help="paddle: Paddle Inference files; onnx: the same plus model.onnx "
                        "(needs pip install -e .[onnx])")
    p.add_argument("--opset", type=int, default=None,
                   help="ONNX opset (default 16, the lowest checked)")
    # --- end ONNX ---
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu", "xpu", "npu"],
                   help="device to run on (gpu needs paddlepaddle-gpu)")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys")
    add_runtime_flags(p)
    return p


def main(argv=None):
    args = export_parser().parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.apis.export import export_model
    set_device(args.device)
    cfg = config_from_args(args)
    export_model(cfg, args.model_path, args.save_dir, output_op=args.output_op,
                 input_shape=args.input_shape, fmt=args.format, opset=args.opset)


if __name__ == "__main__":
    run_tool(main)
