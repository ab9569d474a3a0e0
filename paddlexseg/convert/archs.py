"""The convertible architectures and the file -> Paddle weights pipeline.

:data:`ARCHS` maps each ``--arch`` name to its :class:`~paddlexseg.convert.core.ArchSpec`
(model config, key rules, where the originals are published). :func:`convert_checkpoint`
reads the source files, converts them, checks every key, shape and layer kind against a freshly
built paddlexseg model, and :func:`save_converted` loads the result into that model (checking
every value) and writes it with ``paddle.save``.
"""
import copy
import os

import numpy as np

from .core import ConversionError, ParamSpec, convert_state_dict, resolve_spconv
from .loaders import load_checkpoint
from . import mmdet3d, pointrend, rangenet, squeezesegv3, twodpass
from .rangenet import FILE_EXTENSIONS

__all__ = ["ARCHS", "get_arch", "model_config", "build_model", "target_spec", "norm_settings",
           "expand_sources", "detect_spconv", "convert_checkpoint", "load_into_model",
           "save_converted"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ARCHS = {}
for _family in (rangenet, squeezesegv3, pointrend, twodpass, mmdet3d):
    ARCHS.update(_family.ARCHS)


def get_arch(name):
    """The :class:`ArchSpec` called ``name``; ConversionError lists the known ones."""
    if name not in ARCHS:
        raise ConversionError(f"--arch: unknown architecture '{name}'; known: "
                              f"{', '.join(sorted(ARCHS))}")
    return ARCHS[name]


def model_config(spec):
    """The model config of an ArchSpec: its ``model`` dict, or the ``model`` section of the
    config file it names (a path relative to the repository)."""
    if isinstance(spec.model, dict):
        return copy.deepcopy(spec.model)
    from paddlexseg.config import load_config
    path = os.path.join(ROOT, spec.model)
    if not os.path.isfile(path):
        raise ConversionError(f"{spec.name}: its model config {spec.model} is not in {ROOT} "
                              f"(run from a clone of the repository)")
    return load_config(path)["model"]


def build_model(spec, lazy=False):
    """A freshly built paddlexseg model (eval mode) for an ArchSpec.

    Args:
        lazy: build under ``paddle.LazyGuard``: parameters get their shapes but no values until
            :func:`load_into_model` fills them (much faster for 50M-parameter models).
    """
    import paddle
    import paddlexseg
    from paddlexseg.registry import MODELS
    paddlexseg.load_all()
    cfg = model_config(spec)
    if lazy:
        with paddle.LazyGuard():
            model = MODELS.build(cfg, path="model")
    else:
        model = MODELS.build(cfg, path="model")
    model.eval()
    return model


def _initialize_lazy(model):
    """Give parameters of a lazily built model that nothing was loaded into their initial values."""
    for param in model.state_dict().values():
        is_init = getattr(param, "_is_initialized", None)
        if is_init is not None and not is_init():
            param.initialize()


def _layer_kind(layer):
    from paddle import nn
    from paddlexseg.sparse import SparseConv3d, SparseInverseConv3d, SubMConv3d
    if isinstance(layer, nn.Linear):
        return "linear"
    if isinstance(layer, (nn.Conv1DTranspose, nn.Conv2DTranspose, nn.Conv3DTranspose)):
        return "conv_transpose"
    if isinstance(layer, (SubMConv3d, SparseConv3d, SparseInverseConv3d)):
        return "sparse_conv"
    return "other"


_NUMPY_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")


def target_spec(model):
    """``{state-dict key: ParamSpec}`` of a Paddle model (shape, dtype, owning-layer kind)."""
    layers = dict(model.named_sublayers(include_self=True))
    spec = {}
    for key, value in model.state_dict().items():
        owner, _, param = key.rpartition(".")
        kind = _layer_kind(layers[owner]) if owner in layers else "other"
        dtype = str(value.dtype).replace("paddle.", "")
        if dtype not in _NUMPY_DTYPES:  # e.g. bfloat16: NumPy has no such dtype
            raise ConversionError(f"{key}: the Paddle model holds {dtype}, which the converter "
                                  f"cannot produce; build the model in float32")
        spec[key] = ParamSpec(tuple(int(s) for s in value.shape), dtype, kind, param)
    return spec


def norm_settings(model):
    """Report lines on the norm layers' eps/momentum (layer settings, not checkpoint values)."""
    from paddle import nn
    groups = {}
    for _, layer in model.named_sublayers():
        if isinstance(layer, (nn.BatchNorm1D, nn.BatchNorm2D, nn.BatchNorm3D, nn.BatchNorm)):
            eps = getattr(layer, "_epsilon", None)
            mom = getattr(layer, "_momentum", None)
            key = (type(layer).__name__, eps, mom)
        elif isinstance(layer, nn.GroupNorm):
            key = (f"GroupNorm({layer._num_groups})", layer._epsilon, None)
        else:
            continue
        groups[key] = groups.get(key, 0) + 1
    lines = []
    for (name, eps, mom), count in sorted(groups.items(), key=lambda kv: -kv[1]):
        line = f"{count} x {name}: epsilon {eps:g}"
        if mom is not None:
            line += f", momentum {mom:g} (= torch momentum {1 - mom:.3g})"
        lines.append(line)
    return ["norm settings are taken from the model config, not the checkpoint (torch's default "
            "eps is 1e-5; torch momentum m is Paddle momentum 1 - m): " + "; ".join(lines)]


def expand_sources(paths, spec):
    """Source files from ``--src``: files as given; a folder gives the spec's file names in it
    (each also tried with the extensions .pth, .pt, .npz)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            if not spec.files:
                raise ConversionError(f"--src {path}: is a folder; {spec.name} expects "
                                      f"{spec.sources}")
            found = []
            for name in spec.files:  # the bare name first, as lidar-bonnetal saves them
                for candidate in (name,) + tuple(name + ext for ext in FILE_EXTENSIONS):
                    if os.path.isfile(os.path.join(path, candidate)):
                        found.append(os.path.join(path, candidate))
                        break
            if not found:
                raise ConversionError(f"--src {path}: none of {', '.join(spec.files)} is in "
                                      f"this folder")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f"--src: no such file or folder: {path}")
    return files


def _permuted_shape(shape, layout):
    from ..sparse.weights import weight_from_spconv
    return tuple(weight_from_spconv(np.zeros(shape, np.uint8), layout).shape)


def detect_spconv(state, spec, target, spconv_version=None):
    """The spconv layout of a checkpoint, read off its sparse-conv weight shapes.

    Every source key that ``spec`` converts with a ``spconv`` transform is compared with the
    target parameter; a layout (KRSC, RSKC, RSCK) is kept when it gives the target shape for
    all of them (``--spconv-version`` 1.x allows RSCK only). Kernel axes first (RSCK, RSKC) or
    in the middle (KRSC) tell 1.x from 2.x; a layer with ``Cin != Cout`` tells RSCK from RSKC.

    Returns:
        (layout, conv1x1_mm, note) as :func:`~paddlexseg.convert.core.resolve_spconv`.

    Raises:
        ConversionError: the shapes fit more than one layout (``--spconv-layout`` /
            ``--spconv-version`` needed).
    """
    from ..sparse.weights import SPCONV_LAYOUTS, spconv_conv1x1_mm
    resolve_spconv(None, spconv_version)        # a bad version string -> ConversionError
    mapper = spec.mapper("RSCK", False)
    fits, seen = set(SPCONV_LAYOUTS), 0
    if spconv_version is not None and not spconv_conv1x1_mm(spconv_version):
        fits = {"RSCK"}
    for key, array in state.items():
        result = mapper(key)
        if not isinstance(result, tuple) or not result[1].startswith("spconv") or \
                result[0] not in target or np.ndim(array) != 5:
            continue
        seen += 1
        fits &= {lay for lay in SPCONV_LAYOUTS
                 if _permuted_shape(np.shape(array), lay) == tuple(target[result[0]].shape)}
    if not seen or not fits:
        layout, mm = resolve_spconv(None, spconv_version)
        why = "no sparse-conv weights" if not seen else \
            "no layout fits every sparse-conv weight shape (see the problems)"
        return layout, mm, f"spconv layout not detected ({why}); assumed {layout}"
    if len(fits) > 1:
        raise ConversionError(f"the sparse-conv weight shapes fit the spconv layouts "
                              f"{', '.join(sorted(fits))}: pass --spconv-layout or "
                              f"--spconv-version")
    layout = fits.pop()
    layout, mm = resolve_spconv(layout, spconv_version if spconv_version is not None else
                                ("1" if layout == "RSCK" else "2"))
    what = {"RSCK": "mmcv / spconv 1.x [kz, ky, kx, Cin, Cout]",
            "KRSC": "spconv 2.x [Cout, kz, ky, kx, Cin]",
            "RSKC": "spconv 2.x Native [kz, ky, kx, Cout, Cin]"}[layout]
    return layout, mm, (f"spconv layout {layout} ({what}) detected from the {seen} sparse-conv "
                        f"weight shapes")


def convert_checkpoint(arch, paths, spconv_layout=None, model=None, spconv_version=None):
    """Read, merge and convert the checkpoint files of ``arch``.

    Args:
        arch: a name in :data:`ARCHS`.
        paths: source files (or, for multi-file architectures, their folder).
        spconv_layout: layout of spconv weights in the source ("KRSC", "RSKC", "RSCK").
        model: the target model (built lazily from the arch's config when None).
        spconv_version: spconv release that trained the source ("2.1.16", "1.2.1" ...); 2.x
            kernel-volume-1 weights are read as spconv 2.x computes with them
            (:func:`~paddlexseg.convert.core.resolve_spconv`; default: 2.x, KRSC, or for
            architectures with ``detect_spconv`` the layout the weight shapes give).

    Returns:
        (converted ``{key: numpy array}``, ConversionReport, model).
    """
    spec = get_arch(arch)
    notes = []
    sources = [(p, load_checkpoint(p, notes)) for p in expand_sources(paths, spec)]
    state, combine_notes = spec.combine(sources)
    model = build_model(spec, lazy=True) if model is None else model
    target = target_spec(model)
    about = [f"{spec.description}; originals: {spec.published}; evaluate with {spec.config}"]
    if spec.detect_spconv and spconv_layout is None:
        layout, conv1x1_mm, detected = detect_spconv(state, spec, target, spconv_version)
        about.append(detected)
    else:
        layout, conv1x1_mm = resolve_spconv(spconv_layout, spconv_version)
    out, report = convert_state_dict(state, spec.mapper(layout, conv1x1_mm), target, arch=arch)
    if any(m.transform.startswith("spconv") for m in report.mapped):
        about.append(f"spconv source: layout {layout}, " + (
            "spconv 2.x: kernel-volume-1 weights read as its conv1x1 torch.mm path does "
            "(raw memory as [Cin, Cout])" if conv1x1_mm else
            "spconv 1.x: kernel-volume-1 weights permuted like the others"))
    report.notes = about + notes + combine_notes + norm_settings(model) + list(spec.notes)
    return out, report, model


def load_into_model(converted, model):
    """Load ``converted`` into ``model`` and check that every value arrived unchanged.

    Model keys absent from ``converted`` (``--allow-missing``) keep their current values (their
    initialisation, also for a lazily built model).

    Raises:
        ConversionError: unexpected keys, or a value that did not arrive unchanged.
    """
    missing, unexpected = model.set_state_dict(converted)
    _initialize_lazy(model)
    missing = [k for k in missing if k in converted]
    if missing or unexpected:
        raise ConversionError(f"loading into the Paddle model failed: not loaded "
                              f"{missing[:5]}, unexpected {unexpected[:5]}")
    state = model.state_dict()
    for key, array in converted.items():
        if not np.array_equal(state[key].numpy(), array):
            raise ConversionError(f"{key}: the value read back from the Paddle model differs "
                                  f"from the converted one")
    return state


def save_converted(converted, model, dst):
    """:func:`load_into_model`, then ``paddle.save`` the model's full state dict to ``dst``
    (so ``dst`` always loads strictly into the same config)."""
    import paddle
    state = load_into_model(converted, model)
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    paddle.save(state, dst)
    return dst
