"""``tools/export.py``'s logic: save a trained model for Paddle Inference, plus ``deploy.yaml``.

``paddle.jit.save`` traces :class:`ExportWrapper` (the model, its ``logits`` output and the
chosen output op, as PaddleSeg's ``WrappedModel``) with one input of fixed spatial size:
``[None, 5, H, W]`` (``range_img``) for range models, ``[None, 3, H, W]`` (``image``) for image
models. Under Paddle 3's PIR (the default, ``FLAGS_enable_pir_api=1``) it writes
``model.json`` (the program) and ``model.pdiparams`` (the weights); with the old IR
(``FLAGS_enable_pir_api=0``) ``model.pdmodel`` instead of ``model.json``. ``deploy.yaml``
records the files actually written and everything ``deploy/python/infer.py`` needs to
reproduce pre- and post-processing (see :func:`deploy_info`). The ``event`` family (Event-VPR)
exports ``voxels`` ``[None, in_bins, H, W]`` -> ``descriptor`` ``[None, K * D]``.
``fmt="onnx"`` converts the saved program to ``model.onnx`` as well
(:mod:`paddlexseg.apis.onnx_export`).
"""
import os

import paddle
import paddle.nn.functional as F
import yaml

from .._quiet import native_output_filtered
from ..engine import builder
from ..engine.checkpoint import weights_for_export
from ..engine.logging import get_logger
from ..registry import ConfigError
from .families import FAMILIES, dataset_config, family_of
from .image_predict import dataset_colors
from .predict import resolve_knn
from .range_predict import range_setup

__all__ = ["ExportWrapper", "export_model", "deploy_info", "resolve_input_shape", "OUTPUT_OPS",
           "OUTPUT_DTYPES", "EXPORT_FORMATS", "input_channels"]

OUTPUT_OPS = ("none", "softmax", "argmax")
OUTPUT_DTYPES = {"none": "float32", "softmax": "float32", "argmax": "int32"}
_EXPORT_KEYS = ("input_shape", "output_op")
EXPORT_FORMATS = ("paddle", "onnx")


class ExportWrapper(paddle.nn.Layer):
    """The model's class scores with an output op appended, for export.

    Args:
        model: a segmentation model returning a dict with ``output``.
        input_name: the model's ``forward`` argument (``range_img`` or ``image``).
        output: the output holding [B, C, H, W] class scores.
        output_op: ``none`` (scores), ``softmax`` (probabilities over axis 1) or ``argmax``
            (int32 [B, H, W] class ids).
    """

    def __init__(self, model, input_name, output="logits", output_op="argmax"):
        super().__init__()
        if output_op not in OUTPUT_OPS:
            raise ConfigError(f"--output_op: expected one of {', '.join(OUTPUT_OPS)}, got "
                              f"{output_op!r}")
        self.model = model
        self.input_name = input_name
        self.output = output
        self.output_op = output_op

    def forward(self, x):
        logits = self.model(**{self.input_name: x})[self.output]  # [B, C, H, W]
        if self.output_op == "argmax":
            return paddle.argmax(logits, axis=1, dtype="int32")  # [B, H, W]
        if self.output_op == "softmax":
            return F.softmax(logits, axis=1)
        return logits


def _export_section(cfg):
    section = cfg.get("export") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"export: expected a mapping with keys {', '.join(_EXPORT_KEYS)}")
    for key in section:
        if key not in _EXPORT_KEYS:
            raise ConfigError(f"export.{key}: unknown key; expected one of "
                              f"{', '.join(_EXPORT_KEYS)}")
    return section


