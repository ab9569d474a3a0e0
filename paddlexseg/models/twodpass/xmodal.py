"""MSFSKD: multi-scale fusion-to-single knowledge distillation (2DPASS's ``xModalKD``).

``network/arch_2dpass.py`` of yanx27/2DPASS. For every scale ``i``: the 3D voxel features of
encoder block ``i`` get a 3D classifier (``multihead_3d_classifier``); at the image points the
3D feature passes a learner MLP (``leaners``), is concatenated with the 2D feature of that
scale, projected (``fcs1``) and gated by ``sigmoid(fcs2(.))`` into a fused feature with its own
classifier (``multihead_fuse_classifier``); the fused features of all scales feed the final
``classifier``. The losses of the original's ``forward`` are computed by the configured
losses from the returned outputs (see ``configs/twodpass``).
"""
import paddle
import paddle.nn.functional as F
from paddle import nn

__all__ = ["xModalKD"]


def _head(in_channels, num_classes):
    return nn.Sequential(nn.Linear(in_channels, 128), nn.ReLU(), nn.Linear(128, num_classes))


class xModalKD(nn.Layer):  # noqa: N801 (name of the original, for checkpoints)
    """Per-scale 2D/3D fusion heads.

    Args:
        hidden_size: feature channels of both branches.
        scale_list: the 3D encoder scales (e.g. [2, 4, 8, 16] or [2, 4, 8, 16, 16, 16]); scale
            ``s`` fuses with the 2D features of scale ``s``.
        num_classes: output classes.
    """

    def __init__(self, hidden_size, scale_list, num_classes):
        super().__init__()
        self.hidden_size, self.num_classes = int(hidden_size), int(num_classes)
        self.scale_list = [int(s) for s in scale_list]
        n, h = len(self.scale_list), self.hidden_size
        self.multihead_3d_classifier = nn.LayerList([_head(h, num_classes) for _ in range(n)])
        self.multihead_fuse_classifier = nn.LayerList([_head(h, num_classes) for _ in range(n)])
        self.leaners = nn.LayerList([nn.Sequential(nn.Linear(h, h)) for _ in range(n)])
        self.fcs1 = nn.LayerList([nn.Sequential(nn.Linear(2 * h, h)) for _ in range(n)])
        self.fcs2 = nn.LayerList([nn.Sequential(nn.Linear(h, h)) for _ in range(n)])
        self.classifier = _head(h * n, num_classes)

    def fusion_to_single(self, idx, img_feat, pts_feat, point_voxel):
        """One scale.

        Args:
            idx: scale index. img_feat: float [M, h] 2D features at the image points.
            pts_feat: float [V, h] 3D voxel features of encoder block ``idx``.
            point_voxel: int64 [M] voxel row (in ``pts_feat``) of each image point.

        Returns:
            (voxel logits [V, C], 3D logits at the image points [M, C],
             fused logits [M, C], fused features [M, h]).
        """
        pts_pred_full = self.multihead_3d_classifier[idx](pts_feat)          # [V, C]
        pts_feat = paddle.gather(pts_feat, point_voxel)                      # [M, h]
        pts_pred = paddle.gather(pts_pred_full, point_voxel)                 # [M, C]
        feat_learner = F.relu(self.leaners[idx](pts_feat))
        feat_cat = self.fcs1[idx](paddle.concat([img_feat, feat_learner], axis=1))  # [M, h]
        feat_weight = F.sigmoid(self.fcs2[idx](feat_cat))
        fuse_feat = F.relu(feat_cat * feat_weight)
        fuse_pred = self.multihead_fuse_classifier[idx](fuse_feat)           # [M, C]
        return pts_pred_full, pts_pred, fuse_pred, fuse_feat

    def forward(self, img_feats, layers, voxels, point2img_index):
        """Args:
            img_feats: {scale: float [M, h]} from the 2D branch.
            layers: per encoder block, (voxel features [V_i, h], its voxel scale).
            voxels: {scale: VoxelScale} of the 3D branch.
            point2img_index: int64 [M] point row of each image point.

        Returns:
            dict of named outputs: ``scale_logits`` (list of [V_i, C]), ``scale_inv`` (list of
            [N] point -> voxel rows), ``scale_point_logits`` and ``scale_fuse_logits`` (lists of
            [M, C]) and ``fuse_logits`` [M, C].
        """
        if len(layers) != len(self.scale_list):
            raise ValueError(f"xModalKD: {len(layers)} encoder blocks for "
                             f"{len(self.scale_list)} scales")
        out = {"scale_logits": [], "scale_inv": [], "scale_point_logits": [],
               "scale_fuse_logits": []}
        fuse_feats = []
        for idx, (scale, (pts_feat, voxel_scale)) in enumerate(zip(self.scale_list, layers)):
            if scale not in img_feats:
                raise KeyError(f"xModalKD: no 2D features of scale {scale}; the 2D branch gives "
                               f"{sorted(img_feats)}")
            inv = voxels[voxel_scale].coors_inv                               # [N]
            full, pts_pred, fuse_pred, fuse_feat = self.fusion_to_single(
                idx, img_feats[scale], pts_feat, paddle.gather(inv, point2img_index))
            out["scale_logits"].append(full)
            out["scale_inv"].append(inv)
            out["scale_point_logits"].append(pts_pred)
            out["scale_fuse_logits"].append(fuse_pred)
            fuse_feats.append(fuse_feat)
        out["fuse_logits"] = self.classifier(paddle.concat(fuse_feats, axis=1))  # [M, C]
        return out
