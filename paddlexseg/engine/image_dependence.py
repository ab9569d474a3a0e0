"""Does a camera-LiDAR fusion model use its camera? Evaluation with the images shuffled.

:class:`ShuffledImages` wraps a detection dataset that loads images (``KittiObject`` with
``load_image: true``): sample ``i`` keeps its own points, labels, calib and image metas
(``img_shape``, ``scale_factor``, ``flip``), so every point projects to the same pixel as
before, but the pixels are those of frame ``perm[i]``, where ``perm`` is a deterministic
derangement (no frame keeps its own image). A model that reads its camera should lose accuracy
on it; a model whose score does not move ignores the image.
:func:`evaluate_image_dependence` runs the KITTI metric with the right and with the shuffled
images; :class:`TimedModel` records the wall time of every forward (inference time per frame).
"""
import time

import numpy as np
import paddle

from ..registry import ConfigError
from . import builder
from .evaluate import evaluate

__all__ = ["derangement", "ShuffledImages", "TimedModel", "evaluate_image_dependence",
           "count_used_parameters"]


def derangement(n, seed=0):
    """A permutation of ``range(n)`` with no fixed point (n >= 2), deterministic by ``seed``:
    a seeded random order, each element mapped to the next one in that order (one n-cycle)."""
    n = int(n)
    if n < 2:
        raise ConfigError(f"shuffled images: need at least 2 frames to swap images, got {n}")
    order = np.random.default_rng(int(seed)).permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)
    return perm


def _resize_nearest(image, shape):
    """[C, h, w] -> [C, H, W] by nearest neighbour (donor images of another size)."""
    h, w = image.shape[1:]
    rows = np.minimum((np.arange(shape[0]) * h) // shape[0], h - 1)
    cols = np.minimum((np.arange(shape[1]) * w) // shape[1], w - 1)
    return np.ascontiguousarray(image[:, rows][:, :, cols])


class ShuffledImages:
    """``dataset`` with every sample's image replaced by frame ``perm[i]``'s (module docstring).

    Args:
        dataset: a dataset whose samples carry ``image`` and which has ``image_of(index,
            flip)`` (:class:`paddlexseg.datasets.kitti_object.KittiObject` with
            ``load_image: true``).
        seed: seed of the derangement.

    The sample's ``meta["image_source"]`` names the frame the pixels came from.
    """

    def __init__(self, dataset, seed=0):
        if not callable(getattr(dataset, "image_of", None)) or \
                not getattr(dataset, "load_image", False):
            raise ConfigError(f"shuffled images: {type(dataset).__name__} does not load images "
                              f"(set load_image: true in val_dataset)")
        self.dataset = dataset
        self.perm = derangement(len(dataset), seed)
        self.collate = dataset.collate

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        sample = self.dataset[index]
        donor = int(self.perm[index])
        image, _ = self.dataset.image_of(donor, flip=sample["meta"].get("flip", False))
        if image.shape != sample["image"].shape:
            image = _resize_nearest(image, sample["image"].shape[1:])
        sample["image"] = image
        sample["meta"]["image_source"] = self.dataset.frames[donor]["frame_id"]
        return sample


class TimedModel(paddle.nn.Layer):
    """``model`` with the wall time of each forward appended to ``self.times`` (seconds)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.times = []

    def forward(self, *args, **kwargs):
        start = time.perf_counter()
        out = self.model(*args, **kwargs)
        self.times.append(time.perf_counter() - start)
        return out


def evaluate_image_dependence(model, cfg, seed=0, dataset=None, progress=False):
    """The metric of ``cfg`` on ``val_dataset`` with the right and with shuffled images.

    Args:
        model: a fusion model (evaluated in eval mode; its mode is restored).
        cfg: the config (``val_dataset``, ``metric``).
        seed: seed of the image derangement.
        dataset: the val dataset if already built.

    Returns:
        dict: ``right`` and ``shuffled`` metric results, ``infer_times`` (seconds per frame of
        the right-image pass), ``permutation`` (donor frame index per frame).
    """
    dataset = dataset if dataset is not None else builder.build_dataset(cfg, "val_dataset")
    shuffled = ShuffledImages(dataset, seed)
    metric = builder.build_metric(cfg)
    timed = TimedModel(model)
    right = evaluate(timed, builder.build_loader(dataset, batch_size=1), metric,
                     progress=progress)
    times = list(timed.times)
    wrong = evaluate(model, builder.build_loader(shuffled, batch_size=1), metric,
                     progress=progress)
    return {"right": right, "shuffled": wrong, "infer_times": times,
            "permutation": shuffled.perm.tolist()}


def count_used_parameters(model):
    """Parameters a forward uses: all of them, except that a fusion model without any fusion
    module (the LiDAR-only control) never runs its image branch, which is left out."""
    fusion = getattr(model, "fusion_layers", None)
    skip = ("img_backbone.", "img_neck.") if fusion is not None and not fusion() else ()
    return int(sum(int(np.prod(p.shape)) for name, p in model.named_parameters()
                   if not name.startswith(skip)))
