"""Predict with a trained model.

Range models (RangeNet++, SqueezeSegV3) write SemanticKITTI benchmark files::

    python tools/predict.py --config CFG --model_path DIR_OR_PDPARAMS \
        --input SCAN_OR_FOLDER_OR_ROOT --save_dir output/predict [--bev] [--knn | --no-knn]

Image models (PointRend) write label and colour PNGs for an image or a folder of images.
See docs/deploy.md for the output layout.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# parse the flags first, set threads / MKL up, then import Paddle (see paddlexseg/runtime.py)
from paddlexseg.engine.cli import add_backend_flags, config_from_args, set_device  # noqa: E402
from paddlexseg.runtime import add_runtime_flags, setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402


def predict_parser():
    p = argparse.ArgumentParser(description="Predict with a paddlexseg model")
    p.add_argument("--config", required=True, help="YAML config file")
    p.add_argument("--model_path", required=True, help=".pdparams file or checkpoint folder")
    p.add_argument("--input", "--image_path", dest="input", required=True,
                   help="range and point (2DPASS) models: a .bin scan, a folder of .bin scans or a SemanticKITTI "
                        "root (predicts val_dataset.sequences); image models: an image or a "
                        "folder of images (--image_path is PaddleSeg's name for the same flag)")
    p.add_argument("--save_dir", default="output/predict", help="output folder")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu", "xpu", "npu"],
                   help="device to run on (gpu needs paddlepaddle-gpu)")
    p.add_argument("--bev", action="store_true",
                   help="range and point models: also write a bird's-eye-view PNG per scan")
    p.add_argument("--knn", action=argparse.BooleanOptionalAction, default=None,
                   help="range models: KNN post-processing on/off (default: on when the "
                        "config's metric.knn is set)")
    p.add_argument("--sequence", type=int, default=None,
                   help="range and point models: sequence number for scans outside "
                        ".../sequences/NN/velodyne/ (default 00)")
    p.add_argument("--opts", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config keys, e.g. --opts val_dataset.projection.W=1024")
    p.add_argument("--image_outputs", nargs="+", default=None, metavar="KIND",
                   choices=["labelid", "trainid", "color"],
                   help="image models: PNGs to write: labelid (label/, the ids the official "
                        "evaluator reads; Cityscapes label ids), trainid (trainid/), color "
                        "(color/); default: labelid for Cityscapes, labelid color otherwise")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    add_runtime_flags(p)
    add_backend_flags(p)
    return p


def main(argv=None):
    args = predict_parser().parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.apis.predict import predict
    set_device(args.device)
    cfg = config_from_args(args)
    predict(cfg, args.model_path, args.input, args.save_dir, use_knn=args.knn, bev=args.bev,
            sequence=args.sequence, progress=not args.no_progress,
            image_outputs=args.image_outputs, backend=args.backend, onednn=args.onednn)


if __name__ == "__main__":
    run_tool(main)
