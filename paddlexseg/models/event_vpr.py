"""Event-VPR: event-camera visual place recognition with a ResNet + NetVLAD descriptor.

Kong et al., "Event-VPR: End-to-End Weakly Supervised Deep Network Architecture for Visual
Place Recognition Using Event-Based Vision Sensor", IEEE TIM 2022. The reproduction this
ports feeds an event voxel grid (5 bins, 346 x 260) through a centre crop to a square, a
resize to 224 (``F.interpolate`` nearest, as the original), a ResNet-34 whose first conv
takes the bins as channels, and NetVLAD (32 clusters x 512 dims). The paper's learnable EST
quantization (Gehrig et al., ICCV 2019) is the option ``quantization: est``; it turns raw
events into 2 x in_bins channels (negative, positive polarity).

Sublayers: ``quantization_layer`` (EST only), ``backbone`` (the reproduction's
``resnet34.resnet34.*``, torchvision names) and ``vlad`` (Nanne/pytorch-NetVlad names).
No ImageNet weights are loaded (no network access); convert them with the weights tool.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..ops.resize import resize_nearest
from ..registry import BACKBONES, MODELS, ConfigError
from ..transforms.events import QuantizationLayer
from .layers.netvlad import NetVLAD

__all__ = ["EventVPR"]


@MODELS.register()
class EventVPR(nn.Layer):
    """Place descriptor of an event sample.

    Args:
        in_bins: temporal bins of the voxel grid (or of the EST grid).
        backbone: backbone config; ``in_channels`` defaults to in_bins (2 * in_bins for EST)
            and ``out_indices`` to [3] (C5). Its last output must have ``dim`` channels.
        crop_size: side of the square the centre crop is resized to.
        num_clusters: NetVLAD clusters K.
        dim: NetVLAD input channels D (512 for ResNet-18/34 C5).
        quantization: "fixed" (input ``voxels``) or "est" (input ``events``).
        sensor_size: (height, width) of the sensor, for the EST grid.
        mlp_layers: EST ValueLayer MLP widths.
        resize_mode: ``F.interpolate`` mode of the resize ("nearest" as the reproduction).
        normalize_input, vladv2: NetVLAD options.
    """

    def __init__(self, in_bins=5, backbone=None, crop_size=224, num_clusters=32, dim=512,
                 quantization="fixed", sensor_size=(260, 346), mlp_layers=(1, 30, 30, 1),
                 resize_mode="nearest", normalize_input=True, vladv2=False):
        super().__init__()
        if quantization not in ("fixed", "est"):
            raise ConfigError(f"model.quantization: expected 'fixed' or 'est', "
                              f"got {quantization!r}")
        self.quantization = quantization
        self.in_bins = int(in_bins)
        self.crop_size = int(crop_size)
        self.resize_mode = resize_mode
        channels = self.in_bins * (2 if quantization == "est" else 1)
        if quantization == "est":
            self.quantization_layer = QuantizationLayer(
                (self.in_bins, int(sensor_size[0]), int(sensor_size[1])), mlp_layers)
        backbone = dict(backbone or {"type": "ResNet", "depth": 34})
        if backbone.get("in_channels", channels) != channels:
            raise ConfigError(f"model.backbone.in_channels: the {quantization} quantization "
                              f"gives {channels} channels, got {backbone['in_channels']}")
        self.backbone = BACKBONES.build(backbone, path="model.backbone", in_channels=channels,
                                        out_indices=[3])
        out_ch = getattr(self.backbone, "out_channels", [dim])[-1]
        if out_ch != dim:
            raise ConfigError(f"model.dim: the backbone's last feature map has {out_ch} "
                              f"channels, got dim={dim}")
        self.vlad = NetVLAD(num_clusters=num_clusters, dim=dim, normalize_input=normalize_input,
                            vladv2=vladv2)

    def crop_and_resize(self, x):
        """Centre crop [B, C, H, W] to a square (side min(H, W), even) and resize to crop_size."""
        h, w = x.shape[2], x.shape[3]
        if h > w:
            c = h // 2
            x = x[:, :, c - w // 2:c + w // 2, :]
        else:
            c = w // 2
            x = x[:, :, :, c - h // 2:c + h // 2]
        if self.resize_mode == "nearest":  # the same pixels, as a gather that exports exactly
            return resize_nearest(x, (self.crop_size, self.crop_size))
        return F.interpolate(x, size=[self.crop_size, self.crop_size], mode=self.resize_mode)

    def local_features(self, voxels=None, events=None):
        """Backbone feature map [B, dim, S/32, S/32] of a batch (the NetVLAD input)."""
        if self.quantization == "est":
            if events is None:
                raise ValueError("EventVPR(quantization='est') needs raw events: set the "
                                 "dataset's representation to 'events'")
            batch = int(events[:, 4].max().item()) + 1
            x = self.quantization_layer(events, batch)                   # [B, 2C, H, W]
        else:
            if voxels is None:
                raise ValueError("EventVPR(quantization='fixed') needs voxels: set the "
                                 "dataset's representation to 'voxel'")
            x = voxels
        x = self.crop_and_resize(x.astype("float32"))                  # [B, C, S, S]
        return self.backbone(x)[-1]                                   # [B, dim, S/32, S/32]

    def forward(self, voxels=None, events=None):
        """Descriptors of a batch.

        Args:
            voxels: float32 [B, in_bins, H, W] (quantization "fixed").
            events: float32 [M, 5] (x, y, t, p, b) (quantization "est"), see EventBatch.

        Returns:
            {"descriptor": float32 [B, num_clusters * dim], L2-normalized}.
        """
        return {"descriptor": self.vlad(self.local_features(voxels, events))}  # [B, K * dim]

    def init_from_data(self, batches, max_descriptors=20000, kmeans_iters=25, seed=0):
        """pytorch-NetVlad's ``cluster`` step: k-means over local descriptors of ``batches``
        initialises the NetVLAD centroids and assignment conv (``NetVLAD.init_params``).

        Without it the random centroids are far longer than the normalised local descriptors and
        every image gets nearly the same VLAD vector, which a triplet loss cannot separate.
        The features are computed with batch statistics (train-mode BatchNorm), as in training.

        Args:
            batches: iterable of batches (``batch.inputs()`` gives this model's inputs).
            max_descriptors: random subset of local descriptors used for k-means.
            kmeans_iters: Lloyd iterations.
            seed: seed of the subset and of the initial centres.
        """
        rng = np.random.default_rng(seed)
        descs = []
        with paddle.no_grad():
            for batch in batches:
                feat = self.local_features(**batch.inputs())           # [B, D, h, w]
                descs.append(feat.transpose([0, 2, 3, 1]).reshape([-1, feat.shape[1]]).numpy())
        if not descs:
            raise ValueError("EventVPR.init_from_data: got no batches")
        descs = np.concatenate(descs).astype(np.float64)
        if self.vlad.normalize_input:
            descs /= np.maximum(np.linalg.norm(descs, axis=1, keepdims=True), 1e-12)
        if descs.shape[0] > max_descriptors:
            descs = descs[rng.choice(descs.shape[0], max_descriptors, replace=False)]
        centers = kmeans(descs, self.vlad.num_clusters, kmeans_iters, rng)
        self.vlad.init_params(centers, descs)


def kmeans(x, k, iters, rng):
    """Lloyd's k-means of x [N, D] from k distinct random samples; returns [k, D] centres
    (an empty cluster is re-seeded with the point farthest from its centre)."""
    if x.shape[0] < k:
        raise ValueError(f"k-means: {x.shape[0]} descriptors for {k} clusters; give more batches")
    centers = x[rng.choice(x.shape[0], k, replace=False)].copy()
    sq = (x ** 2).sum(1)
    for _ in range(int(iters)):
        d2 = sq[:, None] - 2 * x @ centers.T + (centers ** 2).sum(1)[None]   # [N, k]
        assign = d2.argmin(1)
        for c in range(k):
            members = assign == c
            if members.any():
                centers[c] = x[members].mean(0)
            else:
                centers[c] = x[d2[np.arange(x.shape[0]), assign].argmax()]
    return centers
