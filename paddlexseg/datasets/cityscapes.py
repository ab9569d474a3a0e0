"""Cityscapes fine annotations for semantic segmentation (Cordts et al., CVPR 2016).

Layout (as downloaded, plus the ``*_labelTrainIds.png`` that cityscapesscripts'
``createTrainIdLabelImgs`` writes)::

    root/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    root/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png   (label_type trainIds)
    root/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png        (label_type labelIds)

``labelIds`` are mapped to the 19 train ids with the official table (cityscapesscripts
``helpers/labels.py``); every other id becomes 255 (ignored).
"""
import glob
import os

import numpy as np
from PIL import Image
from paddle.io import Dataset

from ..registry import DATASETS, TRANSFORMS
from ..structures import ImageBatch, to_tensor
from .errors import DataError

__all__ = ["Cityscapes", "CITYSCAPES_CLASSES", "CITYSCAPES_COLORS", "LABEL_ID_TO_TRAIN_ID",
           "label_ids_to_train_ids", "train_ids_to_label_ids"]

# (label id, train id, name, RGB colour) of cityscapesscripts/helpers/labels.py (id >= 0)
_LABELS = [
    (0, 255, "unlabeled", (0, 0, 0)), (1, 255, "ego vehicle", (0, 0, 0)),
    (2, 255, "rectification border", (0, 0, 0)), (3, 255, "out of roi", (0, 0, 0)),
    (4, 255, "static", (0, 0, 0)), (5, 255, "dynamic", (111, 74, 0)),
    (6, 255, "ground", (81, 0, 81)), (7, 0, "road", (128, 64, 128)),
    (8, 1, "sidewalk", (244, 35, 232)), (9, 255, "parking", (250, 170, 160)),
    (10, 255, "rail track", (230, 150, 140)), (11, 2, "building", (70, 70, 70)),
    (12, 3, "wall", (102, 102, 156)), (13, 4, "fence", (190, 153, 153)),
    (14, 255, "guard rail", (180, 165, 180)), (15, 255, "bridge", (150, 100, 100)),
    (16, 255, "tunnel", (150, 120, 90)), (17, 5, "pole", (153, 153, 153)),
    (18, 255, "polegroup", (153, 153, 153)), (19, 6, "traffic light", (250, 170, 30)),
    (20, 7, "traffic sign", (220, 220, 0)), (21, 8, "vegetation", (107, 142, 35)),
    (22, 9, "terrain", (152, 251, 152)), (23, 10, "sky", (70, 130, 180)),
    (24, 11, "person", (220, 20, 60)), (25, 12, "rider", (255, 0, 0)),
    (26, 13, "car", (0, 0, 142)), (27, 14, "truck", (0, 0, 70)),
    (28, 15, "bus", (0, 60, 100)), (29, 255, "caravan", (0, 0, 90)),
    (30, 255, "trailer", (0, 0, 110)), (31, 16, "train", (0, 80, 100)),
    (32, 17, "motorcycle", (0, 0, 230)), (33, 18, "bicycle", (119, 11, 32)),
]
MAX_LABEL_ID = 33
IGNORE_INDEX = 255

_TRAIN = sorted((t, i, n, c) for i, t, n, c in _LABELS if t != IGNORE_INDEX)
CITYSCAPES_CLASSES = [n for _, _, n, _ in _TRAIN]  # index = train id
CITYSCAPES_COLORS = np.array([c for _, _, _, c in _TRAIN], dtype=np.uint8)  # [19, 3]
LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE_INDEX, dtype=np.uint8)
for _id, _train, _, _ in _LABELS:
    LABEL_ID_TO_TRAIN_ID[_id] = _train
TRAIN_ID_TO_LABEL_ID = np.array([i for _, i, _, _ in _TRAIN], dtype=np.uint8)  # [19]


def label_ids_to_train_ids(label_ids, path="<array>"):
    """Map a labelIds map to train ids; raise DataError naming ``path`` on an unknown id."""
    label_ids = np.asarray(label_ids)
    if label_ids.size and int(label_ids.max()) > MAX_LABEL_ID:
        bad = sorted(set(np.unique(label_ids[label_ids > MAX_LABEL_ID]).tolist()))
        raise DataError(f"{path}: unknown Cityscapes label id(s) {bad[:10]}; labelIds must lie "
                        f"in 0..{MAX_LABEL_ID}")
    return LABEL_ID_TO_TRAIN_ID[label_ids.astype(np.int64)]


def train_ids_to_label_ids(train_ids):
    """Map predicted train ids (0..18) to label ids (e.g. to write official result PNGs)."""
    return TRAIN_ID_TO_LABEL_ID[np.asarray(train_ids).astype(np.int64)]


def _read_png(path, what):
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB") if what == "image" else im)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the {what} PNG ({e})") from e


