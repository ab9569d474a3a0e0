"""Read checkpoints into flat ``{key: numpy array}`` dicts without running foreign code.

Formats (chosen by file name):

* ``*.npz``: a state dict saved with ``numpy.savez`` (no torch needed);
* ``*.pkl``: detectron2 model-zoo pickles (``{"model": {key: ndarray}, "__author__": ...}``,
  or Caffe2's ``{"blobs": ...}``), read with :mod:`pickle` (no torch needed);
* anything else (``.pth``, ``.pt``, ``.ckpt``, lidar-bonnetal's extension-less ``backbone``
  ...): a ``torch.save`` file, read with torch (``pip install -e .[convert]``). Lightning
  checkpoints (``{"state_dict": ...}``), ``{"model": ...}`` wrappers, plain state dicts and
  whole pickled ``nn.Module`` objects are understood.

Both pickle readers resolve only an allow-list of globals (tensor/array rebuilders, dtypes,
``OrderedDict``); any other class or function in the file (Lightning's ``AttributeDict``,
``EasyDict`` hyper-parameters, a pickled module's class) becomes an inert placeholder that just
stores its arguments, so no code from the checkpoint runs and the packages it was saved with
need not be installed.
"""
import _compat_pickle
import os
import pickle
import types
from collections import OrderedDict

import numpy as np

from .core import ConversionError

__all__ = ["load_checkpoint", "import_torch", "MissingTorchError", "Placeholder",
           "extract_state_dict"]

TORCH_HINT = "pip install -e .[convert] (the 'convert' extra, i.e. pip install torch)"


class MissingTorchError(ImportError):
    """PyTorch is needed to read a ``torch.save`` file but is not installed."""


def import_torch(path):
    """Import torch or raise :class:`MissingTorchError` naming ``path`` and the extra."""
    try:
        import torch
    except ImportError as e:
        raise MissingTorchError(f"{path}: reading a PyTorch checkpoint needs torch, which is "
                                f"not installed: {TORCH_HINT}") from e
    return torch


class Placeholder:
    """Stands in for a class or function of the checkpoint that is not on the allow-list."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.state, self.items, self.list = args, kwargs, None, {}, []

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):  # dict subclasses (AttributeDict, EasyDict)
        self.items[key] = value

    def append(self, value):  # list subclasses
        self.list.append(value)

    def extend(self, values):
        self.list.extend(values)

    def __repr__(self):
        return f"<placeholder {self.qualname}>"


_PLACEHOLDERS = {}


def _placeholder(module, name):
    qual = f"{module}.{name}"
    if qual not in _PLACEHOLDERS:
        _PLACEHOLDERS[qual] = type(name, (Placeholder,), {"qualname": qual})
    return _PLACEHOLDERS[qual]


_SAFE_COMMON = {
    ("collections", "OrderedDict"), ("_codecs", "encode"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"),
    ("builtins", "complex"), ("builtins", "bytearray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}
_SAFE_TORCH = {
    ("torch._utils", n) for n in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                                  "_rebuild_parameter", "_rebuild_parameter_with_state",
                                  "_rebuild_device_tensor_from_numpy")
} | {("torch", "Size"), ("torch", "device"), ("torch._tensor", "_rebuild_from_type_v2"),
     ("torch.nn.parameter", "Parameter")}


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickler resolving only :data:`_SAFE_COMMON` (plus NumPy dtype classes)."""

    def _safe(self, module, name):
        return (module, name) in _SAFE_COMMON or module == "numpy.dtypes"

    def find_class(self, module, name):
        # protocol-2 pickles name Python 2 modules ("__builtin__"); check the Python 3 name
        py3 = _compat_pickle.NAME_MAPPING.get((module, name), (
            _compat_pickle.IMPORT_MAPPING.get(module, module), name))
        if self._safe(*py3):
            return super().find_class(module, name)
        return _placeholder(*py3)


class _TorchUnpickler(_NumpyUnpickler):
    """Also resolves torch's tensor rebuilders, ``torch.Size``/``device`` and dtypes (torch's
    own loader handles ``*Storage`` names before asking this class)."""

    def _safe(self, module, name):
        if super()._safe(module, name) or (module, name) in _SAFE_TORCH:
            return True
        if module == "torch":
            import torch
            return isinstance(getattr(torch, name, None), torch.dtype)
        return False


