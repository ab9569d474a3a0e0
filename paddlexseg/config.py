"""YAML configs with ``_base_`` inheritance and ``--opts`` overrides.

* ``_base_`` (a path or list of paths relative to the file) is loaded first; the file's
  own keys are deep-merged over it: mappings merge key by key, lists and scalars replace.
  A mapping with ``_delete_: true`` replaces its base instead of merging.
* ``--opts a.b.c=value`` sets a key; ``value`` is parsed as YAML (``1e-3``, ``[1, 2]``,
  ``true``, ``null``). List items are addressed by index: ``losses.0.weight=2``.
* Top-level and ``train`` keys are checked here; keys inside ``type:`` mappings are checked
  against the constructors when built (:mod:`paddlexseg.registry`). Errors name the key path.
"""
import copy
import os

import yaml

from .registry import ConfigError

__all__ = ["load_config", "merge", "apply_opts", "save_config", "TOP_LEVEL_KEYS", "TRAIN_DEFAULTS"]

TOP_LEVEL_KEYS = {
    "batch_size": "samples per card per step",
    "iters": "number of optimizer steps (or give epochs)",
    "epochs": "number of passes over train_dataset (or give iters)",
    "train_dataset": "mapping with type",
    "val_dataset": "mapping with type",
    "model": "mapping with type",
    "losses": "list of loss mappings",
    "optimizer": "mapping with type",
    "lr_scheduler": "mapping with type",
    "metric": "mapping with type",
    "train": "training loop settings",
    "export": "export settings (input_shape, output_op)",
}

TRAIN_DEFAULTS = {
    "log_iters": 10,
    "eval_interval": None,      # default: save_interval
    "save_interval": 1000,
    "keep_checkpoint_max": 5,
    "best_metric": None,        # default: the metric's main key
    "amp": False,
    "amp_level": "O1",
    "accumulate_steps": 1,
    "num_workers": 0,
    "seed": 0,
    "clip_grad_norm": None,
    "drop_last": True,
    "vis_interval": 1,          # log an image every N evaluations
    "data_init_batches": 0,     # >0: call model.init_from_data on this many batches first
    "on_bad_sample": "error",   # error: a bad sample ends the run; skip: warn, count, go on
    "freeze_backbone_iters": 0,  # >0: model.backbone parameters frozen for the first N iters
}


