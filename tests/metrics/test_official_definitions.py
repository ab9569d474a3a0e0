"""Each printed metric against the official tool's definition, on small hand-built cases.

The references below are written from the official code, not from ours:

* SemanticKITTI: PRBonn/semantic-kitti-api ``auxiliary/np_ioueval.py`` (``iouEval``: confusion
  with ``np.add.at`` rows = prediction, columns = ground truth; ``conf[:, ignore] = 0``;
  ``iou = tp / (tp + fp + fn + 1e-15)``, mean over ``include``; ``acc = tp.sum() /
  (tp[include] + fp[include]).sum()``) as ``evaluate_semantics.py`` calls it per ``.label``
  file (``label & 0xFFFF`` then ``remap_lut``), over every record of the file;
* recall@N: Nanne/pytorch-NetVlad ``main.py`` ``test()`` (faiss ``IndexFlatL2`` search, positives
  from sklearn ``radius_neighbors``, ``correct_at_n[i:] += 1`` at the first N that hits,
  divided by ``numQ``);
* Cityscapes: cityscapesscripts ``evalPixelLevelSemanticLabeling`` itself (installed in CI).
"""
import numpy as np
import pytest

from paddlexseg.metrics.iou import confusion_matrix, iou_from_confusion
from paddlexseg.metrics.point_fill import fill_scan, nearest_valid_record
from paddlexseg.metrics.point_iou import PointIoU
from paddlexseg.metrics.recall import RecallAtN
from paddlexseg.structures import EventBatch


class OfficialIoU:
    """semantic-kitti-api ``iouEval`` (NumPy backend), transcribed."""

    def __init__(self, n_classes, ignore):
        self.n_classes = n_classes
        self.ignore = np.array(ignore, dtype=np.int64)
        self.include = np.array([n for n in range(n_classes) if n not in self.ignore], np.int64)
        self.conf_matrix = np.zeros((n_classes, n_classes), dtype=np.int64)

    def addBatch(self, x, y):  # noqa: N802 (official name)
        idxs = tuple(np.stack((x.reshape(-1), y.reshape(-1)), axis=0))
        np.add.at(self.conf_matrix, idxs, 1)

    def getStats(self):  # noqa: N802
        conf = self.conf_matrix.copy()
        conf[:, self.ignore] = 0
        tp = np.diag(conf)
        return tp, conf.sum(axis=1) - tp, conf.sum(axis=0) - tp

    def getIoU(self):  # noqa: N802
        tp, fp, fn = self.getStats()
        union = tp + fp + fn + 1e-15
        return (tp[self.include] / union[self.include]).mean(), tp / union

    def getacc(self):  # noqa: N802
        tp, fp, _ = self.getStats()
        return tp.sum() / (tp[self.include].sum() + fp[self.include].sum() + 1e-15)


def official_semantic_kitti(pred_files, label_files, remap_lut, n_classes, ignore=(0,)):
    """``evaluate_semantics.py``'s loop over raw uint32 ``.label`` arrays."""
    ev = OfficialIoU(n_classes, list(ignore))
    for pred, label in zip(pred_files, label_files):
        label = remap_lut[np.asarray(label, np.uint32).reshape(-1) & 0xFFFF]
        pred = remap_lut[np.asarray(pred, np.uint32).reshape(-1) & 0xFFFF]
        ev.addBatch(pred, label)
    return ev.getIoU()[0], ev.getacc()


def netvlad_recall(q_desc, db_desc, q_pos, db_pos, radius, n_values):
    """pytorch-NetVlad ``test()``: faiss IndexFlatL2 (ties: lower index) + radius_neighbors."""
    d2 = ((q_desc[:, None, :].astype(np.float64) - db_desc[None]) ** 2).sum(-1)
    predictions = np.array([sorted(range(len(db_desc)), key=lambda j: (d2[q, j], j))
                            for q in range(len(q_desc))])[:, :max(n_values)]
    geo = np.linalg.norm(q_pos[:, None] - db_pos[None], axis=2)
    gt = [np.nonzero(g <= radius)[0] for g in geo]          # sklearn: distance <= radius
    correct_at_n = np.zeros(len(n_values))
    for q_ix, pred in enumerate(predictions):
        for i, n in enumerate(n_values):
            if np.any(np.isin(pred[:n], gt[q_ix])):
                correct_at_n[i:] += 1
                break
    return correct_at_n / len(q_desc)


def _logits(pred, c):
    import paddle
    return paddle.to_tensor(np.eye(c, dtype=np.float32)[pred])


class _Points:
    def __init__(self, labels):
        import paddle
        self.labels = paddle.to_tensor(labels)
        self.points = None


