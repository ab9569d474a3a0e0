"""Small flat registries: a name -> class map per kind of component.

A config dict ``{type: Name, **kwargs}`` is built by :meth:`Registry.build`,
which checks every key against the constructor's signature so that a
misspelled key fails with its full key path instead of deep inside a model.
"""
import inspect

__all__ = ["Registry", "ConfigError", "MODELS", "BACKBONES", "LOSSES", "DATASETS",
           "TRANSFORMS", "METRICS", "OPTIMIZERS", "SCHEDULERS"]


class ConfigError(ValueError):
    """A config key or value is wrong; the message names the key path."""


class Registry:
    """A flat map from a type name to a class or factory function."""

    def __init__(self, name):
        self.name = name
        self._items = {}

    def register(self, obj=None, name=None):
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator."""
        def _add(o):
            key = name or o.__name__
            if key in self._items:
                raise KeyError(f"{self.name} registry: '{key}' is registered twice")
            self._items[key] = o
            return o
        return _add(obj) if obj is not None else _add

    def __contains__(self, key):
        return key in self._items

    def names(self):
        return sorted(self._items)

    def get(self, key, path="type"):
        if key not in self._items:
            raise ConfigError(f"{path}: unknown {self.name} type '{key}'; "
                              f"known: {', '.join(self.names()) or '(none)'}")
        return self._items[key]

    def build(self, cfg, path=None, **extra):
        """Build ``cfg['type']`` with the remaining keys (plus ``extra``) as arguments.

        Args:
            cfg: dict with a ``type`` key.
            path: key path of ``cfg`` in the config, used in error messages.
            extra: arguments supplied by code (not the user), e.g. ``num_classes``.
        """
        path = path or self.name
        if not isinstance(cfg, dict) or "type" not in cfg:
            raise ConfigError(f"{path}: expected a mapping with a 'type' key, got {cfg!r}")
        kwargs = {k: v for k, v in cfg.items() if k != "type"}
        obj = self.get(cfg["type"], f"{path}.type")
        check_kwargs(obj, kwargs, path)
        kwargs.update({k: v for k, v in extra.items() if k not in kwargs})
        if "config_path" not in kwargs and _accepts(obj, "config_path"):
            kwargs["config_path"] = path  # lets a component name nested keys in its errors
        return obj(**kwargs)


def _accepts(obj, name):
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return name in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def check_kwargs(obj, kwargs, path):
    """Raise ConfigError naming ``path.key`` for a key ``obj`` does not accept."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if n != "self"
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(f"{path}.{key}: unknown key for {getattr(obj, '__name__', obj)}; "
                              f"accepted: {', '.join(accepted)}")
        expected = _expected_kind(params[key])
        if expected and not _is_kind(kwargs[key], expected):
            raise ConfigError(f"{path}.{key}: expected {expected} for "
                              f"{getattr(obj, '__name__', obj)}, got {kwargs[key]!r}")


def _expected_kind(param):
    """'a number' / 'true or false' from the annotation, else from the default value."""
    kind = param.annotation if param.annotation is not param.empty else type(param.default)
    if kind is bool:
        return "true or false"
    if kind in (int, float):
        return "a number"
    return None


def _is_kind(value, expected):
    if value is None:  # None stands for "use the default / disabled" in many constructors
        return True
    if expected == "true or false":
        return isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


MODELS = Registry("model")
BACKBONES = Registry("backbone")
LOSSES = Registry("loss")
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")
METRICS = Registry("metric")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("lr_scheduler")
