"""Point-level IoU of a point-cloud model (2DPASS, SPVCNN ...).

Predictions are the argmax of ``outputs["logits"]`` [N, C] over the points of a
:class:`~paddlexseg.structures.FusionBatch` (or any batch with ``labels`` [N]); the confusion
matrix and IoU come from :mod:`paddlexseg.metrics.iou`, as the official SemanticKITTI evaluator
(``evaluate_semantics.py``) computes them: a point predicted as "unlabeled" (0) counts as a
miss, and a class absent from ground truth and prediction has IoU 0 in the mean.
``zero_ignored_rows=True`` is the 2DPASS-internal convention instead (its ``fast_hist_crop``
drops the points predicted as 0 as well as those labelled 0); ``report()`` says which is in use.

When the batch carries :class:`~paddlexseg.structures.ScanRecords` (val samples of the fusion
data sets), every point of every scan is scored -- the points outside the voxel volume and the
NaN/inf records too, predicted as the data set's ``unseen_points`` says
(:mod:`paddlexseg.metrics.point_fill`) -- so the number equals the official evaluator's on the
``.label`` files ``tools/predict.py`` writes.
"""
import numpy as np
import paddle

from ..registry import METRICS, ConfigError
from .base import Metric
from .class_map import PredClassMap
from .colorize import colorize_labels, stack_images
from .iou import confusion_matrix, iou_from_confusion

__all__ = ["PointIoU", "bev_image", "DEFINITIONS"]

DEFINITIONS = ("semantickitti", "nuscenes")


def bev_image(xyz, labels, colors, size=256, extent=50.0):
    """Bird's-eye view picture: each point's class colour at its (x, y) cell.

    Args:
        xyz: float [N, >=2] points. labels: int [N]. colors: uint8 [C, 3].
        size: output pixels per side. extent: half side of the square shown (m).

    Returns:
        uint8 [size, size, 3] (x up, y left, black background).
    """
    col = ((extent - np.asarray(xyz[:, 1])) / (2 * extent) * size).astype(np.int64)
    row = ((extent - np.asarray(xyz[:, 0])) / (2 * extent) * size).astype(np.int64)
    ok = (row >= 0) & (row < size) & (col >= 0) & (col < size)
    label_map = np.zeros((size, size), np.int64)
    mask = np.zeros((size, size), bool)
    label_map[row[ok], col[ok]] = np.asarray(labels)[ok]
    mask[row[ok], col[ok]] = True
    return colorize_labels(label_map, colors, mask=mask)


