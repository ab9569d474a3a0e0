"""2DPASS: 2D Priors Assisted Semantic Segmentation on LiDAR Point Clouds.

Yan, Gao, Zheng, Zheng, Zhang, Cui, Li, ECCV 2022 (``network/arch_2dpass.py`` of
yanx27/2DPASS). A 3D point-voxel network (``model_3d``, :class:`~.spvcnn.SPVCNN`) is trained
together with a 2D ResNet-34 FCN (``model_2d``) on the camera image and per-scale fusion heads
(``fusion``, :class:`~.xmodal.xModalKD`) that distil the fused predictions into the 3D ones.
Only the 3D network runs at inference: LiDAR-only, no image needed. ``baseline_only`` builds
the vanilla 3D network alone (the paper's baseline).

Outputs (dict): always ``logits`` [N, C] per point. In training without ``baseline_only``
also ``scale_logits`` / ``scale_inv`` (per-scale voxel logits and point -> voxel rows),
``scale_point_logits`` / ``scale_fuse_logits`` (3D and fused logits at the image points, per
scale) and ``fuse_logits`` (the fused classifier over all scales), consumed by the losses of
``configs/twodpass``. In eval mode with ``num_vote > 1`` the logits are averaged over test-time
augmented views of each scan (:func:`tta_views`).
"""
import math

import numpy as np
import paddle
from paddle import nn

from ...registry import MODELS
from .resnet_fcn import ResNetFCN
from .spvcnn import SPVCNN
from .xmodal import xModalKD

__all__ = ["TwoDPASS", "TwoDPASSImage", "tta_views", "scan_predictions"]


def tta_views(num_vote, scales=(1.0, 0.95, 1.05)):
    """The deterministic test-time views: (angle rad, flip_x, flip_y, scale) per view.

    View ``k`` rotates by ``2 pi k / num_vote`` about z, flips by ``k mod 4`` (none, x, y,
    both; the original's flip types) and scales x/y by ``scales[k mod len(scales)]``; view 0
    is the identity.
    """
    views = []
    for k in range(int(num_vote)):
        flip = k % 4
        views.append((2.0 * math.pi * k / num_vote, flip in (1, 3), flip in (2, 3),
                      float(scales[k % len(scales)])))
    return views


def _apply_view(points, view):
    """points [N, C] -> the view's rotated/flipped/scaled copy (x, y only)."""
    angle, flip_x, flip_y, scale = view
    c, s = math.cos(angle), math.sin(angle)
    x, y = points[:, 0:1], points[:, 1:2]
    nx, ny = c * x - s * y, s * x + c * y
    nx = -nx if flip_x else nx
    ny = -ny if flip_y else ny
    return paddle.concat([nx * scale, ny * scale, points[:, 2:]], axis=1)


