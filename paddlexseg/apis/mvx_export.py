"""Export MVX-Net (``DynamicMVXFasterRCNN``, the fusion zoo) for Paddle Inference: two graphs.

``front`` (``front.json`` + ``front.pdiparams``), one frame:
    inputs ``points`` [N, 4] float32 (LiDAR x, y, z, intensity; FOV-cropped as in training),
    ``image`` [1, 3, H, W] float32 (BGR minus mean, resized as the dataset does; H, W fixed at
    export), and with a point-level fusion layer ``lidar2img`` [4, 4] float64 (``P2 @ R0_rect
    @ Tr_velo_to_cam``) and ``img_meta`` [2] float64 (image scale factor sx, sy).
    Inside: dynamic voxelization (points outside the range dropped), the image backbone + FPN,
    the projection of every point into the padded image, the DynamicVFE layers with the
    fusion layer (PointFusion, LIFusion, LearnableAlign) and every dynamic scatter (mmcv ``DynamicScatter``:
    :func:`paddlexseg.ops.dynamic_scatter.dynamic_scatter_graph`, unique voxels by sort +
    ``cumsum`` and sorted-segment max / mean), so the scatter mmdeploy could not export
    (mmdeploy issue 2460) is part of the program.
    Outputs ``voxel_feats`` [M, C], ``voxel_coors`` int32 [M, 4] (batch, z, y, x) and, for a
    BEV-level fusion module, the image levels it reads (``img_level_<l>``).

``model`` (``model.json`` + ``model.pdiparams``): ``spatial_features`` [1, C, H, W] (and the
image levels) -> the BEV-level fusion module if any, SECOND backbone, neck, head ->
``cls_score``, ``bbox_pred``, ``dir_cls_pred``.

On the host (as for SECOND, ``deploy/python/infer_det.py`` with paddlexseg): the sparse 3-D
encoder (rulebooks built on the host; weights in ``sparse_encoder.pdparams``), anchors, box
decoding and rotated NMS. A module with no graph form stops the export with one ConfigError
naming it (:func:`export_blockers`).
"""
import os

import paddle
import yaml

from ..engine import builder
from ..engine.checkpoint import weights_for_export
from ..engine.logging import get_logger
from ..ops.dynamic_scatter import GRAPH_COORD_LIMIT, dynamic_voxelize
from ..registry import ConfigError
from .det_predict import class_names_of, image_settings

__all__ = ["FusionFront", "FusionDense", "export_blockers", "export_fusion_detector",
           "bev_image_levels", "graph_sample_grid", "graph_voxelize", "SPARSE_PARAMS", "FRONT",
           "DENSE_OUTPUTS"]

SPARSE_PARAMS = "sparse_encoder.pdparams"
FRONT = "front"
DENSE_OUTPUTS = ("cls_score", "bbox_pred", "dir_cls_pred")
_MIN_DEPTH = 1e-5  # paddlexseg.models.fusion.projection

# fusion modules checked for export (their forward traces; LearnableAlign has a graph branch)
_ALIGNED_WHY = ("aligned: true lifts image features to the BEV grid by binning the points per "
                "frame in NumPy (fusion/bev_common.py lift_to_bev), which has no graph form; "
                "use aligned: false or predict with tools/predict.py")
_GRAPH_OK = {"PointFusion", "LIFusion", "LearnableAlign", "GraphBEVFusion", "PreFusionCat",
             "ChannelExchange", "GetGraphPearson", "FusionNN", "FusionSummation", "FusionGNN", "FusionNeck"}


def export_blockers(model):
    """[(config path, module type, reason)] of the fusion modules of ``model`` that cannot be
    exported (empty when everything can)."""
    found = []
    for path, root in (("model.pts_voxel_encoder.fusion_layer",
                        model.pts_voxel_encoder.fusion_layer),
                       ("model.bev_fusion", model.bev_fusion)):
        if root is None:
            continue
        for name, sub in root.named_sublayers(include_self=True):
            kind = type(sub).__name__
            where = f"{path}.{name}" if name else path
            if getattr(sub, "aligned", False):
                found.append((where, kind, _ALIGNED_WHY))
            elif not name and kind not in _GRAPH_OK:
                found.append((where, kind, "it is not in the list of modules checked for "
                                           "export (paddlexseg/apis/mvx_export.py _GRAPH_OK)"))
    grid = model.pts_middle_encoder.sparse_shape
    if max(grid) >= GRAPH_COORD_LIMIT:
        found.append(("model.pts_middle_encoder.sparse_shape", "DynamicScatter",
                      f"the graph scatter keys voxel coordinates below {GRAPH_COORD_LIMIT}, "
                      f"the grid is {list(grid)}"))
    return found


def bev_image_levels(model):
    """Sorted image levels the BEV-level fusion module reads ([] without one)."""
    if model.bev_fusion is None:
        return []
    return sorted({int(l) for sub in model.bev_fusion.sublayers(include_self=True)
                   for l in getattr(sub, "img_levels", [])})


