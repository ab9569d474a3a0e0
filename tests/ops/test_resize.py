"""resize_nearest (index gather) against F.interpolate(mode='nearest') and NumPy."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddlexseg.ops.resize import nearest_indices, resize_nearest


@pytest.mark.parametrize("in_size,out_size", [(26, 32), (260, 224), (260, 64), (7, 3), (5, 5),
                                              (3, 11), (346, 224)])
def test_indices_equal_the_interpolate_kernel(in_size, out_size):
    x = paddle.arange(in_size, dtype="float32").reshape([1, 1, 1, in_size])
    ref = F.interpolate(x, size=[1, out_size], mode="nearest").numpy().reshape(-1)
    np.testing.assert_array_equal(nearest_indices(in_size, out_size), ref.astype(np.int64))


def test_float64_indices_would_differ():
    # k * 26 / 32 is whole at k = 16: float32 math gives 13, as the kernels do
    assert nearest_indices(26, 32)[16] == 13
    assert nearest_indices(260, 64)[16] == 65


def test_resize_matches_interpolate_and_keeps_gradients():
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.standard_normal((2, 3, 26, 34)).astype(np.float32),
                         stop_gradient=False)
    out = resize_nearest(x, (32, 20))
    ref = F.interpolate(x, size=[32, 20], mode="nearest")
    assert out.shape == [2, 3, 32, 20]
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    out.sum().backward()
    g_ref = paddle.grad(F.interpolate(x, size=[32, 20], mode="nearest").sum(), x)[0]
    np.testing.assert_array_equal(x.grad.numpy(), g_ref.numpy())
    same = resize_nearest(x, (26, 34))
    assert same is x