@MODELS.register()
class TwoDPASS(nn.Layer):
    """2DPASS with an SPVCNN-style 3D branch and a ResNet-34 FCN 2D branch.

    Args:
        num_classes: output classes incl. the ignored class 0 (20 SemanticKITTI, 17 nuScenes).
        input_dims: point channels (x, y, z, intensity).
        hidden_size: channels of both branches (64 for the 4-scale model, 256 for 6 scales).
        scale_list: encoder voxel scales ([2, 4, 8, 16] or [2, 4, 8, 16, 16, 16]).
        spatial_shape: finest grid (X, Y, Z) over the volume ([1000, 1000, 60] = 0.1 m).
        min_volume, max_volume: (x, y, z) corners of the volume.
        backbone_2d: "resnet34".
        pretrained_2d: optional path of Paddle ResNet-34 weights for the 2D encoder.
        baseline_only: build the 3D network only (vanilla training, no 2D branch).
        num_vote: test-time augmentation views in eval mode (1 = off; the paper uses 12).
        vote_scales: x/y scale factors cycled over the views.
        return_features: also return ``img_features`` ({scale: [M, hidden_size]}, the 2D
            branch's per-scale features at the image points) whenever the 2D branch runs (in
            training, and in eval when ``img`` is given): a parity hook.
    """

    def __init__(self, num_classes=20, input_dims=4, hidden_size=64, scale_list=(2, 4, 8, 16),
                 spatial_shape=(1000, 1000, 60), min_volume=(-50.0, -50.0, -4.0),
                 max_volume=(50.0, 50.0, 2.0), backbone_2d="resnet34", pretrained_2d=None,
                 baseline_only=False, num_vote=1, vote_scales=(1.0, 0.95, 1.05),
                 return_features=False):
        super().__init__()
        if int(num_vote) < 1:
            raise ValueError(f"TwoDPASS.num_vote: expected >= 1, got {num_vote}")
        if len(spatial_shape) != 3 or len(min_volume) != 3 or len(max_volume) != 3:
            raise ValueError(f"TwoDPASS: spatial_shape, min_volume and max_volume need 3 values "
                             f"(x, y, z), got {spatial_shape}, {min_volume}, {max_volume}")
        self.num_classes = int(num_classes)
        self.baseline_only = bool(baseline_only)
        self.num_vote = int(num_vote)
        self.vote_scales = tuple(float(s) for s in vote_scales)
        self.return_features = bool(return_features)
        self.model_3d = SPVCNN(num_classes, input_dims, hidden_size, scale_list, spatial_shape,
                               min_volume, max_volume)
        if not self.baseline_only:
            unknown = sorted(set(int(s) for s in scale_list) - set(ResNetFCN.SCALES))
            if unknown:
                raise ValueError(f"TwoDPASS.scale_list: scales {unknown} have no 2D features; "
                                 f"use scales from {ResNetFCN.SCALES} (or baseline_only)")
            self.model_2d = ResNetFCN(hidden_size, backbone_2d, pretrained_2d)
            self.fusion = xModalKD(hidden_size, scale_list, num_classes)

    def forward(self, points, batch_idx, img=None, img_indices=None, point2img_index=None):
        """Args:
            points: float [N, 4] x, y, z, intensity of all scans.
            batch_idx: int64 [N] scan of each point.
            img: float [B, 3, H, W] (training of the full model only; ignored otherwise).
            img_indices: int64 [M, 2] (row, col) of the image points.
            point2img_index: int64 [M] point row of each image point.

        Returns:
            dict of named outputs (see the module docstring).
        """
        batch_size = int(batch_idx.max().item()) + 1 if batch_idx.shape[0] else 1
        if not self.training and self.num_vote > 1:
            outputs = {"logits": self._vote(points, batch_idx, batch_size)}
            return self._eval_features(outputs, batch_idx, img, img_indices, point2img_index)
        out3d = self.model_3d(points, batch_idx, batch_size)
        outputs = {"logits": out3d["logits"]}
        if not self.training:
            return self._eval_features(outputs, batch_idx, img, img_indices, point2img_index)
        if self.training and not self.baseline_only:
            if img is None or img_indices is None or point2img_index is None:
                raise ValueError("TwoDPASS: training the full model needs img, img_indices and "
                                 "point2img_index in the batch (use_image: true in the "
                                 "train_dataset), or set model.baseline_only: true")
            img_batch = paddle.gather(batch_idx, point2img_index)            # [M]
            img_feats = self.model_2d(img, img_indices, img_batch)
            outputs.update(self.fusion(img_feats, out3d["layers"], out3d["voxels"],
                                       point2img_index))
            if self.return_features:
                outputs["img_features"] = img_feats                          # {scale: [M, C]}
        return outputs

    def _eval_features(self, outputs, batch_idx, img, img_indices, point2img_index):
        """Eval: add ``img_features`` with ``return_features`` and an image batch."""
        if self.return_features and not self.baseline_only and img is not None and \
                img_indices is not None and point2img_index is not None:
            img_batch = paddle.gather(batch_idx, point2img_index)            # [M]
            outputs["img_features"] = self.model_2d(img, img_indices, img_batch)
        return outputs

    def _vote(self, points, batch_idx, batch_size):
        """Mean logits over the TTA views, run as one batch of ``num_vote * B`` scans."""
        views = tta_views(self.num_vote, self.vote_scales)
        stacked = paddle.concat([_apply_view(points, v) for v in views], axis=0)
        stacked_idx = paddle.concat([batch_idx + k * batch_size for k in range(len(views))])
        logits = self.model_3d(stacked, stacked_idx, batch_size * len(views))["logits"]
        return logits.reshape([len(views), points.shape[0], self.num_classes]).mean(axis=0)

    def num_parameters(self):
        """Parameter count of the whole model and of the inference (3D) part."""
        total = sum(int(np.prod(p.shape)) for p in self.parameters())
        three_d = sum(int(np.prod(p.shape)) for p in self.model_3d.parameters())
        return {"total": total, "model_3d": three_d}


