"""``tools/val.py``'s logic: load weights, evaluate, print the report."""
from . import builder
from .aug_eval import AugmentedInference
from .checkpoint import load_model_weights
from .evaluate import evaluate
from .logging import get_logger
from .trainer import amp_context
from ..registry import ConfigError

__all__ = ["validate"]


def validate(cfg, model_path, precision="fp32", progress=True, aug_eval=False, scales=(1.0,),
             flip_horizontal=False, backend="dygraph", onednn=True):
    """Evaluate ``model_path`` on ``cfg['val_dataset']``; returns the metric results dict.

    ``backend="inference"`` runs the model through Paddle Inference (oneDNN on CPU unless
    ``onednn`` is False; :class:`paddlexseg.apis.inference.InferenceModel`).

    With ``aug_eval`` the model (one image input) is run at ``scales`` (and mirrored with
    ``flip_horizontal``) and the softmax probabilities are averaged (PaddleSeg's aug_eval).
    """
    logger = get_logger()
    model = builder.build_model(cfg)
    path = load_model_weights(model, model_path)
    if backend != "dygraph":
        if precision != "fp32":
            raise ConfigError(f"--precision {precision} applies to --backend dygraph only")
        from ..apis.inference import with_backend
        model = with_backend(model, backend, onednn=onednn, cfg=cfg)
        logger.info(f"backend: Paddle Inference (oneDNN {'on' if onednn else 'off'})")
    if aug_eval:
        model = AugmentedInference(model, scales, flip_horizontal)
        logger.info(f"aug_eval: scales {list(scales)}, flip_horizontal {flip_horizontal}")
    dataset = builder.build_dataset(cfg, "val_dataset")
    loader = builder.build_loader(dataset, batch_size=1, num_workers=cfg["train"]["num_workers"],
                                  on_bad_sample=cfg["train"]["on_bad_sample"])
    metric = builder.build_metric(cfg)
    logger.info(f"evaluating {path} on {len(dataset)} samples")
    results = evaluate(model, loader, metric, amp_context(precision), progress=progress)
    print(metric.report(), flush=True)
    return results
