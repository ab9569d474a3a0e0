"""Point sampling helpers of PointRend (Kirillov et al., "PointRend: Image Segmentation as
Rendering", CVPR 2020), ported from detectron2's ``projects/PointRend/point_rend/point_features.py``
and ``semantic_seg.py``.

Coordinates are normalized to ``[0, 1] x [0, 1]`` in (x, y) order, where (0, 0) is the top-left
corner of the top-left pixel and (1, 1) the bottom-right corner of the bottom-right pixel (the
``align_corners=False`` convention).

Shapes: N = batch, C = channels, P = points.
"""
import paddle
import paddle.nn.functional as F

__all__ = ["point_sample", "calculate_uncertainty", "get_uncertain_point_coords_with_randomness",
           "get_uncertain_point_coords_on_grid"]


def point_sample(input, point_coords, align_corners=False, mode="bilinear"):
    """Sample ``input`` at normalized points (detectron2 ``point_sample``).

    Mirrors ``torch.nn.functional.grid_sample(input, 2 * point_coords - 1, ...)`` with zero
    padding outside the map.

    Args:
        input: float [N, C, H, W] feature map.
        point_coords: float [N, P, 2] or [N, Hg, Wg, 2] (x, y) in [0, 1].
        align_corners: passed to ``grid_sample``; PointRend uses False.
        mode: ``bilinear`` or ``nearest`` (nearest is used to sample labels).

    Returns:
        [N, C, P] for 3-D coordinates, else [N, C, Hg, Wg].
    """
    add_dim = len(point_coords.shape) == 3
    if add_dim:
        point_coords = point_coords.unsqueeze(2)  # [N, P, 1, 2]
    output = F.grid_sample(input, 2.0 * point_coords - 1.0, mode=mode, padding_mode="zeros",
                           align_corners=align_corners)
    if add_dim:
        output = output.squeeze(3)  # [N, C, P]
    return output


def calculate_uncertainty(sem_seg_logits):
    """Uncertainty = (second best logit) - (best logit); the highest value is the most uncertain.

    Args:
        sem_seg_logits: float [N, C, ...] logits (C >= 2).

    Returns:
        float [N, 1, ...].
    """
    top2 = paddle.topk(sem_seg_logits, k=2, axis=1)[0]  # [N, 2, ...]
    return (top2[:, 1] - top2[:, 0]).unsqueeze(1)


def get_uncertain_point_coords_with_randomness(coarse_logits, uncertainty_func, num_points,
                                               oversample_ratio, importance_sample_ratio):
    """Training-time point selection: oversample, keep the most uncertain, add random points.

    ``num_points * oversample_ratio`` points are drawn uniformly, their logits are interpolated
    from ``coarse_logits`` and their uncertainty computed (after interpolation, as in the paper);
    the ``importance_sample_ratio * num_points`` most uncertain are kept and the rest of the
    ``num_points`` are fresh uniform points.

    Args:
        coarse_logits: float [N, C, H, W].
        uncertainty_func: maps [N, C, P] logits to [N, 1, P] uncertainties.
        num_points: P, the number of points returned per image.
        oversample_ratio: k >= 1 in the paper.
        importance_sample_ratio: beta in [0, 1] in the paper.

    Returns:
        float [N, P, 2] point coordinates in [0, 1] (no gradient).
    """
    if oversample_ratio < 1:
        raise ValueError(f"PointRend: oversample_ratio must be >= 1, got {oversample_ratio}")
    if not 0.0 <= importance_sample_ratio <= 1.0:
        raise ValueError(f"PointRend: importance_sample_ratio must be in [0, 1], "
                         f"got {importance_sample_ratio}")
    coarse_logits = coarse_logits.detach()
    n = coarse_logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    point_coords = paddle.rand([n, num_sampled, 2], dtype=coarse_logits.dtype)
    point_logits = point_sample(coarse_logits, point_coords, align_corners=False)  # [N, C, kP]
    point_uncertainties = uncertainty_func(point_logits)  # [N, 1, kP]
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    parts = []
    if num_uncertain > 0:
        idx = paddle.topk(point_uncertainties[:, 0, :], k=num_uncertain, axis=1)[1]  # [N, bP]
        idx = idx.unsqueeze(-1).expand([n, num_uncertain, 2])
        parts.append(paddle.take_along_axis(point_coords, idx, axis=1))  # [N, bP, 2]
    if num_random > 0:
        parts.append(paddle.rand([n, num_random, 2], dtype=coarse_logits.dtype))
    out = parts[0] if len(parts) == 1 else paddle.concat(parts, axis=1)
    out.stop_gradient = True
    return out


def get_uncertain_point_coords_on_grid(uncertainty_map, num_points):
    """Inference-time point selection: the ``num_points`` most uncertain cells of a grid.

    Args:
        uncertainty_map: float [N, 1, H, W] (N may be -1 inside ``paddle.jit.to_static``;
            H and W must be static).
        num_points: the number of points; capped at H * W.

    Returns:
        point_indices: int64 [N, P] flat indices in [0, H * W).
        point_coords: float [N, P, 2] (x, y) centers of the selected cells in [0, 1].
    """
    _, _, h, w = uncertainty_map.shape
    num_points = min(h * w, int(num_points))
    flat = uncertainty_map.reshape([-1, h * w])  # [N, H*W]
    point_indices = paddle.topk(flat, k=num_points, axis=1)[1]  # [N, P] int64
    xs = 0.5 / w + (point_indices % w).astype(uncertainty_map.dtype) * (1.0 / w)
    ys = 0.5 / h + (point_indices // w).astype(uncertainty_map.dtype) * (1.0 / h)
    point_coords = paddle.stack([xs, ys], axis=-1)  # [N, P, 2]
    return point_indices, point_coords
