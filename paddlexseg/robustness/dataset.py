"""``CorruptedScans``: any LiDAR data set with a corruption applied to its points.

The wrapped data set must read its scans through ``load(index) -> (points [N, 4], labels [N]
or None)`` (:class:`~paddlexseg.datasets.semantickitti.SemanticKITTI`,
:class:`~paddlexseg.datasets.semantickitti_fusion.SemanticKITTIFusion`,
:class:`~paddlexseg.datasets.nuscenes_lidarseg.NuScenesLidarSeg` do); the wrapper replaces that
method on the built instance, so the corruption happens before any projection (range image,
camera) or voxelization, and the wrapped data set's own ``__getitem__`` and ``collate`` run
unchanged. The corruption of scan ``index`` is a deterministic function of
``(seed, corruption, severity, index)``.

Config::

    val_dataset:
      type: CorruptedScans
      corruption: fog          # or null for the clean data
      severity: 2
      dataset: {type: SemanticKITTI, root: ..., sequences: [8], mode: val}
"""
import zlib

import numpy as np
import paddle

from ..registry import DATASETS, ConfigError
from .corruptions import CORRUPTIONS, SEVERITIES, CorruptionContext, corrupt

__all__ = ["CorruptedScans"]


@DATASETS.register()
class CorruptedScans(paddle.io.Dataset):
    """Wrap a data set config and corrupt the points it loads.

    Args:
        dataset: config mapping of the wrapped data set (with ``type``).
        corruption: a name of :data:`~paddlexseg.robustness.corruptions.CORRUPTIONS`, or None
            for the clean data.
        severity: 1 (light), 2 (moderate) or 3 (heavy).
        seed: seed of the corruption's random stream.
        beams: lasers of the sensor (64 KITTI, 32 nuScenes), for the beam corruptions.
        config_path: key path used in config error messages.
    """

    def __init__(self, dataset, corruption=None, severity=1, seed=0, beams=64,
                 config_path="dataset"):
        super().__init__()
        if corruption is not None and corruption not in CORRUPTIONS:
            raise ConfigError(f"{config_path}.corruption: unknown corruption {corruption!r}; "
                              f"known: {', '.join(sorted(CORRUPTIONS))} (or null)")
        if severity not in SEVERITIES:
            raise ConfigError(f"{config_path}.severity: expected one of {SEVERITIES}, got "
                              f"{severity!r}")
        self.inner = DATASETS.build(dataset, path=f"{config_path}.dataset")
        if not callable(getattr(self.inner, "load", None)):
            raise ConfigError(f"{config_path}.dataset: {type(self.inner).__name__} has no "
                              f"load(index) -> (points, labels) method to corrupt")
        self.corruption, self.severity, self.seed = corruption, int(severity), int(seed)
        labels = getattr(self.inner, "labels", None)
        self.ctx = CorruptionContext(getattr(labels, "class_names", None), beams)
        self.collate = self.inner.collate
        if corruption is not None:
            clean_load = self.inner.load
            token = zlib.crc32(corruption.encode())

            def load(index):
                points, point_labels = clean_load(index)
                rng = np.random.default_rng([self.seed, token, self.severity, int(index)])
                return corrupt(points, point_labels, corruption, self.severity, rng, self.ctx)

            self.inner.load = load

    @property
    def num_classes(self):
        return getattr(self.inner, "num_classes", None)

    @property
    def labels(self):
        return getattr(self.inner, "labels", None)

    def set_epoch(self, epoch):
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        return self.inner[index]
