"""Official PyTorch checkpoints -> paddlexseg weights (``tools/convert_weights.py``).

See ``docs/model_zoo.md``. Layers:

* :mod:`.core`: framework-free key mapping of ``{key: numpy array}`` dicts and the report;
* :mod:`.loaders`: ``.npz`` / detectron2 ``.pkl`` / ``torch.save`` files -> NumPy dicts
  (torch only for the last, from the ``convert`` extra);
* :mod:`.rangenet`, :mod:`.squeezesegv3`, :mod:`.pointrend`, :mod:`.twodpass`, :mod:`.mmdet3d`
  (SECOND, MVX-Net): per-family rules and :class:`~.core.ArchSpec` entries;
* :mod:`.archs`: the architecture table and the convert / check / save pipeline.
"""
from .core import (ArchSpec, ConversionError, ConversionReport, Drop, KeyMapper, ParamSpec, Rule,
                   TRANSFORMS, apply_transform, convert_state_dict)
from .loaders import MissingTorchError, load_checkpoint
from .archs import (ARCHS, build_model, convert_checkpoint, get_arch, load_into_model,
                    norm_settings, save_converted, target_spec)

__all__ = ["ArchSpec", "ConversionError", "ConversionReport", "Drop", "KeyMapper", "ParamSpec",
           "Rule", "TRANSFORMS", "apply_transform", "convert_state_dict", "MissingTorchError",
           "load_checkpoint", "ARCHS", "build_model", "convert_checkpoint", "get_arch",
           "load_into_model", "norm_settings", "save_converted", "target_spec"]
