"""LovaszSoftmaxLoss against a NumPy transcription of Berman's per-class loop."""
import numpy as np
import paddle
import pytest

from paddlexseg.losses.lovasz import LovaszSoftmaxLoss


def np_lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    intersection = gts - np.cumsum(gt_sorted)
    union = gts + np.cumsum(1.0 - gt_sorted)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def np_lovasz_flat(probas, labels):
    """lovasz_softmax_flat(classes='present'): probas [P, C], labels [P]."""
    if len(labels) == 0:
        return 0.0
    losses = []
    for c in range(probas.shape[1]):
        fg = (labels == c).astype(np.float64)
        if fg.sum() == 0:
            continue
        errors = np.abs(fg - probas[:, c])
        perm = np.argsort(-errors, kind="stable")
        losses.append(np.dot(errors[perm], np_lovasz_grad(fg[perm])))
    return float(np.mean(losses)) if losses else 0.0


def np_lovasz(logits, labels, ignore=0, per_image=False):
    """logits [B, C, H, W] -> softmax -> flatten -> drop ``ignore`` -> loss."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probas = e / e.sum(axis=1, keepdims=True)

    def flat(p, lab):
        p = p.transpose(0, 2, 3, 1).reshape(-1, p.shape[1])
        lab = lab.reshape(-1)
        keep = lab != ignore
        return np_lovasz_flat(p[keep], lab[keep])

    if per_image:
        return float(np.mean([flat(probas[i:i + 1], labels[i:i + 1])
                              for i in range(len(labels))]))
    return flat(probas, labels)


def loss_value(loss, logits, labels):
    return loss(paddle.to_tensor(logits), paddle.to_tensor(labels)).item()


@pytest.mark.parametrize("per_image", [False, True])
def test_matches_reference(per_image):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 6, 4, 5)) * 2
    labels = rng.integers(0, 6, size=(3, 4, 5))
    labels[2, :, :] = 0  # an image with only ignored pixels
    labels[labels == 4] = 5  # class 4 absent: not averaged
    loss = LovaszSoftmaxLoss(ignore_index=0, per_image=per_image)
    expected = np_lovasz(logits, labels, per_image=per_image)
    assert loss_value(loss, logits, labels) == pytest.approx(expected, rel=1e-9)
    value32 = loss_value(loss, logits.astype(np.float32), labels)
    assert value32 == pytest.approx(expected, rel=1e-5)


def test_no_ignore_and_flat_inputs():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 3, 2, 6))
    labels = rng.integers(0, 3, size=(1, 2, 6))
    expected = np_lovasz(logits, labels, ignore=-1)
    assert loss_value(LovaszSoftmaxLoss(ignore_index=None), logits, labels) == pytest.approx(
        expected, rel=1e-9)
    flat = logits.transpose(0, 2, 3, 1).reshape(-1, 3)
    assert loss_value(LovaszSoftmaxLoss(ignore_index=None), flat, labels.reshape(-1)) == (
        pytest.approx(expected, rel=1e-9))


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    logits_np = rng.normal(size=(1, 3, 2, 3))
    labels = paddle.to_tensor(np.array([[[1, 2, 0], [2, 1, 1]]]))
    loss = LovaszSoftmaxLoss()
    logits = paddle.to_tensor(logits_np, stop_gradient=False)
    loss(logits, labels).backward()
    numeric = np.zeros_like(logits_np)
    eps = 1e-6
    for idx in np.ndindex(logits_np.shape):
        up, down = logits_np.copy(), logits_np.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss(paddle.to_tensor(up), labels).item()
                        - loss(paddle.to_tensor(down), labels).item()) / (2 * eps)
    np.testing.assert_allclose(logits.grad.numpy(), numeric, rtol=1e-4, atol=1e-7)
    assert np.all(logits.grad.numpy()[0, :, 0, 2] == 0)  # the ignored pixel


def test_perfect_prediction_is_zero_and_all_ignored_is_finite():
    labels = np.array([[[1, 2], [2, 1]]])
    logits = np.where(np.eye(3)[labels].transpose(0, 3, 1, 2) > 0, 50.0, -50.0)
    assert loss_value(LovaszSoftmaxLoss(), logits, labels) == pytest.approx(0.0, abs=1e-12)
    x = paddle.to_tensor(np.zeros((1, 3, 2, 2)), stop_gradient=False)
    value = LovaszSoftmaxLoss()(x, paddle.zeros([1, 2, 2], dtype="int64"))
    value.backward()
    assert value.item() == 0.0 and np.all(x.grad.numpy() == 0)


def test_label_out_of_range_raises():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        LovaszSoftmaxLoss()(paddle.zeros([1, 3, 1, 2]), paddle.to_tensor([[[1, 5]]]))


def _gather_formulation(probas, labels):
    """The loss as first written (differentiable gather of the sorted errors)."""
    import paddle.nn.functional as F
    from paddlexseg.losses.lovasz import lovasz_grad
    fg = F.one_hot(labels, probas.shape[1]).astype(probas.dtype)
    errors = (fg - probas).abs()
    perm = paddle.argsort(errors, axis=0, descending=True)
    per_class = (paddle.take_along_axis(errors, perm, axis=0)
                 * lovasz_grad(paddle.take_along_axis(fg, perm, axis=0)).detach()).sum(axis=0)
    present = (fg.sum(axis=0) > 0).astype(probas.dtype)
    return (per_class * present).sum() / paddle.clip(present.sum(), min=1.0)


def test_gradient_is_bit_identical_to_the_gather_formulation():
    """The scatter-back speed-up changes the loss value by rounding only, never the gradient
    (ties included: logits on a coarse grid give many equal errors)."""
    from paddlexseg.losses.lovasz import lovasz_softmax_flat
    rng = np.random.default_rng(3)
    logits = (rng.integers(-4, 5, size=(3000, 6)) / 2).astype(np.float32)
    labels = paddle.to_tensor(rng.integers(0, 5, size=3000))  # class 5 absent
    results = []
    for fn in (lovasz_softmax_flat, _gather_formulation):
        x = paddle.to_tensor(logits, stop_gradient=False)
        loss = fn(paddle.nn.functional.softmax(x, axis=1), labels)
        loss.backward()
        results.append((loss.item(), x.grad.numpy()))
    (new, grad_new), (old, grad_old) = results
    assert np.array_equal(grad_new, grad_old)
    assert abs(new - old) <= 1e-5 * abs(old)
