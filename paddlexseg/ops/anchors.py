"""mmdet3d's range anchor generators
(``mmdet3d/models/task_modules/anchor/anchor_3d_generator.py``):
``Anchor3DRangeGenerator`` (used by the SECOND / PointPillars KITTI configs) and
``AlignedAnchor3DRangeGenerator`` (MVX-Net, nuScenes). Paddle3D's ``AnchorGenerator`` and
OpenPCDet's ``AnchorGenerator`` lay anchors out differently; the layout here is mmdet3d's so that
the head's channels line up with an mmdet3d checkpoint.

Layout of one level: ``[D, H, W, num_sizes, num_rots, 7]`` (D = 1 for a BEV map) of LiDAR boxes
``(x, y, z, l, w, h, yaw)``; a flat anchor index at a location is ``size * num_rots + rot``.
With ``size_per_range`` (default) the k-th size uses the k-th range.
"""
import numpy as np
import paddle

__all__ = ["Anchor3DRangeGenerator", "AlignedAnchor3DRangeGenerator"]


class Anchor3DRangeGenerator:
    """Anchors whose centres spread over the range ``linspace(min, max, n)`` (ends included).

    Args:
        ranges: list of (x0, y0, z0, x1, y1, z1), one per size (or one shared).
        sizes: list of (l, w, h).
        scales: one scale per feature level (sizes are multiplied by it).
        rotations: yaw values at every location.
        reshape_out: flatten each level to [N, 7] in :meth:`grid_anchors`.
        size_per_range: pair the k-th range with the k-th size.
    """

    def __init__(self, ranges, sizes=((3.9, 1.6, 1.56),), scales=(1,), rotations=(0, 1.5707963),
                 reshape_out=True, size_per_range=True):
        ranges = [[float(v) for v in r] for r in ranges]
        sizes = [[float(v) for v in s] for s in sizes]
        if any(len(r) != 6 for r in ranges) or any(len(s) != 3 for s in sizes) or not sizes:
            raise ValueError(f"{type(self).__name__}: ranges must be lists of 6 values and sizes "
                             f"lists of 3, got {ranges} and {sizes}")
        if size_per_range:
            if len(ranges) == 1 and len(sizes) > 1:
                ranges = ranges * len(sizes)
            if len(ranges) != len(sizes):
                raise ValueError(f"{type(self).__name__}: {len(ranges)} ranges for "
                                 f"{len(sizes)} sizes")
        elif len(ranges) != 1:
            raise ValueError(f"{type(self).__name__}: size_per_range=False takes one range")
        self.ranges, self.sizes = ranges, sizes
        self.scales = list(scales)
        self.rotations = [float(r) for r in rotations]
        self.reshape_out = bool(reshape_out)
        self.size_per_range = bool(size_per_range)

    @property
    def num_base_anchors(self):
        """Anchors per feature-map location: sizes x rotations."""
        return len(self.sizes) * len(self.rotations)

    @property
    def num_levels(self):
        return len(self.scales)

    def grid_anchors(self, featmap_sizes, place=None):
        """Anchors of every level: list of float32 Tensors ``[D, H, W, S, R, 7]`` (or [N, 7])."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f"{type(self).__name__}: {len(featmap_sizes)} feature maps for "
                             f"{self.num_levels} scales")
        out = []
        for size, scale in zip(featmap_sizes, self.scales):
            anchors = self.single_level_grid_anchors(size, scale, place)
            out.append(anchors.reshape([-1, 7]) if self.reshape_out else anchors)
        return out

    def single_level_grid_anchors(self, featmap_size, scale=1, place=None):
        """float32 Tensor ``[D, H, W, num_sizes, num_rots, 7]`` for a (D, H, W) or (H, W) map."""
        if self.size_per_range:
            parts = [self._single_range(featmap_size, r, scale, [s])
                     for r, s in zip(self.ranges, self.sizes)]
            anchors = np.concatenate(parts, axis=-3)
        else:
            anchors = self._single_range(featmap_size, self.ranges[0], scale, self.sizes)
        return paddle.to_tensor(anchors.astype(np.float32), place=place)

    def _centres(self, low, high, n):
        return np.linspace(float(low), float(high), n)  # float64; anchors are cast at the end

    def _single_range(self, featmap_size, anchor_range, scale, sizes):
        """NumPy [D, H, W, len(sizes), R, 7] (mmdet3d ``anchors_single_range``)."""
        size = [1] + list(featmap_size) if len(featmap_size) == 2 else list(featmap_size)
        if len(size) != 3:
            raise ValueError(f"{type(self).__name__}: feature map size must be (H, W) or "
                             f"(D, H, W), got {featmap_size}")
        d, h, w = (int(v) for v in size)
        zs = self._centres(anchor_range[2], anchor_range[5], d + self._extra)[:d]
        ys = self._centres(anchor_range[1], anchor_range[4], h + self._extra)[:h]
        xs = self._centres(anchor_range[0], anchor_range[3], w + self._extra)[:w]
        zs, ys, xs = self._shift(zs, ys, xs, anchor_range, (d, h, w))
        sizes = np.asarray(sizes, np.float32).reshape(-1, 3) * scale  # [S, 3]
        rots = np.asarray(self.rotations, np.float32)  # [R]
        shape = (d, h, w, sizes.shape[0], rots.shape[0])
        out = np.empty(shape + (7,), np.float32)
        out[..., 0] = xs[None, None, :, None, None]
        out[..., 1] = ys[None, :, None, None, None]
        out[..., 2] = zs[:, None, None, None, None]
        out[..., 3:6] = sizes[None, None, None, :, None, :]
        out[..., 6] = rots
        return out

    _extra = 0  # linspace points beyond the map size (the aligned variant uses one more)

    def _shift(self, zs, ys, xs, anchor_range, dhw):
        return zs, ys, xs


class AlignedAnchor3DRangeGenerator(Anchor3DRangeGenerator):
    """mmdet3d ``AlignedAnchor3DRangeGenerator``: ``n + 1`` grid lines over the range, anchors at
    the cell centres (or at the lower corners with ``align_corner=True``)."""

    _extra = 1

    def __init__(self, align_corner=False, **kwargs):
        super().__init__(**kwargs)
        self.align_corner = bool(align_corner)

    def _shift(self, zs, ys, xs, anchor_range, dhw):
        if self.align_corner:
            return zs, ys, xs
        shifted = []
        for centres, low, high, n in zip((zs, ys, xs), anchor_range[2::-1], anchor_range[:2:-1],
                                         dhw):
            grid = self._centres(low, high, n + 1)
            shifted.append(centres + (grid[1] - grid[0]) / 2)
        return tuple(shifted)
