"""Dataset statistics computed once by a tool (``tools/dataset_stats.py``), never by a loss.

``class_content`` counts the fraction of labelled points per learning class of a
SemanticKITTI-layout dataset, the statistic the label YAML's ``content`` holds for the real
data; ``WeightedCrossEntropyLoss(class_weights=...)`` then takes the weights computed from it.
"""
import numpy as np

from .semantickitti import read_label

__all__ = ["class_content", "class_weights_report", "label_config_weights_report",
           "format_weights"]


def class_content(dataset):
    """Fraction of points per learning class over every labelled scan of ``dataset``.

    Args:
        dataset: a dataset with ``files`` ((scan, label) path pairs) and ``labels``
            (its LabelConfig), e.g. ``SemanticKITTI``.
    Returns:
        float64 [num_classes] summing to 1 (raw counts are mapped through ``learning_map``).
    """
    lc = dataset.labels
    counts = np.zeros(lc.num_classes, np.float64)
    for scan, label in dataset.files:
        if label is None:
            continue
        n_points = (np.fromfile(scan, np.float32).size) // 4
        semantic, _ = read_label(label, n_points)
        counts += np.bincount(lc.map_labels(semantic, label).reshape(-1),
                              minlength=lc.num_classes)
    if counts.sum() == 0:
        raise ValueError("class_content: the dataset has no labelled points")
    return counts / counts.sum()


def class_weights_report(dataset, epsilon=0.001):
    """(content, weights, printable YAML snippet) for ``dataset`` with RangeNet++'s formula."""
    from ..losses.cross_entropy import content_class_weights  # losses import models: keep lazy
    content = class_content(dataset)
    weights = content_class_weights(content, dataset.labels.ignore, epsilon)
    lines = [f"# {name}: content {c:.5f}" for name, c in zip(dataset.labels.class_names, content)]
    lines.append(format_weights(weights))
    return content, weights, "\n".join(lines)


def format_weights(weights, digits=3):
    """``class_weights: [...]`` YAML line with ``digits`` decimals."""
    return "class_weights: [" + ", ".join(f"{w:.{digits}f}" for w in weights) + "]"


def label_config_weights_report(label_config, epsilon=0.001):
    """(weights, printable YAML snippet) from a label YAML's ``content`` (the real data's class
    frequencies, e.g. ``semantic-kitti``): what the full-size RangeNet++ / SqueezeSegV3 configs
    hold as ``class_weights``."""
    from ..losses.cross_entropy import content_class_weights  # losses import models: keep lazy
    from .label_config import load_label_config
    lc = load_label_config(label_config)
    weights = content_class_weights(lc.content, lc.ignore, epsilon)
    lines = [f"# {name}: content {c:.6f}" for name, c in zip(lc.class_names, lc.content)]
    lines.append(format_weights(weights, digits=6))
    return weights, "\n".join(lines)