def graph_voxelize(points, voxel_size, point_cloud_range):
    """:func:`paddlexseg.ops.dynamic_scatter.dynamic_voxelize` (its graph form) keeping the
    points inside the grid only, as ``DynamicMVXFasterRCNN.voxelize`` does for one frame.

    Returns:
        (kept points [K, C], coors int32 [K, 4] (0, z, y, x)).
    """
    coords = dynamic_voxelize(points, voxel_size, point_cloud_range)            # [N, 3]
    idx = paddle.nonzero((coords >= 0).all(axis=1)).flatten()
    zyx = paddle.gather(coords, idx)
    return (paddle.gather(points, idx),
            paddle.concat([paddle.zeros_like(zyx[:, :1]), zyx], axis=1))


def graph_sample_grid(xyz, lidar2img, img_meta, pad_shape):
    """:func:`paddlexseg.models.fusion.projection.project_to_input` + ``normalized_grid`` for
    un-augmented, un-flipped frames, in graph ops (float64 as the NumPy original).

    Args:
        xyz: float32 [N, 3] LiDAR points. lidar2img: float64 [4, 4]. img_meta: float64 [2]
            (scale_x, scale_y). pad_shape: (H, W) Python ints of the padded network input.

    Returns:
        float32 [N, 2] grid_sample coordinates (-2 behind the camera, clipped to [-2, 2]).
    """
    p = xyz.astype("float64")
    hom = paddle.concat([p, paddle.ones_like(p[:, :1])], axis=1)              # [N, 4]
    cam = paddle.matmul(hom, lidar2img, transpose_y=True)                     # [N, 4]
    depth = cam[:, 2:3]
    front = depth > _MIN_DEPTH
    uv = cam[:, :2] / paddle.where(front, depth, paddle.ones_like(depth))
    uv = uv * img_meta.reshape([1, 2])
    h, w = pad_shape
    scale = paddle.to_tensor([2.0 / w, 2.0 / h], dtype="float64").reshape([1, 2])
    grid = paddle.where(front, uv * scale - 1.0, paddle.full_like(uv, -2.0))
    return paddle.clip(grid, -2.0, 2.0).astype("float32")


class FusionFront(paddle.nn.Layer):
    """The front graph (module docstring): points + image (+ projection) -> voxel features."""

    def __init__(self, model, image_shape):
        super().__init__()
        self.model = model
        self.image_shape = tuple(int(v) for v in image_shape)
        self.levels = bev_image_levels(model)
        self.point_fusion = model.pts_voxel_encoder.fusion_layer is not None

    def forward(self, points, image, lidar2img=None, img_meta=None):
        m = self.model
        kept, coors = graph_voxelize(points, m.voxel_size, m.point_cloud_range)    # [K, 4]
        img_feats, pad_shape = m.extract_img_feat(image)
        metas = None
        if self.point_fusion:
            metas = [{"sample_grid": graph_sample_grid(kept[:, :3], lidar2img, img_meta,
                                                       pad_shape)}]
        voxel_feats, voxel_coors = m.pts_voxel_encoder(kept, coors, [kept], img_feats, metas,
                                                       pad_shape)
        return tuple([voxel_feats, voxel_coors] + [img_feats[l] for l in self.levels])


class FusionDense(paddle.nn.Layer):
    """The dense graph: BEV map (+ image levels) -> BEV fusion, backbone, neck, head."""

    def __init__(self, model, pad_shape):
        super().__init__()
        self.model = model
        self.levels = bev_image_levels(model)
        self.pad_shape = tuple(pad_shape)

    def forward(self, spatial_features, levels=None):
        """levels: list of the image levels :func:`bev_image_levels` names (BEV fusion)."""
        m = self.model
        bev = spatial_features
        if m.bev_fusion is not None:
            img_feats = [None] * m.img_neck.num_outs
            for l, feat in zip(self.levels, levels):
                img_feats[l] = feat
            bev = m.bev_fusion(bev, img_feats, None, self.pad_shape, None)
        out = m.forward_dense(bev)
        return out["cls_score"], out["bbox_pred"], out["dir_cls_pred"]


