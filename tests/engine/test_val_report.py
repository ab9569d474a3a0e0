"""val.py's report: metrics.json, confusion matrix by ground truth, IoU bars, recall curve."""
import json
import os
from types import SimpleNamespace

import numpy as np

from paddlexseg.engine.val_report import confusion_by_ground_truth, write_val_report
from paddlexseg.metrics.iou import RangeIoU
from paddlexseg.metrics.image_iou import ImageIoU
from paddlexseg.metrics.recall import RecallAtN


def test_confusion_rows_are_ground_truth_for_every_layout():
    rng_metric = RangeIoU()                           # rows = prediction, class 0 ignored
    rng_metric.conf[1, 2] = 5                         # predicted car (1), truth bicycle (2)
    conf, names = confusion_by_ground_truth(rng_metric)
    assert names[:2] == ["car", "bicycle"] and conf.shape == (19, 19)
    assert conf[1, 0] == 5 and conf.sum() == 5        # row bicycle, column car
    img_metric = ImageIoU(num_classes=3, class_names=["a", "b", "c"])  # rows = ground truth
    img_metric.conf[2, 0] = 7
    conf, names = confusion_by_ground_truth(img_metric)
    assert names == ["a", "b", "c"] and conf[2, 0] == 7


def test_write_report_segmentation_and_recall(tmp_path):
    metric = ImageIoU(num_classes=3, class_names=["a", "b", "c"])
    metric.conf[:] = [[5, 1, 0], [0, 3, 0], [0, 0, 0]]  # class c absent: NaN
    results = metric.compute()
    files = write_val_report(metric, results, str(tmp_path / "seg"))
    assert sorted(files) == ["class_iou", "confusion_matrix", "metrics"]
    saved = json.load(open(files["metrics"]))
    assert saved["mIoU"] == results["mIoU"] and saved["IoU/c"] is None  # NaN -> null
    recall = RecallAtN(ns=[1, 5])
    rng = np.random.default_rng(0)
    positions = np.stack([np.arange(12.0) * 20, np.zeros(12)], 1)
    for is_query in (False, True):
        recall.update({"descriptor": rng.standard_normal((12, 8)).astype(np.float32)},
                      SimpleNamespace(positions=positions, is_query=np.full(12, is_query)))
    files = write_val_report(recall, recall.compute(), str(tmp_path / "vpr"))
    assert sorted(files) == ["metrics", "recall_curve"]
    assert os.path.getsize(files["recall_curve"]) > 1000
