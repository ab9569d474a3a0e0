"""Dynamic voxelization and mmcv's ``DynamicScatter`` (points -> voxel features, max or mean).

``dynamic_voxelize`` is mmcv ``Voxelization(max_num_points=-1)`` (``dynamic_voxelize_forward``):
every point gets its voxel coordinate ``(z, y, x)``, ``-1`` rows outside the range; it is
:func:`paddlexseg.ops.voxelize.points_to_voxel_coords` without the mask. ``dynamic_scatter`` is
mmcv ``ops.dynamic_scatter`` (``dynamic_point_to_voxel_forward/backward``), also OpenPCDet's
``torch_scatter`` pooling in ``DynamicVoxelVFE`` and Paddle3D's ``dynamic_point_to_voxel``:
rows with any negative coordinate are dropped, the remaining unique coordinates are sorted
lexicographically (``torch.unique(dim=0)``) and each voxel's feature is the max / mean / sum of
its points. Built on :func:`paddlexseg.ops.unique.unique_rows` and the segment reductions of
:mod:`paddlexseg.ops.segment`, so gradients are Paddle's: mean spreads ``grad / count``, max
sends it to the first point holding the maximum (mmcv's traceback kernel picks the same one).

Inside ``paddle.jit.to_static`` (an exported graph: MVX-Net's voxel encoder, issue 13) the
same scatter is built from graph ops only (:func:`dynamic_scatter_graph`): one int64 key per
row, a stable ``argsort``, the sorted segment ids by ``cumsum`` and Paddle's sorted-segment
reductions (``paddle.geometric.segment_max / segment_mean / segment_sum``), so the exported
program needs no host round trip. There every coordinate must lie in ``[0, 2**15)``.
``dynamic_voxelize`` has a graph form too.
"""
import paddle

from paddlexseg.ops._common import check_index_tensor
from paddlexseg.ops.segment import scatter_max, scatter_mean, scatter_sum
from paddlexseg.ops.unique import unique_rows
from paddlexseg.ops.voxelize import points_to_voxel_coords, voxel_grid_shape

__all__ = ["dynamic_voxelize", "batch_dynamic_voxelize", "dynamic_scatter", "DynamicScatter",
           "dynamic_scatter_graph", "GRAPH_COORD_LIMIT"]

_REDUCE = ("max", "mean", "sum")
GRAPH_COORD_LIMIT = 1 << 15  # per column in the graph form: 4 columns -> keys below 2**60


def dynamic_voxelize(points, voxel_size, point_cloud_range):
    """mmcv ``Voxelization(voxel_size, point_cloud_range, max_num_points=-1)(points)``.

    Args:
        points: float [N, >=3] NumPy array or paddle Tensor.
        voxel_size: (vx, vy, vz).
        point_cloud_range: (x0, y0, z0, x1, y1, z1).

    Returns:
        int32 [N, 3] (z, y, x) voxel coordinates, ``-1`` rows for points outside the range,
        same kind as ``points``.
    """
    if not paddle.in_dynamic_mode():  # being traced for export
        return _dynamic_voxelize_graph(points, voxel_size, point_cloud_range)
    coords, _ = points_to_voxel_coords(points, voxel_size, point_cloud_range)
    return coords


def _dynamic_voxelize_graph(points, voxel_size, point_cloud_range):
    """:func:`dynamic_voxelize` of a graph value (float32 floor, as the eager Paddle path)."""
    grid_xyz = [int(v) for v in voxel_grid_shape(voxel_size, point_cloud_range)[::-1]]
    low = paddle.to_tensor([float(v) for v in point_cloud_range[:3]], "float32")
    size = paddle.to_tensor([float(v) for v in voxel_size], "float32")
    coords = paddle.floor((points[:, :3] - low) / size).astype("int64")        # [N, 3] x, y, z
    inside = paddle.logical_and(coords >= 0, coords < paddle.to_tensor(grid_xyz, "int64"))
    zyx = paddle.flip(coords, axis=[1])
    zyx = paddle.where(inside.all(axis=1, keepdim=True), zyx, paddle.full_like(zyx, -1))
    return zyx.astype("int32")


