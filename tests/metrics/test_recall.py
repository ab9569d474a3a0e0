"""RecallAtN: hand-made cases, a brute-force NumPy check, the curve and the report."""
import warnings

import numpy as np
import pytest

from paddlexseg.metrics.recall import RecallAtN
from paddlexseg.structures import EventBatch


def _batch(pos, is_query):
    n = len(pos)
    return EventBatch(positions=np.asarray(pos, np.float64), is_query=np.asarray(is_query, bool),
                      paths=[f"s{i}" for i in range(n)])


def test_hand_made_ranks():
    # database at x = 0, 100, 200 with descriptors e0, e1, e2; queries near x = 0 and x = 200
    db = np.eye(3, dtype=np.float32)
    q = np.array([[0.9, 0.1, 0.0],       # nearest e0, true place 0   -> hit at 1
                  [0.0, 0.8, 0.6]],      # ranks e1, e2; true place 2 -> hit at 2
                 np.float32)
    m = RecallAtN(ns=(1, 2, 3), pos_radius=10.0)
    m.update({"descriptor": db}, _batch([[0, 0], [100, 0], [200, 0]], [0, 0, 0]))
    m.update({"descriptor": q}, _batch([[3, 0], [198, 1]], [1, 1]))
    assert m.compute() == {"recall@1": 0.5, "recall@2": 1.0, "recall@3": 1.0}
    assert m.main == "recall@1"
    m.reset()
    assert m.compute()["recall@1"] == 0.0


def test_matches_brute_force_and_unanswerable_queries():
    rng = np.random.default_rng(0)
    n = 60
    desc = rng.normal(size=(n, 16)).astype(np.float32)
    pos = np.stack([rng.uniform(0, 200, n), np.zeros(n)], 1)
    is_q = rng.uniform(size=n) < 0.4
    for skip in (True, False):
        m = RecallAtN(ns=(1, 5, 10), pos_radius=15.0, skip_unanswerable=skip)
        for s in range(0, n, 7):
            m.update({"descriptor": desc[s:s + 7]}, _batch(pos[s:s + 7], is_q[s:s + 7]))
        qd, qp, dd, dp = desc[is_q], pos[is_q], desc[~is_q], pos[~is_q]
        order = np.argsort(((qd[:, None] - dd[None]) ** 2).sum(-1), axis=1)
        close = np.linalg.norm(qp[:, None] - dp[None], axis=2) <= 15.0
        answerable = close.any(1)
        keep = answerable if skip else np.ones(len(qd), bool)
        for k in (1, 5, 10):
            hit = np.take_along_axis(close, order[:, :k], 1).any(1)
            assert m.compute()[f"recall@{k}"] == pytest.approx(hit[keep].mean())
        assert f"({int((~answerable).sum())} without a database sample" in m.report()


def test_curve_png_and_image(tmp_path):
    m = RecallAtN(ns=(1, 5), max_curve_n=8)
    desc = np.eye(4, dtype=np.float32)
    m.update({"descriptor": desc}, _batch([[0, 0], [50, 0], [1, 0], [49, 0]], [0, 0, 1, 1]))
    curve = m.curve()
    assert curve.shape == (8,) and np.all(np.diff(curve) >= 0)
    path = m.save_curve(str(tmp_path / "recall.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    img = m.images()["recall_curve"]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_errors_and_empty_sets():
    m = RecallAtN()
    with pytest.raises(KeyError, match="descriptor"):
        m.update({"logits": np.zeros((1, 2))}, _batch([[0, 0]], [1]))
    m.update({"descriptor": np.ones((2, 3), np.float32)}, _batch([[0, 0], [1, 1]], [1, 1]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert m.compute()["recall@1"] == 0.0
    assert any("0 database samples" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="ns"):
        RecallAtN(ns=(0, 5))


def test_accepts_paddle_tensors_from_a_multiprocess_loader():
    import paddle
    m = RecallAtN(ns=(1,))
    m.update({"descriptor": paddle.eye(2)},
             _batch([[0, 0], [100, 0]], [0, 0]))
    batch = EventBatch(positions=paddle.to_tensor(np.array([[99.0, 0.0]])),
                       is_query=paddle.to_tensor(np.array([True])), paths=["q"])
    m.update({"descriptor": paddle.to_tensor([[0.1, 0.9]])}, batch)
    assert m.compute() == {"recall@1": 1.0}
