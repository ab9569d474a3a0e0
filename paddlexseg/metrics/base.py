"""The metric interface the evaluation loop relies on."""
import abc

__all__ = ["Metric"]


class Metric(abc.ABC):
    """Accumulates over a validation pass.

    ``update(outputs, batch)`` takes the model's named outputs (eval mode) and the batch;
    ``compute()`` returns a flat dict of floats whose key ``self.main`` is the model-selection
    metric (e.g. ``mIoU``); per-class entries use ``IoU/<class>``; ``images()`` returns
    ``{tag: HxWx3 uint8}`` pictures for VisualDL (may be empty); ``report()`` a printable table.
    """

    main = "mIoU"

    @abc.abstractmethod
    def reset(self):
        ...

    @abc.abstractmethod
    def update(self, outputs, batch):
        ...

    @abc.abstractmethod
    def compute(self):
        ...

    def images(self):
        return {}

    def report(self):
        return "\n".join(f"{k}: {v:.4f}" for k, v in self.compute().items())
