"""Randomised cross-check of kitti_eval against the devkit's loops written out plainly.

The reference below transcribes ``clean_data``, ``compute_statistics_jit``, ``get_thresholds``,
``fused_compute_statistics``/``eval_class`` and ``get_mAP``/``get_mAP_R40`` of the Python KITTI
devkit port (OpenPCDet ``kitti_object_eval_python/eval.py``, same in mmdet3d), loop for loop,
without numba: every threshold of every frame is matched from scratch. Only the overlaps are
shared (``frame_overlaps``, tested separately against the LiDAR-frame IoU).
"""
import numpy as np
import pytest

from paddlexseg.metrics.kitti_ap import kitti_eval
from paddlexseg.metrics.kitti_match import frame_overlaps, image_overlap

CLASS_NAMES = ['car', 'pedestrian', 'cyclist', 'van', 'person_sitting', 'truck']
MIN_HEIGHT, MAX_OCCLUSION, MAX_TRUNCATION = [40, 25, 25], [0, 1, 2], [0.15, 0.3, 0.5]
OVERLAP = {"bbox": [0.7, 0.5, 0.5], "bev": [0.7, 0.5, 0.5], "3d": [0.7, 0.5, 0.5]}


def ref_clean_data(gt_anno, dt_anno, current_class, difficulty):
    dc_bboxes, ignored_gt, ignored_dt = [], [], []
    current_cls_name = CLASS_NAMES[current_class].lower()
    num_valid_gt = 0
    for i in range(len(gt_anno["name"])):
        bbox = gt_anno["bbox"][i]
        gt_name = gt_anno["name"][i].lower()
        height = bbox[3] - bbox[1]
        if gt_name == current_cls_name:
            valid_class = 1
        elif current_cls_name == "pedestrian" and gt_name == "person_sitting":
            valid_class = 0
        elif current_cls_name == "car" and gt_name == "van":
            valid_class = 0
        else:
            valid_class = -1
        ignore = (gt_anno["occluded"][i] > MAX_OCCLUSION[difficulty]
                  or gt_anno["truncated"][i] > MAX_TRUNCATION[difficulty]
                  or height <= MIN_HEIGHT[difficulty])
        if valid_class == 1 and not ignore:
            ignored_gt.append(0)
            num_valid_gt += 1
        elif valid_class == 0 or (ignore and valid_class == 1):
            ignored_gt.append(1)
        else:
            ignored_gt.append(-1)
        if gt_anno["name"][i] == "DontCare":
            dc_bboxes.append(gt_anno["bbox"][i])
    for i in range(len(dt_anno["name"])):
        valid_class = 1 if dt_anno["name"][i].lower() == current_cls_name else -1
        height = abs(dt_anno["bbox"][i, 3] - dt_anno["bbox"][i, 1])
        if height < MIN_HEIGHT[difficulty]:
            ignored_dt.append(1)
        elif valid_class == 1:
            ignored_dt.append(0)
        else:
            ignored_dt.append(-1)
    return num_valid_gt, ignored_gt, ignored_dt, np.array(dc_bboxes).reshape(-1, 4)


