"""PointRend + Semantic FPN (ResNet-50/101) in PyTorch, for bench_models.py.

Written from detectron2: ``modeling/backbone/fpn.py`` (FPN: 1x1 laterals, nearest x2 top-down,
3x3 outputs; the unused p6 max-pool is left out), ``modeling/meta_arch/semantic_seg.py``
(``SemSegFPNHead``: 3x3 conv + GN(32) + ReLU blocks with bilinear x2, summed, 1x1 predictor) and
``projects/PointRend/point_rend/{semantic_seg.py, point_head.py, point_features.py}``
(``StandardPointHead`` of Conv1d layers; training points by uncertainty with randomness;
inference by 2 subdivision steps of the 8192 most uncertain cells). detectron2 itself is not
importable here (no torchvision), so the modules are re-written in plain torch.nn with the
Paddle model's names (those of the converter's key map after its prefix renames).
Importing this module imports torch.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from torch_resnet import ResNet


class Conv2dNorm(nn.Conv2d):
    """detectron2 ``layers.Conv2d``: conv, optional ``norm``, optional activation."""

    def __init__(self, cin, cout, k, padding=0, norm=False, activation=None):
        super().__init__(cin, cout, k, padding=padding, bias=not norm)
        self.norm = nn.GroupNorm(32, cout) if norm else None
        self.activation = activation

    def forward(self, x):
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.activation(x) if self.activation is not None else x


class FPN(nn.Module):
    def __init__(self, in_channels=(256, 512, 1024, 2048), out_channels=256):
        super().__init__()
        for s, ch in zip((2, 3, 4, 5), in_channels):
            setattr(self, f"fpn_lateral{s}", Conv2dNorm(ch, out_channels, 1))
            setattr(self, f"fpn_output{s}", Conv2dNorm(out_channels, out_channels, 3, 1))

    def forward(self, feats):
        prev = self.fpn_lateral5(feats[3])
        results = {"p5": self.fpn_output5(prev)}
        for s in (4, 3, 2):
            prev = getattr(self, f"fpn_lateral{s}")(feats[s - 2]) + F.interpolate(
                prev, scale_factor=2.0, mode="nearest")
            results[f"p{s}"] = getattr(self, f"fpn_output{s}")(prev)
        return results


class SemSegFPNHead(nn.Module):
    def __init__(self, num_classes=19, conv_dims=128, channels=256, common_stride=4):
        super().__init__()
        for s in (2, 3, 4, 5):
            stride, ops = 2 ** s, []
            for k in range(max(1, int(math.log2(stride) - math.log2(common_stride)))):
                ops.append(Conv2dNorm(channels if k == 0 else conv_dims, conv_dims, 3, 1,
                                      norm=True, activation=nn.ReLU()))
                if stride != common_stride:
                    ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            setattr(self, f"p{s}", nn.Sequential(*ops))
        self.predictor = Conv2dNorm(conv_dims, num_classes, 1)

    def forward(self, feats):
        x = None
        for s in (2, 3, 4, 5):
            y = getattr(self, f"p{s}")(feats[f"p{s}"])
            x = y if x is None else x + y
        return self.predictor(x)


class StandardPointHead(nn.Module):
    def __init__(self, in_channels=256, num_classes=19, fc_dim=256, num_fc=3):
        super().__init__()
        dim_in = in_channels + num_classes
        for k in range(num_fc):
            setattr(self, f"fc{k + 1}", nn.Conv1d(dim_in, fc_dim, 1))
            dim_in = fc_dim
        self.num_fc = num_fc
        self.predictor = nn.Conv1d(dim_in, num_classes, 1)

    def forward(self, fine, coarse):
        x = torch.cat([fine, coarse], dim=1)
        for k in range(self.num_fc):
            x = F.relu(getattr(self, f"fc{k + 1}")(x))
        return self.predictor(x)


def point_sample(x, coords):
    return F.grid_sample(x, 2.0 * coords.unsqueeze(2) - 1.0, align_corners=False).squeeze(3)


def calculate_uncertainty(logits):
    top2 = torch.topk(logits, k=2, dim=1)[0]
    return (top2[:, 1] - top2[:, 0]).unsqueeze(1)


def uncertain_points_with_randomness(coarse, num_points, oversample_ratio=3, ratio=0.75):
    n = coarse.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(n, num_sampled, 2)
    unc = calculate_uncertainty(point_sample(coarse, coords))
    num_uncertain = int(ratio * num_points)
    idx = torch.topk(unc[:, 0, :], k=num_uncertain, dim=1)[1]
    idx = idx + num_sampled * torch.arange(n)[:, None]
    coords = coords.view(-1, 2)[idx.view(-1), :].view(n, num_uncertain, 2)
    return torch.cat([coords, torch.rand(n, num_points - num_uncertain, 2)], dim=1)


def uncertain_points_on_grid(unc, num_points):
    r, _, h, w = unc.shape
    num_points = min(h * w, num_points)
    idx = torch.topk(unc.view(r, h * w), k=num_points, dim=1)[1]
    coords = torch.zeros(r, num_points, 2)
    coords[:, :, 0] = 0.5 / w + (idx % w).to(torch.float) / w
    coords[:, :, 1] = 0.5 / h + (idx // w).to(torch.float) / h
    return idx, coords


class PointRendTorch(nn.Module):
    """Eval: refined logits [B, C, H, W]; train: (coarse logits, point logits)."""

    def __init__(self, depth=101, num_classes=19, stride_in_1x1=False, train_num_points=2048,
                 subdivision_steps=2, subdivision_num_points=8192):
        super().__init__()
        self.backbone = ResNet(depth, stride_in_1x1=stride_in_1x1)
        self.fpn = FPN()
        self.coarse_sem_seg_head = SemSegFPNHead(num_classes)
        self.point_head = StandardPointHead(256, num_classes)
        self.train_num_points = train_num_points
        self.subdivision_steps = subdivision_steps
        self.subdivision_num_points = subdivision_num_points

    def point_logits(self, feats, coarse, coords):
        return self.point_head(point_sample(feats["p2"], coords), point_sample(coarse, coords))

    def forward(self, image):
        feats = self.fpn(self.backbone(image))
        coarse = self.coarse_sem_seg_head(feats)
        if self.training:
            with torch.no_grad():
                coords = uncertain_points_with_randomness(coarse, self.train_num_points)
            return coarse, self.point_logits(feats, coarse, coords)
        logits = coarse.clone()
        for _ in range(self.subdivision_steps):
            logits = F.interpolate(logits, scale_factor=2, mode="bilinear", align_corners=False)
            n, c, h, w = logits.shape
            idx, coords = uncertain_points_on_grid(calculate_uncertainty(logits),
                                                   self.subdivision_num_points)
            point_logits = self.point_logits(feats, coarse, coords)
            logits = logits.reshape(n, c, h * w).scatter_(
                2, idx.unsqueeze(1).expand(-1, c, -1), point_logits).view(n, c, h, w)
        if logits.shape[-2:] != image.shape[-2:]:  # sem_seg_postprocess
            logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear",
                                   align_corners=False)
        return logits


def build(paddle_model):
    """The twin of a ``PointRendFPN`` (its depth, classes and stride placement)."""
    bb = paddle_model.backbone
    return PointRendTorch(bb.depth, paddle_model.num_classes, bb._stride_in_1x1,
                          paddle_model.train_num_points, paddle_model.subdivision_steps,
                          paddle_model.subdivision_num_points)
