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
        nonfinite_src, nonfinite_labels: int64 [K] for the NaN/inf records the reader dropped,
            the point nearest in file order (whose prediction they take) and their labels; None
            when the data set does not score them (training, corrupted scans).
    """
    proj_x: np.ndarray
    proj_y: np.ndarray
    unproj_range: np.ndarray
    labels: Optional[np.ndarray]
    path: str = ""
    points: Optional[np.ndarray] = None  # float32 [N, 4] x, y, z, remission (kept for predict/BEV)
    nonfinite_src: Optional[np.ndarray] = None
    nonfinite_labels: Optional[np.ndarray] = None


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


@dataclass
class ImageBatch(Batch):
    """A batch of camera images with dense labels (Cityscapes, PointRend).

    Attributes:
        image: float32 [B, 3, H, W] normalized RGB.
        labels: int64 [B, H, W] train ids per pixel, 255 = ignore (None without labels).
        paths: the image file of each sample, for predictions and error messages.
    """
    image: paddle.Tensor
    labels: Optional[paddle.Tensor] = None
    paths: List[str] = field(default_factory=list)

    INPUTS = ("image",)


@dataclass
class EventBatch(Batch):
    """A batch of event-camera samples for place recognition (Event-VPR evaluation).

    Exactly one of ``voxels`` / ``events`` is set, depending on the dataset's
    ``representation`` (``voxel``: fixed voxel grid; ``events``: raw events for a
    learnable EST quantization layer inside the model).

    Attributes:
        voxels: float32 [B, C, H, W] voxel grids (C temporal bins), or None.
        events: float32 [M, 5] events of the whole batch as (x, y, t, p, b): t normalized to
            [0, 1] per sample, p in {-1, +1}, b the sample index in the batch; or None.
        positions: float64 NumPy [B, 2] metric position (x, y) of each sample, in metres.
        is_query: bool NumPy [B] True for queries, False for database samples.
        timestamps: float64 NumPy [B] sample timestamps in seconds.
        paths: the event file of each sample.
    """
    voxels: Optional[paddle.Tensor] = None
    events: Optional[paddle.Tensor] = None
    positions: Optional[np.ndarray] = None
    is_query: Optional[np.ndarray] = None
    timestamps: Optional[np.ndarray] = None
    paths: List[str] = field(default_factory=list)

    INPUTS = ("voxels", "events")

    @property
    def batch_size(self):
        return len(self.paths)


@dataclass
class TripletBatch(Batch):
    """A batch of triplet groups for metric learning (Event-VPR training).

    Each group is (anchor, positive, negative_1 .. negative_n); groups are stacked in order,
    so sample ``g * group_size + j`` is member ``j`` of group ``g`` (0 anchor, 1 positive).

    Attributes:
        voxels: float32 [B * group_size, C, H, W] voxel grids, or None (see EventBatch).
        events: float32 [M, 5] (x, y, t, p, b) raw events with b the stacked sample index,
            or None.
        group_size: 2 + number of negatives per group.
        positions: float64 NumPy [B * group_size, 2] positions in metres.
        paths: the event file of each stacked sample.
    """
    voxels: Optional[paddle.Tensor] = None
    events: Optional[paddle.Tensor] = None
    group_size: int = 3
    positions: Optional[np.ndarray] = None
    paths: List[str] = field(default_factory=list)

    INPUTS = ("voxels", "events")

    @property
    def batch_size(self):
        """Number of triplet groups."""
        return len(self.paths) // self.group_size


@dataclass
class FusionBatch(Batch):
    """A batch of LiDAR scans, each with an optional camera image (2DPASS).

    The points of all scans are concatenated; ``batch_idx`` names the scan of each point.
    Image points are the points that project into their scan's (cropped) image.

    Attributes:
        points: float32 [N, 4] x, y, z, intensity (augmented) of all scans.
        batch_idx: int64 [N] scan index of each point, in [0, B), non-decreasing.
        labels: int64 [N] learning ids (0 = ignored), or None without labels.
        img: float32 [B, 3, H, W] normalized images, or None (LiDAR only).
        img_indices: int64 [M, 2] (row, col) of each image point in its scan's image, or None.
        point2img_index: int64 [M] batch-global row in ``points`` of each image point, or None.
        img_labels: int64 [M] labels of the image points (``labels[point2img_index]``), or None.
        point_index: int64 [N] row of each point in its original scan file (for predictions).
        origin_lens: number of points in each original scan file.
        paths: the scan file of each sample.
        records: per scan, every point of the scan (:class:`ScanRecords`) so that evaluation
            scores the points the model was not fed too (val/test mode), or empty.
    """
    points: paddle.Tensor
    batch_idx: paddle.Tensor
    labels: Optional[paddle.Tensor] = None
    img: Optional[paddle.Tensor] = None
    img_indices: Optional[paddle.Tensor] = None
    point2img_index: Optional[paddle.Tensor] = None
    img_labels: Optional[paddle.Tensor] = None
    point_index: Optional[paddle.Tensor] = None
    origin_lens: List[int] = field(default_factory=list)
    paths: List[str] = field(default_factory=list)
    records: list = field(default_factory=list)

    INPUTS = ("points", "batch_idx", "img", "img_indices", "point2img_index")

    @property
    def batch_size(self):
        """Number of scans."""
        return len(self.paths)


@dataclass
class ScanRecords:
    """Every point of one scan, for scoring/writing a prediction per record of its file.

    ``point_index`` of a :class:`FusionBatch` indexes ``xyz``; the points a model was not fed
    (outside the voxel volume) and the NaN/inf records the reader dropped get predictions by
    :func:`paddlexseg.metrics.point_fill.fill_scan` with ``unseen``.

    Attributes:
        xyz: float32 NumPy [N, 3] every finite point (in file order).
        labels: int64 NumPy [N] their learning ids, or None (no labels).
        nonfinite_src: int64 NumPy [K] for each dropped NaN/inf record, the row of ``xyz``
            nearest in file order.
        nonfinite_labels: int64 NumPy [K] learning ids of the dropped records, or None.
        unseen: "nearest" or "unlabeled" (``unseen_points`` of the data set).
    """
    xyz: np.ndarray
    labels: Optional[np.ndarray] = None
    nonfinite_src: Optional[np.ndarray] = None
    nonfinite_labels: Optional[np.ndarray] = None
    unseen: str = "nearest"


@dataclass
class DetBatch(Batch):
    """A batch of LiDAR frames with 3-D boxes (KITTI object detection: SECOND, MVX-Net).

    Per-frame fields are lists of length B (frames have different numbers of points/boxes).

    Attributes:
        points: B x float32 [Ni, 4] (x, y, z, intensity) in the LiDAR frame, after augmentation.
        gt_boxes: B x float32 [Mi, 7] LiDAR boxes (x, y, z_bottom, l, w, h, yaw), augmented like
            the points (Mi may be 0).
        gt_labels: B x int64 [Mi] index into the dataset's ``class_names``.
        images: float32 [B, 3, H, W] BGR images (zero-padded to the largest in the batch),
            or None when the dataset does not load images.
        metas: B dicts: ``frame_id``, ``calib`` (``P2``, ``R0_rect``, ``Tr_velo_to_cam`` ...
            float64 [4, 4]), ``image_shape`` (H, W) of the original image, ``augmentation``
            (list of the transforms applied, in order, each a dict with ``op`` and its values)
            and mmdet3d-style shortcuts ``pcd_horizontal_flip``, ``pcd_rotation_angle``,
            ``pcd_scale_factor``, ``pcd_trans``; with images also ``img_shape``,
            ``scale_factor`` (sx, sy), ``flip``, ``pad_shape``.
        gt_annos: B KITTI annotation dicts (camera frame, all objects incl. DontCare, not
            augmented) for the evaluator; empty dicts in mode "test".
    """
    points: List[paddle.Tensor]
    gt_boxes: List[paddle.Tensor] = field(default_factory=list)
    gt_labels: List[paddle.Tensor] = field(default_factory=list)
    images: Optional[paddle.Tensor] = None
    metas: List[dict] = field(default_factory=list)
    gt_annos: List[dict] = field(default_factory=list)

    INPUTS = ("points",)

    def inputs(self):
        """``points``, plus ``images`` and ``metas`` when the batch carries images (MVX-Net)."""
        if self.images is None:
            return {"points": self.points}
        return {"points": self.points, "images": self.images, "metas": self.metas}

    @property
    def batch_size(self):
        """Number of frames."""
        return len(self.points)
