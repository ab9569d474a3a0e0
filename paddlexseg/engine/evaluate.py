"""One evaluation pass: model outputs -> metric."""
import contextlib

import paddle
from tqdm import tqdm

from .logging import show_progress

__all__ = ["evaluate"]


def evaluate(model, loader, metric, amp_ctx=None, progress=True):
    """Run ``model`` over ``loader`` in eval mode and return ``metric.compute()``.

    Args:
        model: the (unwrapped) model; put back into train mode afterwards if it was.
        loader: yields batches (``paddlexseg.structures.Batch``).
        metric: a ``paddlexseg.metrics.base.Metric``; reset first.
        amp_ctx: a callable returning an autocast context, or None.
    """
    was_training = model.training
    model.eval()
    metric.reset()
    amp_ctx = amp_ctx or contextlib.nullcontext
    with paddle.no_grad():
        for batch in tqdm(loader, desc="eval", leave=False, disable=not show_progress(progress),
                          mininterval=2):
            with amp_ctx():
                outputs = model(**batch.inputs())
            outputs = {k: (v.astype("float32") if isinstance(v, paddle.Tensor)
                           and v.dtype in (paddle.float16, paddle.bfloat16) else v)
                       for k, v in outputs.items()}
            metric.update(outputs, batch)
    if was_training:
        model.train()
    return metric.compute()