def batch_dynamic_voxelize(points_list, voxel_size, point_cloud_range):
    """mmdet3d ``Det3DDataPreprocessor.voxelize`` with ``voxel_type='dynamic'``.

    Args:
        points_list: list of B float Tensors [Ni, C].

    Returns:
        (points float [sum Ni, C] concatenated; coors int32 [sum Ni, 4] (batch, z, y, x), rows
        of points outside the range hold ``(batch, -1, -1, -1)``).
    """
    coors = []
    for i, pts in enumerate(points_list):
        c = dynamic_voxelize(pts, voxel_size, point_cloud_range)  # [Ni, 3]
        coors.append(paddle.concat([paddle.full([c.shape[0], 1], i, dtype="int32"), c], axis=1))
    return paddle.concat(list(points_list), axis=0), paddle.concat(coors, axis=0)


def dynamic_scatter(feats, coors, reduce_type="max", return_map=False):
    """mmcv ``dynamic_scatter(feats, coors, reduce_type)``.

    Args:
        feats: float Tensor [N, C] point features.
        coors: int32/int64 Tensor [N, D] voxel coordinates (e.g. (z, y, x) or (batch, z, y, x));
            a row with any negative entry is dropped.
        reduce_type: ``'max'``, ``'mean'`` or ``'sum'``.
        return_map: also return the point -> voxel map and the voxel point counts (what mmcv's
            extension returns to its autograd function).

    Returns:
        (voxel_feats [M, C] of ``feats.dtype``, voxel_coors int32 [M, D] sorted
        lexicographically) and, with ``return_map``, (point2voxel int64 [N], -1 for dropped
        points; voxel_points int32 [M]).
    """
    op = "dynamic_scatter"
    if reduce_type not in _REDUCE:
        raise ValueError(f"{op}: reduce_type must be one of {_REDUCE}, got {reduce_type!r}")
    if not paddle.in_dynamic_mode():  # being traced for export (graph values, no host reads)
        return dynamic_scatter_graph(feats, coors, reduce_type, return_map)
    if not isinstance(feats, paddle.Tensor) or feats.ndim != 2:
        raise ValueError(f"{op}: feats must be a [N, C] paddle.Tensor")
    check_index_tensor(coors, op, "coors")
    if coors.ndim != 2 or coors.shape[0] != feats.shape[0]:
        raise ValueError(f"{op}: coors must be [N, D] with N = {feats.shape[0]} rows, "
                         f"got {list(coors.shape)}")
    num, width = feats.shape[0], coors.shape[1]
    valid = (coors >= 0).all(axis=1)  # [N]
    kept = paddle.nonzero(valid).flatten()  # [K]
    if kept.shape[0] == 0:
        out = (paddle.zeros([0, feats.shape[1]], feats.dtype), paddle.zeros([0, width], "int32"))
        if return_map:
            return out + (paddle.full([num], -1, "int64"), paddle.zeros([0], "int32"))
        return out
    voxel_coors, inverse, counts = unique_rows(paddle.gather(coors, kept))
    inverse = inverse.astype("int64")
    size = voxel_coors.shape[0]
    point_feats = paddle.gather(feats, kept)  # [K, C]
    if reduce_type == "max":
        voxel_feats = scatter_max(point_feats, inverse, dim=0, dim_size=size)[0]
    elif reduce_type == "mean":
        voxel_feats = scatter_mean(point_feats, inverse, dim=0, dim_size=size)
    else:
        voxel_feats = scatter_sum(point_feats, inverse, dim=0, dim_size=size)
    out = (voxel_feats, voxel_coors.astype("int32"))
    if not return_map:
        return out
    point2voxel = paddle.scatter(paddle.full([num], -1, "int64"), kept, inverse)
    return out + (point2voxel, counts.astype("int32"))