def _pickle_module(unpickler):
    """A module-like object for ``torch.load(pickle_module=...)``."""
    return types.SimpleNamespace(__name__="paddlexseg_safe_pickle", Unpickler=unpickler,
                                 load=lambda f, **kw: unpickler(f, **kw).load(),
                                 Pickler=pickle.Pickler, UnpicklingError=pickle.UnpicklingError)


def _module_state(obj, prefix, out):
    """Collect parameters and persistent buffers of a pickled ``nn.Module`` placeholder."""
    state = obj.state if isinstance(obj.state, dict) else {}
    skip = set(state.get("_non_persistent_buffers_set", ()) or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, Placeholder):
            _module_state(child, f"{prefix}{name}.", out)
    return out


def _is_module(obj):
    return isinstance(obj, Placeholder) and isinstance(obj.state, dict) and \
        "_modules" in obj.state


def extract_state_dict(obj, path):
    """Find the state dict inside a loaded checkpoint object.

    Looks for ``state_dict`` (Lightning), ``model_state_dict``, ``model`` (detectron2) and
    ``blobs`` (Caffe2) entries, a pickled module, or takes a mapping as is.

    Returns:
        (mapping of key -> value, a note saying where it came from).
    """
    if _is_module(obj):
        return _module_state(obj, "", OrderedDict()), f"{path}: a pickled nn.Module"
    if not isinstance(obj, dict):
        raise ConversionError(f"{path}: expected a state dict (a mapping of parameter names "
                              f"to tensors), got {type(obj).__name__}")
    for key in ("state_dict", "model_state_dict", "model", "blobs"):
        inner = obj.get(key)
        if _is_module(inner):
            return _module_state(inner, "", OrderedDict()), f"{path}: pickled module '{key}'"
        if isinstance(inner, dict):
            return inner, f"{path}: the '{key}' entry of a {len(obj)}-entry checkpoint"
    return obj, f"{path}: a plain state dict"


def _to_numpy(value):
    """A torch tensor / NumPy array / number as a NumPy array, else None."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        import torch
        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.numpy()
    if isinstance(value, (np.generic, int, float)) and not isinstance(value, bool):
        return np.asarray(value)
    return None


def _strip_data_parallel(arrays, notes, path):
    if arrays and all(k.startswith("module.") for k in arrays):
        notes.append(f"{path}: removed the DataParallel prefix 'module.' from every key")
        return OrderedDict((k[len("module."):], v) for k, v in arrays.items())
    return arrays


def load_checkpoint(path, notes=None):
    """Read one checkpoint file into ``{key: numpy array}``.

    Args:
        path: a ``.npz``, detectron2 ``.pkl`` or ``torch.save`` file (module docstring).
        notes: optional list; lines describing what was read are appended.

    Returns:
        OrderedDict of NumPy arrays in file order. Entries that are not arrays (e.g. a
        ``_metadata`` object) are skipped and listed in ``notes``.

    Raises:
        FileNotFoundError, ConversionError, MissingTorchError.
    """
    notes = [] if notes is None else notes
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    lower = path.lower()
    if lower.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            raw, where = OrderedDict((k, data[k]) for k in data.files), f"{path}: numpy .npz"
    elif lower.endswith(".pkl"):
        with open(path, "rb") as f:
            try:
                obj = _NumpyUnpickler(f, encoding="latin1").load()
            except (pickle.UnpicklingError, EOFError, ValueError) as e:
                raise ConversionError(f"{path}: not a readable pickle ({e}); detectron2 .pkl "
                                      f"files hold {{'model': {{name: ndarray}}}}") from e
        raw, where = extract_state_dict(obj, path)
    else:
        torch = import_torch(path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False,
                             pickle_module=_pickle_module(_TorchUnpickler))
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
            raise ConversionError(f"{path}: torch.load failed ({e}); expected a torch.save "
                                  f"file (state dict, Lightning .ckpt or module)") from e
        raw, where = extract_state_dict(obj, path)
    notes.append(where)
    arrays, skipped = OrderedDict(), []
    for key, value in raw.items():
        array = _to_numpy(value)
        if array is None:
            skipped.append(str(key))
        else:
            arrays[str(key)] = array
    if skipped:
        notes.append(f"{path}: skipped {len(skipped)} non-array entries: {', '.join(skipped[:5])}")
    if not arrays:
        raise ConversionError(f"{path}: no arrays found in the checkpoint ({where})")
    return _strip_data_parallel(arrays, notes, path)