@MODELS.register()
class TwoDPASSImage(nn.Layer):
    """The 2D branch of 2DPASS alone (``model_2d``): a parity hook and the target of
    ``tools/convert_weights.py --arch 2dpass-small-2d`` (the ``model_2d.*`` keys of a
    checkpoint), so the image network can be compared with the original on its own.

    Args:
        hidden_size: channels of the per-scale features (64 / 128 / 256).
        backbone_2d: "resnet34". pretrained_2d: optional Paddle ResNet-34 weights.

    ``forward(img, img_indices, img_batch=None)`` returns ``img_features`` ({scale: [M,
    hidden_size]} for scales 2, 4, 8, 16 at the image points; ``img_batch`` defaults to image
    0 for every point).
    """

    def __init__(self, hidden_size=64, backbone_2d="resnet34", pretrained_2d=None):
        super().__init__()
        self.model_2d = ResNetFCN(hidden_size, backbone_2d, pretrained_2d)

    def forward(self, img, img_indices, img_batch=None):
        if img_batch is None:
            img_batch = paddle.zeros([img_indices.shape[0]], "int64")
        return {"img_features": self.model_2d(img, img_indices, img_batch)}


def scan_predictions(logits, batch, unseen=None):
    """Per-scan predictions for every point of the scan files (for scoring / ``.label`` files).

    With ``batch.records`` (val/test samples), the points the model was not fed (outside the
    voxel volume) and the NaN/inf records the reader dropped are labelled by
    :func:`paddlexseg.metrics.point_fill.fill_scan` (``unseen``, default the data set's
    ``unseen_points``: "nearest", or "unlabeled" = class 0 as 2DPASS's test step leaves them).
    Without records, the points left out are class 0.

    Args:
        logits: float [N, C] for the points of a FusionBatch.
        batch: the FusionBatch (``batch_idx``, ``point_index``, ``origin_lens``, ``paths``,
            ``records``).
        unseen: override of the records' mode, or None.

    Returns:
        list of (path, int64 NumPy [origin_len] learning ids of the finite points, int64 NumPy
        [K] learning ids of the dropped NaN/inf records), one per scan.
    """
    from ...metrics.point_fill import fill_scan
    pred = logits.argmax(axis=1).numpy().astype(np.int64)
    scan = batch.batch_idx.numpy()
    rows = batch.point_index.numpy()
    records = list(getattr(batch, "records", None) or [])
    out = []
    for b, (path, length) in enumerate(zip(batch.paths, batch.origin_lens)):
        sel = scan == b
        if records:
            rec = records[b]
            full, nonfinite = fill_scan(pred[sel], rows[sel], rec.xyz, rec.nonfinite_src,
                                        unseen or rec.unseen)
        else:
            full = np.zeros(int(length), np.int64)
            full[rows[sel]] = pred[sel]
            nonfinite = np.zeros(0, np.int64)
        out.append((path, full, nonfinite))
    return out
