"""Tiny configs and random-init weights shared by tests/apis and tests/tools.

Range model: RangeNet++ DarkNet-21 on 16 x 64 range images (DarkNet-21 at 64 x 512 takes about
10 s per forward pass on the shared 2-core CI machine, at 16 x 64 about 0.3 s). Image model:
PointRend on a ResNet-18 with narrow FPN / heads.
"""
import copy
import os

import numpy as np
import paddle
from PIL import Image

from paddlexseg.config import save_config
from paddlexseg.engine import builder

RANGE_H, RANGE_W = 16, 64

RANGE_CFG = {
    "batch_size": 1,
    "iters": 1,
    "model": {"type": "RangeNet", "num_classes": 20,
              "backbone": {"type": "DarkNet", "layers": 21, "output_stride": 32}},
    "val_dataset": {"type": "SemanticKITTI", "root": None, "sequences": [8], "mode": "val",
                    "label_config": "semantic-kitti",
                    "projection": {"H": RANGE_H, "W": RANGE_W, "fov_up": 3.0, "fov_down": -25.0}},
    "metric": {"type": "RangeIoU", "label_config": "semantic-kitti",
               "knn": {"k": 5, "search": 5, "sigma": 1.0, "cutoff": 1.0}},
}

IMAGE_CFG = {
    "batch_size": 1,
    "iters": 1,
    "model": {"type": "PointRendFPN", "backbone": {"type": "ResNet", "depth": 18},
              "num_classes": 19, "fpn_channels": 32, "head_conv_dims": 32, "fc_dim": 16,
              "subdivision_steps": 2, "subdivision_num_points": 256},
    "val_dataset": {"type": "Cityscapes", "root": "unused", "split": "val", "mode": "val",
                    "transforms": [{"type": "Normalize"}]},
}


def range_cfg(root):
    """The tiny range config with ``val_dataset.root`` set (a dict, safe to modify)."""
    cfg = copy.deepcopy(RANGE_CFG)
    cfg["val_dataset"]["root"] = str(root)
    return cfg


def image_cfg():
    return copy.deepcopy(IMAGE_CFG)


def make_weights(cfg, path, seed=0, return_model=False):
    """Build the config's model with seeded random weights and save them to ``path``.

    Returns the path, or (path, the model in eval mode) with ``return_model``.
    """
    paddle.seed(seed)
    model = builder.build_model(cfg)
    paddle.save(model.state_dict(), str(path))
    model.eval()
    return (str(path), model) if return_model else str(path)


def write_config(cfg, path):
    """Write ``cfg`` as YAML (with the default train section) for the CLI tools."""
    cfg = copy.deepcopy(cfg)
    save_config(cfg, str(path))
    return str(path)


def write_images(folder, sizes, seed=0):
    """Random RGB PNGs ``img0.png``, ``sub/img1.png``, ... of the given (H, W) sizes."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (h, w) in enumerate(sizes):
        sub = folder if i == 0 else os.path.join(folder, "sub")
        os.makedirs(sub, exist_ok=True)
        path = os.path.join(sub, f"img{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3)).astype(np.uint8)).save(path)
        paths.append(path)
    return paths
