"""Run a 3-D detector exported by ``tools/export.py`` (``family: detection``, SECOND, or
``family: fusion_detection``, MVX-Net and the fusion zoo)::

    python deploy/python/infer_det.py --config output/export --input KITTI_ROOT_SPLIT_OR_BIN \
        --save_dir output/infer_det

The exported Paddle Inference program is the **dense part** only: BEV features
``spatial_features`` [B, C, H, W] -> ``cls_score``, ``bbox_pred``, ``dir_cls_pred`` (SECOND
backbone, SECONDFPN, head convolutions). This script runs the rest in Python with
``paddlexseg`` (installed or next to this folder): reading the frame (FOV crop), hard
voxelization, the mean VFE and the sparse 3-D encoder (weights from
``sparse_encoder.pdparams``, model settings from ``deploy.yaml``'s ``model_config``), then the
anchors, box decoding and per-class rotated NMS. It writes the same ``label_2/``, ``bev/`` and
``camera/`` outputs as ``tools/predict.py``.

MVX-Net exports (:mod:`paddlexseg.apis.mvx_export`) have two programs: ``front`` (points, the
camera image and its projection -> voxel features; voxelization, image branch, fusion and the
dynamic scatter inside) and ``model`` (BEV map -> head maps); the sparse encoder, decoding and
NMS run here (:class:`paddlexseg.apis.mvx_deploy.FusionRunner`).
"""
import argparse
import os
import sys
import time

import numpy as np
import paddle
import yaml
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from paddlexseg import load_all  # noqa: E402
from paddlexseg.apis.det_predict import (point_cloud_range_of, read_frame,  # noqa: E402
                                         resolve_frames, write_frame_outputs)
from paddlexseg.registry import MODELS, ConfigError  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

_REQUIRED = ("family", "model", "params", "sparse_params", "input_shape", "output_names",
             "model_config", "class_names")
_FAMILIES = ("detection", "fusion_detection")


def load_deploy(path):
    """(folder, Deploy dict) of a detection export; ConfigError if it is not one."""
    if os.path.isdir(path):
        path = os.path.join(path, "deploy.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: deploy.yaml not found; export with tools/export.py")
    with open(path, "r", encoding="utf-8") as f:
        info = (yaml.safe_load(f) or {}).get("Deploy") or {}
    missing = [k for k in _REQUIRED if k not in info]
    if info.get("family") == "fusion_detection":
        missing += [k for k in ("front", "dense_input_names", "image_shape", "image")
                    if k not in info]
    if info.get("family") not in _FAMILIES or missing:
        raise ConfigError(f"{path}: not a detection export (family {info.get('family')!r}, "
                          f"missing {', '.join(missing) or '-'}); use deploy/python/infer.py "
                          f"for segmentation models")
    return os.path.dirname(os.path.abspath(path)), info


class DetectionRunner:
    """Sparse front end and post-processing in paddlexseg, dense part in Paddle Inference."""

    def __init__(self, folder, info, device="cpu", threads=2):
        from paddle import inference
        load_all()
        self.model = MODELS.build(info["model_config"], path="Deploy.model_config")
        state = paddle.load(os.path.join(folder, info["sparse_params"]))
        self.model.set_state_dict(state)  # the dense weights stay unused (exported)
        self.model.eval()
        config = inference.Config(os.path.join(folder, info["model"]),
                                  os.path.join(folder, info["params"]))
        if device == "gpu":
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(int(threads))
            config.disable_onednn()
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        self.names = list(info["output_names"])

    def dense(self, feats):
        """[B, C, H, W] float32 -> {output name: array} from the exported program."""
        handle = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        handle.reshape(list(feats.shape))
        handle.copy_from_cpu(np.ascontiguousarray(feats, dtype=np.float32))
        self.predictor.run()
        outs = [self.predictor.get_output_handle(n).copy_to_cpu()
                for n in self.predictor.get_output_names()]
        return dict(zip(self.names, outs))

    @paddle.no_grad()
    def __call__(self, points):
        """One frame's points [N, 4] -> detections dict (LiDAR boxes, scores, labels)."""
        feats = self.model.extract_bev([paddle.to_tensor(points)]).numpy()
        out = {k: paddle.to_tensor(v) for k, v in self.dense(feats).items()}
        out["anchors"] = self.model.bbox_head.get_anchors(*out["cls_score"].shape[2:])
        return self.model.predict_boxes(out)[0]


def make_runner(folder, info, device="cpu", threads=2):
    """(runner(points, calib, image, frame) -> detections dict, the host-side model)."""
    if info["family"] == "fusion_detection":
        from paddlexseg.apis.mvx_deploy import FusionRunner
        fusion = FusionRunner(folder, info, device, threads)
        return fusion, fusion.model
    dense = DetectionRunner(folder, info, device, threads)
    return (lambda points, calib, image, frame: dense(points)), dense.model


def main(argv=None):
    p = argparse.ArgumentParser(description="Paddle Inference for exported 3-D detectors")
    p.add_argument("--config", required=True, help="deploy.yaml or the export folder")
    p.add_argument("--input", required=True,
                   help="a KITTI object root, a split folder (velodyne/, calib/, image_2/) or "
                        "one velodyne .bin")
    p.add_argument("--save_dir", default="output/infer_det", help="output folder")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--threads", type=int, default=2, help="CPU math threads")
    p.add_argument("--no_progress", action="store_true")
    args = p.parse_args(argv)
    folder, info = load_deploy(args.config)
    split, ids = resolve_frames(args.input)
    paddle.set_device(args.device)
    runner, model = make_runner(folder, info, args.device, args.threads)
    start, boxes = time.time(), 0
    pc_range = point_cloud_range_of(model)
    for frame_id in tqdm(ids, desc="infer", disable=args.no_progress, mininterval=2):
        points, calib, image = read_frame(split, frame_id)
        det = runner(points, calib, image, f"image_2/{frame_id}.png")
        anno = write_frame_outputs(args.save_dir, frame_id, points, image, calib, det,
                                   info["class_names"], pc_range)
        boxes += len(anno["name"])
    print(f"wrote {len(ids)} label_2 files ({boxes} boxes) to {args.save_dir} in "
          f"{time.time() - start:.1f} s", flush=True)
    return {"frames": len(ids), "boxes": boxes}


if __name__ == "__main__":
    run_tool(main)