def resolve_input_shape(cfg, family, input_shape=None):
    """(H, W) of the exported input.

    Order: ``input_shape`` (the flag), the config's ``export.input_shape``, then for range
    models the projection's ``H``/``W``, for event models the dataset's ``sensor_size`` (260
    346, the DAVIS 346) and for image models a ``Resize`` transform's ``target_size``. Image models without any of these raise ConfigError (PointRend pads its
    input with Python integers, so the spatial size must be fixed).
    """
    shape = input_shape if input_shape is not None else _export_section(cfg).get("input_shape")
    if shape is None:
        data_cfg = dataset_config(cfg)
        if family.name == "range":
            setup = range_setup(cfg)
            shape = (setup.projection.H, setup.projection.W)
        elif family.name == "event":
            shape = tuple(data_cfg.get("sensor_size") or (260, 346))
        else:
            for t in data_cfg.get("transforms") or []:
                if isinstance(t, dict) and t.get("type") == "Resize" and t.get("target_size"):
                    shape = (t["target_size"][1], t["target_size"][0])  # [w, h] -> (H, W)
            if shape is None:
                raise ConfigError("--input_shape H W is required to export an image model whose "
                                  "val_dataset has no Resize transform (e.g. 1024 2048 for "
                                  "Cityscapes)")
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"--input_shape / export.input_shape: expected two integers H W, got "
                          f"{shape!r}") from None
    if h <= 0 or w <= 0:
        raise ConfigError(f"--input_shape: H and W must be positive, got {h} {w}")
    return h, w


def _range_extras(cfg, shape):
    setup = range_setup(cfg)
    proj, labels = setup.projection, setup.label_config
    return {"num_classes": int(labels.num_classes),
            "projection": {"H": shape[0], "W": shape[1], "fov_up": proj.fov_up,
                           "fov_down": proj.fov_down,
                           "means": [round(float(v), 6) for v in proj.means.reshape(-1)],
                           "stds": [round(float(v), 6) for v in proj.stds.reshape(-1)]},
            "label_config": {"name": labels.name,
                             "learning_map_inv": [int(v) for v in labels.learning_map_inv],
                             "class_names": list(labels.class_names)},
            "colors": labels.colors.astype(int).tolist(),
            "knn": resolve_knn(cfg, None)}


def _image_extras(cfg, shape):
    data_cfg = dataset_config(cfg)
    num_classes = int(cfg["model"].get("num_classes", 19))
    extras = {"num_classes": num_classes, "transforms": data_cfg.get("transforms") or [],
              "colors": dataset_colors(data_cfg.get("type"), num_classes).astype(int).tolist(),
              "dataset_type": data_cfg.get("type")}  # label/ PNGs: the official evaluator's ids
    if data_cfg.get("type") == "Cityscapes":
        from ..datasets.cityscapes import CITYSCAPES_CLASSES
        extras["class_names"] = list(CITYSCAPES_CLASSES)
    return extras


def _event_extras(cfg, shape):
    data_cfg = dataset_config(cfg)
    model = cfg["model"]
    return {"descriptor_dim": int(model.get("num_clusters", 32)) * int(model.get("dim", 512)),
            "events": {"num_bins": input_channels(cfg, FAMILIES["event"]),
                       "sensor_size": [int(shape[0]), int(shape[1])],
                       "column_order": data_cfg.get("column_order", "txyp"),
                       "on_outside": data_cfg.get("on_outside", "drop"),
                       "on_unsorted": data_cfg.get("on_unsorted", "sort"),
                       "normalize_voxel": bool(data_cfg.get("normalize_voxel", False))}}


# family name -> the deploy.yaml keys describing its pre- and post-processing
DEPLOY_EXTRAS = {"range": _range_extras, "image": _image_extras, "event": _event_extras}


def input_channels(cfg, family):
    """Input channels: ``family.channels``, or the model key ``family.channels_key``."""
    if family.channels_key:
        return int(cfg["model"].get(family.channels_key, family.channels))
    return family.channels


