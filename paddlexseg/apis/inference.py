"""Paddle Inference predictors: the deploy script's and the tools' ``--backend inference``.

* :func:`create_predictor`: one ``paddle.inference`` predictor for an exported program, on
  oneDNN by default on CPU. Paddle 3.3.1's ``conv_activation_onednn_fuse_pass`` segfaults
  while fusing convolution + LeakyReLU (every DarkNet / SAC block), so it is deleted
  (``config.delete_pass``; the ``..._mkldnn_...`` name in the crash log is not the one that
  works). With it, DarkNet-21 at 64 x 2048 runs about 3-4x faster than with oneDNN off and
  gives the same output (max softmax difference ~1e-7). Other backends (ONNX Runtime) sit
  beside it with the same call: ``predictor.run([arrays]) -> [arrays]``.
* :class:`DeployPredictor`: the predictor behind ``deploy/python/infer.py`` (one input, class
  ids out).
* :class:`InferenceModel`: a dygraph model run through Paddle Inference: exported to a
  temporary folder per input shape on first use, called like the model
  (``model(range_img=x) -> {"logits": ...}``), so ``tools/val.py``, ``tools/predict.py`` and
  ``tools/robustness.py`` get the oneDNN speed with ``--backend inference``.
"""
import json
import os
import shutil
import tempfile

import numpy as np

from ..engine.cli import BACKENDS
from ..registry import ConfigError
from ..runtime import setup_runtime

__all__ = ["ONEDNN_BROKEN_PASSES", "ONEDNN_UNPLACEABLE_OPS", "BACKENDS", "program_ops",
           "onednn_passes_to_delete", "create_predictor", "run_predictor",
           "DeployPredictor", "InferenceModel", "resolve_backend", "with_backend"]

# passes that crash on Paddle 3.3.1 CPU with oneDNN on
ONEDNN_BROKEN_PASSES = ("conv_activation_onednn_fuse_pass",)
# ops whose oneDNN kernel fails at run time on Paddle 3.3.1 under PIR ("ConvertPirAttribute2
# RuntimeAttribute not support ArrayAttribute<DoubleAttribute>", even for size= resizes). In a
# program holding one, "onednn_placement_pass" is deleted as well: the fused convolutions
# (conv + batch norm, conv + add) still run on oneDNN, the other ops on Paddle's CPU kernels.
ONEDNN_UNPLACEABLE_OPS = ("bilinear_interp", "nearest_interp", "linear_interp",
                          "bicubic_interp", "trilinear_interp")


