"""Projection of augmented LiDAR points into the network's (resized, flipped, padded) image and
bilinear sampling of image feature maps there: mmdet3d ``point_sample``
(``mmdet3d/models/layers/fusion_layers/point_fusion.py``) with ``coord_type='LIDAR'``.

Steps per frame: undo the recorded point augmentation
(:func:`paddlexseg.transforms.det_aug.undo_points`,
mmdet3d ``apply_3d_transformation(reverse=True)``), project with ``P2 @ R0_rect @ Tr_velo_to_cam``
(``lidar2img``), divide by depth, multiply by the image ``scale_factor`` (sx, sy), mirror
``u -> img_w - u`` when the image was flipped (width before padding), normalise by the padded
input size and sample with ``grid_sample(align_corners=False, padding_mode='zeros')`` (Paddle's
default is ``align_corners=True``; mmdet3d's MVX-Net config sets False).

Deviation, for safety: a point with depth <= 1e-5 (behind the camera; mmdet3d divides anyway and
samples the mirrored location, or gets inf / NaN at depth 0) gets the grid value -2, i.e. zero image
features; grid values are clipped to [-2, 2] so that far-off points cannot produce inf.
The projection has no parameters and runs in NumPy (float64); gradients flow to the image features.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from ...transforms.det_aug import undo_points

__all__ = ["lidar2img", "project_to_input", "normalized_grid", "sample_feature"]

_MIN_DEPTH = 1e-5


def lidar2img(calib):
    """4x4 ``P2 @ R0_rect @ Tr_velo_to_cam`` (float64) from a calib dict of 4x4 matrices."""
    return (np.asarray(calib["P2"], np.float64) @ np.asarray(calib["R0_rect"], np.float64)
            @ np.asarray(calib["Tr_velo_to_cam"], np.float64))


def project_to_input(xyz, meta):
    """Augmented LiDAR points [N, 3] -> (uv [N, 2] pixel coordinates in the network's input
    image (after resize and flip, before padding), depth [N]); NumPy float64.

    ``meta``: ``calib``, ``augmentation`` (record, may be absent), ``scale_factor`` (sx, sy,
    default 1), ``flip`` (image flipped, default False), ``img_shape`` (H, W after resize;
    needed when flipped), optional ``img_crop_offset`` (dx, dy).
    """
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    xyz = undo_points(xyz, meta.get("augmentation", []))
    hom = np.concatenate([xyz, np.ones((xyz.shape[0], 1))], axis=1)
    cam = hom @ lidar2img(meta["calib"]).T                                   # [N, 4]
    depth = cam[:, 2]
    safe = np.where(depth > _MIN_DEPTH, depth, 1.0)
    uv = cam[:, :2] / safe[:, None]
    uv = uv * np.asarray(meta.get("scale_factor", (1.0, 1.0)), np.float64)[:2]
    uv = uv - np.asarray(meta.get("img_crop_offset", (0.0, 0.0)), np.float64)
    if meta.get("flip", False):
        uv[:, 0] = meta["img_shape"][1] - uv[:, 0]
    return uv, depth


def normalized_grid(uv, depth, pad_shape):
    """Pixel coordinates -> ``grid_sample`` grid in [-1, 1] over the padded input (H, W);
    points behind the camera -> -2 (outside); values clipped to [-2, 2]. float32 [N, 2]."""
    h, w = pad_shape
    grid = np.stack([uv[:, 0] / w * 2 - 1, uv[:, 1] / h * 2 - 1], axis=1)
    grid[depth <= _MIN_DEPTH] = -2.0
    return np.clip(grid, -2.0, 2.0).astype(np.float32)


def sample_feature(feat, grid, align_corners=False, mode="bilinear"):
    """feat [1, C, H, W], grid float32 [N, 2] (NumPy or Tensor) -> [N, C] (zeros padding)."""
    if isinstance(grid, np.ndarray):
        grid = paddle.to_tensor(grid)
    n = grid.shape[0]
    if n == 0:
        return paddle.zeros([0, feat.shape[1]], feat.dtype)
    out = F.grid_sample(feat, grid.reshape([1, 1, n, 2]), mode=mode, padding_mode="zeros",
                        align_corners=align_corners)                          # [1, C, 1, N]
    return out.reshape([feat.shape[1], n]).transpose([1, 0])
