"""paddlexseg: LiDAR, image and multi-modal segmentation ported to PaddlePaddle 3."""
__version__ = "0.1.0"

from . import registry  # noqa: F401


def load_all():
    """Import every component package so that all registries are filled."""
    from . import ops, sparse, transforms, datasets, models, losses, metrics, robustness  # noqa: F401
