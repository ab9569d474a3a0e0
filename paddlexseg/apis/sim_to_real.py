"""Synthetic-to-real measurement: train a range model on synthetic scans only, score real scans.

The logic behind ``benchmarks/sim_to_real.py`` (issue 18):

* :func:`generate_training_set` writes procedural SemanticKITTI-layout scans
  (:mod:`paddlexseg.datasets.synthetic.lidar_scenes`).
* :func:`sim_to_real_config` builds the training config from a range-model config: the
  synthetic folder as ``train_dataset``, the real folder as ``val_dataset``, the range-image
  size, the iteration budget, the domain augmentations, and class weights
  ``1 / (content + 0.001)`` counted on the *synthetic training* scans (RangeNet++'s formula;
  nothing is read from the real labels before the final evaluation).
* :func:`evaluate_folder` scores a checkpoint on a folder of scans with the official
  SemanticKITTI definition (:class:`~paddlexseg.metrics.iou.RangeIoU`, with and without KNN).
* :func:`present_class_results` / :func:`format_table` restrict the table and the mean to the
  classes present in the real ground truth, and keep the official 19-class mIoU beside it.
"""
import json
import os

import numpy as np

from ..config import load_config
from ..registry import ConfigError

__all__ = ["generate_training_set", "sim_to_real_config", "synthetic_class_weights",
           "checkpoint_config", "evaluate_folder", "present_class_results", "format_table", "DOMAIN_AUGMENT"]

# the train-time domain augmentations a run can switch on (PointAugment arguments)
DOMAIN_AUGMENT = ("beam_dropout", "scale", "remission_jitter")
HDL64E = {"H": 64, "fov_up": 3.0, "fov_down": -25.0}   # RangeNet++'s KITTI projection
KNN = {"k": 5, "search": 5, "sigma": 1.0, "cutoff": 1.0}  # RangeNet++'s post-processing


def generate_training_set(root, sequences, scans, seed=0):
    """Write synthetic scans to ``root`` (SemanticKITTI layout); returns the generator summary."""
    from ..datasets.synthetic.lidar_scenes import generate_semantickitti
    return generate_semantickitti(root, sequences=[int(s) for s in sequences],
                                  scans_per_sequence=int(scans), seed=int(seed))


def synthetic_class_weights(cfg, epsilon=0.001):
    """RangeNet++'s ``1 / (content + epsilon)`` weights of ``cfg['train_dataset']``'s labels."""
    from ..datasets.stats import class_weights_report
    from ..engine.builder import build_dataset
    return [float(w) for w in class_weights_report(build_dataset(cfg, "train_dataset"),
                                                   epsilon)[1]]


