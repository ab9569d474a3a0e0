"""Run a model exported by ``tools/export.py`` with Paddle Inference (no dygraph model needed).

Range models (``family: range`` in deploy.yaml)::

    python deploy/python/infer.py --config output/export/deploy.yaml --input SCAN_OR_FOLDER \
        --save_dir output/infer [--knn | --no-knn] [--bev] [--sequence NN]

reads raw KITTI ``.bin`` scans, projects them with the ``projection`` stored in deploy.yaml,
runs the predictor, takes the argmax (unless the model was exported with ``--output_op
argmax``), back-projects to the points (optionally with KNN post-processing), maps learning ids
to raw ids with the stored ``learning_map_inv`` and writes
``save_dir/sequences/NN/predictions/*.label`` plus range-image PNGs, exactly as
``tools/predict.py`` does (both use ``paddlexseg.apis.range_io`` / ``range_predict``).

Image models (``family: image``) read an image or a folder, apply the stored ``transforms``,
resize to the exported input size when the image differs, and write ``label/`` and ``color/``
PNGs at the image's size (label/ holds the ids the official evaluator reads: Cityscapes label
ids, as tools/predict.py writes them).

Event models (``family: event``, Event-VPR) read an events ``.npy`` file or a folder, build the
stored voxel grid and write one place descriptor ``.npy`` per file
(``paddlexseg.apis.event_deploy``).

``--backend onnxruntime`` runs ``model.onnx`` (``tools/export.py --format onnx``, ``pip install
-e .[onnx]``) instead of the Paddle program, with the same pre- and post-processing
(``paddlexseg.apis.backends``).

On CPU the predictor runs on oneDNN (``--no-onednn`` turns it off) with Paddle 3.3.1's crashing
``conv_activation_onednn_fuse_pass`` deleted (``paddlexseg.apis.inference.create_predictor``),
with as many math threads as available cores (``--threads``; ``paddlexseg/runtime.py``).
"""
import argparse
import os
import sys
import time

import numpy as np
import yaml
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# parse the flags first, set threads / MKL up, then import Paddle (see paddlexseg/runtime.py)
from paddlexseg.registry import ConfigError  # noqa: E402
from paddlexseg.runtime import add_runtime_flags, setup_runtime  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

_REQUIRED = ("family", "model", "params", "input_name", "input_shape", "output_op")
_FAMILY_KEYS = {"range": ("num_classes", "colors", "projection", "label_config", "knn"),
                "image": ("num_classes", "colors", "transforms"), "event": ("events",)}


