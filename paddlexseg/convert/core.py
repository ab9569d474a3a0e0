"""Checkpoint conversion core: rename and re-layout a flat ``{key: numpy array}`` state dict.

Framework-free on purpose (NumPy only): a PyTorch checkpoint is first read into plain arrays
by :mod:`paddlexseg.convert.loaders`; this module maps every source key with an ordered list of
:class:`Rule` / :class:`Drop` entries, applies the declared weight transform, and checks the
result against the target model's parameters (a ``{key: ParamSpec}`` table that
:func:`paddlexseg.convert.archs.target_spec` reads off a freshly built Paddle model).

Conventions applied to every architecture (after the family's rule has renamed a key):

* ``*.running_mean`` -> ``*._mean`` and ``*.running_var`` -> ``*._variance`` (BatchNorm);
* ``*.num_batches_tracked`` is dropped (Paddle's BatchNorm has no step counter);
* ``eps``/``momentum`` are layer settings, not checkpoint values: the report lists the target
  model's own (see :func:`paddlexseg.convert.archs.norm_settings`).

Weight transforms (``Rule.transform``):

==================  ==========================================================================
``copy``            unchanged (Conv1d/2d/3d, norms, biases; same layout in both frameworks)
``transpose``       ``nn.Linear`` weight: torch ``[out, in]`` -> Paddle ``[in, out]``
``conv_transpose``  ``ConvTranspose{1,2,3}d`` weight: torch ``[Cin, Cout/groups, *k]`` equals
                    Paddle ``Conv{1,2,3}DTranspose`` -> unchanged (verified numerically in
                    ``tests/convert/test_layer_equivalence.py``)
``spconv:KRSC``     spconv 2.x ``[Cout, kz, ky, kx, Cin]`` -> ``[kz, ky, kx, Cin, Cout]``
``spconv:RSKC``     spconv 2.x Native ``[kz, ky, kx, Cout, Cin]`` -> same target
``spconv:RSCK``     spconv 1.x ``[kz, ky, kx, Cin, Cout]`` -> unchanged
``spconv2:<layout>`` spconv 2.x source: as ``spconv:<layout>``, except a kernel-volume-1 weight,
                    which becomes the raw memory of the stored tensor read as ``[Cin, Cout]``
                    (spconv 2.x's ``conv1x1`` ``torch.mm(features, weight.view(Cin, Cout))``;
                    :mod:`paddlexseg.sparse.weights`)
``bgr_to_rgb``      first conv of a BGR-trained network: input-channel axis reversed so that the
                    Paddle model takes RGB images
==================  ==========================================================================
"""
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ConversionError", "Rule", "Drop", "ParamSpec", "MappedKey", "ConversionReport",
           "KeyMapper", "TRANSFORMS", "LAYER_TRANSFORMS", "apply_transform", "resolve_spconv",
           "convert_state_dict", "single_file", "ArchSpec"]


class ConversionError(ValueError):
    """A checkpoint cannot be converted; the message names the file/key and what was expected."""


def _spconv(layout, conv1x1_mm=False):
    def fn(array):
        from ..sparse.weights import weight_from_spconv  # NumPy-only helper of the sparse package
        return weight_from_spconv(array, layout, conv1x1_mm)
    return fn


def resolve_spconv(layout=None, version=None):
    """``(layout, conv1x1_mm)`` of a spconv source from ``--spconv-layout`` / ``--spconv-version``.

    KRSC and RSKC exist only in spconv 2.x, RSCK is spconv 1.x's layout (or 2.x's opt-in
    ``SPCONV_FILTER_HWIO=1``); every 2.x release computes kernel-volume-1 convs from the
    reinterpreted weight (:func:`paddlexseg.sparse.weights.spconv_conv1x1_mm`).
    Default (neither given): spconv 2.x, KRSC.
    """
    from ..sparse.weights import SPCONV_LAYOUTS, spconv_conv1x1_mm
    if layout is not None and layout not in SPCONV_LAYOUTS:
        raise ConversionError(f"--spconv-layout: expected one of {', '.join(SPCONV_LAYOUTS)}, "
                              f"got {layout!r}")
    if version is None:
        layout = layout or "KRSC"
        return layout, layout != "RSCK"
    try:
        mm = spconv_conv1x1_mm(version)
    except ValueError as err:
        raise ConversionError(f"--spconv-version: {err}") from None
    if not mm and layout not in (None, "RSCK"):
        raise ConversionError(f"--spconv-layout {layout}: spconv {version} stores "
                              f"[kz, ky, kx, Cin, Cout] (RSCK); {layout} is a spconv 2.x layout")
    return layout or ("KRSC" if mm else "RSCK"), mm


