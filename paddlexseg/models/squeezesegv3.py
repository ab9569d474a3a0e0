"""SqueezeSegV3: SAC encoder, upsampling decoder and five classification heads.

Xu et al., "SqueezeSegV3: Spatially-Adaptive Convolution for Efficient Point-Cloud
Segmentation", ECCV 2020. Ported from chenfengxu714/SqueezeSegV3
``src/tasks/semantic/modules/segmentator.py``.

The original checkpoint files map to the sublayer prefixes ``backbone`` (``backbone``),
``segmentation_decoder`` (``decoder``) and ``segmentation_head1`` .. ``segmentation_head5``
(``head1`` .. ``head5``). The optional CRF is not ported; KNN post-processing is done by the
metric (``RangeIoU(knn=...)``).
"""
from paddle import nn

from ..registry import MODELS
from .backbones.darknet import torch_conv
from .layers.sac_decoder import SACDecoder
from .rangenet import build_range_backbone, set_dropout

__all__ = ["SqueezeSegV3", "AUX_OUTPUTS"]

# model output names of the four auxiliary heads, highest resolution first
AUX_OUTPUTS = ("aux_logits_1", "aux_logits_2", "aux_logits_3", "aux_logits_4")


@MODELS.register()
class SqueezeSegV3(nn.Layer):
    """SqueezeSegV3 semantic segmentation of spherical range images with deep supervision.

    Args:
        backbone: backbone config, e.g. ``{type: SACNet, layers: 21}``; the backbone must return
            ``(feature, skips)`` and expose ``output_stride`` and ``last_channels``.
        num_classes: learning classes including the ignored class 0 (20 for SemanticKITTI).
        head_dropout: Dropout2D probability before each head conv (the original ``head.dropout``).
        decoder_dropout: Dropout2D probability on the decoder output (``decoder.dropout``).
        bn_momentum: torch-style BatchNorm momentum of the decoder (``decoder.bn_d``, 0.01).
        dropout: False builds every dropout of the model (backbone, decoder, heads) with
            probability 0 (:func:`~paddlexseg.models.rangenet.set_dropout`).
    """

    def __init__(self, backbone, num_classes=20, head_dropout=0.01, decoder_dropout=0.01,
                 bn_momentum=0.01, dropout=True):
        super().__init__()
        self.backbone = build_range_backbone(backbone, num_classes, "SqueezeSegV3", "SACNet")
        self.num_classes = num_classes
        self.decoder = SACDecoder(output_stride=self.backbone.output_stride,
                                  feature_depth=self.backbone.last_channels,
                                  bn_momentum=bn_momentum, dropout=decoder_dropout,
                                  width_mult=getattr(self.backbone, "width_mult", 1.0))
        # head1 reads dec5 (lowest resolution) ... head5 the full-resolution output (3x3 conv)
        widths = self.decoder.channels  # dec5 first: [256, 256, 128, 64, 32] x width_mult
        for i, width in enumerate(widths):
            kernel, pad = (3, 1) if i == 4 else (1, 0)
            self.add_sublayer(f"head{i + 1}", nn.Sequential(
                nn.Dropout2D(head_dropout),
                torch_conv(width, num_classes, kernel, padding=pad)))
        set_dropout(self, bool(dropout))

    def forward(self, range_img):
        """Segment a batch of range images.

        Args:
            range_img: float [B, 5, H, W] normalized (range, x, y, z, remission); W divisible
                by the backbone's output stride.

        Returns:
            dict of raw class scores (the original applies a softmax here; the losses do):
                ``logits``: [B, num_classes, H, W] (head5), the prediction;
                ``aux_logits_1``: [B, num_classes, H, W/2] (head4, dec2);
                ``aux_logits_2``: [B, num_classes, H, W/4] (head3, dec3);
                ``aux_logits_3``: [B, num_classes, H, W/8] (head2, dec4);
                ``aux_logits_4``: [B, num_classes, H, W/8] (head1, dec5).
            (widths for output stride 8). All five in train and eval mode; they are the
            original's ``[z1, z2, z3, z4, z5]`` in that order.
        """
        if range_img.ndim != 4:
            raise ValueError(f"SqueezeSegV3: range_img must be [B, C, H, W], got shape "
                             f"{list(range_img.shape)}")
        width = range_img.shape[3]
        if width % self.backbone.output_stride:
            raise ValueError(f"SqueezeSegV3: input width {width} must be divisible by the output "
                             f"stride {self.backbone.output_stride} (e.g. 2048 or 512)")
        feature, skips = self.backbone(range_img)  # [B, 256, H, W / OS]
        feats = self.decoder(feature, skips)  # full resolution first
        heads = [self.head5, self.head4, self.head3, self.head2, self.head1]
        logits = [head(f) for head, f in zip(heads, feats)]
        out = {"logits": logits[0]}
        out.update(zip(AUX_OUTPUTS, logits[1:]))
        return out