def ref_compute_statistics(overlaps, gt_alphas, dt_scores, dt_alphas, dt_bboxes, ignored_gt,
                           ignored_det, dc_bboxes, metric, min_overlap, thresh=0.0,
                           compute_fp=False, compute_aos=False):
    det_size, gt_size = len(dt_scores), len(gt_alphas)
    assigned_detection = [False] * det_size
    ignored_threshold = [compute_fp and dt_scores[i] < thresh for i in range(det_size)]
    NO_DETECTION = -10000000
    tp, fp, fn, similarity = 0, 0, 0, 0
    thresholds, delta = [], []
    for i in range(gt_size):
        if ignored_gt[i] == -1:
            continue
        det_idx, valid_detection, max_overlap, assigned_ignored_det = -1, NO_DETECTION, 0, False
        for j in range(det_size):
            if ignored_det[j] == -1 or assigned_detection[j] or ignored_threshold[j]:
                continue
            overlap = overlaps[j, i]
            dt_score = dt_scores[j]
            if not compute_fp and overlap > min_overlap and dt_score > valid_detection:
                det_idx, valid_detection = j, dt_score
            elif (compute_fp and overlap > min_overlap
                  and (overlap > max_overlap or assigned_ignored_det) and ignored_det[j] == 0):
                max_overlap, det_idx, valid_detection, assigned_ignored_det = overlap, j, 1, False
            elif (compute_fp and overlap > min_overlap and valid_detection == NO_DETECTION
                  and ignored_det[j] == 1):
                det_idx, valid_detection, assigned_ignored_det = j, 1, True
        if valid_detection == NO_DETECTION and ignored_gt[i] == 0:
            fn += 1
        elif valid_detection != NO_DETECTION and (ignored_gt[i] == 1 or ignored_det[det_idx] == 1):
            assigned_detection[det_idx] = True
        elif valid_detection != NO_DETECTION:
            tp += 1
            thresholds.append(dt_scores[det_idx])
            if compute_aos:
                delta.append(gt_alphas[i] - dt_alphas[det_idx])
            assigned_detection[det_idx] = True
    if compute_fp:
        for i in range(det_size):
            if not (assigned_detection[i] or ignored_det[i] == -1 or ignored_det[i] == 1
                    or ignored_threshold[i]):
                fp += 1
        nstuff = 0
        if metric == "bbox":
            overlaps_dt_dc = image_overlap(dt_bboxes, dc_bboxes, 0)
            for i in range(dc_bboxes.shape[0]):
                for j in range(det_size):
                    if assigned_detection[j] or ignored_det[j] in (-1, 1) or ignored_threshold[j]:
                        continue
                    if overlaps_dt_dc[j, i] > min_overlap:
                        assigned_detection[j] = True
                        nstuff += 1
        fp -= nstuff
        if compute_aos:
            similarity = sum((1.0 + np.cos(d)) / 2.0 for d in delta) if (tp > 0 or fp > 0) else -1
    return tp, fp, fn, similarity, thresholds


def ref_get_thresholds(scores, num_gt, num_sample_pts=41):
    scores = sorted(scores)[::-1]
    current_recall, thresholds = 0, []
    for i, score in enumerate(scores):
        l_recall = (i + 1) / num_gt
        r_recall = (i + 2) / num_gt if i < len(scores) - 1 else l_recall
        if (r_recall - current_recall) < (current_recall - l_recall) and i < len(scores) - 1:
            continue
        thresholds.append(score)
        current_recall += 1 / (num_sample_pts - 1.0)
    return thresholds


def ref_eval_class(gts, dts, current_class, difficulty, metric, min_overlap, compute_aos):
    overlaps = [frame_overlaps(d, g, metric) for g, d in zip(gts, dts)]
    cleaned = [ref_clean_data(g, d, current_class, difficulty) for g, d in zip(gts, dts)]
    num_valid = sum(c[0] for c in cleaned)
    all_scores = []
    for (_, ig_gt, ig_dt, dc), ov, g, d in zip(cleaned, overlaps, gts, dts):
        all_scores += ref_compute_statistics(ov, g["alpha"], d["score"], d["alpha"], d["bbox"],
                                             ig_gt, ig_dt, dc, metric, min_overlap)[4]
    thresholds = ref_get_thresholds(all_scores, num_valid) if num_valid else []
    pr = np.zeros([len(thresholds), 4])
    for (_, ig_gt, ig_dt, dc), ov, g, d in zip(cleaned, overlaps, gts, dts):
        for t, thresh in enumerate(thresholds):
            tp, fp, fn, sim, _ = ref_compute_statistics(
                ov, g["alpha"], d["score"], d["alpha"], d["bbox"], ig_gt, ig_dt, dc, metric,
                min_overlap, thresh=thresh, compute_fp=True, compute_aos=compute_aos)
            pr[t] += [tp, fp, fn, 0 if sim == -1 else sim]
    precision, aos = np.zeros(41), np.zeros(41)
    for i in range(len(thresholds)):
        # the devkit divides 0 / 0 into NaN here; kitti_eval (and this reference) use 0
        precision[i] = pr[i, 0] / (pr[i, 0] + pr[i, 1]) if pr[i, 0] + pr[i, 1] else 0.0
        aos[i] = pr[i, 3] / (pr[i, 0] + pr[i, 1]) if pr[i, 0] + pr[i, 1] else 0.0
    for i in range(len(thresholds)):
        precision[i] = np.max(precision[i:])
        aos[i] = np.max(aos[i:])
    return precision, aos


def ref_map(prec):
    return sum(prec[i] for i in range(0, 41, 4)) / 11 * 100


