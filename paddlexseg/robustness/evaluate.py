"""Robustness evaluation: the config's validation metric on clean and corrupted data.

For every corruption and severity the config's ``val_dataset`` is wrapped in
:class:`~paddlexseg.robustness.dataset.CorruptedScans` and evaluated with the config's metric
(RangeIoU for range-image models, PointIoU for point models, ...). Reported per corruption:
the mIoU at each severity and their mean; overall: the clean mIoU, the mean corruption mIoU
(mCmIoU, the mean over corruptions of their means) and the mean resilience rate
(mRR = mean over corruptions of mean mIoU / clean mIoU, as in Robo3D).
"""
import copy
import json
import os

from .corruptions import CORRUPTIONS, SEVERITIES

__all__ = ["evaluate_robustness", "format_table", "plot_results"]


def _wrapped(cfg, corruption, severity, seed, beams):
    out = copy.deepcopy(cfg)
    out["val_dataset"] = {"type": "CorruptedScans", "dataset": cfg["val_dataset"],
                          "corruption": corruption, "severity": severity, "seed": seed,
                          "beams": beams}
    return out


def evaluate_robustness(cfg, model_path=None, save_dir=None, corruptions=None,
                        severities=SEVERITIES, seed=0, beams=64, model=None, progress=True,
                        log=print, backend="dygraph", onednn=True):
    """Evaluate a model on clean and corrupted validation data.

    Args:
        cfg: resolved config (``model``, ``val_dataset``, ``metric`` are used).
        model_path: ``.pdparams`` file or checkpoint folder (None: ``model`` as given).
        save_dir: where ``robustness.json``, ``robustness.md`` and ``robustness.png`` go
            (None: nothing written).
        corruptions: names to run (default: all of CORRUPTIONS).
        severities: severities to run (default 1, 2, 3).
        seed: corruption seed. beams: sensor beams (64 KITTI, 32 nuScenes).
        model: an already built model (default: built from ``cfg``).
        progress: show progress bars. log: function receiving progress lines.
        backend: ``dygraph`` or ``inference`` (Paddle Inference, oneDNN on CPU unless
            ``onednn`` is False; range models).

    Returns:
        dict with ``clean`` (mIoU), ``corruptions`` ({name: {"1": mIoU, ..., "mean": m}}),
        ``mCmIoU``, ``mRR``, ``main`` (the metric key used).
    """
    from ..engine import builder           # imported here: the engine imports the data sets,
    from ..engine.checkpoint import load_model_weights   # which register CorruptedScans
    from ..engine.evaluate import evaluate
    corruptions = list(CORRUPTIONS) if corruptions is None else list(corruptions)
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"evaluate_robustness: unknown corruptions {unknown}; known: "
                         f"{sorted(CORRUPTIONS)}")
    if model is None:
        model = builder.build_model(cfg)
    if model_path is not None:
        load_model_weights(model, model_path)
    if backend != "dygraph":
        from ..apis.inference import with_backend
        model = with_backend(model, backend, onednn=onednn, cfg=cfg)
    workers = int(cfg.get("train", {}).get("num_workers", 0) or 0)
    on_bad = cfg.get("train", {}).get("on_bad_sample", "error")

    def run(corruption, severity):
        run_cfg = _wrapped(cfg, corruption, severity, seed, beams)
        dataset = builder.build_dataset(run_cfg, "val_dataset")
        loader = builder.build_loader(dataset, batch_size=1, num_workers=workers,
                                      on_bad_sample=on_bad)
        metric = builder.build_metric(run_cfg)
        return evaluate(model, loader, metric, progress=progress)[metric.main], metric.main

    clean, main = run(None, 1)
    log(f"clean: {main}={clean:.4f}")
    results = {"main": main, "clean": clean, "corruptions": {}}
    for name in corruptions:
        row = {}
        for severity in severities:
            row[str(severity)], _ = run(name, int(severity))
            log(f"{name} severity {severity}: {main}={row[str(severity)]:.4f}")
        row["mean"] = sum(row.values()) / len(row)
        results["corruptions"][name] = row
    means = [r["mean"] for r in results["corruptions"].values()]
    results["mCmIoU"] = sum(means) / len(means) if means else float("nan")
    results["mRR"] = (sum(m / clean for m in means) / len(means)
                      if means and clean > 0 else float("nan"))
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        with open(os.path.join(save_dir, "robustness.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(save_dir, "robustness.md"), "w") as f:
            f.write(format_table(results) + "\n")
        plot_results(results, os.path.join(save_dir, "robustness.png"))
    return results


def format_table(results):
    """Markdown table: one row per corruption (severities and mean), then the summary."""
    rows = results["corruptions"]
    sev = sorted({k for r in rows.values() for k in r if k != "mean"}, key=int)
    head = ["corruption"] + [f"severity {s}" for s in sev] + ["mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.append("| clean | " + " | ".join([""] * len(sev)) + f" | {results['clean']:.4f} |")
    for name, row in rows.items():
        cells = [f"{row[s]:.4f}" for s in sev] + [f"{row['mean']:.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{results['main']}: clean {results['clean']:.4f}, mean corrupted "
                 f"(mCmIoU) {results['mCmIoU']:.4f}, mean resilience rate (mRR) "
                 f"{results['mRR']:.4f}")
    return "\n".join(lines)


def plot_results(results, path):
    """Bar chart PNG: mean mIoU per corruption next to the clean mIoU (matplotlib Agg)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = ["clean"] + list(results["corruptions"])
    values = [results["clean"]] + [r["mean"] for r in results["corruptions"].values()]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(names), 3.6))
    colors = ["#4c72b0"] + ["#dd8452"] * (len(names) - 1)
    ax.bar(range(len(names)), values, color=colors)
    ax.axhline(results["mCmIoU"], color="gray", linestyle="--", linewidth=1,
               label=f"mean corrupted {results['mCmIoU']:.3f}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(results["main"])
    ax.set_ylim(0, max(1e-3, max(values)) * 1.15)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Robustness to LiDAR corruptions")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
