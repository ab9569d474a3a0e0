"""``tools/export.py --format onnx`` for MVX-Net: what can go to ONNX and what cannot.

The dense program (``model.json``: BEV fusion, backbone, neck, head) converts to ``model.onnx``.
The front program (``front.json``) holds the dynamic scatter as Paddle's sorted-segment
reduction op ``segment_pool`` (``paddle.geometric.segment_max / segment_mean``), which
paddle2onnx 2.1.0 cannot convert: it aborts the whole process ("Due to the unsupported
operators, the conversion is aborted"). The front is therefore tried in a child process; when
that fails the export keeps ``front.json`` for Paddle Inference only, logs one warning naming
the op, and records it under ``onnx.front_error`` in deploy.yaml. A later paddle2onnx that
converts ``segment_pool`` gives ``front.onnx`` without code changes.
"""
import os
import subprocess
import sys

import yaml

from ..engine.logging import get_logger
from .onnx_export import ONNX_OPSET, convert_files, require_onnx

__all__ = ["convert_fusion_to_onnx", "FRONT_ONNX_ERROR"]

FRONT_ONNX_ERROR = ("front.json (dynamic voxelization, image branch, voxel encoder with fusion, "
                    "dynamic scatter) was not converted to ONNX: paddle2onnx {version} has no "
                    "converter for segment_pool (paddle.geometric.segment_max / segment_mean, "
                    "the sorted-segment reductions of the dynamic scatter); run the front with "
                    "Paddle Inference (deploy/python/infer_det.py); model.onnx holds the dense "
                    "part")

_CHILD = ("import sys\n"
          "from paddlexseg.apis.onnx_export import convert_files\n"
          "convert_files(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(','), "
          "int(sys.argv[5]))\n")


def _try_front(save_dir, info, opset):
    """Convert the front program in a child process (paddle2onnx aborts on unsupported ops).
    Returns (path or None, error text or None)."""
    front = info["front"]
    path = os.path.join(save_dir, "front.onnx")
    if os.path.exists(path):
        os.remove(path)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    run = subprocess.run([sys.executable, "-c", _CHILD, os.path.join(save_dir, front["model"]),
                          os.path.join(save_dir, front["params"]), path,
                          ",".join(front["output_names"]), str(opset)],
                         capture_output=True, text=True, env=env)
    if run.returncode == 0 and os.path.isfile(path):
        return path, None
    import paddle2onnx
    text = run.stdout + run.stderr
    with open(os.path.join(save_dir, front["model"]), "r", encoding="utf-8") as f:
        has_segment_pool = "segment_pool" in f.read()
    if has_segment_pool and "unsupported operators" in text:
        return None, FRONT_ONNX_ERROR.format(version=paddle2onnx.__version__)
    lines = [line for line in text.splitlines() if line.strip()]
    return None, (f"front.json was not converted to ONNX (paddle2onnx "
                  f"{paddle2onnx.__version__}, exit code {run.returncode}: "
                  f"{lines[-1] if lines else 'no output'}); run the front with Paddle Inference "
                  f"(deploy/python/infer_det.py); model.onnx holds the dense part")


def convert_fusion_to_onnx(save_dir, opset=None):
    """``model.onnx`` from the dense program, ``front.onnx`` when paddle2onnx can convert the
    front; the ``onnx`` section is added to deploy.yaml. Returns {"onnx": path,
    "front_onnx": path or None, "front_onnx_error": text or None}."""
    require_onnx()
    opset = int(opset or ONNX_OPSET)
    yaml_path = os.path.join(save_dir, "deploy.yaml")
    with open(yaml_path, "r", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    info = data["Deploy"]
    path = os.path.join(save_dir, "model.onnx")
    io = convert_files(os.path.join(save_dir, info["model"]),
                       os.path.join(save_dir, info["params"]), path, info["output_names"], opset)
    front_path, error = _try_front(save_dir, info, opset)
    section = {"model": "model.onnx", "opset": io["opset"], "input_names": io["input_names"],
               "output_names": list(info["output_names"]),
               "front": "front.onnx" if front_path else None}
    if error:
        section["front_error"] = error
        get_logger().warning(error)
    info["onnx"] = section
    with open(yaml_path, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)
    return {"onnx": path, "front_onnx": front_path, "front_onnx_error": error}
