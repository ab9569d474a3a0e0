"""ImageIoU: hand-computed scores, coarse mIoU, resizing, pictures, and agreement with
cityscapesscripts' evalPixelLevelSemanticLabeling on the same predictions."""
import math
import os

import numpy as np
import paddle
import pytest
from PIL import Image

from paddlexseg.datasets.cityscapes import CITYSCAPES_CLASSES, train_ids_to_label_ids
from paddlexseg.metrics.image_iou import ImageIoU, iou_scores
from paddlexseg.structures import ImageBatch


def _onehot_logits(pred, num_classes):
    """int [B, H, W] -> float [B, C, H, W] whose argmax is ``pred``."""
    return paddle.to_tensor(np.eye(num_classes, dtype=np.float32)[pred].transpose(0, 3, 1, 2))


def _batch(labels):
    labels = np.asarray(labels)
    return ImageBatch(image=paddle.zeros([labels.shape[0], 3] + list(labels.shape[1:])),
                      labels=paddle.to_tensor(labels.astype(np.int64)))


def test_hand_computed_scores():
    gt = np.array([[[0, 0, 1, 1], [2, 2, 255, 255]]])
    pred = np.array([[[0, 1, 1, 1], [2, 0, 3, 0]]])  # class 3 predicted only on ignored pixels
    m = ImageIoU(num_classes=5, class_names=["a", "b", "c", "d", "e"])
    m.update({"logits": _onehot_logits(pred, 5)}, _batch(gt))
    res = m.compute()
    # a: tp 1, fp 1 (gt c), fn 1 -> 1/3; b: tp 2, fp 1 -> 2/3; c: tp 1, fn 1 -> 1/2
    assert res["IoU/a"] == pytest.approx(1 / 3) and res["IoU/b"] == pytest.approx(2 / 3)
    assert res["IoU/c"] == pytest.approx(1 / 2)
    assert math.isnan(res["IoU/d"]) and math.isnan(res["IoU/e"])  # absent: left out of the mean
    assert res["mIoU"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert res["acc"] == pytest.approx(4 / 6)
    assert m.main == "mIoU" and "coarse_mIoU" not in res
    assert "mIoU" in m.report()


def test_accumulates_resizes_and_scores_coarse_logits():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, (2, 8, 8))
    m = ImageIoU(num_classes=3, class_names=["x", "y", "z"])
    fine = _onehot_logits(gt, 3) * 5.0
    coarse = paddle.zeros([2, 3, 4, 4])  # argmax 0 everywhere after resizing
    for _ in range(2):
        m.update({"logits": fine, "coarse_logits": coarse}, _batch(gt))
    res = m.compute()
    assert res["mIoU"] == pytest.approx(1.0) and res["acc"] == pytest.approx(1.0)
    share = (gt == 0).mean()
    # only class 0 predicted: IoU(x) = its pixel share, IoU(y) = IoU(z) = 0
    assert res["coarse_mIoU"] == pytest.approx(share / 3)
    pic = m.images()["segmentation"]
    assert pic.dtype == np.uint8 and pic.shape == (8, 8 * 3 + 2, 3)
    m.reset()
    assert m.images() == {} and m.conf.sum() == 0


def test_errors_name_the_problem():
    m = ImageIoU(num_classes=3)
    with pytest.raises(KeyError, match="reads model output 'logits'"):
        m.update({"seg": paddle.zeros([1, 3, 2, 2])}, _batch(np.zeros((1, 2, 2))))
    with pytest.raises(ValueError, match="labels span"):
        m.update({"logits": paddle.zeros([1, 3, 2, 2])}, _batch(np.full((1, 2, 2), 7)))
    with pytest.raises(ValueError, match="class_names"):
        ImageIoU(num_classes=3, class_names=["a"])
    assert ImageIoU(class_names="cityscapes").class_names == CITYSCAPES_CLASSES


def test_iou_scores_empty_confusion():
    iou, miou, acc = iou_scores(np.zeros((2, 2)))
    assert np.isnan(iou).all() and math.isnan(miou) and math.isnan(acc)


def test_matches_cityscapesscripts(tmp_path):
    ev = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling",
                             exc_type=ImportError)
    rng = np.random.default_rng(1)
    metric = ImageIoU(num_classes=19, class_names="cityscapes")
    preds, gts = [], []
    for i in range(3):
        # every label id, ignored ones too, but "train" (id 31, train id 16) nowhere
        gt_ids = rng.choice(np.setdiff1d(np.arange(34), [31]), size=(16, 24))
        gt_ids[:, :8] = rng.choice([7, 8, 26], size=(16, 8))  # frequent classes
        pred_train = rng.integers(0, 19, (16, 24))
        agree = rng.random((16, 24)) < 0.5
        gt_train = np.array([255, 255, 255, 255, 255, 255, 255, 0, 1, 255, 255, 2, 3, 4, 255,
                             255, 255, 5, 255, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 255, 255, 16,
                             17, 18])[gt_ids]
        pred_train = np.where(agree & (gt_train != 255), gt_train, pred_train)
        pred_train[pred_train == 16] = 17
        metric.update({"logits": _onehot_logits(pred_train[None], 19)}, _batch(gt_train[None]))
        gts.append(str(tmp_path / f"gt{i}_gtFine_labelIds.png"))
        preds.append(str(tmp_path / f"pred{i}.png"))
        Image.fromarray(gt_ids.astype(np.uint8)).save(gts[-1])
        Image.fromarray(train_ids_to_label_ids(pred_train).astype(np.uint8)).save(preds[-1])
    args = ev.args
    args.evalInstLevelScore, args.JSONOutput, args.quiet = False, False, True
    args.exportFile = os.path.join(str(tmp_path), "result.json")
    result = ev.evaluateImgLists(preds, gts, args)
    ours = metric.compute()
    assert math.isnan(result["classScores"]["train"]) and math.isnan(ours["IoU/train"])
    for name in CITYSCAPES_CLASSES:
        theirs = result["classScores"][name]
        if math.isnan(theirs):
            assert math.isnan(ours[f"IoU/{name}"]), name
        else:
            assert ours[f"IoU/{name}"] == pytest.approx(theirs, abs=1e-12), name
    avg = ev.getScoreAverage(result["classScores"], args)
    assert ours["mIoU"] == pytest.approx(avg, abs=1e-12)
