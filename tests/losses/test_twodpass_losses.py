import numpy as np
import paddle
import pytest

from paddlexseg.losses.twodpass import (FrequencyWeightedCELoss, MultiScaleSegLoss, VoxelSegLoss,
                                        frequency_class_weights, voxel_majority_labels)
from paddlexseg.registry import ConfigError

COUNTS = [0, 100, 10, 1000]            # class 0 (ignored) has no points: infinite weight in torch


def _reference_ce(logits, labels, weights, ignore=0):
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    keep = labels != ignore
    w = weights[labels[keep]]
    return float((w * -logp[keep, labels[keep]]).sum() / w.sum())


def test_frequency_weights_formula():
    w = frequency_class_weights(COUNTS)
    f = np.array(COUNTS[1:], float) / sum(COUNTS)
    assert w[0] == 0.0
    assert np.allclose(w[1:], (f.max() / f) ** (1 / 3), rtol=1e-6)
    with pytest.raises(ConfigError, match="count 0"):
        frequency_class_weights([5, 0, 3], ignore_index=0)
    with pytest.raises(ConfigError, match="class_counts"):
        frequency_class_weights([1])


def test_weighted_ce_matches_torch_mean_and_ignored_inf_weight_is_not_nan():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 50)
    loss = FrequencyWeightedCELoss(class_counts=COUNTS)
    out = loss(paddle.to_tensor(logits), paddle.to_tensor(labels))
    assert np.isfinite(out.item())
    ref = _reference_ce(logits, labels, frequency_class_weights(COUNTS))
    assert np.isclose(out.item(), ref, rtol=1e-5)
    all_ignored = loss(paddle.to_tensor(logits), paddle.zeros([50], "int64"))
    assert all_ignored.item() == 0.0


def test_voxel_majority_labels_ties_to_smallest():
    labels = paddle.to_tensor([3, 3, 1, 2, 1, 0, 0, 5])
    inverse = paddle.to_tensor([0, 0, 0, 1, 1, 2, 2, 2])
    out = voxel_majority_labels(labels, inverse, 3, 6).numpy()
    assert out.tolist() == [3, 1, 0]      # voxel 1: tie 2 vs 1 -> 1; voxel 2 mostly ignored


def test_voxel_seg_loss_sums_scales_and_multiscale_averages():
    rng = np.random.default_rng(1)
    labels = paddle.to_tensor(rng.integers(1, 4, 30))
    inv_a = paddle.to_tensor(np.arange(30) // 3)              # 10 voxels
    inv_b = paddle.to_tensor(np.arange(30) // 10)             # 3 voxels
    la = paddle.to_tensor(rng.normal(size=(10, 4)), "float32", stop_gradient=False)
    lb = paddle.to_tensor(rng.normal(size=(3, 4)), "float32", stop_gradient=False)
    loss = VoxelSegLoss(class_counts=COUNTS, lovasz_weight=1.0)
    total = loss([la, lb], [inv_a, inv_b], labels)
    single = loss(la, inv_a, labels) + loss(lb, inv_b, labels)
    assert np.isclose(total.item(), single.item(), rtol=1e-6)
    total.backward()
    assert la.grad is not None and lb.grad is not None
    m = rng.normal(size=(12, 4)).astype(np.float32)
    img_labels = paddle.to_tensor(rng.integers(0, 4, 12))
    ms = MultiScaleSegLoss(class_counts=COUNTS, reduction="mean")
    pair = ms([paddle.to_tensor(m), paddle.to_tensor(2 * m)], img_labels)
    assert np.isclose(pair.item(), 0.5 * (ms(paddle.to_tensor(m), img_labels)
                                          + ms(paddle.to_tensor(2 * m), img_labels)).item())


def test_empty_image_points_give_zero_and_shape_errors():
    ms = MultiScaleSegLoss(class_counts=COUNTS)
    out = ms([paddle.zeros([0, 4])], paddle.zeros([0], "int64"))
    assert out.item() == 0.0
    ce = FrequencyWeightedCELoss(class_counts=COUNTS)
    with pytest.raises(ValueError, match="class counts"):
        ce(paddle.zeros([3, 5]), paddle.ones([3], "int64"))
    with pytest.raises(ValueError, match="logits"):
        FrequencyWeightedCELoss()(paddle.zeros([3, 4, 1]), paddle.ones([3], "int64"))
    with pytest.raises(ConfigError, match="reduction"):
        VoxelSegLoss(reduction="max")
