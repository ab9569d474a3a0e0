"""Cross-dataset evaluation: map a model's predicted classes onto the ground truth's class set.

A model trained on one class set (e.g. SynLiDAR's 32 classes) is validated against ground
truth of another (SemanticKITTI's 19) by mapping each predicted learning id through
``metric.pred_class_map`` before the confusion matrix is counted; the IoU is then the official
SemanticKITTI definition on the target classes. A predicted class the map does not name goes
to the target's class 0 (unlabeled): under the official definition that point is a miss of its
ground-truth class (a false negative), never a hit.

``pred_class_map`` is either an inline mapping ``{src_id: dst_id}``, the name of a bundled map
(``paddlexseg/datasets/labels/maps/<name>.yaml``, e.g. ``synlidar_to_semantic-kitti``) or the
path of a YAML file holding such a mapping, under the key ``pred_class_map`` or
``learning_map`` (a label YAML whose ``learning_map`` goes from the source's raw ids to the
target's learning ids, usable when the source's learning ids equal its raw ids, as in
``labels/synlidar.yaml`` -> the ``labels/synlidar-semantickitti.yaml`` map).
"""
import os

import numpy as np
import yaml

from ..registry import ConfigError

__all__ = ["read_pred_class_map", "PredClassMap", "MAPS_DIR"]

MAPS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets",
                        "labels", "maps")


def read_pred_class_map(spec, path="metric.pred_class_map"):
    """``{src_id: dst_id}`` (ints) from an inline mapping or a YAML file."""
    where = path
    if isinstance(spec, str):
        bundled = os.path.join(MAPS_DIR, spec + ".yaml")
        if not os.path.isfile(spec) and os.path.isfile(bundled):
            spec = bundled
        if not os.path.isfile(spec):
            known = sorted(f[:-5] for f in os.listdir(MAPS_DIR) if f.endswith(".yaml"))
            raise ConfigError(f"{path}: '{spec}' is neither a mapping file nor a bundled map; "
                              f"known: {', '.join(known)}")
        with open(spec, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
        where = spec
        if isinstance(data, dict):
            for key in ("pred_class_map", "learning_map"):
                if key in data:
                    data, where = data[key], f"{spec}: {key}"
                    break
        spec = data
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{where}: expected a non-empty mapping "
                          f"{{predicted id: ground-truth id}}")
    try:
        out = {int(k): int(v) for k, v in spec.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: keys and values must be integer class ids, got "
                          f"{dict(list(spec.items())[:4])}") from None
    bad = {k: v for k, v in out.items() if k < 0 or v < 0}
    if bad:
        raise ConfigError(f"{where}: negative class ids {bad}")
    return out


class PredClassMap:
    """Maps predicted learning ids onto the target's learning ids (``num_dst`` classes).

    Args:
        spec: inline mapping or YAML path (see the module docstring).
        num_dst: number of target learning classes.
        path: config key used in error messages.
    """

    def __init__(self, spec, num_dst, path="metric.pred_class_map"):
        self.mapping = read_pred_class_map(spec, path)
        self.path = path
        too_big = sorted(v for v in self.mapping.values() if v >= num_dst)
        if too_big:
            raise ConfigError(f"{path}: target ids {too_big} are outside the ground truth's "
                              f"classes 0..{num_dst - 1}")
        self.num_dst = num_dst
        self._lut = {}

    def lut(self, num_src):
        """int64 [num_src]: target id of every predicted id (0 where the map is silent)."""
        if num_src not in self._lut:
            too_big = sorted(k for k in self.mapping if k >= num_src)
            if too_big:
                raise ConfigError(f"{self.path}: predicted ids {too_big} do not exist; the model "
                                  f"predicts {num_src} classes")
            lut = np.zeros(num_src, np.int64)
            for src, dst in self.mapping.items():
                lut[src] = dst
            self._lut[num_src] = lut
        return self._lut[num_src]

    def __call__(self, pred, num_src):
        """Map an int array of predicted ids (any shape)."""
        return self.lut(num_src)[np.asarray(pred).astype(np.int64)]
