"""SqueezeSegV3 (chenfengxu714/SqueezeSegV3) checkpoints -> :class:`paddlexseg.models.SqueezeSegV3`.

The original ``Segmentator.save_checkpoint`` (``src/tasks/semantic/modules/segmentator.py``)
writes seven ``torch.save``'d state dicts, lidar-bonnetal style::

    backbone               -> backbone.*  conv1, bn1, enc1..enc5.residual_i.{attention_x.{0, 1},
                                          position_mlp_2.{0, 1, 3, 4}}, enc1..enc3.{conv, bn}
    segmentation_decoder   -> decoder.*   dec5..dec1.{upconv | conv, bn, residual.{conv1, bn1,
                                                                                  conv2, bn2}}
    segmentation_head1..5  -> head1..5.*  1.weight / 1.bias (index 0 is the Dropout2d)

All names are kept (prefix renames); the decoder's ``upconv`` weights are ConvTranspose2d
(``conv_transpose``, same layout). The SAC 1x1 conv ``position_mlp_2.0`` reads the
``F.unfold`` channels in torch's ``c * 9 + k`` order, which Paddle's ``unfold`` shares
(checked in ``tests/convert/test_layer_equivalence.py``), so it is copied as is.
"""
from .core import ArchSpec, Rule
from .rangenet import bonnetal_files

__all__ = ["SQUEEZESEGV3_RULES", "ARCHS"]

SQUEEZESEGV3_FILES = ("backbone", "segmentation_decoder") + tuple(
    f"segmentation_head{i}" for i in range(1, 6))

# SqueezeSegV3 Segmentator attributes -> file names (a combined Segmentator.state_dict())
SQUEEZESEGV3_MODULES = dict({"backbone": "backbone", "decoder": "segmentation_decoder"},
                            **{f"head{i}": f"segmentation_head{i}" for i in range(1, 6)})

SQUEEZESEGV3_RULES = [
    Rule(r"backbone\.(.+)", r"backbone.\1"),
    Rule(r"segmentation_decoder\.(dec[1-5]\.upconv\.weight)", r"decoder.\1", "conv_transpose"),
    Rule(r"segmentation_decoder\.(.+)", r"decoder.\1"),
    Rule(r"segmentation_head([1-5])\.(.+)", r"head\1.\2"),
]

_NOTES = (
    "SqueezeSegV3: the original applies softmax(dim=1) to each of the five heads; the Paddle "
    "model returns logits ('logits' = head5 = the original's z1, 'aux_logits_1..4' = z2..z5).",
    "SqueezeSegV3: 64 x 2048 projections normalised with SSGV321/53.yaml img_means/img_stds "
    "(the RangeNet values); KNN post-processing in the original configs uses knn 7, search 7.",
)


def _squeezesegv3(layers):
    return ArchSpec(
        name=f"squeezesegv3-{layers}",
        model={"type": "SqueezeSegV3", "num_classes": 20,
               "backbone": {"type": "SACNet", "layers": layers, "in_channels": 5,
                            "output_stride": 8, "bn_momentum": 0.01, "dropout": 0.01,
                            "memory_efficient": True},
               "decoder_dropout": 0.01, "head_dropout": 0.01, "bn_momentum": 0.01},
        rules=SQUEEZESEGV3_RULES,
        description=f"SqueezeSegV3-{layers} (SAC-{layers}) on SemanticKITTI",
        sources="the backbone, segmentation_decoder and segmentation_head1..5 files "
                "(or their folder), or one combined Segmentator state dict",
        published="Google Drive folder linked from the SqueezeSegV3 README "
                  "(https://drive.google.com/drive/folders/1oIZXnMxQPaEINlI11V3kn_kXdSTfUgm6), "
                  f"model SSGV3-{layers}",
        config=f"configs/squeezesegv3/squeezesegv3_sac{layers}_semantickitti_150e.yml",
        combine=bonnetal_files(SQUEEZESEGV3_FILES, SQUEEZESEGV3_MODULES),
        notes=_NOTES,
        files=SQUEEZESEGV3_FILES,
    )


ARCHS = {spec.name: spec for spec in (_squeezesegv3(21), _squeezesegv3(53))}