def sim_to_real_config(base_config, train_root, train_sequences, real_root, real_sequences,
                       iters, width=1024, width_mult=0.125, batch_size=2, learning_rate=0.004,
                       knn=True, augment=None, seed=0):
    """The training / evaluation config of one sim-to-real run.

    Args:
        base_config: path of a RangeNet-style config (model, losses, optimizer, schedule).
        train_root, train_sequences: the synthetic folder (holding ``sequences/``) and its
            sequences used for training.
        real_root, real_sequences: the folder of real scans scored at the end.
        iters: the training budget in optimizer steps.
        width: range-image columns (rows stay 64, the HDL-64E's beams).
        width_mult: DarkNet channel multiplier.
        batch_size, learning_rate: Adam with warm-up and poly decay (the base's scheduler).
        knn: score with RangeNet++'s KNN post-processing (the plain pixel argmax is scored too).
        augment: extra :class:`~paddlexseg.transforms.point_aug.PointAugment` arguments, e.g.
            ``{"beam_dropout": 0.1}`` (keys of :data:`DOMAIN_AUGMENT` or any other).
        seed: training seed.

    Returns:
        a validated config dict; its losses' class weights are counted on ``train_root``.
    """
    if int(width) < 32 or int(width) % 32:
        raise ConfigError(f"--width must be a multiple of 32 (DarkNet's output stride), "
                          f"got {width}")
    cfg = load_config(base_config)
    projection = {**HDL64E, "W": int(width)}
    aug = {"rotate_z": 180.0, "flip_x": 0.0, "flip_y": 0.5, "translate_std": 0.1,
           "dropout": 0.0, **(augment or {})}
    common = {"type": "SemanticKITTI", "label_config": "semantic-kitti",
              "projection": projection}
    cfg["train_dataset"] = {**common, "root": str(train_root), "mode": "train",
                            "sequences": [int(s) for s in train_sequences], "augment": aug}
    cfg["val_dataset"] = {**common, "root": str(real_root), "mode": "val",
                          "sequences": [int(s) for s in real_sequences]}
    cfg["model"].setdefault("backbone", {})["width_mult"] = float(width_mult)
    cfg["batch_size"] = int(batch_size)
    cfg["iters"], cfg["epochs"] = int(iters), None
    cfg["lr_scheduler"]["learning_rate"] = float(learning_rate)
    cfg["lr_scheduler"]["warmup_iters"] = min(20, max(int(iters) // 10, 1))
    cfg["metric"] = {"type": "RangeIoU", "label_config": "semantic-kitti",
                     "knn": dict(KNN) if knn else None}
    cfg["train"].update({"seed": int(seed), "save_interval": int(iters), "log_iters":
                         max(int(iters) // 20, 1), "keep_checkpoint_max": 1, "num_workers": 0})
    weights = synthetic_class_weights(cfg)
    for loss in cfg["losses"]:
        if "class_weights" in loss:
            loss["class_weights"] = [round(w, 3) for w in weights]
    return cfg


def checkpoint_config(model_path, default_config, knn=True):
    """The config to score an existing checkpoint with: the ``config.yml`` its training run
    wrote (beside it or one folder up), else ``default_config``; the metric gets KNN
    post-processing switched on or off.

    Raises:
        ConfigError: the config's metric is not ``RangeIoU`` (only range models are scored).
    """
    folder = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    found = [p for p in (os.path.join(folder, "config.yml"),
                         os.path.join(folder, "..", "config.yml")) if os.path.isfile(p)]
    path = found[0] if found else default_config
    cfg = load_config(path)
    if (cfg.get("metric") or {}).get("type") != "RangeIoU":
        raise ConfigError(f"{path}: metric.type must be RangeIoU (a range-image model), got "
                          f"{(cfg.get('metric') or {}).get('type')!r}")
    cfg["val_dataset"] = {**cfg["val_dataset"], "type": "SemanticKITTI", "mode": "val"}
    cfg["metric"]["knn"] = dict(KNN) if knn else None
    return cfg


def evaluate_folder(cfg, model_path, root=None, sequences=None, progress=False):
    """Score ``model_path`` on ``cfg['val_dataset']`` (or on ``root``/``sequences``).

    Returns:
        the :class:`~paddlexseg.metrics.iou.RangeIoU` after the pass (its confusion matrices
        hold the counts; ``present_class_results(metric)`` makes the table's numbers).
    """
    from ..engine import builder
    from ..engine.checkpoint import load_model_weights
    from ..engine.evaluate import evaluate
    cfg = dict(cfg)
    if root is not None:
        cfg["val_dataset"] = {**cfg["val_dataset"], "root": str(root),
                              "sequences": [int(s) for s in sequences]}
    model = builder.build_model(cfg)
    load_model_weights(model, model_path)
    dataset = builder.build_dataset(cfg, "val_dataset")
    loader = builder.build_loader(dataset, batch_size=1, num_workers=0)
    metric = builder.build_metric(cfg)
    evaluate(model, loader, metric, progress=progress)
    return metric


def _class_ious(conf, ignore, present):
    from ..metrics.iou import iou_from_confusion
    iou, miou, acc = iou_from_confusion(conf, ignore)
    return iou, float(np.mean(iou[present])) if len(present) else float("nan"), miou, acc


def present_class_results(metric):
    """Numbers of one run, restricted to the classes with ground-truth points.

    Returns:
        dict with ``present`` (class names with at least one ground-truth point, ignored class
        left out), ``gt_points`` {name: count}, and per column (``knn`` when the metric used
        KNN, ``pixel`` = the plain argmax of each point's pixel): ``iou`` {name: IoU of every
        non-ignored class}, ``mIoU_present`` (mean over ``present``), ``mIoU_official`` (the
        SemanticKITTI mean over all 19 classes, absent ones counting 0) and ``acc``.
    """
    names = metric.label_config.class_names
    ignore = list(metric.ignore)
    gt = metric.conf_noknn.sum(axis=0)                    # ground-truth points per class
    present = [c for c in range(len(names)) if c not in ignore and gt[c] > 0]
    out = {"present": [names[c] for c in present],
           "gt_points": {names[c]: int(gt[c]) for c in range(len(names)) if c not in ignore}}
    columns = [("pixel", metric.conf_noknn)]
    if metric.knn is not None:
        columns.insert(0, ("knn", metric.conf))
    for key, conf in columns:
        iou, m_present, m_official, acc = _class_ious(conf, ignore, present)
        out[key] = {"iou": {names[c]: float(iou[c]) for c in range(len(names))
                            if c not in ignore},
                    "mIoU_present": m_present, "mIoU_official": m_official, "acc": acc}
    return out


def format_table(results, before=(), titles=None, keys=("knn", "pixel")):
    """Per-class IoU over the present classes (and the means and accuracy) as Markdown.

    Args:
        results: :func:`present_class_results` of this run (its present classes make the rows).
        before: the same of earlier runs (e.g. the previous generator), shown first.
        titles: one column title per run, ``before`` first (default ``before``, ``before 2``,
            ..., ``after``).
        keys: which columns of each run: ``knn`` (KNN post-processing) and/or ``pixel``.
    """
    runs = list(before) + [results]
    if titles is None:
        titles = [f"before {i + 1}" if len(before) > 1 else "before"
                  for i in range(len(before))] + ["after" if before else "this run"]
    if len(titles) != len(runs):
        raise ConfigError(f"--titles: {len(titles)} titles for {len(runs)} runs")
    cols = []
    for run, head in zip(runs, titles):
        for key in keys:
            if key in run:
                cols.append((f"{head} ({'KNN' if key == 'knn' else 'pixel'})", run[key]))
    present = results["present"]
    lines = ["| class | real points | " + " | ".join(t for t, _ in cols) + " |",
             "|---|---:|" + "---:|" * len(cols)]
    for name in present:
        lines.append(f"| {name} | {results['gt_points'][name]} | "
                     + " | ".join(f"{c['iou'].get(name, float('nan')):.3f}" for _, c in cols)
                     + " |")
    rows = [(f"**mIoU, {len(present)} present classes**", "mIoU_present"),
            ("mIoU, official 19 classes", "mIoU_official"), ("accuracy", "acc")]
    for title, key in rows:
        lines.append(f"| {title} | | " + " | ".join(f"{c[key]:.3f}" for _, c in cols) + " |")
    return "\n".join(lines)


def save_results(results, path, **extra):
    """Write ``results`` (and run facts such as the budget) as JSON; returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**results, **extra}, f, indent=1)
    return path


def load_results(path):
    """Read a :func:`save_results` file (``--before``)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--before {path}: file not found; expected the real_iou.json of an "
                          f"earlier run")
    with open(path) as f:
        data = json.load(f)
    if "present" not in data or not ("knn" in data or "pixel" in data):
        raise ConfigError(f"--before {path}: not a sim_to_real results file (no 'present' / "
                          f"'knn' / 'pixel' keys)")
    return data
