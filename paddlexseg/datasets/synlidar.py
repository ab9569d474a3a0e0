"""SynLiDAR (Xiao et al., "Transfer Learning from Synthetic to Real LiDAR Point Cloud for
Semantic Segmentation", AAAI 2022; github.com/xiaoaoran/SynLiDAR) as range images.

Layout read: ``root/NN/velodyne/*.bin`` (float32 x, y, z, intensity, as SemanticKITTI) and
``root/NN/labels/*.label`` (uint32, lower 16 bits the raw class id 0-32), sequences 00-12,
with ``annotations.yaml`` beside them. Everything else (projection, augmentation, batches,
bad-data errors) is :class:`~paddlexseg.datasets.semantickitti.SemanticKITTI`'s.

Two bundled label configs:

* ``synlidar``: the native 32 classes + unlabeled (learning id = raw id); evaluate such a
  model on SemanticKITTI with ``metric.pred_class_map: synlidar_to_semantic-kitti``.
* ``synlidar-semantickitti``: the SynLiDAR authors' ``map_2_semantickitti`` straight onto
  SemanticKITTI's 20 learning classes, so the model predicts SemanticKITTI classes.
"""
from ..registry import DATASETS
from .semantickitti import SemanticKITTI

__all__ = ["SynLiDAR"]


@DATASETS.register()
class SynLiDAR(SemanticKITTI):
    """SynLiDAR scans projected to range images; arguments as :class:`SemanticKITTI`, with
    ``root`` the folder holding ``00/ ... 12/`` and ``label_config`` defaulting to
    ``synlidar-semantickitti``. SynLiDAR has no official split: choose ``sequences``."""

    sequences_dir = ""
    layout_name = "SynLiDAR"

    def __init__(self, root, sequences, mode="train", label_config="synlidar-semantickitti",
                 projection=None, augment=None, max_points=None, seed=0,
                 config_path="dataset"):
        super().__init__(root, sequences, mode=mode, label_config=label_config,
                         projection=projection, augment=augment, max_points=max_points,
                         seed=seed, config_path=config_path)
