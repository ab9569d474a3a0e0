"""Inference backends for ``deploy/python/infer.py`` besides Paddle Inference.

A predictor is built from the export folder and its ``Deploy`` dict (deploy.yaml) and offers

* ``raw(x)``: float32 ``[B, C, H, W]`` -> the model's output as exported (logits,
  probabilities, int32 labels, or descriptors);
* ``__call__(x)``: int64 ``[B, H, W]`` class ids (the argmax over axis 1 unless the export
  already ends in ``argmax``), what the range and image loops of ``infer.py`` consume.

:class:`OnnxRuntimePredictor` runs ``model.onnx`` written by ``tools/export.py --format onnx``
(``pip install -e .[onnx]``); Paddle Inference stays ``infer.py``'s ``InferencePredictor``.
The pre- and post-processing (projection, KNN, label writing) is the same for both: it lives
in ``paddlexseg.apis.range_io`` / ``range_predict`` / ``image_predict`` / ``event_deploy``.
"""
import os

import numpy as np

from ..registry import ConfigError

__all__ = ["BACKENDS", "OnnxRuntimePredictor", "class_ids", "require_onnxruntime"]

BACKENDS = ("paddle", "onnxruntime")


def class_ids(out, output_op):
    """Model output -> int64 ``[B, H, W]`` class ids (argmax over axis 1 unless ``argmax``)."""
    if output_op != "argmax":
        out = out.argmax(axis=1)  # [B, C, H, W] scores or probabilities -> [B, H, W]
    return out.astype(np.int64)


def require_onnxruntime():
    """``import onnxruntime`` or raise one clear ConfigError."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("--backend onnxruntime needs the onnx extra: pip install -e .[onnx]"
                          ) from None
    return onnxruntime


class OnnxRuntimePredictor:
    """``model.onnx`` of an export in an ONNX Runtime session.

    Args:
        folder: export folder. info: the ``Deploy`` dict (needs its ``onnx`` section).
        device: "cpu" (CPUExecutionProvider) or "gpu" (CUDAExecutionProvider, which needs the
            onnxruntime-gpu package).
        threads: intra-op threads on CPU (inter-op: 1, sequential execution); None: ONNX
            Runtime's default (one per physical core).
    """

    def __init__(self, folder, info, device="cpu", threads=2):
        ort = require_onnxruntime()
        section = info.get("onnx")
        if not isinstance(section, dict) or "model" not in section:
            raise ConfigError(f"{os.path.join(folder, 'deploy.yaml')}: no 'onnx' section; "
                              f"re-export with tools/export.py --format onnx")
        path = os.path.join(folder, section["model"])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: the ONNX model named in deploy.yaml is missing")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # hide the converter's unused-initializer warnings
        if device == "gpu":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError("--device gpu: this onnxruntime has no CUDAExecutionProvider "
                                  "(install onnxruntime-gpu)")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(path, options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.output_op = info["output_op"]

    def raw(self, x):
        """The first output for float32 ``x`` ``[B, C, H, W]``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self.session.run(self.output_names[:1], {self.input_name: x})[0]

    def __call__(self, x):
        """float32 [B, C, H, W] -> int64 [B, H, W] class ids."""
        return class_ids(self.raw(x), self.output_op)
