"""Combine the losses listed in a config into one weighted sum.

Each config entry is ``{type: Name, weight: w, input: output_name(s), target: batch_field}``;
``weight``, ``input`` and ``target`` belong to the composer, the rest go to the loss class.
``input`` names model outputs (a string or a list, passed positionally in that order);
``target`` names an attribute of the batch (default ``labels``; ``null`` for none) or a list
of attributes, passed after the inputs in that order. A loss may return a dict of named terms
(e.g. the detection head's ``loss_cls``, ``loss_bbox``, ``loss_dir``); each is weighted and
logged as its own term.
"""
import paddle

from ..registry import LOSSES, ConfigError

__all__ = ["LossComposer"]


class LossComposer(paddle.nn.Layer):
    """Weighted sum of named loss terms over named model outputs."""

    def __init__(self, cfg_list, path="losses"):
        super().__init__()
        if not isinstance(cfg_list, (list, tuple)) or not cfg_list:
            raise ConfigError(f"{path}: expected a non-empty list of losses, got {cfg_list!r}")
        self.entries = []
        layers = []
        for i, cfg in enumerate(cfg_list):
            p = f"{path}[{i}]"
            if not isinstance(cfg, dict):
                raise ConfigError(f"{p}: expected a mapping, got {cfg!r}")
            cfg = dict(cfg)
            weight = float(cfg.pop("weight", 1.0))
            inputs = cfg.pop("input", "logits")
            inputs = [inputs] if isinstance(inputs, str) else list(inputs)
            target = cfg.pop("target", "labels")
            name = cfg.pop("name", None) or _snake(cfg.get("type", "loss"))
            loss = LOSSES.build(cfg, path=p)
            layers.append(loss)
            self.entries.append((name, weight, inputs, target))
        self.losses = paddle.nn.LayerList(layers)

    def forward(self, outputs, batch):
        """Returns (total loss, {term name: weighted term}) for a model's outputs on a batch."""
        terms = {}
        for (name, weight, inputs, target), loss in zip(self.entries, self.losses):
            missing = [k for k in inputs if k not in outputs]
            if missing:
                raise KeyError(f"loss '{name}' reads model output(s) {missing}, but the model "
                               f"returned {sorted(outputs)}")
            args = [outputs[k] for k in inputs]
            if target is not None:
                for field in ([target] if isinstance(target, str) else target):
                    args.append(getattr(batch, field))
            value = loss(*args)
            for sub, term in (value.items() if isinstance(value, dict) else [(name, value)]):
                key = sub
                n = 2
                while key in terms:
                    key = f"{sub}_{n}"
                    n += 1
                terms[key] = weight * term
        total = paddle.add_n(list(terms.values())) if len(terms) > 1 else next(iter(terms.values()))
        return total, terms


def _snake(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    s = "".join(out)
    return s[:-5] if s.endswith("_loss") else s
