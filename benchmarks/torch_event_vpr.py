"""Event-VPR (centre crop, nearest resize to 224, ResNet-34 with a 5-bin first conv, NetVLAD
32 x 512) in PyTorch, for bench_models.py.

The NetVLAD layer is Nanne/pytorch-NetVlad's ``netvlad.py`` forward (the per-cluster residual
loop the reproduction uses); the backbone is torchvision's ResNet-34 layout
(``torch_resnet.ResNet``) with ``conv1`` taking the voxel bins. Names equal
``paddlexseg.models.EventVPR``'s (``backbone.*``, ``vlad.conv``, ``vlad.centroids``).
Importing this module imports torch.
"""
import torch
import torch.nn.functional as F
from torch import nn

from torch_resnet import ResNet


class NetVLAD(nn.Module):
    def __init__(self, num_clusters=32, dim=512, normalize_input=True):
        super().__init__()
        self.num_clusters, self.dim, self.normalize_input = num_clusters, dim, normalize_input
        self.conv = nn.Conv2d(dim, num_clusters, 1, bias=False)
        self.centroids = nn.Parameter(torch.rand(num_clusters, dim))

    def forward(self, x):
        n, c = x.shape[:2]
        if self.normalize_input:
            x = F.normalize(x, p=2, dim=1)
        soft_assign = F.softmax(self.conv(x).view(n, self.num_clusters, -1), dim=1)
        x_flatten = x.view(n, c, -1)
        vlad = torch.zeros([n, self.num_clusters, c], dtype=x.dtype)
        for k in range(self.num_clusters):
            residual = x_flatten.unsqueeze(0).permute(1, 0, 2, 3) - \
                self.centroids[k:k + 1, :].expand(x_flatten.size(-1), -1, -1).permute(
                    1, 2, 0).unsqueeze(0)
            residual = residual * soft_assign[:, k:k + 1, :].unsqueeze(2)
            vlad[:, k:k + 1, :] = residual.sum(dim=-1)
        vlad = F.normalize(vlad, p=2, dim=2).view(n, -1)
        return F.normalize(vlad, p=2, dim=1)


class EventVPRTorch(nn.Module):
    def __init__(self, depth=34, in_bins=5, crop_size=224, num_clusters=32, dim=512,
                 normalize_input=True):
        super().__init__()
        self.crop_size = crop_size
        self.backbone = ResNet(depth, in_channels=in_bins, out_indices=(3,))
        self.vlad = NetVLAD(num_clusters, dim, normalize_input)

    def forward(self, voxels):
        h, w = voxels.shape[2:]
        if h > w:
            voxels = voxels[:, :, h // 2 - w // 2:h // 2 + w // 2]
        else:
            voxels = voxels[:, :, :, w // 2 - h // 2:w // 2 + h // 2]
        x = F.interpolate(voxels, size=[self.crop_size, self.crop_size], mode="nearest")
        return self.vlad(self.backbone(x)[-1])


def build(paddle_model):
    return EventVPRTorch(paddle_model.backbone.depth, paddle_model.in_bins,
                         paddle_model.crop_size, paddle_model.vlad.num_clusters,
                         paddle_model.vlad.dim, paddle_model.vlad.normalize_input)
