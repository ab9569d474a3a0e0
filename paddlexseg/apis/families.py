"""Which kind of model a config describes: the one table predict, export and deploy dispatch on.

A *family* fixes the model's input (its ``forward`` argument and channel count), how raw data
becomes that input and how the prediction is written back. Dispatch is by ``model.type``
first and, for a model type not listed, by ``val_dataset.type``; anything else is a
:class:`~paddlexseg.registry.ConfigError` that lists what is known. To support a new model,
add its type to :data:`MODEL_FAMILIES` (and its dataset to :data:`DATASET_FAMILIES`).
The ``point`` family (2DPASS: variable-length point clouds, sparse voxel convolutions) is
predicted (``tools/predict.py``) but not exported. The ``event`` family (Event-VPR place
descriptors of event voxel grids) is exported and deployed (``deploy/python/infer.py``).
"""
from dataclasses import dataclass

from ..registry import ConfigError

__all__ = ["Family", "FAMILIES", "MODEL_FAMILIES", "DATASET_FAMILIES", "family_of",
           "dataset_config"]


@dataclass(frozen=True)
class Family:
    """How one kind of model is fed and read.

    Attributes:
        name: ``range`` (LiDAR range images), ``image`` (camera images), ``point``
            (LiDAR point clouds, per-point logits), ``detection`` (LiDAR 3-D boxes) or
            ``fusion_detection`` (camera + LiDAR 3-D boxes, MVX-Net).
        input_name: the model's ``forward`` argument (also the exported input's name).
        channels: input channels (5: range, x, y, z, remission; 3: RGB; 4: x, y, z, remission).
        output: the model output holding the class scores ([B, C, H, W]; point: [N, C]).
        exportable: ``tools/export.py`` can export it.
        output_ops: the ``--output_op`` values that make sense (class scores: none, softmax,
            argmax; a descriptor: none only).
        channels_key: model config key that overrides ``channels`` (event: ``in_bins``).
    """
    name: str
    input_name: str
    channels: int
    output: str = "logits"
    exportable: bool = True
    output_ops: tuple = ("none", "softmax", "argmax")
    channels_key: str = ""


FAMILIES = {
    "range": Family(name="range", input_name="range_img", channels=5),
    "image": Family(name="image", input_name="image", channels=3),
    "point": Family(name="point", input_name="points", channels=4, exportable=False),
    "event": Family(name="event", input_name="voxels", channels=5, output="descriptor",
                    output_ops=("none",), channels_key="in_bins"),
    # 3-D detection (SECOND): points in, boxes out; export covers the dense part only
    # (apis/det_export.py), prediction writes KITTI label_2 files (apis/det_predict.py)
    "detection": Family(name="detection", input_name="points", channels=4,
                        output="cls_score"),
    # camera + LiDAR 3-D detection (MVX-Net and the fusion zoo): export writes two graphs, the
    # front one with the dynamic scatter inside (apis/mvx_export.py); predict as detection
    "fusion_detection": Family(name="fusion_detection", input_name="points", channels=4,
                               output="cls_score"),
}

# model.type -> family name
MODEL_FAMILIES = {
    "RangeNet": "range",
    "SqueezeSegV3": "range",
    "PointRendFPN": "image",
    "TwoDPASS": "point",
    "EventVPR": "event",
    "SECOND": "detection",
    "DynamicMVXFasterRCNN": "fusion_detection",
}

# val_dataset.type -> family name (used when model.type is not listed above)
DATASET_FAMILIES = {
    "SemanticKITTI": "range",
    "Cityscapes": "image",
    "SemanticKITTIFusion": "point",
    "KittiObject": "detection",
}


def family_of(cfg, predict_only=False):
    """The :class:`Family` of a resolved config.

    Args:
        cfg: config dict with ``model`` (and optionally ``val_dataset``/``train_dataset``).
        predict_only: also accept families that cannot be exported (the ``point`` family);
            ``tools/predict.py`` passes True, export keeps the default.

    Returns:
        Family.

    Raises:
        ConfigError: neither ``model.type`` nor the dataset type is in the tables, or the
            family cannot be exported and ``predict_only`` is False.
    """
    model = cfg.get("model") or {}
    model_type = model.get("type") if isinstance(model, dict) else None
    data_cfg = dataset_config(cfg, required=False) or {}
    data_type = data_cfg.get("type")
    family = None
    if model_type in MODEL_FAMILIES:
        family = FAMILIES[MODEL_FAMILIES[model_type]]
    elif data_type in DATASET_FAMILIES:
        family = FAMILIES[DATASET_FAMILIES[data_type]]
    if family is not None:
        if not (family.exportable or predict_only):
            raise ConfigError(f"model.type: '{model_type}' ({family.name} family) cannot be "
                              f"exported: its input is a variable-length point cloud run "
                              f"through sparse voxel convolutions; predict with "
                              f"tools/predict.py and evaluate with tools/val.py")
        return family
    raise ConfigError(
        f"model.type: cannot predict or export '{model_type}' (dataset '{data_type}'); "
        f"known model types: {', '.join(sorted(MODEL_FAMILIES))}; known dataset types: "
        f"{', '.join(sorted(DATASET_FAMILIES))} (add the model to "
        f"paddlexseg/apis/families.py MODEL_FAMILIES)")


def dataset_config(cfg, required=True):
    """The dataset section predictions follow: ``val_dataset``, else ``train_dataset``.

    Returns:
        the section's dict, or None when both are absent and ``required`` is False.

    Raises:
        ConfigError: both sections are missing and ``required``.
    """
    for key in ("val_dataset", "train_dataset"):
        section = cfg.get(key)
        if isinstance(section, dict):
            return section
    if required:
        raise ConfigError("config: predict/export need 'val_dataset' (or 'train_dataset') for "
                          "the projection / image transforms and the label config")
    return None