def test_point_iou_default_is_the_benchmark_and_the_2dpass_convention_is_an_option():
    # 3 classes, class 0 ignored; 5% of the predictions are "unlabeled" (0)
    rng = np.random.default_rng(0)
    labels = rng.integers(1, 3, 400)
    pred = np.where(rng.uniform(size=400) < 0.7, labels, 3 - labels)
    pred[rng.choice(400, 20, replace=False)] = 0
    official, official_acc = official_semantic_kitti([pred], [labels], np.arange(3), 3)
    default = PointIoU(label_config=None, class_names=["u", "a", "b"])
    inner = PointIoU(label_config=None, class_names=["u", "a", "b"], zero_ignored_rows=True)
    for m in (default, inner):
        m.update({"logits": _logits(pred, 3)}, _Points(labels))
    assert default.compute()["mIoU"] == pytest.approx(official, abs=1e-12)
    assert default.compute()["acc"] == pytest.approx(official_acc, abs=1e-12)
    assert inner.compute()["mIoU"] > official + 0.01               # a different number
    assert "convention: SemanticKITTI benchmark definition" in default.report()
    assert "2DPASS-internal convention (zero_ignored_rows: true)" in inner.report()


def test_absent_class_counts_as_zero_as_the_official_mean():
    labels = np.array([1, 1, 2, 2])
    pred = np.array([1, 1, 2, 2])                                   # class 3 absent
    official, _ = official_semantic_kitti([pred], [labels], np.arange(4), 4)
    assert iou_from_confusion(confusion_matrix(pred, labels, 4))[1] == \
        pytest.approx(official) == pytest.approx(2 / 3)


def test_unseen_points_fill_and_every_record_scored():
    # 8 records: rows 2 and 5 NaN; finite rows 0..5 of xyz; rows 4, 5 of xyz outside
    valid = np.array([1, 1, 0, 1, 1, 0, 1, 1], bool)
    src = nearest_valid_record(valid)
    np.testing.assert_array_equal(src, [1, 3])      # record 2 -> record 1 (tie: earlier);
    xyz = np.array([[0, 0, 0], [1, 0, 0], [5, 0, 0], [6, 0, 0], [60, 0, 0], [-70, 1, 0]],
                   np.float32)                      # record 5 -> record 6 = finite row 4
    fed = np.array([0, 1, 2, 3])
    full, nonfinite = fill_scan([1, 2, 3, 4], fed, xyz, src, "nearest")
    np.testing.assert_array_equal(full, [1, 2, 3, 4, 4, 1])
    np.testing.assert_array_equal(nonfinite, [2, 4])
    zero_full, zero_nf = fill_scan([1, 2, 3, 4], fed, xyz, src, "unlabeled")
    np.testing.assert_array_equal(zero_full, [1, 2, 3, 4, 0, 0])
    assert not zero_nf.any()
    # the official evaluator on the file written from these predictions
    file_pred = np.zeros(8, np.int64)
    file_pred[valid], file_pred[~valid] = full, nonfinite
    file_labels = np.array([1, 2, 4, 3, 4, 2, 4, 1])
    conf = confusion_matrix(full, file_labels[valid], 5) + \
        confusion_matrix(nonfinite, file_labels[~valid], 5)
    official, _ = official_semantic_kitti([file_pred], [file_labels], np.arange(5), 5)
    assert iou_from_confusion(conf)[1] == pytest.approx(official, abs=1e-12)


def _vpr_batch(pos, is_query):
    return EventBatch(positions=np.asarray(pos, np.float64),
                      is_query=np.asarray(is_query, bool), paths=[str(i) for i in pos])


def test_recall_is_netvlads_with_unanswerable_queries_and_ties():
    # 5 queries, 3 database samples; query 4 has no database sample within 10 m
    db = np.array([[1, 0], [0, 1], [1, 0]], np.float32)             # rows 0 and 2 tie
    db_pos = np.array([[0, 0], [100, 0], [200, 0]], np.float64)
    q = np.array([[1, 0], [1, 0], [0, 1], [0.9, 0.1], [1, 0]], np.float32)
    q_pos = np.array([[1, 0], [199, 0], [101, 0], [198, 0], [500, 0]], np.float64)
    ref = netvlad_recall(q, db, q_pos, db_pos, 10.0, [1, 2])
    np.testing.assert_allclose(ref, [0.4, 0.8])                     # issue 14's hand case
    m = RecallAtN(ns=(1, 2), pos_radius=10.0, max_curve_n=3)
    skip = RecallAtN(ns=(1, 2), pos_radius=10.0, max_curve_n=3, skip_unanswerable=True)
    for metric in (m, skip):
        metric.update({"descriptor": db}, _vpr_batch(db_pos, [0, 0, 0]))
        metric.update({"descriptor": q}, _vpr_batch(q_pos, [1] * 5))
    got = m.compute()
    assert [got["recall@1"], got["recall@2"]] == pytest.approx(list(ref))
    assert [skip.compute()["recall@1"], skip.compute()["recall@2"]] == pytest.approx([0.5, 1.0])
    assert "(1 without a database sample within 10 m)" in m.report()
    assert "convention: pytorch-NetVlad test()" in m.report()
    # exact descriptor ties: the lower database index ranks first, every time
    for _ in range(3):
        m.reset()
        m.update({"descriptor": db}, _vpr_batch(db_pos, [0, 0, 0]))
        m.update({"descriptor": q[:2]}, _vpr_batch(q_pos[:2], [1, 1]))
        assert m.compute()["recall@1"] == 0.5                      # query 1 gets row 0, a miss