def program_ops(model_file):
    """The op names (``conv2d``, ``bilinear_interp``, ...) of a PIR ``model.json`` program;
    an empty set for the old IR's ``.pdmodel``."""
    if not model_file.endswith(".json"):
        return set()
    with open(model_file, "r", encoding="utf-8") as f:
        program = json.load(f)
    names, stack = set(), [program]
    while stack:  # ops are dicts {"#": "<dialect id>.<name>", ...} nested in regions / blocks
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("ops"), list):
                names.update(op["#"].split(".", 1)[-1] for op in node["ops"]
                             if isinstance(op, dict) and isinstance(op.get("#"), str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def onednn_passes_to_delete(model_file):
    """:data:`ONEDNN_BROKEN_PASSES`, plus ``onednn_placement_pass`` when the program holds one of
    :data:`ONEDNN_UNPLACEABLE_OPS`."""
    passes = list(ONEDNN_BROKEN_PASSES)
    if program_ops(model_file) & set(ONEDNN_UNPLACEABLE_OPS):
        passes.append("onednn_placement_pass")
    return passes


def create_predictor(model_file, params_file, device="cpu", threads=None, onednn=True,
                     glog=False):
    """A ``paddle.inference`` predictor.

    Args:
        model_file: ``model.json`` (PIR) or ``model.pdmodel``. params_file: ``model.pdiparams``.
        device: ``cpu`` or ``gpu``.
        threads: CPU math threads (default: :func:`paddlexseg.runtime.setup_runtime`'s).
        onednn: run on oneDNN (CPU only; :data:`ONEDNN_BROKEN_PASSES` are deleted).
        glog: keep Paddle Inference's log output.

    Returns:
        ``paddle.inference.Predictor``.
    """
    threads = threads or setup_runtime().threads
    from paddle import inference

    from ..datasets.errors import DataError
    try:
        return _create(inference, model_file, params_file, device, threads, onednn, glog)
    except (RuntimeError, ValueError, UnicodeDecodeError) as e:  # a damaged model file
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise DataError(f"{model_file}: cannot load the exported model ({first}); the file is "
                        f"damaged: export it again") from None


def _create(inference, model_file, params_file, device, threads, onednn, glog):
    config = inference.Config(model_file, params_file)
    if device == "gpu":
        config.enable_use_gpu(256, 0)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(int(threads))
        if onednn:
            config.enable_onednn()
            for name in onednn_passes_to_delete(model_file):
                config.delete_pass(name)
        else:
            config.disable_onednn()
    if not glog:
        config.disable_glog_info()
    return inference.create_predictor(config)


def run_predictor(predictor, arrays):
    """Feed ``arrays`` (in the order of the predictor's inputs); returns its outputs (NumPy)."""
    for name, x in zip(predictor.get_input_names(), arrays):
        handle = predictor.get_input_handle(name)
        x = np.ascontiguousarray(x)
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
    predictor.run()
    return [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]


class DeployPredictor:
    """An exported model (``deploy.yaml``) with one input, returning class ids.

    Args:
        folder: export folder. info: the ``Deploy`` dict of ``deploy.yaml``.
        device: ``cpu`` or ``gpu``. threads: CPU math threads (None: the runtime set-up's).
        onednn: oneDNN on CPU (default on).
    """

    def __init__(self, folder, info, device="cpu", threads=None, onednn=True):
        self.predictor = create_predictor(os.path.join(folder, info["model"]),
                                          os.path.join(folder, info["params"]), device,
                                          threads, onednn)
        self.output_op = info["output_op"]

    def raw(self, x):
        """float32 [B, C, H, W] -> the exported output (scores, labels or descriptors)."""
        return run_predictor(self.predictor, [np.asarray(x, dtype=np.float32)])[0]

    def __call__(self, x):
        """float32 [B, C, H, W] -> int64 [B, H, W] class ids (argmax over the output if needed)."""
        out = self.raw(x)
        if self.output_op != "argmax":
            out = out.argmax(axis=1)  # [B, C, H, W] scores or probabilities -> [B, H, W]
        return out.astype(np.int64)


def _tensors_wrapper(model, names, keys):
    """``model(**{names: inputs})[keys]`` as a layer with 1-3 positional inputs, returning a
    list (``paddle.jit.to_static`` needs named positional arguments, not ``*inputs``)."""
    import paddle

    class _Exported(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.model = model

        def outputs(self, *inputs):
            out = self.model(**dict(zip(names, inputs)))
            return [out[k] for k in keys]

    class _One(_Exported):
        def forward(self, x0):
            return self.outputs(x0)

    class _Two(_Exported):
        def forward(self, x0, x1):
            return self.outputs(x0, x1)

    class _Three(_Exported):
        def forward(self, x0, x1, x2):
            return self.outputs(x0, x1, x2)

    if not 1 <= len(names) <= 3:
        raise ValueError(f"InferenceModel: 1 to 3 tensor inputs supported, got {list(names)}")
    return (_One, _Two, _Three)[len(names) - 1]()


class InferenceModel:
    """Run a dygraph model through Paddle Inference (oneDNN on CPU), called like the model.

    The model is exported with ``paddle.jit.save`` (AST, else SOT tracing) for the input shapes
    of the first call (batch size free) and exported again for new shapes; the outputs are the
    tensor outputs of one dygraph forward pass on the first input, so the dict returned has the
    same keys. Only eval mode is supported (``train()`` raises).

    Args:
        model: the dygraph model (weights loaded); it is put in eval mode.
        device, threads, onednn: see :func:`create_predictor`.
        workdir: where the exports go (default: a temporary folder removed by :meth:`close`).
    """

    def __init__(self, model, device="cpu", threads=None, onednn=True, workdir=None):
        self.model = model
        self.model.eval()
        self.device, self.threads, self.onednn = device, threads, onednn
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="paddlexseg_infer_")
        self._predictors = {}  # (names, shapes without batch) -> (predictor, output keys)
        self.training = False

    def eval(self):
        return self

    def train(self, mode=True):
        if mode:
            raise RuntimeError("InferenceModel runs the exported model in eval mode only")
        return self

    def __getattr__(self, name):  # model attributes (e.g. num_vote), read only
        if name in ("model", "_predictors"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def _export(self, names, inputs):
        import paddle
        from .export import _save_static_layer
        with paddle.no_grad():
            reference = self.model(**dict(zip(names, inputs)))
        keys = [k for k, v in reference.items() if isinstance(v, paddle.Tensor)]
        specs = [paddle.static.InputSpec([None] + list(x.shape[1:]), x.dtype, name=n)
                 for n, x in zip(names, inputs)]
        prefix = os.path.join(self.workdir, f"model_{len(self._predictors)}", "model")
        _save_static_layer(lambda: _tensors_wrapper(self.model, names, keys), prefix, specs)
        program = prefix + (".json" if os.path.isfile(prefix + ".json") else ".pdmodel")
        predictor = create_predictor(program, prefix + ".pdiparams", self.device, self.threads,
                                     self.onednn)
        return predictor, keys

    def __call__(self, **inputs):
        import paddle
        names = tuple(k for k, v in inputs.items() if v is not None)
        tensors = [inputs[n] for n in names]
        key = (names, tuple(tuple(t.shape[1:]) for t in tensors))
        if key not in self._predictors:
            self._predictors[key] = self._export(names, tensors)
        predictor, keys = self._predictors[key]
        outputs = run_predictor(predictor, [t.numpy() for t in tensors])
        return {k: paddle.to_tensor(v) for k, v in zip(keys, outputs)}

    def close(self):
        """Remove the temporary exports."""
        self._predictors.clear()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _family(cfg):
    from .families import FAMILIES, MODEL_FAMILIES
    model_type = (cfg.get("model") or {}).get("type")
    return model_type, FAMILIES.get(MODEL_FAMILIES.get(model_type, ""))


def resolve_backend(backend, cfg=None):
    """``dygraph`` or ``inference`` for the ``--backend`` value: ``auto`` is ``inference`` when
    ``cfg``'s model family can be exported, ``dygraph`` otherwise (or without ``cfg``).

    Raises:
        ConfigError: an unknown backend, or ``inference`` for a family that cannot be exported.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "dygraph":
        return backend
    model_type, family = _family(cfg) if cfg is not None else (None, None)
    if backend == "auto":
        return "inference" if family is not None and family.exportable else "dygraph"
    if family is not None and not family.exportable:
        raise ConfigError(f"--backend inference: model.type {model_type} ({family.name} "
                          f"family) cannot be exported; use --backend dygraph")
    return backend


def with_backend(model, backend="dygraph", device="cpu", threads=None, onednn=True, cfg=None):
    """``model`` itself (``dygraph``) or an :class:`InferenceModel` around it (``inference``;
    ``auto``: see :func:`resolve_backend`).

    Args:
        cfg: the config; a model of a family that cannot be exported (2DPASS) with
            ``inference`` raises ConfigError.
    """
    if resolve_backend(backend, cfg) == "dygraph":
        return model
    return InferenceModel(model, device=device, threads=threads, onednn=onednn)