@METRICS.register()
class PointIoU(Metric):
    """Per-class IoU, mIoU and accuracy over points.

    Args:
        label_config: label YAML name or path (class names, colours, ignored classes); None
            when ``class_names`` is given (e.g. nuScenes).
        class_names: explicit learning class names (index = learning id), overriding the label
            config's. ignore: learning ids left out (default: the label config's, or [0]).
        zero_ignored_rows: False (default, the benchmark): a point predicted as an ignored
            class is a miss. True: such points are dropped (2DPASS's internal
            ``fast_hist_crop``; for reproducing its logged numbers only).
        logits_key: the model output holding the [N, C] point logits.
        definition: "semantickitti" (default; semantic-kitti-api) or "nuscenes" (nuscenes-devkit
            ``eval/lidarseg``: predictions never take an ignored class -- the devkit refuses
            them, so the argmax runs over the other classes --, the ignored class's row and
            column are zeroed, and a class absent from ground truth and prediction has no IoU
            and is left out of the mean, ``np.nanmean``).
        pred_class_map: cross-dataset evaluation: ``{predicted id: ground-truth id}`` (or a
            YAML file, :mod:`paddlexseg.metrics.class_map`) applied to the argmax; C may then
            differ from the ground truth's number of classes.
    """

    main = "mIoU"

    def __init__(self, label_config="semantic-kitti", class_names=None, ignore=None,
                 zero_ignored_rows=False, logits_key="logits", definition="semantickitti",
                 pred_class_map=None):
        if definition not in DEFINITIONS:
            raise ConfigError(f"metric.definition: expected one of {', '.join(DEFINITIONS)}, got "
                              f"{definition!r}")
        self.definition = definition
        self.colors = None
        if class_names is not None:
            self.class_names = [str(c) for c in class_names]
        elif label_config is not None:
            from ..datasets.label_config import load_label_config
            cfg = load_label_config(label_config)
            self.class_names, self.colors = list(cfg.class_names), cfg.colors
            ignore = cfg.ignore if ignore is None else ignore
        else:
            raise ConfigError("metric: PointIoU needs label_config or class_names")
        self.num_classes = len(self.class_names)
        if self.num_classes < 2:
            raise ConfigError(f"metric.class_names: expected >= 2 classes, got "
                              f"{self.class_names}")
        if self.colors is None:
            rng = np.random.default_rng(0)
            self.colors = rng.integers(40, 256, size=(self.num_classes, 3)).astype(np.uint8)
            self.colors[0] = 0
        self.ignore = [0] if ignore is None else [int(i) for i in ignore]
        self.zero_ignored_rows = bool(zero_ignored_rows)
        self.logits_key = logits_key
        self.pred_map = None if pred_class_map is None else PredClassMap(pred_class_map,
                                                                         self.num_classes)
        self.reset()

    def reset(self):
        self.conf = np.zeros((self.num_classes, self.num_classes), np.int64)
        self._picture = None
        self._unseen = []   # (points not fed, NaN/inf records, mode) per scored scan

    def update(self, outputs, batch):
        if self.logits_key not in outputs:
            raise KeyError(f"PointIoU reads the model output '{self.logits_key}', got "
                           f"{sorted(outputs)}")
        if getattr(batch, "labels", None) is None:
            raise ValueError("PointIoU: the batch has no point labels (labels is None)")
        logits = outputs[self.logits_key]
        if logits.ndim != 2 or (self.pred_map is None and logits.shape[1] != self.num_classes):
            raise ValueError(f"PointIoU: expected logits [N, {self.num_classes}], got "
                             f"{list(logits.shape)}")
        if self.definition == "nuscenes" and self.pred_map is None:  # devkit: preds in 1..C-1
            offset = np.zeros(self.num_classes, np.float32)
            offset[self.ignore] = -np.inf
            logits = logits.astype("float32") + paddle.to_tensor(offset)
        pred = logits.argmax(axis=1).numpy().astype(np.int64)          # [N]
        if self.pred_map is not None:
            pred = self.pred_map(pred, logits.shape[1])
        labels = batch.labels.numpy().astype(np.int64).reshape(-1)     # [N]
        if pred.shape != labels.shape:
            raise ValueError(f"PointIoU: {pred.shape[0]} predictions for {labels.shape[0]} "
                             f"labels")
        records = list(getattr(batch, "records", None) or [])
        if records and all(r.labels is not None for r in records):
            self._update_records(logits, batch, records)
        else:
            self.conf += confusion_matrix(pred, labels, self.num_classes)
        if self._picture is None and getattr(batch, "points", None) is not None:
            first = batch.batch_idx.numpy() == 0 if getattr(batch, "batch_idx", None) \
                is not None else np.ones(pred.shape, bool)
            xyz = batch.points.numpy()[first]
            self._picture = (xyz, pred[first], labels[first])

    def _update_records(self, logits, batch, records):
        """Score every point of every scan (fed, outside the volume, NaN/inf records)."""
        from ..models.twodpass.model import scan_predictions
        scan = batch.batch_idx.numpy()
        for b, (rec, (_, full, nonfinite)) in enumerate(zip(records,
                                                            scan_predictions(logits, batch))):
            self.conf += confusion_matrix(full, rec.labels, self.num_classes)
            if rec.nonfinite_labels is not None and rec.nonfinite_labels.size:
                self.conf += confusion_matrix(nonfinite, rec.nonfinite_labels,
                                              self.num_classes)
            fed = int((scan == b).sum())
            self._unseen.append((rec.labels.shape[0] - fed, int(rec.nonfinite_src.size),
                                 rec.unseen))

    def _scores(self):
        """(iou [C], mIoU, acc) under the configured definition."""
        if self.definition == "semantickitti":
            return iou_from_confusion(self.conf, self.ignore, self.zero_ignored_rows)
        conf = self.conf.astype(np.float64)                # nuscenes-devkit ConfusionMatrix
        conf[self.ignore, :] = 0
        conf[:, self.ignore] = 0
        tp = np.diag(conf)
        union = conf.sum(0) + conf.sum(1) - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / union                               # nan where the class is absent
        include = [c for c in range(self.num_classes) if c not in self.ignore]
        valid = [c for c in include if not np.isnan(iou[c])]
        miou = float(np.mean(iou[valid])) if valid else float("nan")
        total = conf.sum()
        return iou, miou, float(tp.sum() / total) if total else float("nan")

    def convention(self):
        """One line naming the definition the printed numbers follow."""
        if self.definition == "nuscenes":
            return ("nuScenes-lidarseg definition (nuscenes-devkit eval/lidarseg): predictions "
                    "exclude the ignored class, its row and column are zeroed, a class absent "
                    "from ground truth and prediction has no IoU (nan) and is left out of the "
                    "mean") + self._unseen_text()
        if self.zero_ignored_rows:
            head = ("2DPASS-internal convention (zero_ignored_rows: true): points predicted as "
                    "an ignored class are dropped, NOT the benchmark definition")
        else:
            head = ("SemanticKITTI benchmark definition (semantic-kitti-api evaluate_semantics.py):"
                    " a point predicted as an ignored class is a miss")
        return head + "; a class absent from ground truth and prediction counts as IoU 0" + \
            self._unseen_text()

    def _unseen_text(self):
        line = ""
        if self._unseen:
            outside = sum(u[0] for u in self._unseen)
            bad = sum(u[1] for u in self._unseen)
            modes = sorted({u[2] for u in self._unseen})
            line += (f"; every point scored: {outside} outside the voxel volume and {bad} "
                     f"NaN/inf records predicted as unseen_points={'/'.join(modes)}")
        return line

    def compute(self):
        iou, miou, acc = self._scores()
        result = {"mIoU": miou, "acc": acc}
        for c, name in enumerate(self.class_names):
            if c not in self.ignore:
                result[f"IoU/{name}"] = float(iou[c])
        return result

    def images(self):
        if self._picture is None:
            return {}
        xyz, pred, gt = self._picture
        return {"val/bev_prediction": stack_images([bev_image(xyz, pred, self.colors),
                                                    bev_image(xyz, gt, self.colors)])}

    def report(self):
        iou, _, _ = self._scores()
        points = self.conf.sum(axis=0)
        width = max(len(n) for n in self.class_names)
        lines = [f"{'class':<{width}}  {'IoU':>6}  {'points':>10}"]
        for c, name in enumerate(self.class_names):
            if c not in self.ignore:
                lines.append(f"{name:<{width}}  {iou[c]:6.3f}  {int(points[c]):>10d}")
        lines.append("-" * len(lines[0]))
        for key, value in self.compute().items():
            if not key.startswith("IoU/"):
                lines.append(f"{key:<{width}}  {value:6.3f}")
        lines.append(f"convention: {self.convention()}")
        return "\n".join(lines)
