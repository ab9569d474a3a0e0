"""paddlexseg: LiDAR, image and multi-modal segmentation ported to PaddlePaddle 3."""
__version__ = "0.1.0"

from ._quiet import quiet_known_warnings

quiet_known_warnings()  # before anything imports paddle: drops its ccache / BatchNorm notices

from . import registry  # noqa: E402,F401


def load_all():
    """Import every component package so that all registries are filled."""
    from . import ops, sparse, transforms, datasets, models, losses, metrics, robustness  # noqa: F401