def test_cityscapes_label_id_pngs_score_as_cityscapesscripts(tmp_path, monkeypatch):
    ev = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")
    import paddle
    from PIL import Image
    from paddlexseg.apis.image_predict import save_image_outputs
    from paddlexseg.datasets.cityscapes import CITYSCAPES_COLORS, label_ids_to_train_ids
    from paddlexseg.metrics.image_iou import ImageIoU
    from paddlexseg.structures import ImageBatch
    rng = np.random.default_rng(1)
    metric = ImageIoU(num_classes=19, class_names="cityscapes")
    preds, gts = [], []
    for i in range(2):
        gt_ids = rng.choice([0, 7, 8, 11, 21, 23, 24, 26], size=(24, 40)).astype(np.uint8)
        gt_train = label_ids_to_train_ids(gt_ids)
        pred = np.where(rng.uniform(size=gt_ids.shape) < 0.6, np.where(gt_train == 255, 0,
                                                                       gt_train),
                        rng.integers(0, 19, gt_ids.shape))          # train ids 0..18
        name = f"aachen_00000{i}_000019"
        gt_path = tmp_path / "gt" / f"{name}_gtFine_labelIds.png"
        gt_path.parent.mkdir(exist_ok=True)
        Image.fromarray(gt_ids).save(gt_path)
        out = save_image_outputs(str(tmp_path / "res"), f"{name}_leftImg8bit.png", pred,
                                 CITYSCAPES_COLORS, gt_ids.shape, ["labelid"], "Cityscapes")
        preds.append(out["labelid"])
        gts.append(str(gt_path))
        logits = paddle.to_tensor(np.eye(19, dtype=np.float32)[pred].transpose(2, 0, 1)[None])
        metric.update({"logits": logits}, ImageBatch(image=paddle.zeros([1, 3, 24, 40]),
                                                     labels=paddle.to_tensor(gt_train[None])))
    for key, value in (("quiet", True), ("JSONOutput", False), ("evalPixelAccuracy", False),
                       ("evalInstLevelScore", False),
                       ("exportFile", str(tmp_path / "result.json"))):
        monkeypatch.setattr(ev.args, key, value)
    result = ev.evaluateImgLists(preds, gts, ev.args)
    assert metric.compute()["mIoU"] == pytest.approx(result["averageScoreClasses"], abs=1e-9)
    assert "convention: Cityscapes definition" in metric.report()


def devkit_lidarseg_miou(gt, pred, num_classes, ignore_idx=0):
    """nuscenes-devkit ``eval/lidarseg/utils.py`` ``ConfusionMatrix``, transcribed."""
    assert all((pred > 0) & (pred < num_classes))             # the devkit refuses class 0
    count = np.bincount(num_classes * gt.astype(int) + pred, minlength=num_classes ** 2)
    cm = count.reshape(num_classes, num_classes)              # rows = gt, cols = preds
    cm[ignore_idx, :] = 0
    cm[:, ignore_idx] = 0
    inter = np.diagonal(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (cm.sum(1) + cm.sum(0) - inter).astype(np.float32)
    return float(np.nanmean(iou))


def test_point_iou_nuscenes_definition_is_the_devkits():
    rng = np.random.default_rng(3)
    labels = rng.choice([0, 1, 2, 3], 300)                    # class 4 absent everywhere
    logits = rng.normal(size=(300, 5)).astype(np.float32)
    logits[:40, 0] += 10                                       # class 0 would win here
    logits[:, 4] -= 10
    metric = PointIoU(label_config=None, class_names=list("uabcd"), definition="nuscenes")
    metric.update({"logits": paddle_tensor(logits)}, _Points(labels))
    pred = np.argmax(np.where(np.arange(5) == 0, -np.inf, logits), axis=1)
    official = devkit_lidarseg_miou(labels, pred, 5)
    assert metric.compute()["mIoU"] == pytest.approx(official, abs=1e-6)
    assert np.isnan(metric.compute()["IoU/d"])
    assert "nuScenes-lidarseg definition" in metric.report()
    kitti = PointIoU(label_config=None, class_names=list("uabcd"))
    kitti.update({"logits": paddle_tensor(logits)}, _Points(labels))
    assert kitti.compute()["mIoU"] < official                  # absent class counts as 0 there


def paddle_tensor(array):
    import paddle
    return paddle.to_tensor(array)
