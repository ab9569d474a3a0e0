"""Multi-scale and flip test-time augmentation for image models (PaddleSeg's ``--aug_eval``)."""
import inspect

import paddle
import paddle.nn.functional as F

from ..registry import ConfigError

__all__ = ["AugmentedInference"]


class AugmentedInference(paddle.nn.Layer):
    """Wraps an image model: runs it on rescaled (and horizontally flipped) copies of the input
    and returns, for every 4-D output of ``[B, C, h, w]``, the mean of the softmax probabilities
    resized back to the input size (bilinear, ``align_corners=False``), as PaddleSeg's
    ``aug_inference`` does.

    Args:
        model: a model whose ``forward`` takes one image tensor ``[B, 3, H, W]``.
        scales: resize factors, e.g. ``(0.75, 1.0, 1.25)``.
        flip_horizontal: also run every scale mirrored left-right (and mirror the output back).
    """

    def __init__(self, model, scales=(1.0,), flip_horizontal=False):
        super().__init__()
        if not scales or any(float(s) <= 0 for s in scales):
            raise ConfigError(f"--scales: expected positive factors, got {scales!r}")
        names = [n for n, p in inspect.signature(model.forward).parameters.items()
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if names[:1] != ["image"] or any(inspect.signature(model.forward).parameters[n].default
                                         is inspect.Parameter.empty for n in names[1:]):
            raise ConfigError(f"--aug_eval: multi-scale/flip evaluation is for image models "
                              f"(forward(image)); {type(model).__name__} takes {names}, so "
                              f"--aug_eval/--scales/--flip_horizontal do not apply: drop them")
        self.model = model
        self.scales = [float(s) for s in scales]
        self.flip_horizontal = bool(flip_horizontal)

    def forward(self, **inputs):
        if len(inputs) != 1:
            raise ConfigError(f"--aug_eval works on models with one image input; this model takes "
                              f"{sorted(inputs)}")
        (name, image), = inputs.items()
        if image.ndim != 4:
            raise ConfigError(f"--aug_eval expects a [B, C, H, W] input, got '{name}' of shape "
                              f"{list(image.shape)}")
        height, width = image.shape[2], image.shape[3]
        total, count = {}, 0
        for scale in self.scales:
            size = [max(int(round(height * scale)), 1), max(int(round(width * scale)), 1)]
            scaled = image if size == [height, width] else F.interpolate(
                image, size=size, mode="bilinear", align_corners=False)
            for flip in ([False, True] if self.flip_horizontal else [False]):
                x = paddle.flip(scaled, axis=[3]) if flip else scaled
                outputs = self.model(**{name: x})
                for key, value in outputs.items():
                    if not isinstance(value, paddle.Tensor) or value.ndim != 4:
                        continue
                    if flip:
                        value = paddle.flip(value, axis=[3])
                    prob = F.softmax(F.interpolate(value.astype("float32"), size=[height, width],
                                                   mode="bilinear", align_corners=False), axis=1)
                    total[key] = prob if key not in total else total[key] + prob
                count += 1
        return {key: value / count for key, value in total.items()}
