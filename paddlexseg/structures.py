"""Typed batches: what a data loader yields and what a model's ``forward`` takes.

Each dataset returns per-sample dicts of NumPy arrays and owns a ``collate``
function that stacks them into one of these batches. ``inputs()`` names the
keyword arguments of the model's ``forward``; losses read their targets by
attribute name (e.g. ``labels``), metrics read whatever they need.
"""
from dataclasses import dataclass, field, fields
from typing import List, Optional

import numpy as np
import paddle

__all__ = ["Batch", "RangeBatch", "ScanPoints", "to_tensor"]


def to_tensor(array, dtype=None):
    """Stack-ready NumPy array -> paddle Tensor (on the current default place)."""
    if isinstance(array, paddle.Tensor):
        return array if dtype is None else array.astype(dtype)
    array = np.ascontiguousarray(array)
    return paddle.to_tensor(array, dtype=dtype)


@dataclass
class Batch:
    """Base class. Subclasses list model inputs in ``INPUTS``."""

    INPUTS = ()

    def inputs(self):
        """Keyword arguments for the model's ``forward``."""
        return {name: getattr(self, name) for name in self.INPUTS}

    @property
    def batch_size(self):
        first = getattr(self, self.INPUTS[0])
        return int(first.shape[0])

    def field_names(self):
        return [f.name for f in fields(self)]


@dataclass
class ScanPoints:
    """Per-point data of one scan, kept in NumPy for back-projection and metrics.

    Attributes:
        proj_x, proj_y: int32 [N] pixel column/row of each point (-1 if outside the image).
        unproj_range: float32 [N] range of each point in metres.
        labels: int64 [N] learning-map labels (0 = ignored) or None without labels.
        path: the scan file, for error messages and predictions.
    """
    proj_x: np.ndarray
    proj_y: np.ndarray
    unproj_range: np.ndarray
    labels: Optional[np.ndarray]
    path: str = ""
    points: Optional[np.ndarray] = None  # float32 [N, 4] x, y, z, remission (kept for predict/BEV)


@dataclass
class RangeBatch(Batch):
    """A batch of spherically projected scans (RangeNet++, SqueezeSegV3).

    Attributes:
        range_img: float32 [B, 5, H, W] normalized (range, x, y, z, remission).
        labels: int64 [B, H, W] learning-map labels per pixel, 0 = ignore/empty.
        proj_mask: bool/int32 [B, H, W] 1 where a point landed.
        proj_range: float32 [B, H, W] un-normalized range, -1 where empty (for KNN).
        scans: per-scan point data for point-level metrics and predictions.
    """
    range_img: paddle.Tensor
    labels: Optional[paddle.Tensor] = None
    proj_mask: Optional[paddle.Tensor] = None
    proj_range: Optional[paddle.Tensor] = None
    scans: List[ScanPoints] = field(default_factory=list)

    INPUTS = ("range_img",)
