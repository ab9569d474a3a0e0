"""RangeNet++ (PRBonn/lidar-bonnetal) checkpoints -> :class:`paddlexseg.models.RangeNet`.

lidar-bonnetal's ``Segmentator.save_checkpoint`` writes three ``torch.save``'d state dicts
(``segmentator.py``; ``_train`` suffix for the last epoch, none for the best validation one)::

    backbone              -> backbone.*  conv1, bn1, enc1..enc5.{conv, bn, residual_i.{conv1, bn1,
                                                                                  conv2, bn2}}
    segmentation_decoder  -> decoder.*   dec5..dec1.{upconv | conv, bn, residual.{conv1, bn1,
                                                                                 conv2, bn2}}
    segmentation_head     -> head.*      1.weight / 1.bias (index 0 is the Dropout2d)

A single file holding the whole ``Segmentator.state_dict()`` (keys ``backbone.*``,
``decoder.*``, ``head.*``) is accepted as well. Names are kept, so the rules are prefix
renames; the decoder's ``upconv`` ConvTranspose2d weights keep their layout
(``conv_transpose``). The released archives (darknet21.tar.gz ...)
also hold ``arch_cfg.yaml``/``data_cfg.yaml``, which are not needed here. :func:`bonnetal_files`
is shared with SqueezeSegV3, which saves its files the same way.
"""
import os

from .core import ArchSpec, ConversionError, Rule

__all__ = ["bonnetal_files", "FILE_EXTENSIONS", "RANGENET_RULES", "RANGENET_MODULES", "ARCHS"]

FILE_EXTENSIONS = (".pth", ".pt", ".npz")


def _combined(sources, accepted, modules):
    """The keys of one combined state dict renamed to ``<file name>.<key>``, or None when the
    sources are not a single file whose keys all start with a module or file name."""
    if len(sources) != 1:
        return None
    path, arrays = sources[0]
    heads = {key.split(".", 1)[0] for key in arrays}
    if not arrays or not heads <= set(modules) | set(accepted):
        return None
    merged = {}
    for key, value in arrays.items():
        head, rest = key.split(".", 1)
        merged[f"{modules.get(head, head)}.{rest}"] = value
    found = sorted({modules.get(h, h) for h in heads})
    return merged, [f"{path}: one combined state dict (the whole segmentator: "
                    f"{', '.join(sorted(heads))}), read as the files {', '.join(found)}"]


def bonnetal_files(file_names, modules=None):
    """``combine`` for lidar-bonnetal style checkpoints: one file per sub-network, or one
    combined state dict.

    Args:
        file_names: the accepted file names (e.g. ``("backbone", "segmentation_decoder",
            "segmentation_head")``); a name may carry the ``_train`` suffix and one of the
            extensions ``.pth``, ``.pt``, ``.npz``.
        modules: ``{attribute of the original Segmentator: file name}`` (``{"decoder":
            "segmentation_decoder", ...}``): a single source file whose keys all start with
            these attributes (or the file names) is the whole model's ``state_dict()``.

    Returns:
        ``combine(sources)`` that prefixes every key with its file name
        (``segmentation_decoder.dec5.upconv.weight``).
    """
    accepted = tuple(file_names)
    modules = dict(modules or {})

    def combine(sources):
        combined = _combined(sources, accepted, modules)
        if combined is not None:
            return combined
        merged, notes, seen = {}, [], {}
        for path, arrays in sources:
            base = os.path.basename(os.path.normpath(path))
            name = base
            for ext in FILE_EXTENSIONS:
                if name.endswith(ext):
                    name = name[:-len(ext)]
            if name.endswith("_train"):
                name = name[:-len("_train")]
                notes.append(f"{path}: a '_train' file (last training epoch); the files without "
                             f"the suffix hold the best validation epoch")
            if name not in accepted:
                raise ConversionError(f"{path}: unexpected checkpoint file name '{base}'; "
                                      f"expected one of {', '.join(accepted)} (optionally with "
                                      f"the '_train' suffix)")
            if name in seen:
                raise ConversionError(f"{path}: '{name}' was already given as {seen[name]}")
            seen[name] = path
            for key, value in arrays.items():
                merged[f"{name}.{key}"] = value
        absent = [n for n in accepted if n not in seen]
        if absent:
            notes.append(f"no file given for: {', '.join(absent)}")
        return merged, notes

    return combine


RANGENET_FILES = ("backbone", "segmentation_decoder", "segmentation_head")
# lidar-bonnetal Segmentator attributes -> file names (a combined Segmentator.state_dict())
RANGENET_MODULES = {"backbone": "backbone", "decoder": "segmentation_decoder",
                    "head": "segmentation_head"}

RANGENET_RULES = [
    Rule(r"backbone\.(.+)", r"backbone.\1"),
    Rule(r"segmentation_decoder\.(dec[1-5]\.upconv\.weight)", r"decoder.\1", "conv_transpose"),
    Rule(r"segmentation_decoder\.(.+)", r"decoder.\1"),
    Rule(r"segmentation_head\.(.+)", r"head.\1"),
]

_PUBLISHED = ("http://www.ipb.uni-bonn.de/html/projects/bonnetal/lidar/semantic/models/"
              "{name}.tar.gz (listed in lidar-bonnetal train/tasks/semantic/README.md)")

_NOTES = (
    "RangeNet: the original head ends with softmax(dim=1); the Paddle model returns the logits "
    "(same argmax; the losses apply the softmax).",
    "RangeNet: inputs must be normalised with the archive's arch_cfg.yaml img_means/img_stds "
    "(RangeProjection defaults = darknet21/53 values) and zeroed where no point landed; "
    "darknet53-1024 / darknet53-512 were trained on 1024 / 512-wide projections: set the "
    "projection W to match.",
)


def _rangenet(layers):
    return ArchSpec(
        name=f"rangenet-darknet{layers}",
        model={"type": "RangeNet", "num_classes": 20,
               "backbone": {"type": "DarkNet", "layers": layers, "in_channels": 5,
                            "output_stride": 32, "bn_momentum": 0.01, "dropout": 0.01},
               "decoder_dropout": 0.01, "head_dropout": 0.01, "bn_momentum": 0.01},
        rules=RANGENET_RULES,
        description=f"RangeNet++ DarkNet-{layers} on SemanticKITTI (lidar-bonnetal)",
        sources="the archive's backbone, segmentation_decoder and segmentation_head files "
                "(or the extracted folder), or one combined Segmentator state dict",
        published=_PUBLISHED.format(name=f"darknet{layers}") +
        ("; darknet53-1024 and darknet53-512 convert the same way" if layers == 53 else ""),
        config=f"configs/rangenet/rangenet_darknet{layers}_semantickitti_150e.yml",
        combine=bonnetal_files(RANGENET_FILES, RANGENET_MODULES),
        notes=_NOTES,
        files=RANGENET_FILES,
    )


ARCHS = {spec.name: spec for spec in (_rangenet(21), _rangenet(53))}
