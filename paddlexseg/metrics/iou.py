"""Semantic segmentation IoU as the SemanticKITTI benchmark computes it.

:func:`confusion_matrix` and :func:`iou_from_confusion` follow the official evaluator
(PRBonn/semantic-kitti-api ``auxiliary/np_ioueval.py``): the confusion matrix has predictions
on rows and ground truth on columns; the columns of ignored classes are zeroed (points whose
ground truth is ignored do not count); ``IoU = tp / (tp + fp + fn)``; mIoU is the mean over
the non-ignored classes; ``acc = tp.sum() / (tp + fp)[included].sum()``. RangeNet++'s
training-time evaluator (lidar-bonnetal ``modules/ioueval.py``) also zeroes the *rows* of
ignored classes, so a point predicted as "unlabeled" is not a miss; ``zero_ignored_rows=True``
reproduces that.

:class:`RangeIoU` evaluates range-image models (RangeNet++, SqueezeSegV3) on the points of
each scan, as the benchmark does, by back-projecting the per-pixel argmax through each point's
pixel (``proj_x``/``proj_y``) or through KNN post-processing.
"""
import numpy as np

from ..registry import METRICS, ConfigError
from .base import Metric
from .class_map import PredClassMap
from .colorize import colorize_labels, stack_images

__all__ = ["confusion_matrix", "iou_from_confusion", "RangeIoU"]

_KNN_KEYS = ("k", "search", "sigma", "cutoff")