def ref_map_r40(prec):
    return sum(prec[i] for i in range(1, 41)) / 40 * 100


def _random_scene(rng, num_frames):
    names = ["Car", "Car", "Pedestrian", "Cyclist", "Van", "Person_sitting", "DontCare", "Misc"]
    gts, dts = [], []
    for _ in range(num_frames):
        n = int(rng.integers(0, 10))
        g = {"name": rng.choice(names, n).astype(str),
             "truncated": rng.choice([0.0, 0.0, 0.1, 0.2, 0.4, 0.6], n),
             "occluded": rng.choice([0, 0, 0, 1, 2, 3], n), "alpha": rng.uniform(-np.pi, np.pi, n)}
        x1, y1 = rng.uniform(0, 600, n), rng.uniform(0, 200, n)
        g["bbox"] = np.column_stack([x1, y1, x1 + rng.uniform(10, 120, n),
                                     y1 + rng.uniform(15, 90, n)])
        g["dimensions"] = np.column_stack([rng.uniform(0.6, 4.5, n), rng.uniform(1.2, 2.0, n),
                                           rng.uniform(0.5, 1.9, n)])
        g["location"] = np.column_stack([rng.uniform(-4, 4, n), rng.uniform(1.4, 1.8, n),
                                         rng.uniform(8, 16, n)])
        g["rotation_y"] = rng.uniform(-np.pi, np.pi, n)
        keep = np.flatnonzero((g["name"] != "DontCare") & (rng.random(n) < 0.8))
        extra = int(rng.integers(0, 3))
        m = keep.size + extra
        d = {k: np.concatenate([v[keep], v[:0]]) for k, v in g.items()}
        d["name"] = np.concatenate([np.where(rng.random(keep.size) < 0.1, "Cyclist",
                                             g["name"][keep]),
                                    rng.choice(["Car", "Pedestrian", "Cyclist"], extra)])
        d["name"] = d["name"].astype(str)
        for key, width, low, high in (("bbox", 4, 0, 300), ("dimensions", 3, 0.6, 2.0),
                                      ("location", 3, 1.0, 12.0)):
            fresh = rng.uniform(low, high, (extra, width))
            if key == "bbox":
                fresh[:, 2:] = fresh[:, :2] + rng.uniform(10, 80, (extra, 2))
            d[key] = np.concatenate([d[key] + rng.normal(0, 0.06 if key != "bbox" else 2,
                                                         d[key].shape), fresh])
        for key in ("truncated", "occluded"):
            d[key] = np.zeros(m)
        d["alpha"] = np.concatenate([d["alpha"] + rng.normal(0, 0.3, keep.size),
                                     rng.uniform(-3, 3, extra)])
        d["rotation_y"] = np.concatenate([d["rotation_y"] + rng.normal(0, 0.2, keep.size),
                                          rng.uniform(-3, 3, extra)])
        d["score"] = rng.choice(np.linspace(0.05, 1, 12), m)  # ties on purpose
        gts.append(g)
        dts.append(d)
    return gts, dts


@pytest.mark.parametrize("seed", [0, 1])
def test_kitti_eval_equals_devkit_loops(seed):
    rng = np.random.default_rng(seed)
    gts, dts = _random_scene(rng, 40)
    classes = ("Car", "Pedestrian", "Cyclist")
    _, res = kitti_eval(gts, dts, classes=classes)
    nonzero = 0
    for c, name in enumerate(classes):
        for k, diff in enumerate(("easy", "moderate", "hard")):
            for metric in ("bbox", "bev", "3d"):
                prec, aos = ref_eval_class(gts, dts, c, k, metric, OVERLAP[metric][c],
                                           metric == "bbox")
                for key, curve in ((metric, prec), ("aos", aos)):
                    if key == "aos" and metric != "bbox":
                        continue
                    want11, want40 = ref_map(curve), ref_map_r40(curve)
                    got11 = res[f"{name}/{key}/AP11/{diff}"]
                    got40 = res[f"{name}/{key}/AP40/{diff}"]
                    assert got11 == pytest.approx(want11, abs=1e-9), (name, key, diff)
                    assert got40 == pytest.approx(want40, abs=1e-9), (name, key, diff)
                    nonzero += want40 > 0
    assert nonzero >= 20  # the scene exercises matching, not only empty cells
