"""``tools/val.py``'s logic: load weights, evaluate, print the report, write metrics, pictures."""
import os

from ..registry import ConfigError
from . import builder
from .aug_eval import AugmentedInference, SlidingWindowInference
from .checkpoint import load_model_weights
from .evaluate import evaluate
from .logging import VisualDLWriter, get_logger
from .trainer import amp_context
from .val_report import write_val_report

__all__ = ["validate", "default_val_dir"]


def default_val_dir(model_path):
    """``<checkpoint folder>/val`` (or ``<folder of the .pdparams>/val``)."""
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    return os.path.join(folder or ".", "val")


def _wrap(model, aug_eval, scales, flip_horizontal, flip_vertical, is_slide, crop_size, stride):
    if is_slide and (not crop_size or not stride):
        raise ConfigError("--is_slide needs --crop_size W H and --stride W H")
    if not is_slide and (crop_size or stride):
        raise ConfigError("--crop_size / --stride apply with --is_slide")
    if (flip_vertical or flip_horizontal) and not aug_eval:
        raise ConfigError("--flip_horizontal / --flip_vertical apply with --aug_eval")
    slide = (crop_size, stride) if is_slide else None
    if aug_eval:
        return AugmentedInference(model, scales, flip_horizontal, flip_vertical, slide=slide)
    if is_slide:
        return SlidingWindowInference(model, crop_size, stride)
    return model


def validate(cfg, model_path, precision="fp32", progress=True, aug_eval=False, scales=(1.0,),
             flip_horizontal=False, flip_vertical=False, is_slide=False, crop_size=None,
             stride=None, save_dir=None, use_vdl=False, backend="dygraph", onednn=True):
    """Evaluate ``model_path`` on ``cfg['val_dataset']``; returns the metric results dict.

    ``backend="inference"`` runs the model through Paddle Inference (oneDNN on CPU unless
    ``onednn`` is False; :class:`paddlexseg.apis.inference.InferenceModel`); ``"auto"`` does
    so for an exportable model without ``aug_eval`` / ``is_slide`` / AMP, else dygraph.

    With ``aug_eval`` the model (one image input) is run at ``scales`` (and mirrored with
    ``flip_horizontal`` / ``flip_vertical``) and the softmax probabilities are averaged
    (PaddleSeg's aug_eval). With ``is_slide`` it runs on ``crop_size`` windows every ``stride``
    pixels (both ``[width, height]``) and the scores are averaged (PaddleSeg's slide_inference).
    ``metrics.json``, ``confusion_matrix.png``, ``class_iou.png`` (segmentation) or
    ``recall_curve.png`` (place recognition) go to ``save_dir`` (default
    :func:`default_val_dir`), and with ``use_vdl`` to VisualDL in ``save_dir/vdl_log``.
    """
    logger = get_logger()
    model = builder.build_model(cfg)
    path = load_model_weights(model, model_path)
    if backend == "auto":
        from ..apis.inference import resolve_backend
        backend = ("dygraph" if precision != "fp32" or aug_eval or is_slide
                   else resolve_backend(backend, cfg))
        logger.info(f"--backend auto: {backend}")
    if backend != "dygraph":
        if precision != "fp32":
            raise ConfigError(f"--precision {precision} applies to --backend dygraph only")
        if aug_eval or is_slide:
            raise ConfigError("--aug_eval / --is_slide apply to --backend dygraph only")
        from ..apis.inference import with_backend
        model = with_backend(model, backend, onednn=onednn, cfg=cfg)
        logger.info(f"backend: Paddle Inference (oneDNN {'on' if onednn else 'off'})")
    model = _wrap(model, aug_eval, scales, flip_horizontal, flip_vertical, is_slide, crop_size,
                  stride)
    if aug_eval:
        logger.info(f"aug_eval: scales {list(scales)}, flip_horizontal {flip_horizontal}, "
                    f"flip_vertical {flip_vertical}")
    if is_slide:
        logger.info(f"is_slide: crop_size {list(crop_size)}, stride {list(stride)}")
    dataset = builder.build_dataset(cfg, "val_dataset")
    loader = builder.build_loader(dataset, batch_size=1, num_workers=cfg["train"]["num_workers"],
                                  on_bad_sample=cfg["train"]["on_bad_sample"])
    metric = builder.build_metric(cfg)
    logger.info(f"evaluating {path} on {len(dataset)} samples")
    results = evaluate(model, loader, metric, amp_context(precision), progress=progress)
    print(metric.report(), flush=True)
    save_dir = save_dir or default_val_dir(model_path)
    vdl = VisualDLWriter(os.path.join(save_dir, "vdl_log"), enabled=use_vdl)
    try:
        files = write_val_report(metric, results, save_dir, vdl)
    finally:
        vdl.close()
    logger.info("wrote " + ", ".join(sorted(files.values())))
    return results
