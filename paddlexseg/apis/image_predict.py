"""Predict label PNGs with an image model (PointRend on Cityscapes-style images).

Input: one image (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``) or a folder searched recursively.
Pre-processing: the ``transforms`` of the config's ``val_dataset`` (e.g. ``Normalize``).
Output per image, at the input image's size (a prediction made at another size, e.g. after a
``Resize`` transform, is resized back with nearest neighbour), the kinds chosen by ``outputs``
(:data:`OUTPUT_KINDS`)::

    save_dir/label/<relative path>.png     "labelid": uint8 ids the dataset's official evaluator
                                           reads (Cityscapes: label ids 0..33, so the folder
                                           goes straight into cityscapesscripts'
                                           evalPixelLevelSemanticLabeling); class ids otherwise
    save_dir/trainid/<relative path>.png   "trainid": uint8 class ids of the model (0..18)
    save_dir/color/<relative path>.png     "color": RGB visualisation with the dataset's colours

Default (:func:`default_outputs`): Cityscapes ``["labelid"]`` (colour PNGs in the results
folder would be found as extra predictions by the official script); other data sets
``["labelid", "color"]``.
    save_dir/compare/<relative path>.png   image | ground truth | prediction, when the ground
                                           truth is found (Cityscapes layout; image_compare.py)

``<relative path>`` is the image's path below the input folder (its file name for one image)
with the extension replaced by ``.png``.
"""
import os
import time
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import paddle
from PIL import Image
from tqdm import tqdm

from ..datasets.errors import DataError
from ..engine.logging import show_progress
from ..registry import TRANSFORMS, ConfigError
from ..structures import to_tensor
from ..transforms.image import resize_nearest
from .families import dataset_config
from .image_compare import save_compare
from .visualize import palette, save_png

__all__ = ["ImageSetup", "image_setup", "build_transforms", "dataset_colors", "resolve_images",
           "load_image", "preprocess", "save_image_outputs", "predict_image", "IMAGE_EXTS",
           "OUTPUT_KINDS", "default_outputs", "check_outputs"]

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")


def _cityscapes_colors():
    from ..datasets.cityscapes import CITYSCAPES_COLORS
    return CITYSCAPES_COLORS


def _cityscapes_label_ids(train_ids):
    from ..datasets.cityscapes import train_ids_to_label_ids
    return train_ids_to_label_ids(train_ids)


# dataset type -> colour table per class id
DATASET_COLORS = {"Cityscapes": _cityscapes_colors}
# dataset type -> model class id (train id) -> id of the official evaluator (label id)
DATASET_LABEL_IDS = {"Cityscapes": _cityscapes_label_ids}
OUTPUT_KINDS = ("labelid", "trainid", "color")
_FOLDERS = {"labelid": "label", "trainid": "trainid", "color": "color"}


def default_outputs(dataset_type):
    """The output kinds written when none are asked for (module docstring)."""
    return ["labelid"] if dataset_type in DATASET_LABEL_IDS else ["labelid", "color"]


def check_outputs(outputs, dataset_type=None):
    """A list of kinds from :data:`OUTPUT_KINDS` (None: :func:`default_outputs`)."""
    if outputs is None:
        return default_outputs(dataset_type)
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    bad = [o for o in outputs if o not in OUTPUT_KINDS]
    if bad or not outputs:
        raise ConfigError(f"--image_outputs: expected one or more of {', '.join(OUTPUT_KINDS)}, "
                          f"got {outputs}")
    return list(dict.fromkeys(outputs))


@dataclass
class ImageSetup:
    """Pre- and post-processing of an image model.

    Attributes:
        transforms: built eval transforms (``t(sample, rng) -> sample``).
        colors: uint8 [num_classes, 3] RGB per class id.
        dataset_type: ``val_dataset.type`` (selects the label-id mapping), or None.
    """
    transforms: List
    colors: np.ndarray
    dataset_type: Optional[str] = None


def build_transforms(cfgs, path="val_dataset.transforms"):
    """Transform objects from a list of ``{type: ...}`` mappings."""
    if cfgs is None:
        return []
    if not isinstance(cfgs, (list, tuple)):
        raise ConfigError(f"{path}: expected a list of transform mappings, got {cfgs!r}")
    from .. import load_all
    load_all()
    return [TRANSFORMS.build(t, path=f"{path}[{i}]") for i, t in enumerate(cfgs)]


def dataset_colors(dataset_type, num_classes):
    """The dataset's colour table, or a fixed palette; uint8 [num_classes, 3]."""
    make = DATASET_COLORS.get(dataset_type)
    colors = make() if make is not None else None
    if colors is None or len(colors) < num_classes:
        colors = palette(num_classes)
    return np.asarray(colors, dtype=np.uint8)[:num_classes]