def _transpose_2d(array):
    if array.ndim != 2:
        raise ConversionError(f"'transpose' expects a 2-D Linear weight, got shape "
                              f"{list(array.shape)}")
    return np.ascontiguousarray(array.T)


def _bgr_to_rgb(array):
    if array.ndim != 4 or array.shape[1] != 3:
        raise ConversionError(f"'bgr_to_rgb' expects a conv weight [Cout, 3, kh, kw], got shape "
                              f"{list(array.shape)}")
    return np.ascontiguousarray(array[:, ::-1])


# name -> (function, description for the report)
TRANSFORMS = {
    "copy": (lambda a: a, "unchanged"),
    "transpose": (_transpose_2d, "Linear weight [out, in] -> [in, out]"),
    "conv_transpose": (lambda a: a, "ConvTranspose weight [Cin, Cout/g, *k], same layout"),
    "spconv:KRSC": (_spconv("KRSC"), "spconv [Cout, kz, ky, kx, Cin] -> [kz, ky, kx, Cin, Cout]"),
    "spconv:RSKC": (_spconv("RSKC"), "spconv [kz, ky, kx, Cout, Cin] -> [kz, ky, kx, Cin, Cout]"),
    "spconv:RSCK": (_spconv("RSCK"), "spconv [kz, ky, kx, Cin, Cout], same layout"),
    "spconv2:KRSC": (_spconv("KRSC", True), "spconv 2.x [Cout, kz, ky, kx, Cin] -> [kz, ky, kx, "
                     "Cin, Cout]; kernel volume 1: raw memory read as [Cin, Cout]"),
    "spconv2:RSKC": (_spconv("RSKC", True), "spconv 2.x [kz, ky, kx, Cout, Cin] -> [kz, ky, kx, "
                     "Cin, Cout]; kernel volume 1: raw memory read as [Cin, Cout]"),
    "spconv2:RSCK": (_spconv("RSCK", True), "spconv 2.x HWIO [kz, ky, kx, Cin, Cout], same "
                     "layout; kernel volume 1: raw memory read as [Cout, Cin], transposed"),
    "bgr_to_rgb": (_bgr_to_rgb, "input channels reversed (BGR-trained conv -> RGB input)"),
}

# which transforms a target parameter accepts, by the kind of layer that owns it (weights only;
# biases and norm parameters are always copied)
LAYER_TRANSFORMS = {
    "linear": {"transpose"},
    "conv_transpose": {"conv_transpose"},
    "sparse_conv": {"spconv:KRSC", "spconv:RSKC", "spconv:RSCK", "spconv2:KRSC", "spconv2:RSKC",
                    "spconv2:RSCK"},
    "other": {"copy", "bgr_to_rgb"},
}

_GENERIC_RENAMES = (("running_mean", "_mean"), ("running_var", "_variance"))
_GENERIC_DROP = ("num_batches_tracked", "BatchNorm step counter; Paddle's BatchNorm has none")


