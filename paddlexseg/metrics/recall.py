"""Recall@N for visual place recognition.

As pytorch-NetVlad's ``test()`` (Nanne/pytorch-NetVlad ``main.py``) computes it: a query is
retrieved correctly at N if any of its N nearest database descriptors (L2 distance, faiss
``IndexFlatL2``; exact ties broken by the lower database index, as faiss does) lies within
``pos_radius`` metres of the query (sklearn ``radius_neighbors``: distance <= radius), and
recall@N = correct queries / **all** queries. A query without any database sample within
``pos_radius`` can never be correct; it stays in the denominator (``skip_unanswerable=False``,
the default). ``skip_unanswerable=True`` leaves such queries out of the ratio instead (a
different, higher number; not NetVlad's). ``report()`` prints how many queries had no positive.
"""
import io
import warnings

import numpy as np

from ..registry import METRICS
from .base import Metric

__all__ = ["RecallAtN"]


def _numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


@METRICS.register()
class RecallAtN(Metric):
    """Accumulates query and database descriptors; computes recall@N.

    Args:
        ns: the N values reported (``recall@N`` keys); the first one is ``main``.
        pos_radius: metres within which a retrieved sample is a correct place.
        descriptor_key: model output holding the descriptors [B, D].
        skip_unanswerable: False (default, pytorch-NetVlad): every query is in the denominator.
            True: queries without a database sample in range are left out of the ratio.
        max_curve_n: the recall curve of ``save_curve`` / ``images`` spans N = 1..max_curve_n.
    """

    def __init__(self, ns=(1, 5, 10), pos_radius=10.0, descriptor_key="descriptor",
                 skip_unanswerable=False, max_curve_n=25):
        ns = sorted({int(n) for n in ns})
        if not ns or ns[0] < 1:
            raise ValueError(f"RecallAtN.ns must be positive integers, got {ns}")
        self.ns = ns
        self.main = f"recall@{ns[0]}"
        self.pos_radius = float(pos_radius)
        self.descriptor_key = descriptor_key
        self.skip_unanswerable = bool(skip_unanswerable)
        self.max_curve_n = max(int(max_curve_n), ns[-1])
        self.reset()

    def reset(self):
        self._desc, self._pos, self._query = [], [], []
        self._cache = None

    def update(self, outputs, batch):
        """outputs[descriptor_key]: [B, D]; batch.positions [B, 2], batch.is_query [B]."""
        if self.descriptor_key not in outputs:
            raise KeyError(f"RecallAtN reads model output '{self.descriptor_key}', but the model "
                           f"returned {sorted(outputs)}")
        desc = _numpy(outputs[self.descriptor_key])
        self._desc.append(desc.astype(np.float32).reshape(desc.shape[0], -1))
        # a multi-process loader hands NumPy batch fields over as paddle Tensors
        self._pos.append(_numpy(batch.positions).astype(np.float64).reshape(-1, 2))
        self._query.append(_numpy(batch.is_query).astype(bool).reshape(-1))
        self._cache = None

    def _found_at(self):
        """-> (found bool [Q', max_n] cumulative hits per N, queries total, unanswerable)."""
        if self._cache is not None:
            return self._cache
        desc = np.concatenate(self._desc) if self._desc else np.zeros((0, 1), np.float32)
        pos = np.concatenate(self._pos) if self._pos else np.zeros((0, 2))
        is_q = np.concatenate(self._query) if self._query else np.zeros(0, bool)
        q_desc, q_pos = desc[is_q], pos[is_q]
        db_desc, db_pos = desc[~is_q], pos[~is_q]
        max_n = self.max_curve_n
        if len(q_desc) == 0 or len(db_desc) == 0:
            warnings.warn(f"RecallAtN: {len(q_desc)} queries and {len(db_desc)} database "
                          f"samples; recall is 0", stacklevel=3)
            self._cache = (np.zeros((0, max_n), bool), len(q_desc), 0)
            return self._cache
        k = min(max_n, len(db_desc))
        db_sq = (db_desc ** 2).sum(1)
        hits, answerable = [], []
        for s in range(0, len(q_desc), 1024):           # chunks bound memory to 1024 x |db|
            qd = q_desc[s:s + 1024]
            d2 = (qd ** 2).sum(1)[:, None] - 2.0 * qd @ db_desc.T + db_sq[None]   # [q, db]
            top = np.argsort(d2, axis=1, kind="stable")[:, :k]      # ties: lower db index
            geo = np.linalg.norm(db_pos[None, :, :] - q_pos[s:s + 1024, None, :], axis=2)
            close = geo <= self.pos_radius                                         # [q, db]
            hit = np.take_along_axis(close, top, 1)                                # [q, k]
            hit = np.concatenate([hit, np.repeat(hit[:, -1:], max_n - k, 1)], 1) if k < max_n \
                else hit
            hits.append(np.logical_or.accumulate(hit, axis=1))
            answerable.append(close.any(1))
        found, answerable = np.concatenate(hits), np.concatenate(answerable)
        unanswerable = int((~answerable).sum())
        if self.skip_unanswerable:
            found = found[answerable]
        self._cache = (found, len(q_desc), unanswerable)
        return self._cache

    def curve(self):
        """-> float64 [max_curve_n] recall at N = 1..max_curve_n."""
        found = self._found_at()[0]
        if len(found) == 0:
            return np.zeros(self.max_curve_n)
        return found.mean(0).astype(np.float64)

    def compute(self):
        rec = self.curve()
        return {f"recall@{n}": float(rec[n - 1]) for n in self.ns}

    def report(self):
        _, n_q, unanswerable = self._found_at()
        lines = [f"{k}: {v:.4f}" for k, v in self.compute().items()]
        n_db = sum(int((~q).sum()) for q in self._query)
        lines.append(f"queries: {n_q} ({unanswerable} without a database sample within "
                     f"{self.pos_radius:g} m{', skipped' if self.skip_unanswerable else ''}), "
                     f"database: {n_db}")
        lines.append(f"convention: {self.convention()}")
        return "\n".join(lines)

    def convention(self):
        """One line naming the definition the printed numbers follow."""
        if self.skip_unanswerable:
            return ("queries without a positive within pos_radius are left out of the "
                    "denominator (skip_unanswerable: true), NOT pytorch-NetVlad's definition")
        return ("pytorch-NetVlad test(): correct queries / all queries (queries without a "
                "positive count as misses); L2 nearest neighbours, ties -> lower database index")

    def _figure(self):
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        rec = self.curve()
        fig = Figure(figsize=(4, 3), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        ns = np.arange(1, len(rec) + 1)
        ax.plot(ns, rec * 100.0, marker="o", markersize=3)
        ax.set_xlabel("N (number of top retrieved database samples)")
        ax.set_ylabel("recall@N (%)")
        ax.set_ylim(0, 100)
        ax.set_xlim(1, len(rec))
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return fig

    def save_curve(self, path):
        """Write the recall@N curve as a PNG to ``path``; returns the path."""
        self._figure().savefig(path, format="png")
        return path

    def images(self):
        from PIL import Image
        buf = io.BytesIO()
        self._figure().savefig(buf, format="png")
        buf.seek(0)
        return {"recall_curve": np.asarray(Image.open(buf).convert("RGB"), np.uint8)}
