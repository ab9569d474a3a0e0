"""RangeNet++: DarkNet encoder, upsampling decoder and a 3x3 classification head.

Milioto, Vizzo, Behley, Stachniss: "RangeNet++: Fast and Accurate LiDAR Semantic
Segmentation", IROS 2019. Ported from PRBonn/lidar-bonnetal
``train/tasks/semantic/modules/segmentator.py``.

The three official checkpoint files map to the sublayer prefixes ``backbone``
(``backbone``), ``segmentation_decoder`` (``decoder``) and ``segmentation_head`` (``head``).
The optional CRF of the original is not ported. KNN post-processing is done by the metric
(``RangeIoU(knn=...)``) on the argmax, as in the original ``user.py``.
"""
from paddle import nn

from ..registry import BACKBONES, MODELS, ConfigError
from .backbones.darknet import torch_conv
from .layers.darknet_decoder import DarkNetDecoder

__all__ = ["RangeNet", "set_dropout"]


def set_dropout(model, enabled):
    """Switch every ``Dropout``/``Dropout2D``/``Dropout3D`` of ``model`` on or off.

    Off sets their probability to 0 (the layers stay, so checkpoints and sublayer names do not
    change); on restores the probability each layer was built with. A train-mode forward
    without dropout is deterministic: compare it with the original layer by layer.
    """
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, (nn.Dropout, nn.Dropout2D, nn.Dropout3D)):
            if not hasattr(layer, "_built_p"):
                layer._built_p = layer.p
            layer.p = layer._built_p if enabled else 0.0
    return model


def build_range_backbone(backbone, num_classes, model_name, example):
    """Build a range-image encoder returning ``(feature, skips)`` and check ``num_classes``.

    Raises ConfigError naming the key when the backbone lacks ``output_stride`` /
    ``last_channels`` (what the decoders read) or ``num_classes`` is not an integer >= 2.
    """
    built = BACKBONES.build(backbone, path="model.backbone")
    for attr in ("output_stride", "last_channels"):
        if not hasattr(built, attr):
            raise ConfigError(f"model.backbone.type: {model_name} needs a backbone with "
                              f"'{attr}' (e.g. {example}), got {type(built).__name__}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"model.num_classes: expected an integer >= 2, got {num_classes!r}")
    return built


@MODELS.register()
class RangeNet(nn.Layer):
    """RangeNet++ semantic segmentation of spherical range images.

    Args:
        backbone: backbone config, e.g. ``{type: DarkNet, layers: 53}``; the backbone must
            return ``(feature, skips)`` and expose ``output_stride`` and ``last_channels``.
        num_classes: learning classes including the ignored class 0 (20 for SemanticKITTI).
        head_dropout: Dropout2D probability before the head conv (the original ``head.dropout``).
        decoder_dropout: Dropout2D probability after the decoder (``decoder.dropout``).
        bn_momentum: torch-style BatchNorm momentum of the decoder (``decoder.bn_d``).
        dropout: False builds every dropout of the model (backbone, decoder, head) with
            probability 0 (:func:`set_dropout`), e.g. for layer-by-layer parity checks.
    """

    def __init__(self, backbone, num_classes=20, head_dropout=0.01, decoder_dropout=0.01,
                 bn_momentum=0.01, dropout=True):
        super().__init__()
        self.backbone = build_range_backbone(backbone, num_classes, "RangeNet", "DarkNet")
        self.num_classes = num_classes
        self.decoder = DarkNetDecoder(output_stride=self.backbone.output_stride,
                                      feature_depth=self.backbone.last_channels,
                                      bn_momentum=bn_momentum, dropout=decoder_dropout,
                                      width_mult=getattr(self.backbone, "width_mult", 1.0))
        self.head = nn.Sequential(nn.Dropout2D(head_dropout),
                                  torch_conv(self.decoder.last_channels, num_classes, 3,
                                             padding=1))
        set_dropout(self, bool(dropout))

    def forward(self, range_img):
        """Segment a batch of range images.

        Args:
            range_img: float [B, 5, H, W] normalized (range, x, y, z, remission);
                W divisible by the backbone's output stride.

        Returns:
            {"logits": [B, num_classes, H, W]} raw class scores. The original applies a
            softmax here and trains with NLL on its log; we return logits and the losses
            (``WeightedCrossEntropyLoss``, ``LovaszSoftmaxLoss``) apply the softmax themselves.
        """
        if range_img.ndim != 4:
            raise ValueError(f"RangeNet: range_img must be [B, C, H, W], got shape "
                             f"{list(range_img.shape)}")
        feature, skips = self.backbone(range_img)  # [B, 1024, H, W / OS]
        y = self.decoder(feature, skips)  # [B, 32, H, W]
        return {"logits": self.head(y)}  # [B, num_classes, H, W]