def load_deploy(path):
    """Read ``deploy.yaml`` (or the folder holding it); returns (folder, the ``Deploy`` dict)."""
    if os.path.isdir(path):
        path = os.path.join(path, "deploy.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: deploy.yaml not found; export a model first with "
                                f"tools/export.py")
    with open(path, "r", encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    info = data.get("Deploy") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise ConfigError(f"{path}: expected a mapping under the key 'Deploy'")
    family = info.get("family")
    missing = [k for k in _REQUIRED + _FAMILY_KEYS.get(family, ()) if k not in info]
    if family not in _FAMILY_KEYS or missing:
        raise ConfigError(f"{path}: Deploy.family must be one of {sorted(_FAMILY_KEYS)} and the "
                          f"keys {', '.join(missing) or '-'} are missing; re-export the model")
    folder = os.path.dirname(os.path.abspath(path))
    for key in ("model", "params"):
        file = os.path.join(folder, info[key])
        if not os.path.isfile(file):
            raise FileNotFoundError(f"{file}: the exported {key} file named in {path} is missing")
    return folder, info


def make_predictor(folder, info, args):
    """The predictor of ``args.backend`` (``--device``, ``--threads``, ``--onednn``):
    ``predictor(x [B, C, H, W] float32) -> [B, H, W] int64 class ids``, ``.raw(x)``."""
    if args.backend == "onnxruntime":
        from paddlexseg.apis.backends import OnnxRuntimePredictor
        return OnnxRuntimePredictor(folder, info, args.device, args.threads)
    from paddlexseg.apis.inference import DeployPredictor
    onednn = args.onednn if args.onednn is not None else args.device == "cpu"
    return DeployPredictor(folder, info, args.device, args.threads, onednn)


def infer_range(predictor, info, args):
    """Predict ``.label`` files for the scans named by ``args.input``; returns the output paths."""
    from paddlexseg.apis.range_io import (RANGENET_KNN, backproject, build_projection, check_knn,
                                          load_scan, require_knn_op, resolve_scans)
    from paddlexseg.apis.range_predict import save_scan_outputs
    projection = build_projection(info["projection"], path="deploy.yaml Deploy.projection")
    _, _, h, w = info["input_shape"]
    if (projection.H, projection.W) != (h, w):
        raise ConfigError(f"deploy.yaml: projection {projection.H}x{projection.W} differs from "
                          f"the exported input {h}x{w}; re-export the model")
    knn = check_knn(info.get("knn"), path="deploy.yaml Deploy.knn")
    if args.knn is False:
        knn = None
    elif args.knn is True:
        knn = knn or dict(RANGENET_KNN)
    lut = np.asarray(info["label_config"]["learning_map_inv"], dtype=np.int64)
    colors = np.asarray(info["colors"], dtype=np.uint8)
    if knn is not None:
        require_knn_op()
    items = resolve_scans(args.input, None, args.sequence)
    outputs = []
    for item in tqdm(items, desc="infer", disable=args.no_progress, mininterval=2):
        scan = load_scan(item, projection, None)
        proj_argmax = predictor(scan["range_img"][None])[0]  # [H, W]
        point_pred = backproject(proj_argmax, scan, int(info["num_classes"]), knn)  # [N]
        outputs.append(save_scan_outputs(args.save_dir, item, scan, proj_argmax, point_pred,
                                         lut, colors, bev=args.bev))
    return outputs


def infer_image(predictor, info, args):
    """Predict label PNGs for the images named by ``args.input``; returns the output paths."""
    from paddlexseg.apis.image_predict import (build_transforms, load_image, preprocess,
                                               resolve_images, save_image_outputs)
    from paddlexseg.transforms.image import resize_linear
    if args.knn or args.bev or args.sequence is not None:
        raise ConfigError("--knn, --bev and --sequence apply to range (LiDAR) models only")
    transforms = build_transforms(info["transforms"], path="deploy.yaml Deploy.transforms")
    colors = np.asarray(info["colors"], dtype=np.uint8)
    _, _, h, w = info["input_shape"]
    outputs = []
    for path, rel in tqdm(resolve_images(args.input), desc="infer", disable=args.no_progress,
                          mininterval=2):
        image = load_image(path)
        x = preprocess(image, transforms)  # [3, h', w']
        if x.shape[1:] != (h, w):
            x = resize_linear(x.transpose(1, 2, 0), (w, h)).transpose(2, 0, 1)
        pred = predictor(x[None])[0]  # [h, w]
        outputs.append(save_image_outputs(args.save_dir, rel, pred, colors, image.shape[:2],
                                          ("labelid", "color"), info.get("dataset_type")))
    return outputs


def infer_event(predictor, info, args):
    """Write one place descriptor per events file (``paddlexseg.apis.event_deploy``)."""
    from paddlexseg.apis.event_deploy import infer_event as run
    return run(predictor, info, args)


# deploy.yaml family -> inference loop
INFERS = {"range": infer_range, "image": infer_image, "event": infer_event}


def infer_parser():
    p = argparse.ArgumentParser(description="Paddle Inference for exported paddlexseg models")
    p.add_argument("--config", required=True, help="deploy.yaml or the export folder")
    p.add_argument("--input", required=True,
                   help="range: a .bin scan or a folder of .bin scans (or a SemanticKITTI "
                        "sequence's velodyne folder); image: an image or a folder")
    p.add_argument("--save_dir", default="output/infer", help="output folder")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                   help="device to run on (gpu needs paddlepaddle-gpu)")
    p.add_argument("--backend", default="paddle", choices=("paddle", "onnxruntime"),
                   help="paddle: Paddle Inference; onnxruntime: model.onnx of an export made "
                        "with --format onnx (pip install -e .[onnx])")
    p.add_argument("--onednn", action=argparse.BooleanOptionalAction, default=None,
                   help="run on oneDNN (default: on for --device cpu; the crashing "
                        "conv_activation_onednn_fuse_pass of Paddle 3.3.1 is removed)")
    p.add_argument("--knn", action=argparse.BooleanOptionalAction, default=None,
                   help="range: KNN post-processing on/off (default: deploy.yaml's knn)")
    p.add_argument("--bev", action="store_true", help="range: also write bird's-eye-view PNGs")
    p.add_argument("--sequence", type=int, default=None,
                   help="range: sequence number for scans outside .../sequences/NN/velodyne/")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    add_runtime_flags(p)
    return p


def main(argv=None):
    """Run the CLI; returns the list of written output paths (dicts)."""
    args = infer_parser().parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.datasets.errors import DataError
    folder, info = load_deploy(args.config)
    if os.path.isdir(args.input) and os.path.isdir(os.path.join(args.input, "sequences")):
        raise DataError(f"{args.input}: give a scan or a velodyne folder; deploy.yaml does not "
                        f"know which sequences of a SemanticKITTI root to predict")
    start = time.time()
    predictor = make_predictor(folder, info, args)
    outputs = INFERS[info["family"]](predictor, info, args)
    print(f"wrote {len(outputs)} predictions to {args.save_dir} in {time.time() - start:.1f} s",
          flush=True)
    return outputs


if __name__ == "__main__":
    run_tool(main)