def apply_transform(name, array):
    """Apply the transform ``name`` (a key of :data:`TRANSFORMS`) to a NumPy array."""
    if name not in TRANSFORMS:
        raise ConversionError(f"unknown transform '{name}'; known: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[name][0](np.asarray(array))


@dataclass(frozen=True)
class Rule:
    """Map source keys matching ``pattern`` (a full-match regex) to ``target``.

    Args:
        pattern: regular expression matched against the whole source key.
        target: replacement template (``re.Match.expand`` syntax, e.g. ``r"decoder.\\1"``;
            ``r"\\g<0>"`` keeps the key) or a function ``match -> str``.
        transform: a key of :data:`TRANSFORMS`.
    """
    pattern: str
    target: object
    transform: str = "copy"


@dataclass(frozen=True)
class Drop:
    """Source keys matching ``pattern`` are deliberately not converted, for ``reason``."""
    pattern: str
    reason: str


@dataclass(frozen=True)
class ParamSpec:
    """One parameter/buffer of the target model: shape, dtype name and owning-layer kind
    (a key of :data:`LAYER_TRANSFORMS`); ``param`` is its name inside that layer."""
    shape: tuple
    dtype: str = "float32"
    kind: str = "other"
    param: str = "weight"


@dataclass
class MappedKey:
    """One converted entry of the report."""
    src: str
    dst: str
    src_shape: tuple
    dst_shape: tuple
    transform: str
    note: str = ""


@dataclass
class ConversionReport:
    """What a conversion did and what is wrong with it.

    Attributes:
        arch: architecture name. mapped: converted entries. dropped: ``(src, reason)``.
        unused: source keys no rule matched. missing: target keys nothing was converted to.
        problems: shape, duplicate and layer-kind mismatches (always fatal).
        notes: informational lines (norm settings, file handling, eval caveats).
    """
    arch: str = ""
    mapped: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    unused: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def errors(self, allow_missing=False):
        """Messages of everything that forbids writing the converted weights."""
        errs = list(self.problems)
        if self.unused:
            errs.append(f"{len(self.unused)} source keys have no rule (unused): "
                        f"{', '.join(self.unused[:8])}{' ...' if len(self.unused) > 8 else ''}")
        if self.missing and not allow_missing:
            errs.append(f"{len(self.missing)} target keys are missing from the checkpoint: "
                        f"{', '.join(self.missing[:8])}{' ...' if len(self.missing) > 8 else ''}"
                        f" (use --allow-missing to leave them at their initialisation)")
        return errs

    def ok(self, allow_missing=False):
        return not self.errors(allow_missing)

    def format(self, allow_missing=False):
        """The full text report: summary, errors, notes, then every key."""
        lines = [f"# checkpoint conversion report: {self.arch}",
                 f"mapped: {len(self.mapped)}  dropped: {len(self.dropped)}  "
                 f"unused: {len(self.unused)}  missing: {len(self.missing)}  "
                 f"problems: {len(self.problems)}"]
        errs = self.errors(allow_missing)
        lines.append("status: " + ("OK" if not errs else "REFUSED"))
        lines += [f"error: {e}" for e in errs]
        lines += [f"note: {n}" for n in self.notes]
        for name in sorted({m.transform for m in self.mapped}):
            lines.append(f"transform {name}: {TRANSFORMS[name][1]}")
        lines.append("")
        lines.append("## mapped (src -> dst, src shape -> dst shape, transform)")
        for m in self.mapped:
            extra = f"  ({m.note})" if m.note else ""
            lines.append(f"{m.src} -> {m.dst}  {list(m.src_shape)} -> {list(m.dst_shape)}  "
                         f"{m.transform}{extra}")
        if self.dropped:
            lines.append("")
            lines.append("## dropped (src: reason)")
            lines += [f"{src}: {reason}" for src, reason in self.dropped]
        for title, keys in (("unused source keys", self.unused),
                            ("missing target keys", self.missing)):
            if keys:
                lines.append("")
                lines.append(f"## {title}")
                lines += keys
        if self.problems:
            lines.append("")
            lines.append("## problems")
            lines += self.problems
        return "\n".join(lines) + "\n"


class KeyMapper:
    """Ordered rules: the first :class:`Rule` or :class:`Drop` whose pattern matches wins.

    ``num_batches_tracked`` keys are dropped and BatchNorm running statistics renamed for every
    architecture (module docstring).
    """

    def __init__(self, rules):
        self.rules = []
        for rule in rules:
            if not isinstance(rule, (Rule, Drop)):
                raise TypeError(f"KeyMapper: expected Rule or Drop entries, got {rule!r}")
            if isinstance(rule, Rule) and rule.transform not in TRANSFORMS:
                raise ConversionError(f"rule '{rule.pattern}': unknown transform "
                                      f"'{rule.transform}'; known: {', '.join(TRANSFORMS)}")
            self.rules.append((re.compile(rule.pattern), rule))

    def __call__(self, key):
        """Returns ``(dst, transform)``, a :class:`Drop`, or None when no rule matches."""
        if key.endswith(_GENERIC_DROP[0]):
            return Drop(_GENERIC_DROP[0], _GENERIC_DROP[1])
        for regex, rule in self.rules:
            m = regex.fullmatch(key)
            if m is None:
                continue
            if isinstance(rule, Drop):
                return rule
            dst = rule.target(m) if callable(rule.target) else m.expand(rule.target)
            head, _, last = dst.rpartition(".")
            for src_name, dst_name in _GENERIC_RENAMES:
                if last == src_name:
                    dst = f"{head}.{dst_name}"
            return dst, rule.transform
        return None


def _check_kind(dst, transform, spec):
    """A problem message when ``transform`` does not suit the layer owning ``dst``."""
    if spec.param != "weight":
        allowed = {"copy"}
    else:
        allowed = LAYER_TRANSFORMS.get(spec.kind, LAYER_TRANSFORMS["other"])
    if transform not in allowed:
        return (f"{dst}: transform '{transform}' does not suit a '{spec.kind}' layer's "
                f"'{spec.param}' (expected one of {sorted(allowed)})")
    return None


def convert_state_dict(state, mapper, target=None, arch=""):
    """Convert a flat source state dict.

    Args:
        state: ``{source key: numpy array}`` (e.g. from :func:`loaders.load_checkpoint`).
        mapper: a :class:`KeyMapper` (or any callable with its contract).
        target: optional ``{target key: ParamSpec}``; when given, target shapes, dtypes and
            layer kinds are checked and unconverted target keys listed as missing.
        arch: architecture name for the report.

    Returns:
        (converted ``{target key: numpy array}``, :class:`ConversionReport`). Nothing is
        raised for bad keys: the report's :meth:`~ConversionReport.errors` says what is wrong.
    """
    report = ConversionReport(arch=arch)
    out, origin = {}, {}
    for key in sorted(state):
        array = np.asarray(state[key])
        result = mapper(key)
        if result is None:
            report.unused.append(key)
            continue
        if isinstance(result, Drop):
            report.dropped.append((key, result.reason))
            continue
        dst, transform = result
        if dst in origin:
            report.problems.append(f"{dst}: both '{origin[dst]}' and '{key}' map to it")
            continue
        try:
            converted = apply_transform(transform, array)
        except ValueError as e:  # ConversionError included
            report.problems.append(f"{key} -> {dst}: {e}")
            continue
        note = ""
        if target is not None:
            spec = target.get(dst)
            if spec is None:
                report.problems.append(f"{key} -> {dst}: the Paddle model has no such "
                                       f"parameter")
                continue
            kind_problem = _check_kind(dst, transform, spec)
            if kind_problem:
                report.problems.append(kind_problem)
                continue
            if tuple(converted.shape) != tuple(spec.shape):
                report.problems.append(
                    f"{key} -> {dst}: shape {list(array.shape)} ({transform}) gives "
                    f"{list(converted.shape)}, the Paddle model expects {list(spec.shape)}")
                continue
            if converted.dtype != np.dtype(spec.dtype):
                note = f"{converted.dtype} -> {spec.dtype}"
                converted = converted.astype(spec.dtype)
        origin[dst] = key
        out[dst] = converted
        report.mapped.append(MappedKey(key, dst, tuple(array.shape), tuple(converted.shape),
                                       transform, note))
    if target is not None:
        report.missing = sorted(k for k in target if k not in out)
    return out, report


def single_file(sources):
    """``combine`` of one-file architectures: the keys of the single source, unchanged."""
    if len(sources) != 1:
        raise ConversionError(f"expected exactly one checkpoint file, got {len(sources)}: "
                              f"{', '.join(p for p, _ in sources)}")
    return dict(sources[0][1]), []


@dataclass
class ArchSpec:
    """One convertible architecture.

    Attributes:
        name: the ``--arch`` name.
        model: paddlexseg model config (``MODELS.build``) the weights are converted for.
        rules: ordered :class:`Rule` / :class:`Drop` list (transform ``"spconv"`` is replaced by
            ``"spconv:<layout>"`` (1.x) or ``"spconv2:<layout>"`` (2.x) at conversion time).
        description: one line for ``--help`` and docs.
        sources: what ``--src`` expects.
        published: where the original checkpoints are published.
        config: the paddlexseg config to evaluate the converted weights with.
        combine: ``[(path, {key: array})] -> ({key: array}, notes)`` merging the source files
            (default: exactly one file).
        notes: eval-mode caveats copied into every report.
        files: for multi-file checkpoints, the file names looked up when ``--src`` is a folder.
        detect_spconv: without ``--spconv-layout``, take the spconv layout from the sparse-conv
            weight shapes when exactly one layout fits them all
            (:func:`paddlexseg.convert.archs.detect_spconv`).

    ``model`` is a model config dict, or the path of a config file (relative to the repository)
    whose ``model`` section is built.
    """
    name: str
    model: dict
    rules: list
    description: str
    sources: str
    published: str
    config: str
    combine: object = single_file
    notes: tuple = ()
    files: tuple = ()
    detect_spconv: bool = False

    def mapper(self, spconv_layout="KRSC", conv1x1_mm=None):
        """The :class:`KeyMapper` of this architecture for a spconv weight layout.

        Args:
            spconv_layout: "KRSC", "RSKC" or "RSCK".
            conv1x1_mm: spconv 2.x source (kernel-volume-1 weights reinterpreted); None:
                :func:`resolve_spconv`'s default for the layout.
        """
        if conv1x1_mm is None:
            conv1x1_mm = resolve_spconv(spconv_layout)[1]
        prefix = "spconv2" if conv1x1_mm else "spconv"
        rules = [Rule(r.pattern, r.target, f"{prefix}:{spconv_layout}")
                 if isinstance(r, Rule) and r.transform == "spconv" else r for r in self.rules]
        return KeyMapper(rules)