@DATASETS.register()
class Cityscapes(Dataset):
    """Cityscapes images with fine train-id labels.

    Args:
        root: dataset folder holding ``leftImg8bit/`` and ``gtFine/``.
        split: sub-folder, e.g. "train", "val" or "test".
        mode: "train" (transforms apply to image and labels), "val" (transforms apply to the
            image only; labels stay at full resolution, as PaddleSeg evaluates) or "test" (no
            labels read). Default: "train" for split train, "test" for split test, else "val".
        transforms: list of transform configs (``TRANSFORMS``), e.g. ``[{type: Normalize}]``.
        label_type: "trainIds" (``*_gtFine_labelTrainIds.png``) or "labelIds"
            (``*_gtFine_labelIds.png``, mapped to train ids).

    ``__getitem__`` returns ``{"image": float32 [3, H, W], "labels": int64 [H, W] | None,
    "path": str}``; :meth:`collate` stacks them into an :class:`ImageBatch`.
    """

    NUM_CLASSES = 19
    IGNORE_INDEX = IGNORE_INDEX

    def __init__(self, root, split="train", mode=None, transforms=None, label_type="trainIds"):
        super().__init__()
        if mode is None:
            mode = {"train": "train", "test": "test"}.get(split, "val")
        if mode not in ("train", "val", "test"):
            raise ValueError(f"Cityscapes.mode: expected 'train', 'val' or 'test', got {mode!r}")
        if label_type not in ("trainIds", "labelIds"):
            raise ValueError(f"Cityscapes.label_type: expected 'trainIds' or 'labelIds', "
                             f"got {label_type!r}")
        self.root, self.split, self.mode, self.label_type = root, split, mode, label_type
        self.transforms = [TRANSFORMS.build(t, path=f"dataset.transforms[{i}]")
                           for i, t in enumerate(transforms or [])]
        img_dir = os.path.join(root, "leftImg8bit", split)
        if not os.path.isdir(img_dir):
            raise DataError(f"{img_dir}: no such folder; expected the Cityscapes layout "
                            f"root/leftImg8bit/{split}/<city>/*_leftImg8bit.png")
        images = sorted(glob.glob(os.path.join(img_dir, "*", "*_leftImg8bit.png")))
        if not images:
            raise DataError(f"{img_dir}: no <city>/*_leftImg8bit.png images found")
        suffix = "_gtFine_labelTrainIds.png" if label_type == "trainIds" else "_gtFine_labelIds.png"
        self.samples = []
        for img in images:
            label = None
            if mode != "test":
                city = os.path.basename(os.path.dirname(img))
                stem = os.path.basename(img)[:-len("_leftImg8bit.png")]
                label = os.path.join(root, "gtFine", split, city, stem + suffix)
                if not os.path.isfile(label):
                    raise DataError(f"{img}: its label {label} is missing (label_type="
                                    f"{label_type}; run cityscapesscripts' "
                                    f"createTrainIdLabelImgs for trainIds)")
            self.samples.append((img, label))

    def __len__(self):
        return len(self.samples)

    def load_labels(self, path, shape):
        """Read one label PNG as train ids, checking size and ids."""
        labels = _read_png(path, "label")
        if labels.ndim != 2:
            raise DataError(f"{path}: expected a single-channel label PNG, got shape "
                            f"{labels.shape}")
        if labels.shape != tuple(shape):
            raise DataError(f"{path}: label size {labels.shape[1]}x{labels.shape[0]} does not "
                            f"match its image ({shape[1]}x{shape[0]})")
        if self.label_type == "labelIds":
            return label_ids_to_train_ids(labels, path)
        bad = (labels >= self.NUM_CLASSES) & (labels != IGNORE_INDEX)
        if bad.any():
            raise DataError(f"{path}: unknown train id(s) {np.unique(labels[bad])[:10].tolist()}; "
                            f"expected 0..{self.NUM_CLASSES - 1} or {IGNORE_INDEX}")
        return labels

    def __getitem__(self, index):
        img_path, label_path = self.samples[index]
        image = _read_png(img_path, "image").astype(np.float32)  # [H, W, 3] RGB 0..255
        labels = None if label_path is None else self.load_labels(label_path, image.shape[:2])
        sample = {"image": image, "labels": labels if self.mode == "train" else None}
        rng = np.random.default_rng(np.random.randint(0, 2 ** 31 - 1))
        for t in self.transforms:
            sample = t(sample, rng)
        if self.mode == "train":
            labels = sample["labels"]
        return {"image": np.ascontiguousarray(sample["image"].transpose(2, 0, 1), np.float32),
                "labels": None if labels is None else np.ascontiguousarray(labels, np.int64),
                "path": img_path}

    @staticmethod
    def collate(samples):
        """Stack samples into an ImageBatch (images must share one size)."""
        shapes = {s["image"].shape for s in samples}
        if len(shapes) > 1:
            raise DataError(f"Cityscapes.collate: images of different sizes {sorted(shapes)} in "
                            f"one batch ({[s['path'] for s in samples]}); crop or resize them")
        image = to_tensor(np.stack([s["image"] for s in samples]))
        labels = None
        if all(s["labels"] is not None for s in samples):
            labels = to_tensor(np.stack([s["labels"] for s in samples]))
        return ImageBatch(image=image, labels=labels, paths=[s["path"] for s in samples])
