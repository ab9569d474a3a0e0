"""``PointFusion`` of MVX-Net (Sindagi et al., "MVX-Net: Multimodal VoxelNet for 3D Object
Detection", ICRA 2019), as mmdetection3d ``PointFusion``
(``mmdet3d/models/layers/fusion_layers/point_fusion.py``) with the KITTI config's settings
(``img_levels=[0..4]``, ``align_corners=False``, ``activate_out=True``, ``fuse_out=False``).

Per FPN level a 3x3 lateral conv (``lateral_convs.{l}``, img_channels -> mid_channels, with bias,
no norm), bilinear sampling at each point's projection (:mod:`.projection`), the levels
concatenated (L * mid) -> ``img_transform`` (Linear + BN1d, eps 1e-3, PyTorch momentum 0.01);
point features -> ``pts_transform`` (Linear + BN1d); out = ReLU(img + pts).
"""
import paddle
from paddle import nn
import paddle.nn.functional as F

from .base import FUSION_LAYERS, PointFusionLayer
from .projection import normalized_grid, project_to_input, sample_feature

__all__ = ["PointFusion", "linear_bn", "sample_levels"]


def _xavier():
    return paddle.ParamAttr(initializer=nn.initializer.XavierUniform())


def _zero():
    return paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))


def linear_bn(cin, cout):
    """Linear + BatchNorm1D(eps 1e-3, PyTorch momentum 0.01 = Paddle 0.99), xavier init."""
    return nn.Sequential(nn.Linear(cin, cout, weight_attr=_xavier(), bias_attr=_zero()),
                         nn.BatchNorm1D(cout, epsilon=1e-3, momentum=0.99))


def sample_levels(img_ins, points, metas, pad_shape, align_corners=False):
    """Image features of every point: list of L maps [B, C_l, H_l, W_l] -> [sum Ni, sum C_l]
    (frames in order, levels concatenated), zeros where a point projects outside the image.
    A meta holding ``sample_grid`` (the normalised grid [Ni, 2], computed in the exported graph
    by :func:`paddlexseg.apis.mvx_export.graph_sample_grid`) is used as is."""
    per_frame = []
    for i, (pts, meta) in enumerate(zip(points, metas)):
        grid = meta.get("sample_grid")
        if grid is None:
            uv, depth = project_to_input(pts[:, :3].numpy(), meta)
            grid = paddle.to_tensor(normalized_grid(uv, depth, pad_shape))
        per_frame.append(paddle.concat(
            [sample_feature(f[i:i + 1], grid, align_corners) for f in img_ins], axis=1))
    return paddle.concat(per_frame, axis=0)


@FUSION_LAYERS.register()
class PointFusion(PointFusionLayer):
    """Args (mmdet3d names):
        img_channels: channels of each image level (int or list).
        pts_channels: point feature channels (64).
        mid_channels: lateral conv channels (128).
        out_channels: fused channels (128).
        img_levels: indices of the image levels used (all 5 FPN outputs).
        align_corners: grid_sample convention (False in the KITTI config).
        activate_out: ReLU on the sum. dropout_ratio: dropout on the image branch in training.
    """

    def __init__(self, img_channels=256, pts_channels=64, mid_channels=128, out_channels=128,
                 img_levels=(0, 1, 2, 3, 4), align_corners=False, activate_out=True,
                 dropout_ratio=0.0):
        super().__init__()
        img_levels = [img_levels] if isinstance(img_levels, int) else list(img_levels)
        if isinstance(img_channels, int):
            img_channels = [img_channels] * len(img_levels)
        if len(img_channels) != len(img_levels):
            raise ValueError(f"PointFusion: img_channels {img_channels} and img_levels "
                             f"{img_levels} differ in length")
        self.img_levels, self.align_corners = img_levels, bool(align_corners)
        self.activate_out, self.dropout_ratio = bool(activate_out), float(dropout_ratio)
        self.out_channels = int(out_channels)
        self.lateral_convs = nn.LayerList([
            nn.Conv2D(c, mid_channels, 3, padding=1, weight_attr=_xavier(), bias_attr=_zero())
            for c in img_channels])
        self.img_transform = linear_bn(mid_channels * len(img_channels), out_channels)
        self.pts_transform = linear_bn(pts_channels, out_channels)

    def obtain_mlvl_feats(self, img_feats, points, metas, pad_shape):
        """[sum Ni, L * mid] sampled lateral features (mmdet3d ``obtain_mlvl_feats``)."""
        img_ins = [conv(img_feats[l]) for l, conv in zip(self.img_levels, self.lateral_convs)]
        return sample_levels(img_ins, points, metas, pad_shape, self.align_corners)

    def forward(self, img_feats, points, pts_feats, metas, pad_shape):
        """pad_shape: (H, W) of the padded network input the image features come from."""
        img_pts = self.obtain_mlvl_feats(img_feats, points, metas, pad_shape)
        img_pre = self.img_transform(img_pts)
        if self.training and self.dropout_ratio > 0:
            img_pre = F.dropout(img_pre, self.dropout_ratio)
        out = img_pre + self.pts_transform(pts_feats)
        return F.relu(out) if self.activate_out else out
