"""WeightedCrossEntropyLoss against NumPy of torch's NLLLoss(weight)(log(softmax.clamp(1e-8)))."""
import numpy as np
import paddle
import pytest

from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.losses.composer import LossComposer
from paddlexseg.losses.cross_entropy import WeightedCrossEntropyLoss, content_class_weights
from paddlexseg.registry import ConfigError


def reference(logits, labels, weights, ignore_index=0):
    """NumPy value and d/dlogits of the original RangeNet++ loss; logits [N, C], labels [N]."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # [N, C]
    w = weights[labels] * (labels != ignore_index)  # [N]
    p_label = p[np.arange(len(labels)), labels]
    nll = -np.log(np.maximum(p_label, 1e-8))
    total = w.sum()
    value = (w * nll).sum() / total
    onehot = np.eye(logits.shape[1])[labels]
    # d(-log p_y)/dz = p - onehot, zero where the clamp is active
    grad = (w * (p_label > 1e-8))[:, None] * (p - onehot) / total
    return value, grad


def to_nc(x):  # [B, C, H, W] -> [B*H*W, C]
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def run(loss, logits_np, labels_np):
    logits = paddle.to_tensor(logits_np, stop_gradient=False)
    value = loss(logits, paddle.to_tensor(labels_np))
    value.backward()
    return value.item(), logits.grad.numpy()


def test_value_and_gradient_match_reference_on_range_images():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 3, 4)).astype(np.float64) * 3
    labels = rng.integers(0, 5, size=(2, 3, 4))
    weights = np.array([0.0, 1.0, 2.5, 0.3, 4.0])
    value, grad = run(WeightedCrossEntropyLoss(class_weights=weights.tolist()), logits, labels)
    ref_value, ref_grad = reference(to_nc(logits), labels.reshape(-1), weights)
    assert value == pytest.approx(ref_value, rel=1e-6)
    np.testing.assert_allclose(to_nc(grad), ref_grad, rtol=1e-5, atol=1e-7)


def test_flat_inputs_float32_and_clamped_probabilities():
    logits = np.array([[0.0, 1.0, 2.0], [0.0, 40.0, -40.0], [3.0, 0.0, 0.0]], np.float32)
    labels = np.array([1, 2, 2])  # the second row's label has p ~ 1e-35 < 1e-8: clamped
    weights = np.array([1.0, 1.0, 2.0])
    value, grad = run(WeightedCrossEntropyLoss(class_weights=weights.tolist(), ignore_index=None),
                      logits, labels)
    ref_value, ref_grad = reference(logits.astype(np.float64), labels, weights, ignore_index=-1)
    assert value == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)
    assert np.all(grad[1] == 0)


@pytest.mark.parametrize("name", ["rangenet/rangenet_darknet21_semantickitti_150e.yml",
                                  "rangenet/rangenet_darknet21_semantickitti_150e_lovasz.yml",
                                  "squeezesegv3/squeezesegv3_sac21_semantickitti_150e.yml"])
def test_full_configs_hold_the_label_yaml_weights(name):
    """Weights come from the config (printed by tools/dataset_stats.py --label_config)."""
    import os
    from paddlexseg.config import load_config
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = load_config(os.path.join(root, "configs", name))
    lc = load_label_config("semantic-kitti")
    expected = 1.0 / (lc.content + 0.001)
    expected[lc.ignore] = 0
    weights = cfg["losses"][0]["class_weights"]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    loss = WeightedCrossEntropyLoss(class_weights=weights)
    np.testing.assert_allclose(loss.class_weights.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(content_class_weights([0.5, 0.25], ignore=[0], epsilon=0.0),
                               [0.0, 4.0])


def test_losses_do_not_import_datasets():
    import pathlib
    import paddlexseg.losses as losses
    for path in pathlib.Path(losses.__file__).parent.glob("*.py"):
        assert "datasets" not in path.read_text(), path


def test_all_ignored_gives_zero_not_nan():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 3, 2, 2)).astype(np.float32)
    value, grad = run(WeightedCrossEntropyLoss(), logits, np.zeros((1, 2, 2), np.int64))
    assert value == 0.0 and np.all(grad == 0)
    # classes whose weight is 0 behave like ignored labels
    value, grad = run(WeightedCrossEntropyLoss(class_weights=[1.0, 0.0, 1.0]), logits,
                      np.ones((1, 2, 2), np.int64))
    assert value == 0.0 and np.isfinite(grad).all()


def test_ignore_index_outside_class_range_is_allowed():
    logits = np.zeros((2, 3), np.float32)
    value, _ = run(WeightedCrossEntropyLoss(ignore_index=255), logits, np.array([255, 1]))
    assert value == pytest.approx(np.log(3.0), rel=1e-6)


def test_errors_name_the_problem():
    from paddlexseg.registry import LOSSES
    with pytest.raises(ConfigError, match="loss.label_config: unknown key"):
        LOSSES.build({"type": "WeightedCrossEntropyLoss", "label_config": "semantic-kitti"},
                     path="loss")
    with pytest.raises(ConfigError, match="class_weights"):
        WeightedCrossEntropyLoss(class_weights=[1.0, -2.0])
    loss = WeightedCrossEntropyLoss(class_weights=[1.0, 1.0, 1.0])
    logits = paddle.zeros([1, 4, 2, 2])
    with pytest.raises(ValueError, match="4 classes but 3"):
        loss(logits, paddle.ones([1, 2, 2], dtype="int64"))
    with pytest.raises(ValueError, match="do not match"):
        loss(paddle.zeros([1, 3, 2, 2]), paddle.ones([1, 2, 3], dtype="int64"))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        loss(paddle.zeros([1, 3, 2, 2]), paddle.full([1, 2, 2], 7, dtype="int64"))


def test_composer_builds_it_from_config():
    composer = LossComposer([{"type": "WeightedCrossEntropyLoss", "weight": 2.0,
                              "class_weights": [0.0, 1.0]},
                             {"type": "LovaszSoftmaxLoss", "weight": 1.5}])

    class Batch:
        labels = paddle.to_tensor(np.array([[[0, 1], [1, 0]]]))

    logits = paddle.zeros([1, 2, 2, 2])
    total, terms = composer({"logits": logits}, Batch())
    assert sorted(terms) == ["lovasz_softmax", "weighted_cross_entropy"]
    assert terms["weighted_cross_entropy"].item() == pytest.approx(2.0 * np.log(2.0), rel=1e-6)
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-6)
