"""Export a 3-D detector (SECOND) for Paddle Inference: the dense part only.

What is in the graph: ``model.forward_dense`` = SECOND backbone, SECONDFPN and the
Anchor3DHead convolutions, from the BEV feature map ``spatial_features`` [None, C, H, W]
(256 x 200 x 176 for KITTI) to ``cls_score``, ``bbox_pred`` and ``dir_cls_pred``.

What stays outside (run in Python by ``deploy/python/infer_det.py`` with ``paddlexseg``):
hard voxelization (data-dependent NumPy), the mean VFE and the sparse 3-D encoder
(``paddlexseg.sparse`` builds its rulebooks on the host, which ``paddle.jit`` cannot trace; its
weights go to ``sparse_encoder.pdparams``), anchor generation, box decoding and the rotated
per-class NMS. ``deploy.yaml`` records the model config those steps are rebuilt from.
"""
import os

import paddle
import yaml

from ..engine import builder
from ..engine.checkpoint import weights_for_export
from ..engine.logging import get_logger
from .det_predict import class_names_of

__all__ = ["DenseDetector", "export_detector", "bev_input_shape", "SPARSE_PARAMS"]

SPARSE_PARAMS = "sparse_encoder.pdparams"
OUTPUT_NAMES = ("cls_score", "bbox_pred", "dir_cls_pred")


class DenseDetector(paddle.nn.Layer):
    """``model.forward_dense`` as a three-output layer (the exported graph)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, spatial_features):
        out = self.model.forward_dense(spatial_features)
        return out["cls_score"], out["bbox_pred"], out["dir_cls_pred"]


@paddle.no_grad()
def bev_input_shape(model):
    """(C, H, W) of the sparse encoder's dense output, from a one-voxel dry run."""
    enc = model.middle_encoder
    was_training = enc.training
    enc.eval()
    feats = paddle.zeros([1, enc.in_channels], "float32")
    coors = paddle.zeros([1, 4], "int32")
    shape = enc(feats, coors, 1).shape
    if was_training:
        enc.train()
    return int(shape[1]), int(shape[2]), int(shape[3])


def export_detector(cfg, model_path, save_dir):
    """Export ``cfg``'s detector to ``save_dir`` (model.json/.pdmodel + model.pdiparams,
    sparse_encoder.pdparams, deploy.yaml). Returns a dict of the written paths and shapes."""
    logger = get_logger()
    model = builder.build_model(cfg)
    weights_for_export(model, model_path, logger)
    os.makedirs(save_dir, exist_ok=True)
    prefix = os.path.join(save_dir, "model")
    for ext in (".json", ".pdmodel", ".pdiparams"):
        if os.path.exists(prefix + ext):
            os.remove(prefix + ext)
    c, h, w = bev_input_shape(model)
    spec = paddle.static.InputSpec([None, c, h, w], "float32", name="spatial_features")
    static = paddle.jit.to_static(DenseDetector(model), input_spec=[spec], full_graph=True)
    paddle.jit.save(static, prefix)
    program = "model.json" if os.path.isfile(prefix + ".json") else "model.pdmodel"
    for name in (program, "model.pdiparams"):
        if not os.path.isfile(os.path.join(save_dir, name)):
            raise RuntimeError(f"paddle.jit.save did not write {os.path.join(save_dir, name)}")
    sparse_state = {f"{part}.{k}": v for part in ("voxel_encoder", "middle_encoder")
                    for k, v in getattr(model, part).state_dict().items()}
    paddle.save(sparse_state, os.path.join(save_dir, SPARSE_PARAMS))
    info = {"family": "detection", "model": program, "params": "model.pdiparams",
            "sparse_params": SPARSE_PARAMS, "input_name": "spatial_features",
            "input_shape": [None, c, h, w], "output_names": list(OUTPUT_NAMES),
            "outside_graph": ["hard voxelization", "mean VFE", "sparse encoder",
                              "anchors, box decoding", "per-class rotated NMS"],
            "model_config": cfg["model"],
            "class_names": class_names_of(cfg)}
    yaml_path = os.path.join(save_dir, "deploy.yaml")
    with open(yaml_path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"Deploy": info}, f, sort_keys=False, default_flow_style=None)
    logger.info(f"exported the dense part of {cfg['model'].get('type')} (input "
                f"spatial_features [None, {c}, {h}, {w}]) to {save_dir}: {program}, "
                f"model.pdiparams, {SPARSE_PARAMS}, deploy.yaml; voxelization, the sparse "
                f"encoder, decoding and NMS run outside the graph (deploy/python/infer_det.py)")
    return {"model": os.path.join(save_dir, program),
            "params": os.path.join(save_dir, "model.pdiparams"),
            "sparse_params": os.path.join(save_dir, SPARSE_PARAMS), "deploy_yaml": yaml_path,
            "input_shape": [None, c, h, w], "output_op": "none", "converter": "ast"}