def confusion_matrix(pred, label, num_classes):
    """Counts of (prediction, ground truth) pairs.

    Args:
        pred: int array of predicted class ids (any shape).
        label: int array of ground-truth ids, same number of elements.
        num_classes: C; all ids must lie in [0, C).

    Returns:
        int64 [C, C], rows = prediction, columns = ground truth.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    label = np.asarray(label).reshape(-1).astype(np.int64)
    if pred.shape != label.shape:
        raise ValueError(f"confusion_matrix: {pred.size} predictions but {label.size} labels")
    for name, arr in (("pred", pred), ("label", label)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"confusion_matrix: {name} ids span [{arr.min()}, {arr.max()}], "
                             f"expected [0, {num_classes})")
    counts = np.bincount(pred * num_classes + label, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def iou_from_confusion(conf, ignore=(0,), zero_ignored_rows=False):
    """Per-class IoU, mean IoU and accuracy from a confusion matrix.

    Args:
        conf: [C, C] counts, rows = prediction, columns = ground truth.
        ignore: class ids left out of the mean (their ground-truth columns are zeroed).
        zero_ignored_rows: also zero the prediction rows of ignored classes (lidar-bonnetal's
            training evaluator) instead of counting them as misses (official benchmark).

    Returns:
        (iou float64 [C] for all classes, mIoU float, acc float).
    """
    conf = np.array(conf, dtype=np.float64)
    num_classes = conf.shape[0]
    ignore = [int(i) for i in ignore]
    include = [c for c in range(num_classes) if c not in ignore]
    if not include:
        raise ValueError(f"iou_from_confusion: every one of the {num_classes} classes is ignored")
    conf[:, ignore] = 0
    if zero_ignored_rows:
        conf[ignore] = 0
    tp = np.diag(conf)
    fp = conf.sum(axis=1) - tp
    fn = conf.sum(axis=0) - tp
    union = tp + fp + fn + 1e-15
    iou = tp / union
    miou = float(iou[include].mean())
    acc = float(tp.sum() / (tp[include].sum() + fp[include].sum() + 1e-15))
    return iou, miou, acc


def _numpy(x):
    return x if isinstance(x, np.ndarray) else x.numpy()


@METRICS.register()
class RangeIoU(Metric):
    """Point-level IoU of a range-image model, plus IoU on the projected pixels.

    Args:
        label_config: label YAML name or path (class names, colours, ignored classes).
        knn: None to label each point with the argmax of its pixel, or a dict
            ``{k, search, sigma, cutoff}`` to use RangeNet++'s KNN post-processing
            (``paddlexseg.ops.knn.knn_backproject``).

    ``update(outputs, batch)`` reads ``outputs["logits"]`` [B, C, H, W] and a ``RangeBatch``
    (``labels``, ``proj_mask``, ``proj_range`` for KNN, and ``scans`` with per-point
    ``proj_x``, ``proj_y``, ``unproj_range``, ``labels``). A point outside the image
    (``proj_x == -1``) is predicted as class 0, i.e. counted as a miss. NaN/inf records of the
    file (``nonfinite_src``/``nonfinite_labels``) take the prediction of the nearest point in
    file order, as ``tools/predict.py`` writes them.
    ``compute()`` returns ``mIoU``, ``acc``, ``IoU/<class>``, ``range_mIoU`` and, with KNN,
    ``mIoU_noknn``.
    """

    main = "mIoU"

    def __init__(self, label_config="semantic-kitti", knn=None, pred_class_map=None):
        from ..datasets.label_config import load_label_config
        self.label_config = load_label_config(label_config)
        self.num_classes = self.label_config.num_classes
        self.pred_map = None if pred_class_map is None else PredClassMap(pred_class_map,
                                                                         self.num_classes)
        self.ignore = list(self.label_config.ignore)
        if knn is not None:
            if not isinstance(knn, dict) or sorted(knn) != sorted(_KNN_KEYS):
                raise ConfigError(f"metric.knn: expected null or a mapping with exactly the keys "
                                  f"{', '.join(_KNN_KEYS)}, got {knn!r}")
            knn = dict(knn)
        self.knn = knn
        self.reset()

    def reset(self):
        n = self.num_classes
        self.conf = np.zeros((n, n), np.int64)  # points (with KNN if configured)
        self.conf_noknn = np.zeros((n, n), np.int64)  # points, pixel argmax
        self.conf_range = np.zeros((n, n), np.int64)  # range-image pixels
        self._picture = None

    def update(self, outputs, batch):
        if "logits" not in outputs:
            raise KeyError(f"RangeIoU reads the model output 'logits', got {sorted(outputs)}")
        if batch.labels is None:
            raise ValueError("RangeIoU: the batch has no labels (RangeBatch.labels is None)")
        logits = outputs["logits"]
        argmax_t = logits.argmax(axis=1)  # [B, H, W]
        argmax = _numpy(argmax_t).astype(np.int64)
        if self.pred_map is not None:  # cross-dataset: predicted ids -> ground-truth ids
            import paddle
            argmax = self.pred_map(argmax, logits.shape[1])
            argmax_t = paddle.to_tensor(argmax)
        labels = _numpy(batch.labels).astype(np.int64)  # [B, H, W]
        self.conf_range += confusion_matrix(argmax, labels, self.num_classes)
        if len(batch.scans) != argmax.shape[0]:
            raise ValueError(f"RangeIoU: the batch has {argmax.shape[0]} range images but "
                             f"{len(batch.scans)} scans; the dataset's collate must fill "
                             f"RangeBatch.scans with per-point data")
        for b, scan in enumerate(batch.scans):
            if scan.labels is None:
                raise ValueError(f"RangeIoU: scan {scan.path or b} has no point labels")
            px = np.asarray(scan.proj_x).astype(np.int64)
            py = np.asarray(scan.proj_y).astype(np.int64)
            inside = (px >= 0) & (py >= 0)
            pred = np.zeros(px.shape, np.int64)
            pred[inside] = argmax[b, py[inside], px[inside]]
            self.conf_noknn += self._scan_confusion(pred, scan)
            if self.knn is not None:
                pred = self._knn_predict(batch, b, scan, argmax_t, px, py, inside)
            self.conf += self._scan_confusion(pred, scan)
        if self._picture is None:
            mask = labels[0] > 0 if batch.proj_mask is None else _numpy(batch.proj_mask[0])
            self._picture = (argmax[0], labels[0], np.asarray(mask).astype(bool))

    def _scan_confusion(self, pred, scan):
        """Confusion of one scan's points, plus its NaN/inf records (dropped by the reader,
        scored by the benchmark) with the prediction of the nearest point in file order, as
        ``tools/predict.py`` writes them."""
        conf = confusion_matrix(pred, scan.labels, self.num_classes)
        src = getattr(scan, "nonfinite_src", None)
        nf_labels = getattr(scan, "nonfinite_labels", None)
        if src is not None and nf_labels is not None and len(src):
            conf += confusion_matrix(pred[np.asarray(src)], nf_labels, self.num_classes)
        return conf

    def _knn_predict(self, batch, b, scan, argmax_t, px, py, inside):
        import paddle
        from ..ops.knn import knn_backproject
        if batch.proj_range is None:
            raise ValueError("RangeIoU(knn=...): the batch has no proj_range")
        idx = np.nonzero(inside)[0]
        pred = np.zeros(px.shape, np.int64)
        if idx.size == 0:
            return pred
        out = knn_backproject(batch.proj_range[b],
                              paddle.to_tensor(np.asarray(scan.unproj_range, np.float32)[idx]),
                              argmax_t[b],
                              paddle.to_tensor(px[idx]), paddle.to_tensor(py[idx]),
                              self.num_classes, self.knn["k"], self.knn["search"],
                              self.knn["sigma"], self.knn["cutoff"])
        pred[idx] = _numpy(out).reshape(-1).astype(np.int64)
        return pred

    def compute(self):
        iou, miou, acc = iou_from_confusion(self.conf, self.ignore)
        result = {"mIoU": miou, "acc": acc}
        for c, name in enumerate(self.label_config.class_names):
            if c not in self.ignore:
                result[f"IoU/{name}"] = float(iou[c])
        result["range_mIoU"] = iou_from_confusion(self.conf_range, self.ignore)[1]
        if self.knn is not None:
            result["mIoU_noknn"] = iou_from_confusion(self.conf_noknn, self.ignore)[1]
        return result

    def images(self):
        if self._picture is None:
            return {}
        pred, gt, mask = self._picture
        colors = self.label_config.colors
        picture = stack_images([colorize_labels(pred, colors, mask=mask),
                                colorize_labels(gt, colors)])
        return {"val/range_prediction": picture}

    def report(self):
        """Per-class table: point IoU (with KNN when configured), point IoU with the plain pixel
        argmax, and IoU on the projected range-image pixels."""
        cols = [("points+knn" if self.knn is not None else "points", self.conf)]
        if self.knn is not None:
            cols.append(("points", self.conf_noknn))
        cols.append(("range_img", self.conf_range))
        ious = [(title, iou_from_confusion(conf, self.ignore)) for title, conf in cols]
        gt_points = self.conf_noknn.sum(axis=0)  # ground-truth points per class
        names = self.label_config.class_names
        width = max(len(n) for n in names + ["mIoU"])
        head = f"{'class':<{width}}" + "".join(f"  {t:>10}" for t, _ in ious) + f"  {'gt points':>10}"
        lines = [head]
        for c, name in enumerate(names):
            if c not in self.ignore:
                lines.append(f"{name:<{width}}" + "".join(f"  {r[0][c]:10.3f}" for _, r in ious)
                             + f"  {int(gt_points[c]):>10d}")
        lines.append("-" * len(head))
        lines.append(f"{'mIoU':<{width}}" + "".join(f"  {r[1]:10.3f}" for _, r in ious))
        lines.append(f"{'acc':<{width}}" + "".join(f"  {r[2]:10.3f}" for _, r in ious))
        lines.append(f"convention: {self.convention()}")
        return "\n".join(lines)

    def convention(self):
        """One line naming the definition the printed numbers follow."""
        return ("SemanticKITTI benchmark definition (semantic-kitti-api evaluate_semantics.py): "
                "every point of each scan scored, a point predicted as an ignored class is a "
                "miss, a class absent from ground truth and prediction counts as IoU 0")
