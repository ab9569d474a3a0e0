"""KITTI 3D object detection AP with the official protocol, pure NumPy.

The definition is the KITTI object devkit's (``cpp/evaluate_object.cpp``) as ported to Python by
OpenPCDet (``kitti_object_eval_python/eval.py``) and mmdet3d (``kitti_utils/eval.py``):
2D ``bbox``, ``bev``, ``3d`` and ``aos``; Easy / Moderate / Hard; AP11 (precision at recall
0, 0.1, ..., 1) and AP40 (recall 1/40 ... 1, Simonelli et al. 2019); interpolated precision at
41 score thresholds; per class, plus the mean over the evaluated classes (``mAP``). Those ports
need numba (and ``numba.cuda`` for the rotated IoU in Paddle3D); here the matching loops run on
the few relevant boxes of each frame and the rotated IoU is the float64 polygon clipping of
:mod:`paddlexseg.ops.box_iou`, so a box whose IoU sits within ~1e-6 of a threshold may be
decided differently than by the float32 CUDA kernel. See ``docs/kitti_eval.md``.
"""
import io

import numpy as np

from paddlexseg.metrics.kitti_match import (CLASS_NAMES, clean_data, first_pass, get_thresholds,
                                            image_overlap, match_frame, pair_overlaps)

__all__ = ["kitti_eval", "OVERLAP_SETS", "DIFFICULTIES", "eval_class"]

DIFFICULTIES = ("easy", "moderate", "hard")
_METRICS = ("bbox", "bev", "3d", "aos")
_AP_MODES = ("AP11", "AP40")
_NUM_SAMPLE_PTS = 41
# minimum overlap per metric for Car, Pedestrian, Cyclist, Van, Person_sitting, Truck
OVERLAP_SETS = {
    "strict": {"bbox": (0.7, 0.5, 0.5, 0.7, 0.5, 0.7), "bev": (0.7, 0.5, 0.5, 0.7, 0.5, 0.7),
               "3d": (0.7, 0.5, 0.5, 0.7, 0.5, 0.7)},
    "loose": {"bbox": (0.7, 0.5, 0.5, 0.7, 0.5, 0.5), "bev": (0.5, 0.25, 0.25, 0.5, 0.25, 0.5),
              "3d": (0.5, 0.25, 0.25, 0.5, 0.25, 0.5)},
}
_GT_KEYS = ("name", "truncated", "occluded", "alpha", "bbox", "dimensions", "location",
            "rotation_y")


def _check_annos(gt_annos, dt_annos):
    if len(gt_annos) != len(dt_annos):
        raise ValueError(f"kitti_eval: {len(gt_annos)} ground-truth frames but "
                         f"{len(dt_annos)} detection frames")
    for kind, annos, keys in (("gt", gt_annos, _GT_KEYS), ("dt", dt_annos, _GT_KEYS + ("score",))):
        for i, anno in enumerate(annos):
            missing = [k for k in keys if k not in anno]
            if missing:
                raise ValueError(f"kitti_eval: {kind}_annos[{i}] lacks {missing}")


def _concat(annos, keys):
    """One annotation dict of all frames (arrays concatenated) and the frame offsets."""
    sizes = [len(np.asarray(a["name"]).reshape(-1)) for a in annos]
    flat = {}
    for key in keys:
        width = {"bbox": 4, "dimensions": 3, "location": 3}.get(key)
        parts = [np.asarray(a[key]).reshape((-1, width) if width else -1) for a in annos]
        flat[key] = np.concatenate(parts) if parts else np.zeros((0,) + ((width,) if width else ()))
    return flat, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