def _read_yaml(path):
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    with open(path, "r", encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def merge(base, override):
    """Deep merge: mappings merge, everything else replaces. Inputs are not modified."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    if override.get("_delete_"):
        return {k: copy.deepcopy(v) for k, v in override.items() if k != "_delete_"}
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if key in out else copy.deepcopy(value)
    return out


def _load_with_bases(path, _stack=()):
    path = os.path.abspath(path)
    if path in _stack:
        raise ConfigError(f"{path}: _base_ cycle through {' -> '.join(_stack)}")
    data = _read_yaml(path)
    bases = data.pop("_base_", [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged = {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        merged = merge(merged, _load_with_bases(base_path, _stack + (path,)))
    return merge(merged, data)


def apply_opts(cfg, opts):
    """Apply ``key.path=value`` strings to ``cfg`` in place and return it."""
    for opt in opts or []:
        if "=" not in opt:
            raise ConfigError(f"--opts {opt!r}: expected key.path=value")
        key, raw = opt.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node = cfg
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: i + 1]), create=True)
        last = parts[-1]
        if isinstance(node, list):
            idx = _index(node, last, key)
            node[idx] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"--opts {key}: '{'.'.join(parts[:-1])}' is "
                              f"{type(node).__name__} {node!r}, not a mapping with keys")
    return cfg


def _index(node, part, path):
    try:
        idx = int(part)
    except ValueError:
        raise ConfigError(f"--opts {path}: '{part}' must be a list index") from None
    if not -len(node) <= idx < len(node):
        raise ConfigError(f"--opts {path}: index {idx} out of range for a list of {len(node)}")
    return idx


def _child(node, part, path, create):
    if isinstance(node, list):
        return node[_index(node, part, path)]
    if not isinstance(node, dict):
        raise ConfigError(f"--opts {path}: cannot set a key inside a {type(node).__name__} "
                          f"({node!r})")
    if part not in node or node[part] is None:
        if not create:
            raise ConfigError(f"{path}: missing")
        node[part] = {}
    return node[part]


# value checks of the loop settings: (predicate, what is expected)
_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool))
_NUM = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
_CHECKS = {
    "batch_size": (lambda v: _INT(v) and v >= 1, "an integer >= 1"),
    "iters": (lambda v: v is None or (_INT(v) and v >= 1), "an integer >= 1"),
    "epochs": (lambda v: v is None or (_INT(v) and v >= 1), "an integer >= 1"),
    "train.log_iters": (lambda v: _INT(v) and v >= 1, "an integer >= 1"),
    "train.eval_interval": (lambda v: v is None or (_INT(v) and v >= 1), "an integer >= 1"),
    "train.save_interval": (lambda v: _INT(v) and v >= 1, "an integer >= 1"),
    "train.keep_checkpoint_max": (_INT, "an integer (<= 0 keeps all)"),
    "train.best_metric": (lambda v: v is None or isinstance(v, str), "a metric name"),
    "train.amp": (lambda v: isinstance(v, bool), "true or false"),
    "train.accumulate_steps": (lambda v: _INT(v) and v >= 1, "an integer >= 1"),
    "train.num_workers": (lambda v: _INT(v) and v >= 0, "an integer >= 0"),
    "train.seed": (lambda v: _INT(v) and v >= 0, "an integer >= 0"),
    "train.clip_grad_norm": (lambda v: v is None or (_NUM(v) and v > 0), "a number > 0"),
    "train.drop_last": (lambda v: isinstance(v, bool), "true or false"),
    "train.vis_interval": (lambda v: _INT(v) and v >= 1, "an integer >= 1"),
    "train.data_init_batches": (lambda v: _INT(v) and v >= 0, "an integer >= 0"),
    "train.on_bad_sample": (lambda v: v in ("error", "skip"), "'error' or 'skip'"),
}


def _check_values(cfg, path):
    for key, (ok, expected) in _CHECKS.items():
        node, parts = cfg, key.split(".")
        for part in parts[:-1]:
            node = node.get(part, {})
        if parts[-1] not in node:
            continue
        value = node[parts[-1]]
        if not ok(value):
            raise ConfigError(f"{path}: '{key}' must be {expected}, got {value!r}")


def validate(cfg, path="config"):
    """Check top-level and ``train`` keys; fill ``train`` defaults. Returns cfg."""
    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{path}: unknown top-level key '{key}'; expected one of "
                              f"{', '.join(sorted(TOP_LEVEL_KEYS))}")
    train = cfg.get("train") or {}
    if not isinstance(train, dict):
        raise ConfigError(f"{path}: 'train' must be a mapping")
    for key in train:
        if key not in TRAIN_DEFAULTS:
            raise ConfigError(f"{path}: unknown key 'train.{key}'; expected one of "
                              f"{', '.join(sorted(TRAIN_DEFAULTS))}")
    cfg["train"] = {**TRAIN_DEFAULTS, **train}
    if cfg.get("iters") is not None and cfg.get("epochs") is not None:
        raise ConfigError(f"{path}: give either 'iters' or 'epochs', not both")
    if "losses" in cfg and not isinstance(cfg["losses"], list):
        raise ConfigError(f"{path}: 'losses' must be a list of mappings")
    _check_values(cfg, path)
    return cfg


def load_config(path, opts=None):
    """Load ``path`` with its bases, apply ``opts`` and validate. Returns a plain dict."""
    cfg = _load_with_bases(path)
    apply_opts(cfg, opts)
    return validate(cfg, path)


def save_config(cfg, path):
    """Write the resolved config as YAML (atomically)."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, sort_keys=False, default_flow_style=None)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        from .tool_errors import RunError  # here: tool_errors imports the data sets
        raise RunError(f"cannot write {path}: {e.strerror or e}") from e