def deploy_info(cfg, family, shape, output_op, files):
    """The ``deploy.yaml`` content (a dict under the key ``Deploy``).

    Keys: ``family``, ``model`` and ``params`` (file names), ``input_name``, ``input_shape``
    ``[null, C, H, W]``, ``output_op``, ``output_dtype``; segmentation families add
    ``num_classes`` and ``colors`` (RGB per class); range models add ``projection`` (RangeProjection arguments with ``H``/``W`` = the
    input size), ``label_config`` (name, ``learning_map_inv``, ``class_names``) and ``knn``
    (``metric.knn`` of the config, or null); image models add ``transforms`` (the config's
    ``val_dataset.transforms``) and ``class_names`` when known; event models add
    ``descriptor_dim`` and ``events`` (how a sample file becomes the voxel grid).
    """
    h, w = shape
    info = {"family": family.name, "model": files["model"], "params": files["params"],
            "input_name": family.input_name,
            "input_shape": [None, input_channels(cfg, family), h, w],
            "output_op": output_op, "output_dtype": OUTPUT_DTYPES[output_op]}
    info.update(DEPLOY_EXTRAS[family.name](cfg, (h, w)))
    return {"Deploy": info}


def _save_static_layer(make_layer, prefix, specs, logger=None):
    """``paddle.jit.save`` of ``make_layer()`` by AST conversion (``full_graph=True``); if the
    converter fails on some Python construct, retry with bytecode tracing (SOT,
    ``full_graph=False``), which reads no source code. Returns "ast" or "sot"."""
    errors = []
    for full_graph in (True, False):
        layer = make_layer()
        layer.eval()
        try:
            static = paddle.jit.to_static(layer, input_spec=list(specs), full_graph=full_graph)
            paddle.jit.save(static, prefix)
            return "ast" if full_graph else "sot"
        except Exception as err:  # noqa: BLE001 - reported below or retried
            first = str(err).strip().splitlines()
            errors.append(f"{type(err).__name__}: {first[-1] if first else ''}")
            if full_graph:
                (logger or get_logger()).warning(f"AST export failed ({errors[-1]}); "
                                                 f"retrying with SOT tracing")
    raise RuntimeError(f"paddle.jit.save could not export {type(layer).__name__}: "
                       f"{' / '.join(errors)}")


def _save_static(model, family, output_op, prefix, spec, logger):
    """Export ``model`` with ``output_op`` appended (:class:`ExportWrapper`)."""
    return _save_static_layer(
        lambda: ExportWrapper(model, family.input_name, family.output, output_op), prefix,
        [spec], logger)


