import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddlexseg.engine.aug_eval import AugmentedInference
from paddlexseg.registry import ConfigError


class _Net(paddle.nn.Layer):
    """Per-pixel linear classifier, plus a 2-D output the wrapper must pass over."""

    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 1)

    def forward(self, image):
        return {"logits": self.conv(image), "vector": image.mean(axis=[2, 3])}


def test_single_scale_is_softmax_of_the_model():
    paddle.seed(0)
    net, x = _Net(), paddle.randn([2, 3, 8, 12])
    out = AugmentedInference(net, scales=[1.0])(image=x)
    np.testing.assert_allclose(out["logits"].numpy(), F.softmax(net(x)["logits"], 1).numpy(),
                               atol=1e-6)
    assert set(out) == {"logits"}


def test_flip_of_a_pointwise_model_changes_nothing_and_scales_average():
    paddle.seed(0)
    net, x = _Net(), paddle.randn([1, 3, 8, 12])
    plain = AugmentedInference(net, scales=[1.0])(image=x)["logits"].numpy()
    flipped = AugmentedInference(net, scales=[1.0], flip_horizontal=True)(image=x)["logits"]
    np.testing.assert_allclose(flipped.numpy(), plain, atol=1e-6)  # 1x1 conv is flip-equivariant
    multi = AugmentedInference(net, scales=[0.5, 1.0, 2.0])(image=x)["logits"]
    assert multi.shape == [1, 4, 8, 12]
    np.testing.assert_allclose(multi.numpy().sum(1), 1.0, atol=1e-5)
    half = F.softmax(F.interpolate(net(F.interpolate(x, size=[4, 6], mode="bilinear"))["logits"],
                                   size=[8, 12], mode="bilinear"), 1)
    double = F.softmax(F.interpolate(net(F.interpolate(x, size=[16, 24], mode="bilinear"))[
        "logits"], size=[8, 12], mode="bilinear"), 1)
    expected = (half.numpy() + plain + double.numpy()) / 3
    np.testing.assert_allclose(multi.numpy(), expected, atol=1e-5)


def test_rejects_bad_scales_and_inputs():
    with pytest.raises(ConfigError, match="scales"):
        AugmentedInference(_Net(), scales=[0.0])
    with pytest.raises(ConfigError, match="one image input"):
        AugmentedInference(_Net())(image=paddle.zeros([1, 3, 4, 4]), extra=paddle.zeros([1]))
