"""Raw-id statistics of a dataset in the SemanticKITTI layout (``tools/dataset_stats.py``).

Before training on a custom dataset, every raw class id found in its ``.label`` files must be
mapped by the label YAML's ``learning_map``; :func:`check_raw_ids` lists all the ids that are
not (with their point counts and a file holding each), instead of failing on the first scan.
:func:`raw_content_yaml` prints the per-raw-id point fractions as the label YAML's ``content``.
"""
import os
from dataclasses import dataclass, field
from typing import Dict

import numpy as np

from .errors import DataError
from .semantickitti import read_label

__all__ = ["RawCounts", "raw_label_counts", "check_raw_ids", "learning_content",
           "raw_content_yaml"]


@dataclass
class RawCounts:
    """Points per raw id over a dataset's label files, and the first file holding each id."""
    counts: Dict[int, int] = field(default_factory=dict)
    first_file: Dict[int, str] = field(default_factory=dict)
    scans: int = 0

    @property
    def total(self):
        return int(sum(self.counts.values()))


def raw_label_counts(files):
    """Count raw semantic ids over ``files`` ((scan path, label path or None) pairs)."""
    out = RawCounts()
    for scan, label in files:
        if label is None:
            continue
        semantic, _ = read_label(label, os.path.getsize(scan) // 16)
        ids, counts = np.unique(semantic, return_counts=True)
        for i, c in zip(ids.tolist(), counts.tolist()):
            out.counts[i] = out.counts.get(i, 0) + int(c)
            out.first_file.setdefault(i, label)
        out.scans += 1
    if not out.counts:
        raise DataError("dataset has no labelled scan: nothing to count (mode test?)")
    return out


def check_raw_ids(raw, label_config):
    """Raise DataError listing every raw id of ``raw`` that ``label_config`` does not map."""
    lut = label_config.learning_map
    unmapped = sorted(i for i in raw.counts if i >= lut.shape[0] or lut[i] < 0)
    if unmapped:
        listed = "; ".join(f"{i} ({raw.counts[i]} points, e.g. {raw.first_file[i]})"
                           for i in unmapped)
        raise DataError(f"{label_config.path}: learning_map has no entry for raw id(s) "
                        f"{unmapped}: {listed}; add them to 'labels' and 'learning_map'")


def learning_content(raw, label_config):
    """float64 [num_classes] fraction of points per learning class (ids must be mapped)."""
    content = np.zeros(label_config.num_classes, np.float64)
    for i, c in raw.counts.items():
        content[label_config.learning_map[i]] += c
    return content / max(content.sum(), 1)


def raw_content_yaml(raw, label_config):
    """The label YAML ``content:`` block (fraction per raw id) with class names as comments."""
    lines = ["content:  # fraction of points per raw id, "
             f"{raw.total} points in {raw.scans} scans"]
    for i in sorted(raw.counts):
        name = label_config.raw_names.get(i, "?")
        lines.append(f"  {i}: {raw.counts[i] / raw.total:.6f}  # {name}")
    return "\n".join(lines)
