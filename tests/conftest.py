"""Shared session fixtures: a tiny synthetic SemanticKITTI set and the label config."""
import pytest

from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.datasets.synthetic.lidar_scenes import generate_semantickitti

# Tiny set: sequences 00 (train) and 08 (val), 3 scans each, 64 beams x 512 azimuth steps.
# Project it with e.g. RangeProjection(H=64, W=512).
TINY_KITTI = {"sequences": (0, 8), "scans_per_sequence": 3, "seed": 0, "beams": 64,
              "azimuth_steps": 512}


@pytest.fixture(scope="session")
def synthetic_kitti(tmp_path_factory):
    """Root folder (str) of a tiny synthetic SemanticKITTI set (sequences 00 and 08, 3 scans each,
    64 x 512 rays per scan, about 30k points per scan), generated once per test session."""
    root = tmp_path_factory.mktemp("synthetic_kitti")
    generate_semantickitti(str(root), **TINY_KITTI)
    return str(root)


@pytest.fixture(scope="session")
def label_config():
    """The bundled SemanticKITTI LabelConfig (20 learning classes)."""
    return load_label_config("semantic-kitti")


@pytest.fixture(scope="session")
def synthetic_kitti3d(tmp_path_factory):
    """Root folder (str) of a tiny synthetic KITTI object set (3 train / 2 val frames,
    ``TINY_KITTI3D``) with its GT database, generated once per test session."""
    from paddlexseg.datasets.gt_database import create_gt_database
    from paddlexseg.datasets.synthetic.kitti3d import TINY_KITTI3D, generate_kitti3d
    root = tmp_path_factory.mktemp("synthetic_kitti3d")
    generate_kitti3d(str(root), seed=0, **TINY_KITTI3D)
    create_gt_database(str(root), split="train")
    return str(root)
