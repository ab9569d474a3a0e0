"""Pixel IoU for image segmentation, as cityscapesscripts' ``evalPixelLevelSemanticLabeling``.

Per class ``IoU = tp / (tp + fp + fn)`` over the pixels whose ground truth is not ignored
(false positives on ignored pixels do not count); a class absent from both ground truth and
prediction has no IoU (NaN) and is left out of the mean, as the official script does
(``getScoreAverage`` skips NaN). ``acc`` is the pixel accuracy over non-ignored pixels.
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from ..registry import METRICS
from .base import Metric
from .colorize import colorize_labels, side_by_side

__all__ = ["ImageIoU", "iou_scores"]


def iou_scores(conf):
    """Per-class IoU (NaN where tp + fp + fn = 0), mIoU (NaN-skipping mean) and accuracy.

    Args:
        conf: [C, C] counts, rows = ground truth, columns = prediction (non-ignored pixels only).
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)
    valid = ~np.isnan(iou)
    miou = float(iou[valid].mean()) if valid.any() else float("nan")
    total = conf.sum()
    acc = float(tp.sum() / total) if total else float("nan")
    return iou, miou, acc


def _palette(num_classes):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (num_classes, 3)).astype(np.uint8)


@METRICS.register()
class ImageIoU(Metric):
    """mIoU, pixel accuracy and IoU/<class> of ``outputs[key]`` against ``batch.labels``.

    Logits of another size than the labels are bilinearly resized first (PaddleSeg). When the
    model also returns ``coarse_logits`` (PointRend), ``coarse_mIoU`` scores those too.

    Args:
        num_classes: C. ignore_index: ignored ground-truth value (255).
        class_names: list of C names, or "cityscapes" for the 19 Cityscapes classes (names and
            colours); default ``class_<i>``.
        key: the model output holding the logits [B, C, H, W].
    """

    main = "mIoU"

    def __init__(self, num_classes=19, ignore_index=255, class_names=None, key="logits"):
        self.colors = _palette(num_classes)
        if class_names == "cityscapes":
            from ..datasets.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_COLORS
            class_names, self.colors = list(CITYSCAPES_CLASSES), CITYSCAPES_COLORS
        class_names = list(class_names or [f"class_{i}" for i in range(num_classes)])
        if len(class_names) != num_classes:
            raise ValueError(f"ImageIoU.class_names: expected {num_classes} names, got "
                             f"{len(class_names)}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.class_names, self.key = class_names, key
        self.reset()

    def reset(self):
        self.conf = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.coarse_conf = None
        self._image = None

    def _confusion(self, logits, labels):
        if list(logits.shape[2:]) != list(labels.shape[1:]):
            logits = F.interpolate(logits.astype("float32"), size=list(labels.shape[1:]),
                                   mode="bilinear", align_corners=False)
        pred = paddle.argmax(logits, axis=1).numpy().astype(np.int64)  # [B, H, W]
        gt = labels.numpy().astype(np.int64) if isinstance(labels, paddle.Tensor) else labels
        valid = gt != self.ignore_index
        g = gt[valid]
        if g.size and (g.min() < 0 or g.max() >= self.num_classes):
            raise ValueError(f"ImageIoU: labels span [{g.min()}, {g.max()}]; expected "
                             f"0..{self.num_classes - 1} or ignore_index={self.ignore_index}")
        idx = g * self.num_classes + pred[valid]
        conf = np.bincount(idx, minlength=self.num_classes ** 2)
        return conf.reshape(self.num_classes, self.num_classes), pred, gt

    def update(self, outputs, batch):
        if self.key not in outputs:
            raise KeyError(f"ImageIoU reads model output '{self.key}', but the model returned "
                           f"{sorted(outputs)}")
        if batch.labels is None:
            raise ValueError("ImageIoU: the batch has no labels (dataset mode 'test'?)")
        logits = outputs[self.key]
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"ImageIoU: logits have {logits.shape[1]} classes, the metric "
                             f"{self.num_classes}")
        conf, pred, gt = self._confusion(logits, batch.labels)
        self.conf += conf
        if "coarse_logits" in outputs and self.key != "coarse_logits":
            coarse, _, _ = self._confusion(outputs["coarse_logits"], batch.labels)
            self.coarse_conf = coarse if self.coarse_conf is None else self.coarse_conf + coarse
        if self._image is None:
            self._image = (batch.image[0].numpy(), gt[0], pred[0])

    def compute(self):
        iou, miou, acc = iou_scores(self.conf)
        out = {"mIoU": miou, "acc": acc}
        if self.coarse_conf is not None:
            out["coarse_mIoU"] = iou_scores(self.coarse_conf)[1]
        for name, v in zip(self.class_names, iou):
            out[f"IoU/{name}"] = float(v)
        return out

    def images(self):
        """``{"segmentation": image | ground truth | prediction}`` of the first sample."""
        if self._image is None:
            return {}
        image, gt, pred = self._image
        image = image.transpose(1, 2, 0)[..., :3]
        lo, hi = float(image.min()), float(image.max())
        rgb = np.round((image - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)
        if rgb.shape[:2] != gt.shape:
            rgb = np.zeros(gt.shape + (3,), np.uint8)  # image was resized: show labels only
        gt_rgb = colorize_labels(np.where(gt == self.ignore_index, 0, gt), self.colors)
        gt_rgb[gt == self.ignore_index] = 0
        pred_rgb = colorize_labels(pred, self.colors)
        return {"segmentation": side_by_side([rgb, gt_rgb, pred_rgb])}

    def report(self):
        res = self.compute()
        lines = [f"{'class':<16} IoU"]
        lines += [f"{n:<16} {res[f'IoU/{n}']:.4f}" for n in self.class_names]
        lines.append(f"{'mIoU':<16} {res['mIoU']:.4f}   acc {res['acc']:.4f}")
        if "coarse_mIoU" in res:
            lines.append(f"{'coarse mIoU':<16} {res['coarse_mIoU']:.4f}")
        lines.append(f"convention: {self.convention()}")
        return "\n".join(lines)

    def convention(self):
        """One line naming the definition the printed numbers follow."""
        return ("Cityscapes definition (cityscapesscripts evalPixelLevelSemanticLabeling): "
                f"pixels with ground truth {self.ignore_index} do not count; a class absent from "
                "ground truth and prediction has no IoU (nan) and is left out of the mean")