def export_model(cfg, model_path, save_dir, output_op=None, input_shape=None, fmt="paddle",
                 opset=None):
    """Export a model for Paddle Inference (and, with ``fmt="onnx"``, ONNX).

    Args:
        cfg: resolved config dict.
        model_path: ``.pdparams`` file or checkpoint folder; None exports random weights
            (with a warning).
        save_dir: output folder (created).
        output_op: ``none``, ``softmax`` or ``argmax``; None: ``export.output_op`` of the
            config, else ``argmax``.
        input_shape: (H, W) or None (see :func:`resolve_input_shape`).
        fmt: ``paddle`` (Paddle Inference files) or ``onnx`` (the same plus ``model.onnx``
            and an ``onnx`` section in deploy.yaml).
        opset: ONNX opset (default :data:`~paddlexseg.apis.onnx_export.ONNX_OPSET`).

    Returns:
        dict: ``model``, ``params``, ``deploy_yaml`` (paths), ``input_shape``, ``output_op``,
        ``converter`` ("ast" or "sot"); with ONNX also ``onnx`` (path).
    """
    logger = get_logger()
    family = family_of(cfg)
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if family.name == "fusion_detection":  # MVX-Net: two graphs; see apis/mvx_export.py
        from .mvx_export import export_fusion_detector
        if output_op:
            raise ConfigError("--output_op does not apply to 3-D detectors (the head maps are "
                              "decoded on the host)")
        if fmt == "onnx":
            from .onnx_export import require_onnx
            require_onnx()  # before the slow Paddle export
        result = export_fusion_detector(cfg, model_path, save_dir, input_shape=input_shape)
        if fmt == "onnx":
            from .mvx_onnx import convert_fusion_to_onnx
            result.update(convert_fusion_to_onnx(save_dir, opset))
        return result
    if family.name == "detection":  # dense part only; see apis/det_export.py
        from .det_export import export_detector
        if output_op or input_shape:
            raise ConfigError("--output_op and --input_shape do not apply to 3-D detectors: the "
                              "exported input is the BEV feature map the config fixes")
        if fmt == "onnx":
            from .onnx_export import require_onnx
            require_onnx()  # before the slow Paddle export
        result = export_detector(cfg, model_path, save_dir)
        if fmt == "onnx":  # the same dense part (BEV features -> head maps) as model.onnx
            from .onnx_export import convert_to_onnx
            yaml_path = result["deploy_yaml"]
            with open(yaml_path, "r", encoding="utf-8") as f:
                info = yaml.safe_load(f)
            info["Deploy"]["onnx"] = convert_to_onnx(save_dir, info["Deploy"], opset)
            with open(yaml_path, "w", encoding="utf-8") as f:
                yaml.safe_dump(info, f, sort_keys=False, default_flow_style=None)
            result["onnx"] = os.path.join(save_dir, "model.onnx")
        return result
    if fmt == "onnx":
        from .onnx_export import require_onnx
        require_onnx()  # before the slow Paddle export
    default_op = "argmax" if "argmax" in family.output_ops else family.output_ops[0]
    output_op = output_op or _export_section(cfg).get("output_op") or default_op
    if output_op not in family.output_ops:
        raise ConfigError(f"--output_op / export.output_op: expected one of "
                          f"{', '.join(family.output_ops)} for the {family.name} family, got "
                          f"{output_op!r}")
    if family.name == "event" and cfg["model"].get("quantization", "fixed") != "fixed":
        raise ConfigError("model.quantization: only 'fixed' (voxel grid input) is exported; the "
                          "EST quantization's raw-event input is variable-length")
    h, w = resolve_input_shape(cfg, family, input_shape)
    channels = input_channels(cfg, family)
    model = builder.build_model(cfg)
    weights_for_export(model, model_path, logger)
    os.makedirs(save_dir, exist_ok=True)
    prefix = os.path.join(save_dir, "model")
    for ext in (".json", ".pdmodel", ".pdiparams"):  # so the files listed below are this run's
        if os.path.exists(prefix + ext):
            os.remove(prefix + ext)
    spec = paddle.static.InputSpec([None, channels, h, w], "float32",
                                   name=family.input_name)
    with native_output_filtered():  # drops libpaddle's "PIR not support input out" notice
        converter = _save_static(model, family, output_op, prefix, spec, logger)
    program = "model.json" if os.path.isfile(prefix + ".json") else "model.pdmodel"
    files = {"model": program, "params": "model.pdiparams"}
    for name in files.values():
        if not os.path.isfile(os.path.join(save_dir, name)):
            raise RuntimeError(f"paddle.jit.save did not write {os.path.join(save_dir, name)}")
    info = deploy_info(cfg, family, (h, w), output_op, files)
    onnx_path = os.path.join(save_dir, "model.onnx")
    if os.path.exists(onnx_path):
        os.remove(onnx_path)
    if fmt == "onnx":
        from .onnx_export import convert_to_onnx
        info["Deploy"]["onnx"] = convert_to_onnx(save_dir, info["Deploy"], opset)
    yaml_path = os.path.join(save_dir, "deploy.yaml")
    with open(yaml_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(info, f, sort_keys=False, default_flow_style=None)
    written = [files["model"], files["params"]] + (["model.onnx"] if fmt == "onnx" else [])
    logger.info(f"exported {cfg['model'].get('type')} ({family.name}, input [None, "
                f"{channels}, {h}, {w}], output_op {output_op}) to {save_dir}: "
                f"{', '.join(written)}, deploy.yaml")
    out = {"model": os.path.join(save_dir, files["model"]),
           "params": os.path.join(save_dir, files["params"]), "deploy_yaml": yaml_path,
           "input_shape": [None, channels, h, w], "output_op": output_op,
           "converter": converter}
    if fmt == "onnx":
        out["onnx"] = onnx_path
    return out
