"""NetVLAD aggregation layer.

Arandjelovic et al., "NetVLAD: CNN architecture for weakly supervised place recognition",
CVPR 2016. Ported from the PyTorch implementation Nanne/pytorch-NetVlad (``netvlad.py``):
same parameter names (``conv``, ``centroids``), same soft assignment, intra- and final
L2 normalization. The residual aggregation is computed in closed form
(``sum_i a_ki (x_i - c_k) = (A X^T)_k - c_k sum_i a_ki``) instead of a loop over clusters.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

__all__ = ["NetVLAD"]


class NetVLAD(nn.Layer):
    """Soft-assignment VLAD pooling of a feature map.

    Args:
        num_clusters: K, number of cluster centres.
        dim: D, channels of the input feature map.
        normalize_input: L2-normalize each local descriptor (over channels) first.
        vladv2: use a biased 1x1 conv initialised from the centroids (``init_params``);
            otherwise (v1) the conv has no bias.
    """

    def __init__(self, num_clusters=64, dim=128, normalize_input=True, vladv2=False):
        super().__init__()
        self.num_clusters = int(num_clusters)
        self.dim = int(dim)
        self.alpha = 0.0
        self.vladv2 = bool(vladv2)
        self.normalize_input = bool(normalize_input)
        self.conv = nn.Conv2D(self.dim, self.num_clusters, kernel_size=1,
                              bias_attr=None if self.vladv2 else False)
        self.centroids = self.create_parameter(
            [self.num_clusters, self.dim],
            default_initializer=nn.initializer.Uniform(0.0, 1.0))   # torch.rand

    def init_params(self, clsts, traindescs):
        """Initialise from k-means centres ``clsts`` [K, D] of sample descriptors [N, D].

        v1: conv weights are ``alpha * c_k / |c_k|`` with alpha set so that the mean gap
        between the best and second-best dot product gives a soft-assignment ratio of 100.
        v2: conv weights ``2 alpha c_k`` and bias ``-alpha |c_k|`` with alpha from the squared
        distance gap of each centre's two nearest descriptors (the reference passes neighbour
        *indices* there; distances are used here).
        """
        clsts = np.asarray(clsts, np.float32)
        traindescs = np.asarray(traindescs, np.float32)
        if clsts.shape != (self.num_clusters, self.dim) or traindescs.shape[1:] != (self.dim,):
            raise ValueError(f"init_params: expected clsts [{self.num_clusters}, {self.dim}] and "
                             f"traindescs [N, {self.dim}], got {list(clsts.shape)} and "
                             f"{list(traindescs.shape)}")
        self.centroids.set_value(clsts)
        if not self.vladv2:
            assign = clsts / np.linalg.norm(clsts, axis=1, keepdims=True)
            dots = np.sort(assign @ traindescs.T, axis=0)[::-1]          # [K, N], descending
            self.alpha = float(-np.log(0.01) / np.mean(dots[0] - dots[1]))
            weight = self.alpha * assign
        else:
            d2 = ((clsts[:, None, :] - traindescs[None, :, :]) ** 2).sum(-1)   # [K, N]
            d2.sort(axis=1)
            self.alpha = float(-np.log(0.01) / np.mean(d2[:, 1] - d2[:, 0]))
            weight = 2.0 * self.alpha * clsts
            self.conv.bias.set_value((-self.alpha * np.linalg.norm(clsts, axis=1))
                                     .astype(np.float32))
        self.conv.weight.set_value(weight[:, :, None, None].astype(np.float32))

    def forward(self, x):
        """x: [N, D, H, W] -> VLAD descriptor [N, K * D], intra- then L2-normalized."""
        n, c = x.shape[0], x.shape[1]
        if c != self.dim:
            raise ValueError(f"NetVLAD expects {self.dim} input channels (dim), got {c}")
        if self.normalize_input:
            x = F.normalize(x, p=2, axis=1)
        logits = self.conv(x).reshape([n, self.num_clusters, -1])          # [N, K, HW]
        soft_assign = F.softmax(logits, axis=1)
        x_flat = x.reshape([n, c, -1])                                     # [N, D, HW]
        vlad = paddle.matmul(soft_assign, x_flat, transpose_y=True)        # [N, K, D]
        vlad = vlad - self.centroids.unsqueeze(0) * soft_assign.sum(axis=2, keepdim=True)
        vlad = F.normalize(vlad, p=2, axis=2)           # intra-normalization
        vlad = F.normalize(vlad.reshape([n, -1]), p=2, axis=1)
        return vlad