def image_setup(cfg):
    """ImageSetup from a training config (``val_dataset`` transforms, dataset colours)."""
    data_cfg = dataset_config(cfg)
    num_classes = int((cfg.get("model") or {}).get("num_classes", 19))
    return ImageSetup(build_transforms(data_cfg.get("transforms")),
                      dataset_colors(data_cfg.get("type"), num_classes), data_cfg.get("type"))


def resolve_images(input_path):
    """[(image path, relative output name)] for an image or a folder searched recursively.

    Raises:
        DataError: the path does not exist, is not an image, or the folder holds none.
    """
    if os.path.isfile(input_path):
        if not input_path.lower().endswith(IMAGE_EXTS):
            raise DataError(f"{input_path}: expected an image file ({', '.join(IMAGE_EXTS)})")
        return [(input_path, os.path.splitext(os.path.basename(input_path))[0] + ".png")]
    if not os.path.isdir(input_path):
        raise DataError(f"{input_path}: no such file or folder; expected an image or a folder "
                        f"of images")
    found = []
    for folder, _, files in os.walk(input_path):
        for f in files:
            if f.lower().endswith(IMAGE_EXTS):
                path = os.path.join(folder, f)
                rel = os.path.splitext(os.path.relpath(path, input_path))[0] + ".png"
                found.append((path, rel))
    if not found:
        raise DataError(f"{input_path}: folder holds no images ({', '.join(IMAGE_EXTS)})")
    return sorted(found)


def load_image(path):
    """float32 [H, W, 3] RGB in 0..255; DataError naming the file if it cannot be read."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float32)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the image ({err})") from None


def preprocess(image, transforms):
    """Apply eval transforms to an [H, W, 3] image; returns float32 [3, h, w]."""
    sample = {"image": image, "labels": None}
    rng = np.random.default_rng(0)
    for t in transforms:
        sample = t(sample, rng)
    return np.ascontiguousarray(np.asarray(sample["image"], np.float32).transpose(2, 0, 1))


def save_image_outputs(save_dir, rel, pred, colors, size, outputs=("labelid", "color"),
                       dataset_type=None):
    """Write the PNGs of one image.

    Args:
        save_dir: output root. rel: relative output name (``.png``).
        pred: int [h, w] predicted class ids. colors: uint8 [C, 3].
        size: (H, W) of the input image; ``pred`` is resized to it (nearest) if needed.
        outputs: kinds from :data:`OUTPUT_KINDS`.
        dataset_type: selects the class id -> label id mapping of "labelid" (none: identity).

    Returns:
        dict of written paths (keys: the output kinds).
    """
    pred = np.asarray(pred)
    if pred.shape != tuple(size):
        pred = resize_nearest(pred, (size[1], size[0]))
    if pred.size and int(pred.max()) > 255:
        raise ValueError(f"save_image_outputs: class id {int(pred.max())} does not fit a uint8 PNG")
    label = pred.astype(np.uint8)
    to_label_id = DATASET_LABEL_IDS.get(dataset_type)
    pictures = {"labelid": (lambda: to_label_id(label).astype(np.uint8)) if to_label_id
                else (lambda: label),
                "trainid": lambda: label, "color": lambda: colors[label]}
    return {kind: save_png(os.path.join(save_dir, _FOLDERS[kind], rel), pictures[kind]())
            for kind in check_outputs(outputs)}


def predict_image(model, cfg, input_path, save_dir, progress=True, items=None, outputs=None):
    """Predict every image named by ``input_path`` with a dygraph image model.

    Args:
        model: an image model in eval mode whose ``forward(image)`` returns ``logits``.
        cfg: the resolved config. input_path: an image or a folder. save_dir: output root.
        progress: show a tqdm bar.
        items: the (path, relative name) pairs, when already resolved from ``input_path``.
        outputs: kinds from :data:`OUTPUT_KINDS` (None: :func:`default_outputs`).

    Returns:
        dict: ``images`` (count), ``kinds`` (written), ``seconds``, ``outputs`` (list of path
        dicts).
    """
    setup = image_setup(cfg)
    kinds = check_outputs(outputs, setup.dataset_type)
    if items is None:
        items = resolve_images(input_path)
    start, outputs = time.time(), []
    model.eval()
    bar_off = not show_progress(progress)
    for path, rel in tqdm(items, desc="predict", disable=bar_off, mininterval=2):
        image = load_image(path)
        x = preprocess(image, setup.transforms)
        with paddle.no_grad():
            logits = model(image=to_tensor(x[None]))["logits"]  # [1, C, h, w]
        pred = logits.argmax(axis=1)[0].numpy()  # [h, w]
        written = save_image_outputs(save_dir, rel, pred, setup.colors, image.shape[:2],
                                     kinds, setup.dataset_type)
        compare = save_compare(save_dir, rel, path, image, pred, setup.colors)
        if compare is not None:
            written["compare"] = compare  # image | ground truth | prediction
        outputs.append(written)
    return {"images": len(items), "kinds": kinds, "seconds": time.time() - start,
            "outputs": outputs}
