"""Helpers shared by the BEV-level fusion modules: image levels resized onto the BEV grid
(naive, no geometry) or lifted to it through the points' projection (aligned)."""
import numpy as np
import paddle
import paddle.nn.functional as F

from ...ops.segment import scatter_max
from .point_fusion import sample_levels

__all__ = ["resize_to_bev", "lift_to_bev"]


def resize_to_bev(img_feats, levels, size):
    """The chosen image levels bilinearly resized (align_corners=False) to the BEV map size
    (H, W): [B, sum C_l, H, W]. Image rows/columns have no geometric relation to BEV cells."""
    return paddle.concat([F.interpolate(img_feats[l], size=list(size), mode="bilinear",
                                        align_corners=False) for l in levels], axis=1)


def lift_to_bev(img_feats, levels, points, metas, pad_shape, size, point_cloud_range):
    """Image features sampled at every point's projection, max-pooled into the BEV cell the
    point falls in (x along W, y along H, as SECOND's BEV map): [B, sum C_l, H, W]; empty cells
    and points outside the image give 0."""
    h, w = size
    x0, y0, _, x1, y1, _ = [float(v) for v in point_cloud_range]
    sampled = sample_levels([img_feats[l] for l in levels], points, metas, pad_shape)
    out, start = [], 0
    for pts in points:
        n = pts.shape[0]
        feats = sampled[start:start + n]
        start += n
        xy = pts[:, :2].numpy().astype(np.float64)
        ix = np.clip(np.floor((xy[:, 0] - x0) / (x1 - x0) * w), 0, w - 1).astype(np.int64)
        iy = np.clip(np.floor((xy[:, 1] - y0) / (y1 - y0) * h), 0, h - 1).astype(np.int64)
        cell = paddle.to_tensor(iy * w + ix)
        if n == 0:
            grid = paddle.zeros([h * w, sampled.shape[1]], sampled.dtype)
        else:
            grid = scatter_max(feats, cell, dim=0, dim_size=h * w)[0]          # [H*W, C]
        out.append(grid.transpose([1, 0]).reshape([-1, h, w]))
    return paddle.stack(out, axis=0)
