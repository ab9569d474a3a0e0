"""CrossEntropyLoss (upsampled coarse logits) and PointCrossEntropyLoss against NumPy."""
import numpy as np
import paddle
import pytest

from paddlexseg.losses.composer import LossComposer
from paddlexseg.losses.image_cross_entropy import CrossEntropyLoss
from paddlexseg.losses.point_cross_entropy import PointCrossEntropyLoss, sample_point_labels
from paddlexseg.structures import ImageBatch


def _upsample_ref(x, h, w):
    """NumPy bilinear resize, half-pixel centres clamped at the edges (align_corners=False)."""
    def taps(n_out, n_in):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, None)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0
    y0, y1, fy = taps(h, x.shape[2])
    x0, x1, fx = taps(w, x.shape[3])
    rows = x[:, :, y0] * (1 - fy)[:, None] + x[:, :, y1] * fy[:, None]
    return rows[..., x0] * (1 - fx) + rows[..., x1] * fx


def _ce_ref(logits, labels, ignore=255, weights=None):
    """logits [N, C], labels [N] -> (loss, d loss / d logits)."""
    valid = labels != ignore
    safe = np.where(valid, labels, 0)
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    w = valid.astype(np.float64) * (1.0 if weights is None else np.asarray(weights)[safe])
    nll = -np.log(p[np.arange(len(safe)), safe])
    grad = p.copy()
    grad[np.arange(len(safe)), safe] -= 1
    return (w * nll).sum() / w.sum(), grad * (w / w.sum())[:, None]


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5, 3.0]])
def test_cross_entropy_upsamples_and_ignores(weights):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 4, 8)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 16, 32))
    labels[rng.random(labels.shape) < 0.3] = 255
    x = paddle.to_tensor(logits, stop_gradient=False)
    loss = CrossEntropyLoss(ignore_index=255, class_weights=weights)(x, paddle.to_tensor(labels))
    up = _upsample_ref(logits.astype(np.float64), 16, 32)  # [2, 4, 16, 32]
    ref, _ = _ce_ref(up.transpose(0, 2, 3, 1).reshape(-1, 4), labels.reshape(-1), 255, weights)
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
    loss.backward()
    assert x.grad is not None and np.isfinite(x.grad.numpy()).all()


def test_cross_entropy_same_size_gradient_and_all_ignored():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 3, (1, 4, 5))
    labels[0, 0] = 255
    x = paddle.to_tensor(logits, stop_gradient=False)
    loss = CrossEntropyLoss()(x, paddle.to_tensor(labels))
    loss.backward()
    flat = logits.transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64)
    ref, grad = _ce_ref(flat, labels.reshape(-1))
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy().transpose(0, 2, 3, 1).reshape(-1, 3), grad,
                               atol=1e-6)
    x2 = paddle.to_tensor(logits, stop_gradient=False)
    zero = CrossEntropyLoss()(x2, paddle.full([1, 4, 5], 255, dtype="int64"))
    zero.backward()
    assert zero.item() == 0.0 and np.abs(x2.grad.numpy()).max() == 0.0


def test_point_labels_are_nearest_pixels():
    labels = np.arange(3 * 5).reshape(1, 3, 5)
    coords = np.random.default_rng(2).uniform(0.001, 0.999, (1, 30, 2)).astype(np.float32)
    got = sample_point_labels(paddle.to_tensor(labels), paddle.to_tensor(coords)).numpy()
    expect = np.floor(coords[0, :, 1] * 3) * 5 + np.floor(coords[0, :, 0] * 5)
    np.testing.assert_array_equal(got[0], expect)
    assert got.dtype == np.int64


def test_point_cross_entropy_matches_numpy():
    rng = np.random.default_rng(3)
    point_logits = rng.normal(size=(2, 4, 50)).astype(np.float32)
    coords = rng.uniform(0.001, 0.999, (2, 50, 2)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 8, 12))
    labels[:, :3] = 255
    x = paddle.to_tensor(point_logits, stop_gradient=False)
    loss = PointCrossEntropyLoss()(x, paddle.to_tensor(coords), paddle.to_tensor(labels))
    py = np.floor(coords[..., 1] * 8).astype(int)
    px = np.floor(coords[..., 0] * 12).astype(int)
    point_labels = np.stack([labels[b, py[b], px[b]] for b in range(2)])  # [2, 50]
    ref, grad = _ce_ref(point_logits.transpose(0, 2, 1).reshape(-1, 4).astype(np.float64),
                        point_labels.reshape(-1))
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy().transpose(0, 2, 1).reshape(-1, 4), grad, atol=1e-6)


def test_shape_and_label_errors():
    with pytest.raises(ValueError, match="PointCrossEntropyLoss: expected point_logits"):
        PointCrossEntropyLoss()(paddle.zeros([2, 4, 10]), paddle.zeros([2, 9, 2]),
                                paddle.zeros([2, 8, 8], dtype="int64"))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        CrossEntropyLoss()(paddle.zeros([1, 4, 2, 2]), paddle.full([1, 2, 2], 7, dtype="int64"))
    with pytest.raises(ValueError, match="class_weights"):
        CrossEntropyLoss(class_weights=[1.0])


def test_composer_reads_point_outputs():
    composer = LossComposer([
        {"type": "CrossEntropyLoss", "weight": 1.0, "input": "logits", "target": "labels"},
        {"type": "PointCrossEntropyLoss", "weight": 0.5, "input": ["point_logits", "point_coords"],
         "target": "labels"}])
    labels = paddle.to_tensor(np.random.default_rng(4).integers(0, 3, (1, 8, 8)))
    outputs = {"logits": paddle.zeros([1, 3, 2, 2]), "point_logits": paddle.zeros([1, 3, 5]),
               "point_coords": paddle.full([1, 5, 2], 0.5)}
    batch = ImageBatch(image=paddle.zeros([1, 3, 8, 8]), labels=labels)
    total, terms = composer(outputs, batch)
    assert sorted(terms) == ["cross_entropy", "point_cross_entropy"]
    np.testing.assert_allclose(total.item(), 1.5 * np.log(3), rtol=1e-5)