def dynamic_scatter_graph(feats, coors, reduce_type="max", return_map=False):
    """:func:`dynamic_scatter` from static-graph ops only (no value read on the host).

    Same arguments and results (voxels sorted lexicographically); used automatically when
    ``dynamic_scatter`` is traced by ``paddle.jit.to_static``. Each coordinate column must lie
    in ``[0, GRAPH_COORD_LIMIT)`` (negative rows are dropped as in eager mode); the graph needs
    at least one valid row (the segment kernels reject empty input), which the exporters' deploy
    runners check before running it.
    """
    feats_dtype = feats.dtype
    valid = (coors >= 0).all(axis=1)                                        # [N]
    kept = paddle.nonzero(valid).flatten()                                  # [K]
    rows = paddle.gather(coors, kept).astype("int64")                       # [K, D]
    key = rows[:, 0]
    for col in range(1, coors.shape[1]):
        key = key * GRAPH_COORD_LIMIT + rows[:, col]
    order = paddle.argsort(key, stable=True)                                # [K]
    sorted_key = paddle.gather(key, order)
    new = paddle.concat([paddle.ones([1], "bool"), sorted_key[1:] != sorted_key[:-1]])
    seg = paddle.cumsum(new.astype("int64")) - 1                            # [K] sorted ids
    sorted_feats = paddle.gather(paddle.gather(feats, kept), order)         # [K, C]
    if reduce_type == "max":
        voxel_feats = paddle.geometric.segment_max(sorted_feats, seg)
    elif reduce_type == "mean":
        voxel_feats = paddle.geometric.segment_mean(sorted_feats, seg)
    else:
        voxel_feats = paddle.geometric.segment_sum(sorted_feats, seg)
    starts = paddle.nonzero(new).flatten()                                  # [M]
    voxel_coors = paddle.gather(rows, paddle.gather(order, starts)).astype("int32")
    out = (voxel_feats.astype(feats_dtype), voxel_coors)
    if not return_map:
        return out
    inverse = paddle.scatter(paddle.zeros_like(seg), order, seg)            # [K]
    point2voxel = paddle.scatter(paddle.full_like(valid, -1, "int64"), kept, inverse)
    ones = paddle.ones_like(sorted_key, "float32").unsqueeze(1)
    counts = paddle.geometric.segment_sum(ones, seg).flatten().astype("int32")
    return out + (point2voxel, counts)


class DynamicScatter(paddle.nn.Layer):
    """mmcv ``DynamicScatter(voxel_size, point_cloud_range, average_points)``.

    ``forward(points [N, C], coors [N, 3] or [N, 4])`` -> ``(voxel_feats [M, C], voxel_coors
    int32 [M, 3 or 4])``: mean of the points when ``average_points`` else max. mmcv scatters each
    batch separately for 4-column coordinates and concatenates; sorting the (batch, z, y, x)
    rows at once gives the same order. ``voxel_size`` / ``point_cloud_range`` are kept, as in
    mmcv, for the caller's reference; the coordinates are computed beforehand
    (:func:`dynamic_voxelize`).
    """

    def __init__(self, voxel_size, point_cloud_range, average_points):
        super().__init__()
        self.voxel_size = [float(v) for v in voxel_size]
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.average_points = bool(average_points)

    def forward(self, points, coors):
        if coors.ndim != 2 or coors.shape[1] not in (3, 4):
            raise ValueError("DynamicScatter: coors must be [N, 3] (z, y, x) or [N, 4] "
                             f"(batch, z, y, x), got {list(coors.shape)}")
        return dynamic_scatter(points, coors, "mean" if self.average_points else "max")

    def extra_repr(self):
        return (f"voxel_size={self.voxel_size}, point_cloud_range={self.point_cloud_range}, "
                f"average_points={self.average_points}")