def _plain(value):
    """``value`` with tuples as lists (a YAML-safe copy of the image settings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _image_shape(cfg, input_shape):
    if input_shape is not None:
        return int(input_shape[0]), int(input_shape[1])
    settings = image_settings(cfg)
    size = settings["image_size"]
    if size is None:
        raise ConfigError("--input_shape H W is required to export MVX-Net when val_dataset has "
                          "no image_size (the exported image input has a fixed size; e.g. 384 "
                          "1280 for KITTI at the test scale 1280 x 384, padded to 32)")
    pad = int(settings["image_pad_divisor"] or 1)       # the dataset pads after the resize
    return -(-int(size[1]) // pad) * pad, -(-int(size[0]) // pad) * pad


def _save(layer, prefix, specs):
    for ext in (".json", ".pdmodel", ".pdiparams"):
        if os.path.exists(prefix + ext):
            os.remove(prefix + ext)
    layer.eval()
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=specs, full_graph=True), prefix)
    program = prefix + (".json" if os.path.isfile(prefix + ".json") else ".pdmodel")
    if not (os.path.isfile(program) and os.path.isfile(prefix + ".pdiparams")):
        raise RuntimeError(f"paddle.jit.save did not write {program} / {prefix}.pdiparams")
    return os.path.basename(program)


def export_fusion_detector(cfg, model_path, save_dir, input_shape=None):
    """Export ``cfg``'s MVX-Net to ``save_dir`` (front.json/.pdiparams, model.json/.pdiparams,
    sparse_encoder.pdparams, deploy.yaml). Returns a dict of the written paths.

    Raises:
        ConfigError: a fusion module cannot be exported (named, with the reason), or the image
            size is unknown.
    """
    logger = get_logger()
    model = builder.build_model(cfg)
    blockers = export_blockers(model)
    if blockers:
        path, kind, why = blockers[0]
        raise ConfigError(f"{path}: {kind} cannot be exported: {why}")
    h, w = _image_shape(cfg, input_shape)
    weights_for_export(model, model_path, logger)
    os.makedirs(save_dir, exist_ok=True)
    with paddle.no_grad():
        img_feats, pad_shape = model.extract_img_feat(paddle.zeros([1, 3, h, w]))
    levels = bev_image_levels(model)
    lvl_names = [f"img_level_{l}" for l in levels]
    lvl_shapes = [[1] + list(img_feats[l].shape[1:]) for l in levels]
    S = paddle.static.InputSpec
    front_specs = [S([None, 4], "float32", "points"), S([1, 3, h, w], "float32", "image")]
    if model.pts_voxel_encoder.fusion_layer is not None:
        front_specs += [S([4, 4], "float64", "lidar2img"), S([2], "float64", "img_meta")]
    front = _save(FusionFront(model, (h, w)), os.path.join(save_dir, FRONT), front_specs)
    enc = model.pts_middle_encoder
    with paddle.no_grad():
        bev = enc(paddle.zeros([1, enc.in_channels]), paddle.zeros([1, 4], "int32"), 1)
    c, bh, bw = (int(v) for v in bev.shape[1:])
    dense_specs = [S([1, c, bh, bw], "float32", "spatial_features")]
    if levels:
        dense_specs.append([S(shape, "float32", n) for shape, n in zip(lvl_shapes, lvl_names)])
    dense = _save(FusionDense(model, pad_shape), os.path.join(save_dir, "model"), dense_specs)
    paddle.save({f"pts_middle_encoder.{k}": v for k, v in enc.state_dict().items()},
                os.path.join(save_dir, SPARSE_PARAMS))
    info = {"family": "fusion_detection",
            "front": {"model": front, "params": f"{FRONT}.pdiparams",
                      "input_names": [s.name for s in front_specs],
                      "output_names": ["voxel_feats", "voxel_coors"] + lvl_names},
            "model": dense, "params": "model.pdiparams", "sparse_params": SPARSE_PARAMS,
            "input_name": "spatial_features", "input_shape": [1, c, bh, bw],
            "dense_input_names": ["spatial_features"] + lvl_names,
            "output_names": list(DENSE_OUTPUTS), "image_shape": [h, w],
            "image": _plain(image_settings(cfg)),
            "inside_graph": ["dynamic voxelization", "image backbone + FPN", "projection",
                             "DynamicVFE + fusion layer", "dynamic scatter (max/mean)",
                             "BEV fusion", "BEV backbone, neck, head"],
            "outside_graph": ["sparse encoder", "anchors, box decoding",
                              "per-class rotated NMS"],
            "model_config": cfg["model"], "class_names": class_names_of(cfg)}
    yaml_path = os.path.join(save_dir, "deploy.yaml")
    with open(yaml_path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"Deploy": info}, f, sort_keys=False, default_flow_style=None)
    logger.info(f"exported {cfg['model'].get('type')} to {save_dir}: {front} (points + image "
                f"[1, 3, {h}, {w}] -> voxel features, dynamic scatter inside), {dense} "
                f"(spatial_features [1, {c}, {bh}, {bw}] -> head maps), {SPARSE_PARAMS}, "
                f"deploy.yaml; the sparse encoder, decoding and NMS run on the host "
                f"(deploy/python/infer_det.py)")
    return {"front": os.path.join(save_dir, front), "model": os.path.join(save_dir, dense),
            "sparse_params": os.path.join(save_dir, SPARSE_PARAMS), "deploy_yaml": yaml_path,
            "image_shape": [h, w], "input_shape": [1, c, bh, bw]}
