"""Build every component of a run from a resolved config dict."""
import dataclasses

import paddle

from .. import load_all
from ..losses.composer import LossComposer
from ..registry import (DATASETS, METRICS, MODELS, OPTIMIZERS, SCHEDULERS, ConfigError)
from . import optimizers, schedulers  # noqa: F401  (fill OPTIMIZERS and SCHEDULERS)

__all__ = ["build_model", "build_dataset", "build_losses", "build_metric", "build_scheduler",
           "build_optimizer", "build_loader", "require"]


def require(cfg, key):
    if cfg.get(key) is None:
        raise ConfigError(f"config: '{key}' is required for this command")
    return cfg[key]


def build_model(cfg):
    load_all()
    return MODELS.build(require(cfg, "model"), path="model")


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


class _FieldsCollate:
    """Paddle's DataLoader silently drops batches that are not a list, tuple or dict, so the
    dataset's batch dataclass travels as a dict of its fields and is rebuilt by BatchLoader."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, samples):
        batch = self.collate(samples)
        out = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
        out["__batch_class__"] = type(batch)
        return out


class BatchLoader:
    """Iterates a ``paddle.io.DataLoader`` and yields the dataset's batch dataclasses."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        for fields in self.loader:
            cls = fields.pop("__batch_class__")
            yield cls(**fields)

    def __len__(self):
        return len(self.loader)


def build_loader(dataset, batch_sampler=None, batch_size=1, num_workers=0):
    """A loader yielding ``dataset.collate(samples)`` batches (``paddlexseg.structures.Batch``)."""
    collate = getattr(dataset, "collate", None)
    if collate is None:
        raise ConfigError(f"dataset {type(dataset).__name__} has no collate() function")
    if batch_sampler is None:
        batch_sampler = paddle.io.BatchSampler(dataset, batch_size=batch_size, shuffle=False,
                                               drop_last=False)
    return BatchLoader(paddle.io.DataLoader(dataset, batch_sampler=batch_sampler,
                                            collate_fn=_FieldsCollate(collate),
                                            num_workers=num_workers, return_list=True))
