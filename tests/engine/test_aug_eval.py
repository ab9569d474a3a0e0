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


class _CropMean(paddle.nn.Layer):
    """Scores depend on the whole crop (its mean), so sliding differs from one pass."""

    def forward(self, image):
        return {"logits": image[:, :2] * 2.0 + image.mean(axis=[2, 3], keepdim=True)[:, :2]}


def _numpy_slide(x, crop_wh, stride_wh):
    """Reference: PaddleSeg slide_inference written out with NumPy."""
    _, _, height, width = x.shape
    (cw, ch), (sw, sh) = crop_wh, stride_wh
    rows = max(int(np.ceil((height - ch) / sh)), 0) + 1
    cols = max(int(np.ceil((width - cw) / sw)), 0) + 1
    total = np.zeros((x.shape[0], 2, height, width))
    count = np.zeros((height, width))
    for r in range(rows):
        for c in range(cols):
            h1, w1 = r * sh, c * sw
            h2, w2 = min(h1 + ch, height), min(w1 + cw, width)
            h1, w1 = max(h2 - ch, 0), max(w2 - cw, 0)
            crop = x[:, :, h1:h2, w1:w2]
            mean = crop.mean(axis=(2, 3), keepdims=True)[:, :2]
            total[:, :, h1:h2, w1:w2] += crop[:, :2] * 2 + mean
            count[h1:h2, w1:w2] += 1
    return total / count, rows * cols


def test_sliding_window_matches_paddleseg_slide_inference():
    from paddlexseg.engine.aug_eval import SlidingWindowInference
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 13)).astype(np.float32)
    slide = SlidingWindowInference(_CropMean(), crop_size=[5, 4], stride=[4, 3])
    assert len(slide.windows(10, 13)) == 3 * 3  # rows: 0-4, 3-7, 6-10; cols: 0-5, 4-9, 8-13
    expected, n = _numpy_slide(x.astype(np.float64), (5, 4), (4, 3))
    assert n == 9
    out = slide(image=paddle.to_tensor(x))["logits"].numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # and differs from one whole-image pass (the crop means differ)
    whole = _CropMean()(image=paddle.to_tensor(x))["logits"].numpy()
    assert np.abs(out - whole).max() > 1e-3


def test_sliding_window_crop_larger_than_image_is_one_pass():
    from paddlexseg.engine.aug_eval import SlidingWindowInference
    paddle.seed(0)
    net, x = _Net(), paddle.randn([1, 3, 8, 12])
    out = SlidingWindowInference(net, crop_size=64, stride=32)(image=x)
    np.testing.assert_allclose(out["logits"].numpy(), net(x)["logits"].numpy(), atol=1e-6)
    with pytest.raises(ConfigError, match="--crop_size"):
        SlidingWindowInference(net, crop_size=[0, 4], stride=2)


def test_flip_vertical_runs_paddleseg_flip_combinations():
    from paddlexseg.engine.aug_eval import flip_combinations
    assert flip_combinations(True, True) == [(False, False), (True, False), (False, True),
                                             (True, True)]
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal((1, 3, 6, 7)).astype("float32"))
    out = AugmentedInference(_CropMean(), flip_vertical=True)(image=x)["logits"].numpy()
    # _CropMean is flip-equivariant: flipped runs, flipped back, equal the plain one
    plain = F.softmax(_CropMean()(image=x)["logits"], 1).numpy()
    np.testing.assert_allclose(out, plain, atol=1e-6)

    class _TopRow(paddle.nn.Layer):  # not flip-equivariant: scores from the first row only
        def forward(self, image):
            return {"logits": paddle.expand(image[:, :2, :1], [1, 2, 6, 7])}

    top = AugmentedInference(_TopRow(), flip_vertical=True)(image=x)["logits"].numpy()
    first = F.softmax(x[:, :2, :1].expand([1, 2, 6, 7]), 1).numpy()
    last = F.softmax(x[:, :2, 5:6].expand([1, 2, 6, 7]), 1).numpy()
    np.testing.assert_allclose(top, (first + last) / 2, atol=1e-6)