class _Scenes:
    """Ground truth and detections of all frames, flattened once for the class loops."""

    def __init__(self, gt_annos, dt_annos):
        self.gt, self.gt_off = _concat(gt_annos, _GT_KEYS)
        self.dt, self.dt_off = _concat(dt_annos, _GT_KEYS + ("score",))
        self.scores = self.dt["score"].astype(np.float64)
        self.alpha_gt = self.gt["alpha"].astype(np.float64)
        self.alpha_dt = self.dt["alpha"].astype(np.float64)
        num_gt, num_dt = np.diff(self.gt_off), np.diff(self.dt_off)
        self.num_gt = num_gt
        # every (detection, ground truth) pair of every frame, frame by frame, row-major
        per_frame = num_dt * num_gt
        self.pair_off = np.concatenate([[0], np.cumsum(per_frame)]).astype(np.int64)
        frame = np.repeat(np.arange(len(per_frame)), per_frame)
        local = np.arange(self.pair_off[-1]) - self.pair_off[frame]
        width = np.maximum(num_gt[frame], 1)
        self.pair_dt = self.dt_off[frame] + local // width
        self.pair_gt = self.gt_off[frame] + local % width
        # largest overlap of each detection's 2D box with a DontCare region of its frame
        self.dontcare = np.zeros(len(self.scores))
        dc_flag = self.gt["name"].astype(str) == "DontCare"
        for f in np.unique(frame[dc_flag[self.pair_gt]]) if len(frame) else []:
            g0, g1 = self.gt_off[f:f + 2]
            d0, d1 = self.dt_off[f:f + 2]
            dc = self.gt["bbox"][g0:g1][dc_flag[g0:g1]]
            self.dontcare[d0:d1] = image_overlap(self.dt["bbox"][d0:d1], dc, 0).max(axis=1)
        self._overlaps, self._cleaned = {}, {}

    def overlaps(self, metric):
        """Flat overlaps of all pairs for ``metric`` (computed once)."""
        if metric not in self._overlaps:
            self._overlaps[metric] = pair_overlaps(self.dt, self.gt, self.pair_dt, self.pair_gt,
                                                   metric)
        return self._overlaps[metric]

    def cleaned(self, class_name, difficulty):
        """(number counted, ignore flags, [(frame, gt indices, dt indices)] of the frames with
        a relevant box) for one class and difficulty (computed once)."""
        key = (class_name, difficulty)
        if key not in self._cleaned:
            num_valid, ig_gt, ig_dt, _ = clean_data(self.gt, self.dt, class_name, difficulty)
            g_rel, d_rel = np.flatnonzero(ig_gt != -1), np.flatnonzero(ig_dt != -1)
            g_split = np.split(g_rel, np.searchsorted(g_rel, self.gt_off[1:-1]))
            d_split = np.split(d_rel, np.searchsorted(d_rel, self.dt_off[1:-1]))
            frames = [(f, g, d) for f, (g, d) in enumerate(zip(g_split, d_split))
                      if g.size or d.size]
            self._cleaned[key] = (num_valid, ig_gt, ig_dt, frames)
        return self._cleaned[key]


def _frame_stats(ov, ig_gt, ig_dt, scores, alpha_gt, alpha_dt, dc_hit, thresholds, min_overlap,
                 compute_aos, pr):
    """Add one frame's tp, fp, fn, similarity at every threshold to ``pr`` [T, 4].

    Arguments hold only the frame's relevant boxes (ignore flag != -1) as Python lists. The
    result depends on the threshold only through how many detections score at least that much
    (thresholds descend), so each distinct count is matched once and added to its rows.
    """
    order = sorted(range(len(scores)), key=lambda j: -scores[j])
    neg = -thresholds  # ascending
    # first row whose threshold admits the k-th best detection (score >= threshold)
    bounds = np.searchsorted(neg, [-scores[j] for j in order], side="left").tolist()
    starts = [0] + bounds + [len(thresholds)]
    active = [False] * len(scores)
    for k in range(len(scores) + 1):
        if k:
            active[order[k - 1]] = True
        lo, hi = starts[k], starts[k + 1]  # rows where exactly the k best are active
        if hi <= lo:
            continue
        tp, fn, assigned, pairs = match_frame(ov, ig_gt, ig_dt, active, min_overlap)
        fp = sum(1 for j in range(len(scores)) if active[j] and not assigned[j] and ig_dt[j] == 0
                 and not (dc_hit and dc_hit[j]))
        pr[lo:hi, 0] += tp
        pr[lo:hi, 1] += fp
        pr[lo:hi, 2] += fn
        if compute_aos and (tp > 0 or fp > 0):
            pr[lo:hi, 3] += sum((1.0 + np.cos(alpha_gt[i] - alpha_dt[j])) / 2.0 for i, j in pairs)


