"""TripletMarginLoss against NumPy, and through the LossComposer with a TripletBatch."""
import numpy as np
import paddle
import pytest

from paddlexseg.losses.composer import LossComposer
from paddlexseg.losses.triplet import TripletMarginLoss
from paddlexseg.structures import TripletBatch


def _numpy_loss(desc, g, margin, distance, reduction):
    groups = desc.reshape(-1, g, desc.shape[1]).astype(np.float64)
    a, p, negs = groups[:, 0], groups[:, 1], groups[:, 2:]

    def dist(u, v):
        if distance == "cosine":
            return 1 - (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        return np.linalg.norm(u - v, axis=-1)

    terms = np.maximum(dist(a, p)[:, None] - dist(a[:, None], negs) + margin, 0)   # [B, n]
    return terms.sum(1).mean() if reduction == "sum" else terms.mean()


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_matches_numpy(distance, reduction):
    desc = np.random.default_rng(0).normal(size=(3 * 5, 8)).astype(np.float32)
    loss = TripletMarginLoss(margin=0.5, distance=distance, reduction=reduction)
    out = loss(paddle.to_tensor(desc), 5)
    assert out.shape == []
    np.testing.assert_allclose(out.item(), _numpy_loss(desc, 5, 0.5, distance, reduction),
                               rtol=1e-5)


def test_zero_when_separated_and_gradient_when_not():
    a = np.array([1.0, 0.0, 0.0])
    desc = np.stack([a, a, -a, [0.0, 1.0, 0.0]]).astype(np.float32)    # one group of 4
    loss = TripletMarginLoss(margin=0.1, group_size=4)
    assert loss(paddle.to_tensor(desc)).item() == 0.0
    bad = paddle.to_tensor(np.stack([a, -a, a, a]).astype(np.float32), stop_gradient=False)
    out = loss(bad)
    np.testing.assert_allclose(out.item(), 2.0 + 0.1, rtol=1e-6)
    out.backward()
    assert bad.grad is not None


def test_group_size_checks():
    desc = paddle.randn([6, 4])
    with pytest.raises(ValueError, match="configured group_size 3 but the batch has groups of 6"):
        TripletMarginLoss(group_size=3)(desc, 6)
    with pytest.raises(ValueError, match="needs group_size"):
        TripletMarginLoss()(desc)
    with pytest.raises(ValueError, match="do not form groups of 4"):
        TripletMarginLoss()(desc, 4)
    with pytest.raises(ValueError, match="distance"):
        TripletMarginLoss(distance="manhattan")


def test_composer_reads_group_size_from_the_batch():
    desc = np.random.default_rng(2).normal(size=(8, 5)).astype(np.float32)
    composer = LossComposer([{"type": "TripletMarginLoss", "weight": 2.0, "input": "descriptor",
                              "target": "group_size", "margin": 0.2}])
    batch = TripletBatch(voxels=paddle.zeros([8, 1, 2, 2]), group_size=4, paths=["p"] * 8)
    total, terms = composer({"descriptor": paddle.to_tensor(desc)}, batch)
    np.testing.assert_allclose(total.item(), 2 * _numpy_loss(desc, 4, 0.2, "cosine", "mean"),
                               rtol=1e-5)
    assert list(terms) == ["triplet_margin"]
