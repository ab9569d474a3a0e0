"""ONNX export: convert the program ``tools/export.py`` saved for Paddle Inference to ONNX.

``tools/export.py --format onnx`` first writes the Paddle Inference files as usual
(``model.json`` + ``model.pdiparams``), then :func:`convert_to_onnx` converts them with
paddle2onnx into ``model.onnx`` beside them and records an ``onnx`` section in ``deploy.yaml``.
Any family whose Paddle export works gets ONNX the same way; a new family (a detector's dense
part, say) only has to name its outputs: ``Deploy.output_names`` (a list) when it has several,
otherwise :data:`OUTPUT_NAMES` derives the name from ``output_op``.

Checked with paddlepaddle 3.3.1, paddle2onnx 2.1.0, onnx 1.17.0, onnxruntime 1.32.0
(``pip install -e .[onnx]``). Two things are done around paddle2onnx:

* **64-bit float attributes.** Paddle 3.3.1 saves float op attributes as 64-bit (``a_f64``:
  LeakyReLU's ``negative_slope``, GroupNorm's ``epsilon``, the interpolation ``scale``), while
  paddle2onnx 2.1.0 (and 2.0.1) reads them as 32-bit: LeakyReLU's ``alpha`` becomes garbage
  (1e28, or 2e-43, silently wrong outputs: RangeNet++ softmax off by 7e-3) and
  ``bilinear_interp`` / ``group_norm`` fail ("the 0th elementwise MUST be ir::FloatAttribute").
  A copy of the program with these attributes marked 32-bit is converted instead (a float
  attribute read as 64-bit by the converter would then fail loudly, never silently).
* **Names.** The input keeps its name (``range_img``, ``image``, ``voxels``); the output
  ``fetch_name_0`` is renamed (``labels``, ``probs``, ``logits``, ``descriptor``); the batch
  axis of inputs and outputs is the symbolic ``batch``.

Opset :data:`ONNX_OPSET` = 16, the first with ``GridSample`` (PointRend's point sampling);
TensorRT parses it from 8.5 on. After conversion one random batch is run through both
ONNX Runtime and Paddle Inference and the difference is written to ``deploy.yaml``
(``onnx.check``); a conversion that changes the result is an error.
"""
import os
import re
import tempfile

import numpy as np

from ..registry import ConfigError

__all__ = ["ONNX_OPSET", "OUTPUT_NAMES", "require_onnx", "output_names", "convert_to_onnx",
           "convert_files", "export_layer", "patch_float_attributes", "paddle_inference_output"]

ONNX_OPSET = 16
OUTPUT_NAMES = {"argmax": "labels", "softmax": "probs", "none": "logits"}
FAMILY_OUTPUT_NAMES = {"event": "descriptor"}
BATCH_AXIS = "batch"
# converted vs Paddle Inference on one random batch: float outputs within this, labels equal
# except on near-ties (fraction of pixels below MAX_LABEL_MISMATCH)
CHECK_ATOL = 1e-3
MAX_LABEL_MISMATCH = 1e-3
_F64 = re.compile(r'"#"\s*:\s*"0\.a_f64"')


