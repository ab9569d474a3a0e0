"""Label definitions (``labels/*.yaml``) turned into lookup tables.

The YAML files have the keys of the official SemanticKITTI ``semantic-kitti.yaml``
(``labels``, ``color_map`` (BGR), ``content``, ``learning_map``, ``learning_map_inv``,
``learning_ignore``, ``split``). :func:`load_label_config` reads one and returns a
:class:`LabelConfig` whose arrays are indexed by raw id or by learning id.
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
import yaml

from ..registry import ConfigError
from .errors import DataError

__all__ = ["LabelConfig", "load_label_config", "label_config_names", "LABELS_DIR"]

LABELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "labels")
_REQUIRED = ("labels", "color_map", "content", "learning_map", "learning_map_inv",
             "learning_ignore")


@dataclass
class LabelConfig:
    """Raw-id and learning-id tables of one label definition.

    Attributes:
        name: the ``name`` field of the YAML (e.g. ``kitti``).
        path: the YAML file it came from.
        num_classes: number of learning classes, class 0 (unlabeled) included.
        class_names: list of names, index = learning id (name of the inverse-mapped raw id).
        colors: uint8 [num_classes, 3] RGB colour per learning id.
        learning_map: int64 LUT [max_raw_id + 1], raw id -> learning id; -1 for ids the
            YAML does not define (use :meth:`map_labels` to map with a check).
        learning_map_inv: int64 LUT [num_classes], learning id -> raw id.
        content: float64 [num_classes] point frequency per learning id (sum over its raw ids).
        ignore: learning ids ignored in training and evaluation (``[0]`` for SemanticKITTI).
        raw_names: {raw id: name}.
        raw_colors: {raw id: (r, g, b)}.
        split: {"train"/"valid"/"test": [sequence numbers]}.
    """
    name: str
    path: str
    num_classes: int
    class_names: List[str]
    colors: np.ndarray
    learning_map: np.ndarray
    learning_map_inv: np.ndarray
    content: np.ndarray
    ignore: List[int]
    raw_names: Dict[int, str]
    raw_colors: Dict[int, tuple] = field(default_factory=dict)
    split: Dict[str, List[int]] = field(default_factory=dict)

    def map_labels(self, raw, source="labels"):
        """Raw ids -> learning ids (int64), raising DataError on an id the YAML does not know.

        Args:
            raw: integer array of raw semantic ids (any shape).
            source: file name used in the error message.
        """
        raw = np.asarray(raw).astype(np.int64)
        lut = self.learning_map
        bad = (raw < 0) | (raw >= lut.shape[0])
        safe = np.where(bad, 0, raw)
        mapped = lut[safe]
        bad |= mapped < 0
        if bad.any():
            unknown = sorted(set(raw[bad].tolist()))
            shown = ", ".join(str(u) for u in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            raise DataError(f"{source}: raw class id(s) {shown} are not defined in the label "
                            f"config {self.path}; expected one of {sorted(self.raw_names)}")
        return mapped

    def to_raw(self, learning):
        """Learning ids -> raw ids (int64) through ``learning_map_inv``."""
        learning = np.asarray(learning).astype(np.int64)
        return self.learning_map_inv[learning]

    def colorize(self, learning):
        """Learning ids [...] -> uint8 RGB [..., 3]."""
        return self.colors[np.asarray(learning).astype(np.int64)]


def label_config_names():
    """Names of the bundled label configs (file names under ``labels/`` without ``.yaml``)."""
    return sorted(f[:-5] for f in os.listdir(LABELS_DIR) if f.endswith(".yaml"))


def _resolve(name_or_path):
    if isinstance(name_or_path, str) and os.path.isfile(name_or_path):
        return name_or_path
    if isinstance(name_or_path, str):
        candidate = os.path.join(LABELS_DIR, name_or_path + ".yaml")
        if os.path.isfile(candidate):
            return candidate
    raise ConfigError(f"label_config: '{name_or_path}' is neither a YAML file nor a bundled label "
                      f"config; known: {', '.join(label_config_names())}")


def _int_keys(mapping, key, path):
    if not isinstance(mapping, dict) or not mapping:
        raise DataError(f"{path}: key '{key}' must be a non-empty mapping of integer ids")
    try:
        return {int(k): v for k, v in mapping.items()}
    except (TypeError, ValueError):
        raise DataError(f"{path}: key '{key}' must map integer ids, got keys "
                        f"{list(mapping)[:5]}") from None


def load_label_config(name_or_path="semantic-kitti"):
    """Read a label YAML (bundled name such as ``semantic-kitti`` or a file path).

    Args:
        name_or_path: a name under ``paddlexseg/datasets/labels`` (without ``.yaml``) or a path.

    Returns:
        LabelConfig with LUTs and per-learning-id arrays.

    Raises:
        ConfigError: the name is unknown. DataError: the YAML lacks a key or is inconsistent.
    """
    path = _resolve(name_or_path)
    with open(path, "r", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a YAML mapping with keys {', '.join(_REQUIRED)}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; expected the keys of "
                        f"the official semantic-kitti.yaml")
    labels = {k: str(v) for k, v in _int_keys(data["labels"], "labels", path).items()}
    color_map = _int_keys(data["color_map"], "color_map", path)
    content_raw = _int_keys(data["content"], "content", path)
    lmap = _int_keys(data["learning_map"], "learning_map", path)
    inv = _int_keys(data["learning_map_inv"], "learning_map_inv", path)
    ign = _int_keys(data["learning_ignore"], "learning_ignore", path)

    num_classes = max(inv) + 1
    if sorted(inv) != list(range(num_classes)):
        raise DataError(f"{path}: learning_map_inv must define learning ids 0..{num_classes - 1} "
                        f"without gaps, got {sorted(inv)}")
    bad = sorted(v for v in lmap.values() if not 0 <= int(v) < num_classes)
    if bad:
        raise DataError(f"{path}: learning_map values {bad} are outside 0..{num_classes - 1}")
    undefined = sorted(set(lmap) - set(labels))
    if undefined:
        raise DataError(f"{path}: learning_map raw ids {undefined} have no entry in 'labels'")

    max_raw = max(max(labels), max(lmap))
    learning_map = np.full(max_raw + 1, -1, dtype=np.int64)
    for raw, learn in lmap.items():
        learning_map[raw] = int(learn)
    learning_map_inv = np.array([int(inv[i]) for i in range(num_classes)], dtype=np.int64)

    colors = np.zeros((num_classes, 3), dtype=np.uint8)
    for i in range(num_classes):
        bgr = color_map.get(int(learning_map_inv[i]))
        if bgr is None or len(bgr) != 3:
            raise DataError(f"{path}: color_map has no [b, g, r] entry for raw id "
                            f"{learning_map_inv[i]} (learning id {i})")
        colors[i] = bgr[::-1]
    raw_colors = {k: tuple(int(c) for c in v[::-1]) for k, v in color_map.items()}

    content = np.zeros(num_classes, dtype=np.float64)
    for raw, freq in content_raw.items():
        if raw in lmap:
            content[int(lmap[raw])] += float(freq)

    class_names = [labels.get(int(r), f"class_{i}") for i, r in enumerate(learning_map_inv)]
    ignore = sorted(i for i, v in ign.items() if v)
    split = {k: [int(s) for s in v] for k, v in (data.get("split") or {}).items()}
    return LabelConfig(name=str(data.get("name", os.path.basename(path)[:-5])), path=path,
                       num_classes=num_classes, class_names=class_names, colors=colors,
                       learning_map=learning_map, learning_map_inv=learning_map_inv,
                       content=content, ignore=ignore, raw_names=labels, raw_colors=raw_colors,
                       split=split)