def eval_class(scenes, class_name, difficulty, metric, min_overlap, compute_aos=False):
    """Interpolated precision and orientation similarity [41] of one class / difficulty /
    metric / minimum overlap, after the devkit's running max from the right."""
    num_valid, ig_gt_all, ig_dt_all, relevant = scenes.cleaned(class_name, difficulty)
    flat = scenes.overlaps(metric)
    frames = []
    for f, gidx, didx in relevant:
        rows = (didx - scenes.dt_off[f])[:, None] * scenes.num_gt[f]
        ov = flat[scenes.pair_off[f] + rows + (gidx - scenes.gt_off[f])[None, :]]
        frames.append((ov.tolist(), ig_gt_all[gidx].tolist(), ig_dt_all[didx].tolist(),
                       scenes.scores[didx].tolist(), gidx, didx))
    tp_scores = []
    for ov, ig_gt, ig_dt, scores, _, _ in frames:
        if ig_gt and ig_dt:
            tp_scores += first_pass(ov, ig_gt, ig_dt, scores, min_overlap)
    thresholds = get_thresholds(tp_scores, num_valid, _NUM_SAMPLE_PTS) if num_valid else \
        np.zeros(0)
    pr = np.zeros((len(thresholds), 4))
    if len(thresholds):
        for ov, ig_gt, ig_dt, scores, gidx, didx in frames:
            dc_hit = (scenes.dontcare[didx] > min_overlap).tolist() if metric == "bbox" else None
            _frame_stats(ov, ig_gt, ig_dt, scores, scenes.alpha_gt[gidx].tolist(),
                         scenes.alpha_dt[didx].tolist(), dc_hit, thresholds, min_overlap,
                         compute_aos, pr)
    precision = np.zeros(_NUM_SAMPLE_PTS)
    aos = np.zeros(_NUM_SAMPLE_PTS)
    n = len(thresholds)
    if n:
        detected = pr[:, 0] + pr[:, 1]
        safe = np.where(detected > 0, detected, 1.0)
        precision[:n] = np.where(detected > 0, pr[:, 0] / safe, 0.0)
        aos[:n] = np.where(detected > 0, pr[:, 3] / safe, 0.0)
        precision[:n] = np.maximum.accumulate(precision[:n][::-1])[::-1]
        aos[:n] = np.maximum.accumulate(aos[:n][::-1])[::-1]
    return precision, aos


def _ap(precision, mode):
    if mode == "AP11":
        return float(precision[0::4][:11].sum() / 11 * 100)
    return float(precision[1:].sum() / 40 * 100)


