"""Build every component of a run from a resolved config dict."""
from .. import load_all
from ..losses.composer import LossComposer
from ..registry import (DATASETS, METRICS, MODELS, OPTIMIZERS, SCHEDULERS, ConfigError)
from .loader import SafeLoader, SequentialBatches
from . import optimizers, schedulers  # noqa: F401  (fill OPTIMIZERS and SCHEDULERS)

__all__ = ["build_model", "build_dataset", "build_losses", "build_metric", "build_scheduler",
           "build_optimizer", "build_loader", "require"]


def require(cfg, key):
    if cfg.get(key) is None:
        raise ConfigError(f"config: '{key}' is required for this command")
    return cfg[key]


def build_model(cfg):
    """``model.pretrained`` (fine-tuning weights) is not a model argument: the trainer loads
    it after building (:func:`paddlexseg.engine.finetune.load_pretrained`)."""
    load_all()
    model_cfg = {k: v for k, v in require(cfg, "model").items() if k != "pretrained"}
    return MODELS.build(model_cfg, path="model")


def build_dataset(cfg, key):
    """``key`` is ``train_dataset`` or ``val_dataset``."""
    load_all()
    return DATASETS.build(require(cfg, key), path=key)


def build_losses(cfg):
    load_all()
    return LossComposer(require(cfg, "losses"))


def build_metric(cfg):
    load_all()
    return METRICS.build(require(cfg, "metric"), path="metric")


def build_scheduler(cfg, total_iters, iters_per_epoch):
    sched = dict(require(cfg, "lr_scheduler"))
    sched["total_iters"] = total_iters
    sched["iters_per_epoch"] = iters_per_epoch
    return SCHEDULERS.build(sched, path="lr_scheduler")


def build_optimizer(cfg, parameters, lr_scheduler):
    return OPTIMIZERS.build(require(cfg, "optimizer"), path="optimizer",
                            learning_rate=lr_scheduler, parameters=parameters)


def build_loader(dataset, batch_sampler=None, batch_size=1, num_workers=0,
                 on_bad_sample="error"):
    """A loader yielding ``dataset.collate(samples)`` batches (``paddlexseg.structures.Batch``).

    See :class:`paddlexseg.engine.loader.SafeLoader` (errors reach the main thread; workers
    are forked reader processes; ``on_bad_sample``: ``error`` or ``skip``).
    """
    collate = getattr(dataset, "collate", None)
    if collate is None:
        raise ConfigError(f"dataset {type(dataset).__name__} has no collate() function")
    if batch_sampler is None:
        batch_sampler = SequentialBatches(len(dataset), batch_size)
    return SafeLoader(dataset, batch_sampler, collate, num_workers=num_workers,
                      on_bad_sample=on_bad_sample)
