"""Run an MVX-Net export (``family: fusion_detection``, :mod:`paddlexseg.apis.mvx_export`) with
Paddle Inference: the ``front`` program (voxelization, image branch, projection, DynamicVFE +
fusion, dynamic scatter), the sparse encoder on the host, the ``model`` program (BEV fusion,
backbone, neck, head), then anchors, decoding and NMS on the host. Used by
``deploy/python/infer_det.py``.
"""
import os

import numpy as np
import paddle

from ..datasets.errors import DataError
from ..models.fusion.projection import lidar2img
from ..ops.voxelize import points_to_voxel_coords
from ..registry import MODELS
from .det_predict import camera_input
from .inference import create_predictor, run_predictor

__all__ = ["FusionRunner", "run_named"]


def run_named(predictor, feeds):
    """feeds {input name: array} -> list of output arrays (the program's output order)."""
    return run_predictor(predictor, [feeds[n] for n in predictor.get_input_names()])


class FusionRunner:
    """One frame (points, calib, image) -> detections, from an export folder's ``Deploy``."""

    def __init__(self, folder, info, device="cpu", threads=2):
        from .. import load_all
        load_all()
        self.model = MODELS.build(info["model_config"], path="Deploy.model_config")
        self.model.set_state_dict(paddle.load(os.path.join(folder, info["sparse_params"])))
        self.model.eval()
        front = info["front"]
        self.front = create_predictor(os.path.join(folder, front["model"]),
                                      os.path.join(folder, front["params"]), device, threads,
                                      onednn=False)
        self.dense = create_predictor(os.path.join(folder, info["model"]),
                                      os.path.join(folder, info["params"]), device, threads,
                                      onednn=False)
        self.front_outputs = list(front["output_names"])
        self.dense_inputs = list(info["dense_input_names"])
        self.image_shape = tuple(info["image_shape"])
        self.settings = info["image"]

    def camera(self, image, calib, frame="image"):
        """Camera input [1, 3, H, W] zero-padded to the exported size, and its meta."""
        img, meta = camera_input(image, calib, self.settings)
        h, w = self.image_shape
        if img.shape[1] > h or img.shape[2] > w:
            raise DataError(f"{frame}: the camera input is {img.shape[1]} x {img.shape[2]}, "
                            f"larger than the exported {h} x {w}; export again with "
                            f"--input_shape or set val_dataset.image_size")
        padded = np.zeros((1, 3, h, w), np.float32)
        padded[0, :, :img.shape[1], :img.shape[2]] = img
        return padded, meta

    def empty(self):
        return {"boxes_3d": np.zeros((0, 7), np.float32), "scores_3d": np.zeros(0, np.float32),
                "labels_3d": np.zeros(0, np.int64)}

    @paddle.no_grad()
    def __call__(self, points, calib, image, frame="image"):
        """points float32 [N, 4], calib dict, image uint8 RGB -> detections dict."""
        m = self.model
        _, inside = points_to_voxel_coords(points, m.voxel_size, m.point_cloud_range)
        if not inside.any():      # the graph's segment kernels need at least one voxel
            return self.empty()
        img, meta = self.camera(image, calib, frame)
        feeds = {"points": np.asarray(points, np.float32), "image": img,
                 "lidar2img": lidar2img(calib),
                 "img_meta": np.asarray(meta["scale_factor"], np.float64)}
        outs = dict(zip(self.front_outputs, run_named(self.front, feeds)))
        bev = m.pts_middle_encoder(paddle.to_tensor(outs["voxel_feats"]),
                                   paddle.to_tensor(outs["voxel_coors"]), 1)
        dense_feeds = dict(outs, spatial_features=bev.numpy())
        maps = run_named(self.dense, {k: dense_feeds[k] for k in self.dense_inputs})
        out = {k: paddle.to_tensor(v) for k, v in zip(("cls_score", "bbox_pred",
                                                       "dir_cls_pred"), maps)}
        out["anchors"] = m.pts_bbox_head.get_anchors(*out["cls_score"].shape[2:])
        return m.predict_boxes(out)[0]