def kitti_eval(gt_annos, dt_annos, classes=("Car", "Pedestrian", "Cyclist"),
               metrics=("bbox", "bev", "3d", "aos"), ap_mode=("AP11", "AP40"),
               overlap_set="strict"):
    """KITTI AP of detections against ground truth, the official protocol.

    Args:
        gt_annos: list of per-frame KITTI annotation dicts (``name``, ``truncated``,
            ``occluded``, ``alpha``, ``bbox`` (x1, y1, x2, y2), ``dimensions`` (l, h, w),
            ``location`` (camera, bottom centre), ``rotation_y``), keeping DontCare / Van /
            Person_sitting lines.
        dt_annos: list of the same length, the same keys plus ``score``.
        classes: class names among Car, Pedestrian, Cyclist, Van, Person_sitting, Truck.
        metrics: any of ``bbox``, ``bev``, ``3d``, ``aos``. AOS is computed with the 2D
            matching and skipped, as the devkit does, when the detections' ``alpha`` is -10.
        ap_mode: any of ``AP11``, ``AP40``.
        overlap_set: ``"strict"`` (official: Car 0.7, Pedestrian / Cyclist 0.5) or ``"loose"``
            (bev / 3d at Car 0.5, Pedestrian / Cyclist 0.25; bbox unchanged), or a dict
            ``{metric: {class_name: threshold}}`` (missing entries from the strict set).

    Returns:
        (table str in the devkit ports' layout, flat dict of AP in percent keyed
        ``"{class}/{metric}/{mode}/{difficulty}"`` and ``"mAP/{metric}/{mode}/{difficulty}"``
        (mean over ``classes``)).
    """
    _check_annos(gt_annos, dt_annos)
    known = {n.lower(): i for i, n in enumerate(CLASS_NAMES)}
    for name in classes:
        if name.lower() not in known:
            raise ValueError(f"kitti_eval: unknown class {name!r}; expected one of "
                             "Car, Pedestrian, Cyclist, Van, Person_sitting, Truck")
    bad = [m for m in metrics if m not in _METRICS] + [a for a in ap_mode if a not in _AP_MODES]
    if bad:
        raise ValueError(f"kitti_eval: unknown metric or ap_mode {bad}")
    thresholds = _overlap_table(overlap_set, classes, known)
    compute_aos = "aos" in metrics and _alpha_valid(dt_annos)
    results, curves = {}, {}
    scenes = _Scenes(gt_annos, dt_annos)
    for metric in ("bbox", "bev", "3d"):
        if metric not in metrics and not (metric == "bbox" and compute_aos):
            continue
        for name in classes:
            for k, diff in enumerate(DIFFICULTIES):
                prec, aos = eval_class(scenes, name, k, metric,
                                       thresholds[name][metric], metric == "bbox" and compute_aos)
                curves[(name, metric, diff)] = prec
                if metric == "bbox" and compute_aos:
                    curves[(name, "aos", diff)] = aos
    shown = [m for m in metrics if m != "aos" or compute_aos]
    for (name, metric, diff), prec in curves.items():
        if metric in shown:
            for mode in ap_mode:
                results[f"{name}/{metric}/{mode}/{diff}"] = _ap(prec, mode)
    for metric in shown:
        for mode in ap_mode:
            for diff in DIFFICULTIES:
                values = [results[f"{n}/{metric}/{mode}/{diff}"] for n in classes]
                results[f"mAP/{metric}/{mode}/{diff}"] = float(np.mean(values)) if values else 0.0
    return _table(results, classes, shown, ap_mode, thresholds), results


def _overlap_table(overlap_set, classes, known):
    if isinstance(overlap_set, str):
        if overlap_set not in OVERLAP_SETS:
            raise ValueError(f"kitti_eval: overlap_set must be one of {sorted(OVERLAP_SETS)} or "
                             f"a dict, got {overlap_set!r}")
        table = OVERLAP_SETS[overlap_set]
        return {n: {m: table[m][known[n.lower()]] for m in ("bbox", "bev", "3d")}
                for n in classes}
    strict = OVERLAP_SETS["strict"]
    out = {}
    for n in classes:
        out[n] = {}
        for m in ("bbox", "bev", "3d"):
            out[n][m] = float(overlap_set.get(m, {}).get(n, strict[m][known[n.lower()]]))
    return out


def _alpha_valid(dt_annos):
    """The devkit computes AOS unless the first frame with detections has alpha == -10."""
    for anno in dt_annos:
        alpha = np.asarray(anno["alpha"]).reshape(-1)
        if alpha.shape[0]:
            return bool(alpha[0] != -10)
    return False


def _table(results, classes, metrics, ap_mode, thresholds):
    out = io.StringIO()
    labels = {"bbox": "bbox", "bev": "bev ", "3d": "3d  ", "aos": "aos "}
    for name in list(classes) + (["mAP"] if classes else []):
        for mode in ap_mode:
            if name == "mAP":
                out.write(f"Overall {mode}@easy, moderate, hard:\n")
            else:
                t = thresholds[name]
                out.write(f"{name} {mode}@{t['bbox']:.2f}, {t['bev']:.2f}, {t['3d']:.2f}:\n")
            for metric in metrics:
                cells = ", ".join(f"{results[f'{name}/{metric}/{mode}/{d}']:.4f}"
                                  for d in DIFFICULTIES)
                out.write(f"{labels[metric]} {mode}:{cells}\n")
    return out.getvalue()