def require_onnx():
    """Import paddle2onnx, onnx and onnxruntime or raise one clear ConfigError."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import paddle2onnx  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"--format onnx needs the onnx extra ({err.name} is not installed): "
                          f"pip install -e .[onnx]") from None


def output_names(info):
    """Output names of an export: ``Deploy.output_names`` if given, else one name by family /
    ``output_op`` (:data:`FAMILY_OUTPUT_NAMES`, :data:`OUTPUT_NAMES`)."""
    if info.get("output_names"):
        return list(info["output_names"])
    return [FAMILY_OUTPUT_NAMES.get(info["family"]) or OUTPUT_NAMES[info["output_op"]]]


def patch_float_attributes(program_text):
    """The PIR program JSON with every 64-bit float attribute marked 32-bit (see the module
    docstring: paddle2onnx 2.1.0 misreads them)."""
    return _F64.sub('"#":"0.a_f32"', program_text)


def _rename(model, old, new):
    for node in model.graph.node:
        node.output[:] = [new if n == old else n for n in node.output]
        node.input[:] = [new if n == old else n for n in node.input]
    for value in list(model.graph.output) + list(model.graph.input):
        if value.name == old:
            value.name = new


def _name_batch_axis(values):
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_AXIS


def _convert(program, params, opset):
    import paddle2onnx
    with tempfile.TemporaryDirectory() as tmp:
        patched = os.path.join(tmp, "model.json")
        with open(program, "r", encoding="utf-8") as f:
            text = f.read()
        with open(patched, "w", encoding="utf-8") as f:
            f.write(patch_float_attributes(text))
        try:
            data = paddle2onnx.export(patched, params, save_file=None, opset_version=int(opset),
                                      auto_upgrade_opset=False, enable_onnx_checker=True,
                                      enable_optimize=True)
        except Exception as err:  # noqa: BLE001 - paddle2onnx logs its error and returns nothing
            data, reason = None, f"{type(err).__name__}: {err}"
        else:
            reason = "no model returned"
    if not data:
        raise RuntimeError(f"paddle2onnx {paddle2onnx.__version__} could not convert {program} "
                           f"at opset {opset} ({reason}); its error is logged above")
    return data


def paddle_inference_output(folder, info, x, threads=2):
    """Run the Paddle Inference files of an export on ``x`` (oneDNN off); returns the output."""
    from .inference import create_predictor, run_predictor
    predictor = create_predictor(os.path.join(folder, info["model"]),
                                 os.path.join(folder, info["params"]), threads=threads,
                                 onednn=False)
    return run_predictor(predictor, [x])[0]


def _check(folder, info, path, names):
    """ONNX Runtime vs Paddle Inference on one random batch of 2 -> the ``check`` record."""
    import onnxruntime as ort
    shape = [2] + list(info["input_shape"][1:])
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    got = session.run([names[0]], {info["input_name"]: x})[0]
    ref = paddle_inference_output(folder, info, x)
    if got.shape != ref.shape:
        raise RuntimeError(f"{path}: ONNX Runtime output shape {list(got.shape)} differs from "
                           f"Paddle Inference's {list(ref.shape)}")
    record = {"input": "standard normal, batch 2, seed 0"}
    if np.issubdtype(ref.dtype, np.integer):
        mismatch = float((got != ref).mean())
        record["label_mismatch"] = mismatch
        bad = mismatch > MAX_LABEL_MISMATCH
    else:
        diff = float(np.abs(got.astype(np.float64) - ref).max())
        record["max_abs_diff"] = diff
        bad = not diff <= CHECK_ATOL
    if bad:
        raise RuntimeError(f"{path}: the ONNX model's output differs from Paddle Inference's "
                           f"({record}); paddle2onnx converted some op wrongly")
    return record


def convert_to_onnx(save_dir, info, opset=None, check=True):
    """Convert the Paddle Inference files of an export to ``save_dir/model.onnx``.

    Args:
        save_dir: the export folder (holding ``info["model"]`` and ``info["params"]``).
        info: the ``Deploy`` dict of deploy.yaml (family, input_name, input_shape, output_op,
            optionally output_names).
        opset: ONNX opset (default :data:`ONNX_OPSET`).
        check: run one random batch through ONNX Runtime and Paddle Inference and compare.

    Returns:
        the ``onnx`` section of deploy.yaml: ``model``, ``opset``, ``input_names``,
        ``output_names``, ``dynamic_axes``, ``converter`` and ``check``.
    """
    require_onnx()
    import onnx
    import onnxruntime
    import paddle2onnx
    names = output_names(info)
    path = os.path.join(save_dir, "model.onnx")
    io = convert_files(os.path.join(save_dir, info["model"]),
                       os.path.join(save_dir, info["params"]), path, names, opset)
    section = {"model": "model.onnx", "opset": io["opset"], "input_names": io["input_names"],
               "output_names": names, "dynamic_axes": io["dynamic_axes"],
               "converter": f"paddle2onnx {paddle2onnx.__version__}, onnx {onnx.__version__}, "
                            f"checked with onnxruntime {onnxruntime.__version__}"}
    if check:
        section["check"] = _check(save_dir, info, path, names)
    return section


def convert_files(program, params, path, names, opset=None):
    """paddle2onnx of a saved program (``model.json`` + ``model.pdiparams``) to ``path``, with
    the outputs renamed to ``names`` and the batch axis called ``batch``.

    Returns:
        dict: ``opset``, ``input_names``, ``dynamic_axes`` ({name: {0: "batch"}}).
    """
    require_onnx()
    import onnx
    opset = int(opset or ONNX_OPSET)
    if opset < ONNX_OPSET:
        raise ConfigError(f"--opset: {opset} is below {ONNX_OPSET}, the lowest opset this "
                          f"export is checked with (GridSample appeared in opset 16)")
    model = onnx.load_from_string(_convert(program, params, opset))
    if len(model.graph.output) != len(names):
        raise RuntimeError(f"the converted model has {len(model.graph.output)} outputs, the "
                           f"export names {len(names)}: {names}")
    for value, name in zip(list(model.graph.output), names):
        _rename(model, value.name, name)
    values = list(model.graph.input) + list(model.graph.output)
    _name_batch_axis(values)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    dynamic = {v.name: {0: BATCH_AXIS} for v in values
               if v.type.tensor_type.shape.dim and
               v.type.tensor_type.shape.dim[0].dim_param == BATCH_AXIS}
    return {"opset": opset, "input_names": [v.name for v in model.graph.input],
            "dynamic_axes": dynamic}


def export_layer(model, inputs, outputs, path, opset=None):
    """Any dygraph model with named array inputs and dict outputs -> an ONNX file (benchmarks,
    tests, families without a deploy loop yet).

    Args:
        model: ``model(**inputs)`` returns a dict holding ``outputs``; put it in eval mode.
        inputs: {name: example np.ndarray}; the first axis is exported as ``batch``.
        outputs: output keys, in order (also the ONNX output names).
        path: the ``.onnx`` file to write (the Paddle program is saved beside it).
        opset: ONNX opset (default :data:`ONNX_OPSET`).

    Returns:
        the :func:`convert_files` record (``opset``, ``input_names``, ``dynamic_axes``).
    """
    import paddle
    require_onnx()
    from .inference import _tensors_wrapper
    names, keys = list(inputs), list(outputs)
    layer = _tensors_wrapper(model, names, keys)  # named inputs -> positional (to_static)
    specs = [paddle.static.InputSpec([None] + list(np.shape(v))[1:], str(np.asarray(v).dtype),
                                     name=n) for n, v in inputs.items()]
    prefix = os.path.splitext(path)[0] + "_paddle"
    errors = []
    for full_graph in (True, False):  # AST conversion, else bytecode tracing (SOT)
        try:
            static = paddle.jit.to_static(layer, input_spec=specs, full_graph=full_graph)
            paddle.jit.save(static, prefix)
            break
        except Exception as err:  # noqa: BLE001 - retried, then reported
            errors.append(f"{type(err).__name__}: {err}")
    else:
        raise RuntimeError(f"paddle.jit.save failed: {' / '.join(errors)}")
    program = prefix + (".json" if os.path.isfile(prefix + ".json") else ".pdmodel")
    return convert_files(program, prefix + ".pdiparams", path, keys, opset)
