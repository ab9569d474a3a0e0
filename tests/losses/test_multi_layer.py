"""MultiLayerCrossEntropyLoss against a NumPy re-implementation of SqueezeSegV3's trainer loss."""
import numpy as np
import paddle
import pytest

import paddlexseg.losses  # noqa: F401  (registers the losses)
import paddlexseg.models  # noqa: F401  (registers models and backbones)
from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.losses.composer import LossComposer
from paddlexseg.losses.multi_layer import MultiLayerCrossEntropyLoss, nearest_resize_labels
from paddlexseg.registry import ConfigError



def _np_nearest(labels, h, w):
    # torch F.upsample(mode='nearest'): src = min(floor(dst * in / out), in - 1)
    hi, wi = labels.shape[1:]
    rows = np.minimum(np.floor(np.arange(h) * (hi / h)).astype(int), hi - 1)
    cols = np.minimum(np.floor(np.arange(w) * (wi / w)).astype(int), wi - 1)
    return labels[:, rows][:, :, cols]


def _np_head_loss(logits, labels, weights):
    """NLLLoss(weight)(log(softmax.clamp(1e-8)), labels) with 'mean' reduction, and its grad."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # [B, C, h, w]
    logp = np.log(np.maximum(p, 1e-8))
    b, c = logits.shape[:2]
    onehot = np.eye(c)[labels].transpose(0, 3, 1, 2)  # [B, C, h, w]
    w = weights[labels]  # [B, h, w]
    loss = -(w[:, None] * onehot * logp).sum() / w.sum()
    grad = w[:, None] * (p - onehot) / w.sum()  # no probability is clamped in these tests
    return loss, grad


def _inputs(seed, c=5, b=2, h=4, w=16):
    rng = np.random.default_rng(seed)
    widths = [w, w // 2, w // 4, w // 8, w // 8]
    logits = [rng.standard_normal((b, c, h, wi)).astype(np.float32) for wi in widths]
    labels = rng.integers(0, c, (b, h, w))
    return logits, labels


@pytest.mark.parametrize("layer_weights", [(1.0, 1.0, 1.0, 1.0, 1.0), (1.0, 0.5, 0.25, 0.0, 2.0)])
def test_matches_numpy_value_and_gradient(layer_weights):
    logits, labels = _inputs(0)
    class_weights = np.array([0.0, 1.0, 2.5, 0.3, 4.0])
    loss_fn = MultiLayerCrossEntropyLoss(class_weights=class_weights.tolist(),
                                         layer_weights=layer_weights)
    tensors = [paddle.to_tensor(x, stop_gradient=False) for x in logits]
    loss = loss_fn(*tensors, paddle.to_tensor(labels))
    loss.backward()
    expected = 0.0
    for x, t, lw in zip(logits, tensors, layer_weights):
        value, grad = _np_head_loss(x.astype(np.float64),
                                    _np_nearest(labels, *x.shape[2:]), class_weights)
        expected += lw * value
        np.testing.assert_allclose(t.grad.numpy(), lw * grad, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)


def test_nearest_resize_matches_torch_indices():
    labels = paddle.arange(2 * 3 * 10).reshape([2, 3, 10])
    out = nearest_resize_labels(labels, (3, 3)).numpy()
    # torch: F.upsample(size=(3, 3), mode='nearest') from width 10 picks columns 0, 3, 6
    np.testing.assert_array_equal(out[0, 0], [0, 3, 6])
    np.testing.assert_array_equal(out, _np_nearest(labels.numpy(), 3, 3))
    np.testing.assert_array_equal(nearest_resize_labels(labels, (2, 5)).numpy(),
                                  labels.numpy()[:, [0, 1]][:, :, ::2])


def test_label_config_weights_and_ignored_pixels():
    cfg = load_label_config("semantic-kitti")
    weights = 1.0 / (np.asarray(cfg.content) + 0.001)
    weights[cfg.ignore] = 0.0
    loss_fn = MultiLayerCrossEntropyLoss(class_weights=weights.tolist(), layer_weights=[1.0, 1.0])
    rng = np.random.default_rng(1)
    logits = [rng.standard_normal((1, cfg.num_classes, 2, w)).astype(np.float32) for w in (8, 4)]
    labels = rng.integers(0, cfg.num_classes, (1, 2, 8))
    labels[0, 0, :4] = 0  # ignored pixels
    loss = loss_fn(*[paddle.to_tensor(x) for x in logits], paddle.to_tensor(labels))
    expected = sum(_np_head_loss(x.astype(np.float64), _np_nearest(labels, *x.shape[2:]),
                                 weights)[0] for x in logits)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)
    # every label ignored: 0 (the original's NLLLoss would give NaN)
    zero = loss_fn(*[paddle.to_tensor(x) for x in logits], paddle.zeros([1, 2, 8], "int64"))
    assert zero.item() == 0.0


def test_composer_with_squeezesegv3_output_names():
    composer = LossComposer([{"type": "MultiLayerCrossEntropyLoss", "class_weights": [0, 1, 1],
                              "input": ["logits", "aux_logits_1", "aux_logits_2",
                                        "aux_logits_3", "aux_logits_4"]}])
    logits, labels = _inputs(2, c=3)
    names = ["logits", "aux_logits_1", "aux_logits_2", "aux_logits_3", "aux_logits_4"]

    class Batch:
        pass

    batch = Batch()
    batch.labels = paddle.to_tensor(labels)
    total, terms = composer({k: paddle.to_tensor(x) for k, x in zip(names, logits)}, batch)
    expected = sum(_np_head_loss(x.astype(np.float64), _np_nearest(labels, *x.shape[2:]),
                                 np.array([0.0, 1.0, 1.0]))[0] for x in logits)
    assert list(terms) == ["multi_layer_cross_entropy"]
    np.testing.assert_allclose(total.item(), expected, rtol=1e-5)


def test_errors_name_the_problem():
    logits, labels = _inputs(3)
    loss_fn = MultiLayerCrossEntropyLoss(layer_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="got 5 model outputs but 2 layer_weights"):
        loss_fn(*[paddle.to_tensor(x) for x in logits], paddle.to_tensor(labels))
    with pytest.raises(ValueError, match="no larger than the labels"):
        loss_fn(paddle.to_tensor(logits[0]), paddle.to_tensor(logits[0][:, :, :, :4]),
                paddle.to_tensor(labels[:, :, :8]))
    with pytest.raises(ConfigError, match="MultiLayerCrossEntropyLoss.class_weights"):
        MultiLayerCrossEntropyLoss(class_weights=[1.0, -1.0])
    with pytest.raises(ConfigError, match="layer_weights"):
        MultiLayerCrossEntropyLoss(layer_weights=[])
