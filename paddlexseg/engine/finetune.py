"""Fine-tuning: partial loading of a pretrained checkpoint and a temporarily frozen backbone.

``model.pretrained: PATH`` (or ``tools/train.py --pretrained PATH``) loads every tensor of the
checkpoint whose name and shape match the new model; the rest (typically the head of a model
trained on another class set) keeps its fresh initialisation. :func:`load_pretrained` returns a
:class:`PretrainedReport` listing what was loaded and what was skipped and why.

``train.freeze_backbone_iters: N`` freezes the parameters under ``model.backbone`` for the
first N iterations (``stop_gradient``: no gradient, so the optimizer neither steps nor decays
them), then trains them. BatchNorm running statistics of the backbone still update while it is
frozen (the layers stay in train mode), as with PyTorch's ``requires_grad_(False)``.
"""
import os
from dataclasses import dataclass, field
from typing import List, Tuple

import paddle

from ..registry import ConfigError

__all__ = ["PretrainedReport", "load_pretrained", "BackboneFreezer"]


@dataclass
class PretrainedReport:
    """What :func:`load_pretrained` did.

    Attributes:
        path: the ``.pdparams`` file read.
        loaded: model keys copied from the checkpoint.
        skipped: (key, reason) pairs; reason is ``missing`` (model key absent from the
            checkpoint: re-initialised), ``unexpected`` (checkpoint key the model lacks) or
            ``shape mismatch: checkpoint [..] vs model [..]`` (re-initialised).
    """
    path: str
    loaded: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)

    def summary(self, max_keys=10):
        """A few lines for the log: counts, then the skipped keys with their reasons."""
        lines = [f"pretrained {self.path}: loaded {len(self.loaded)} tensors, skipped "
                 f"{len(self.skipped)}"]
        for key, reason in self.skipped[:max_keys]:
            lines.append(f"  skipped {key}: {reason}")
        if len(self.skipped) > max_keys:
            lines.append(f"  ... and {len(self.skipped) - max_keys} more skipped")
        return "\n".join(lines)


def _resolve(path):
    if os.path.isdir(path):
        path = os.path.join(path, "model.pdparams")
    if not os.path.isfile(path):
        raise ConfigError(f"model.pretrained: {path} not found (expected a .pdparams file or a "
                          f"checkpoint folder containing model.pdparams)")
    return path


def load_pretrained(model, path):
    """Load the tensors of ``path`` whose name and shape match ``model``; leave the rest.

    Args:
        model: the (unwrapped) model.
        path: a ``.pdparams`` file or a checkpoint folder holding ``model.pdparams``.

    Returns:
        PretrainedReport.

    Raises:
        ConfigError: the file does not exist or not a single tensor matches (wrong model).
    """
    path = _resolve(path)
    state = paddle.load(path)
    if not isinstance(state, dict):
        raise ConfigError(f"model.pretrained: {path} is not a state dict")
    own = model.state_dict()
    report = PretrainedReport(path=path)
    to_load = {}
    for key, value in own.items():
        if key not in state:
            report.skipped.append((key, "missing"))
            continue
        theirs, mine = list(state[key].shape), list(value.shape)
        if theirs != mine:
            report.skipped.append((key, f"shape mismatch: checkpoint {theirs} vs model {mine}"))
            continue
        to_load[key] = state[key]
        report.loaded.append(key)
    for key in state:
        if key not in own:
            report.skipped.append((key, "unexpected"))
    if not to_load:
        raise ConfigError(f"model.pretrained: no tensor of {path} matches the model by name and "
                          f"shape; is it a checkpoint of the same architecture?")
    model.set_state_dict(to_load)
    return report


class BackboneFreezer:
    """Freezes ``model.<prefix>`` parameters while the iteration is below ``n_iters``.

    Args:
        model: the (unwrapped) model.
        n_iters: iterations (0-based count of finished steps) during which to freeze.
        prefix: sub-layer holding the backbone (``backbone`` in every range model).
    """

    def __init__(self, model, n_iters, prefix="backbone"):
        self.n_iters = int(n_iters)
        sub = getattr(model, prefix, None)
        if self.n_iters > 0 and not isinstance(sub, paddle.nn.Layer):
            raise ConfigError(f"train.freeze_backbone_iters: {type(model).__name__} has no "
                              f"'{prefix}' sub-layer to freeze")
        self.params = [p for p in sub.parameters() if not p.stop_gradient] \
            if self.n_iters > 0 else []
        self.frozen = False

    def update(self, it):
        """Call before the step that follows ``it`` finished iterations. Returns the state
        changed to (``"frozen"``/``"unfrozen"``) or None."""
        want = it < self.n_iters
        if want == self.frozen or not self.params:
            return None
        for p in self.params:
            p.stop_gradient = want
        self.frozen = want
        return "frozen" if want else "unfrozen"
