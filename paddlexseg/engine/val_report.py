"""What ``tools/val.py`` writes next to its metrics: ``metrics.json``, a confusion-matrix PNG, a
per-class IoU bar chart and, for place recognition, the recall@N curve; also logged to VisualDL
(tags ``val/confusion_matrix``, ``val/class_iou``, ``val/recall_curve``).
"""
import io
import json
import os

import numpy as np

__all__ = ["confusion_by_ground_truth", "confusion_figure", "class_iou_figure", "write_val_report"]


def confusion_by_ground_truth(metric):
    """``(conf [C', C'] rows = ground truth, columns = prediction, class names)`` of a
    segmentation metric, without its ignored classes; None for metrics without one.

    ``RangeIoU`` / ``PointIoU`` keep predictions on rows (the SemanticKITTI evaluator's
    layout); ``ImageIoU`` keeps ground truth on rows and already leaves ignored pixels out.
    """
    conf = getattr(metric, "conf", None)
    if conf is None:
        return None
    conf = np.asarray(conf, dtype=np.float64)
    names = list(getattr(metric, "class_names", None)
                 or getattr(getattr(metric, "label_config", None), "class_names", None)
                 or [f"class_{i}" for i in range(conf.shape[0])])
    if type(metric).__name__ in ("RangeIoU", "PointIoU"):
        conf = conf.T
    ignore = [int(i) for i in getattr(metric, "ignore", [])] \
        if type(metric).__name__ != "ImageIoU" else []
    keep = [c for c in range(conf.shape[0]) if c not in ignore]
    return conf[np.ix_(keep, keep)], [names[c] for c in keep]


def _figure(width, height):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=100)


def confusion_figure(conf, names):
    """Row-normalised confusion matrix (each ground-truth class sums to 1) as a figure."""
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
    n = len(names)
    fig = _figure(max(4.0, 0.32 * n + 2.5), max(3.5, 0.32 * n + 2.0))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticks(range(n))
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    ax.set_title("confusion matrix (fraction of each ground-truth class)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def class_iou_figure(results, main="mIoU"):
    """Horizontal bar chart of the ``IoU/<class>`` entries of ``results`` (NaN shown as 0)."""
    items = [(k[4:], v) for k, v in results.items() if k.startswith("IoU/")]
    names = [k for k, _ in items]
    values = np.nan_to_num(np.array([v for _, v in items], dtype=np.float64))
    fig = _figure(6.0, max(2.5, 0.25 * len(items) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(range(len(items)), values, color="tab:blue")
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU")
    if main in results:
        ax.axvline(results[main], color="tab:red", linestyle="--", linewidth=1)
        ax.set_title(f"per-class IoU ({main} {results[main]:.3f}, dashed)", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _rgb(fig):
    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), np.uint8)


def write_val_report(metric, results, save_dir, vdl=None, step=0):
    """Write ``metrics.json`` and the pictures of ``metric`` into ``save_dir``.

    Args:
        metric: the metric after ``compute()`` (its confusion matrix / recall curve are read).
        results: the dict ``compute()`` returned.
        save_dir: output folder (created).
        vdl: an optional :class:`~paddlexseg.engine.logging.VisualDLWriter`.
        step: the VisualDL step.

    Returns:
        {name: path} of the files written.
    """
    os.makedirs(save_dir, exist_ok=True)
    files = {"metrics": os.path.join(save_dir, "metrics.json")}
    with open(files["metrics"], "w") as f:
        json.dump({k: (None if v is None or not np.isfinite(v) else float(v))
                   for k, v in results.items()}, f, indent=1)
    figures = {}
    confusion = confusion_by_ground_truth(metric)
    if confusion is not None:
        figures["confusion_matrix"] = confusion_figure(*confusion)
    if any(k.startswith("IoU/") for k in results):
        figures["class_iou"] = class_iou_figure(results, getattr(metric, "main", "mIoU"))
    for name, fig in figures.items():
        files[name] = os.path.join(save_dir, f"{name}.png")
        fig.savefig(files[name], format="png")
        if vdl is not None:
            vdl.image(f"val/{name}", _rgb(fig), step)
    if hasattr(metric, "save_curve"):  # RecallAtN: recall@N for N = 1..max_curve_n
        files["recall_curve"] = metric.save_curve(os.path.join(save_dir, "recall_curve.png"))
        if vdl is not None:
            vdl.image("val/recall_curve", metric.images()["recall_curve"], step)
    if vdl is not None:
        vdl.scalars(results, step, prefix="val/")
        vdl.flush()
    return files
