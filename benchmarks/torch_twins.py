"""The PyTorch twin of each model family in bench_models.py, with the Paddle model's weights.

``build_twin(kind, case)`` returns ``(twin, note)``: the torch module in eval mode holding the
same weights as ``case.model`` and a note with the largest absolute difference of the two eval
outputs on ``case.inputs`` (checked before any timing). RangeNet++ goes through the converter
(torch checkpoint files -> ``paddlexseg.convert`` -> the Paddle model); the other twins take the
Paddle weights by name (``torch_weights.copy_from_paddle``). Importing this module imports torch.
"""
import os

import numpy as np
import paddle
import torch

import torch_event_vpr
import torch_pointrend
import torch_rangenet
import torch_squeezesegv3
from torch_weights import copy_from_paddle


def _rangenet(case):
    from paddlexseg.convert import convert_checkpoint, load_into_model
    layers = case.model.backbone.layers
    twin = torch_rangenet.build(layers).eval()
    folder = os.path.join(case.workdir, case.name + "_torch")
    os.makedirs(folder, exist_ok=True)
    torch_rangenet.checkpoint_files(twin, folder)
    converted, report, _ = convert_checkpoint(f"rangenet-darknet{layers}", [folder],
                                              model=case.model)
    if report.errors(False):
        raise RuntimeError(f"{case.name}: converter refused the torch twin's keys")
    load_into_model(converted, case.model)
    return twin, "logits", lambda out: out, "loaded through paddlexseg.convert"


def _squeezesegv3(case):
    twin = copy_from_paddle(torch_squeezesegv3.build(case.model.backbone.layers), case.model)
    return twin, "logits", lambda out: out[0], "weights copied by name"


def _pointrend(case):
    twin = copy_from_paddle(torch_pointrend.build(case.model), case.model)
    return twin, "logits", lambda out: out, "weights copied by name"


def _event_vpr(case):
    twin = copy_from_paddle(torch_event_vpr.build(case.model), case.model)
    return twin, "descriptor", lambda out: out, "weights copied by name"


TWINS = {"rangenet": _rangenet, "squeezesegv3": _squeezesegv3, "pointrend": _pointrend,
         "event_vpr": _event_vpr}


def build_twin(kind, case):
    twin, key, pick, how = TWINS[kind](case)
    twin.eval()
    case.model.eval()
    torch_inputs = {k: torch.from_numpy(v) for k, v in case.inputs.items()}
    with torch.no_grad(), paddle.no_grad():
        ours = case.model(**case.paddle_inputs())[key].numpy()
        theirs = pick(twin(*torch_inputs.values())).numpy()
    diff = float(np.abs(ours - theirs).max())
    scale = float(np.abs(ours).max())
    note = (f"torch twin ({how}): max |paddle - torch| of the eval '{key}' {diff:.1e} "
            f"(max |output| {scale:.1e})")
    if kind == "pointrend":
        note += "; " + _pointrend_detail(case, twin, torch_inputs["image"], ours, theirs)
    return twin, note


def _pointrend_detail(case, twin, image, ours, theirs):
    """Coarse logits (before the point selection) and the share of refined cells that differ:
    ``topk`` over ~131k cells picks a different 8192th point when uncertainties tie to float
    rounding, and such a cell keeps the interpolated logit in one framework only."""
    with torch.no_grad(), paddle.no_grad():
        coarse = case.model.features(case.paddle_inputs()["image"])[1].numpy()
        twin_coarse = twin.coarse_sem_seg_head(twin.fpn(twin.backbone(image))).numpy()
    cells = np.abs(ours - theirs).max(axis=1) > 1e-3  # [B, H, W]
    return (f"coarse logits max diff {float(np.abs(coarse - twin_coarse).max()):.1e}; refined "
            f"cells differing by > 1e-3: {100 * cells.mean():.3f} %")


def torch_loss(out):
    """Mean of every output tensor (the same reduction as the Paddle train column)."""
    outs = out if isinstance(out, (list, tuple)) else [out]
    return sum(o.mean() for o in outs)
