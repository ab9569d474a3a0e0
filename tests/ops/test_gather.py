"""gather / index_select against NumPy, gradients included."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.gather import gather, index_select


CASES = [  # x shape, index shape, dim
    ((4, 6), (4, 9), 1),        # last axis, more reads than slots (duplicates)
    ((3, 5, 4), (3, 2, 4), 1),  # middle axis
    ((3, 5, 4), (2, 3, 1), 1),  # index smaller than x in other dims
    ((1, 7, 2), (1, 7, 2), -2),  # batch of one, negative dim
]


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("x_shape,index_shape,dim", CASES)
def test_gather_matches_numpy(x_shape, index_shape, dim, index_dtype):
    rng = np.random.default_rng(0)
    axis = dim % len(x_shape)
    x = rng.standard_normal(x_shape).astype(np.float32)
    index = rng.integers(0, x_shape[axis], index_shape)
    weight = rng.standard_normal(index_shape).astype(np.float32)
    block = x[tuple(slice(0, n) if d != axis else slice(None)
                    for d, n in enumerate(index_shape))]
    expected = np.take_along_axis(block, index, axis)
    grad = np.zeros_like(x)
    for pos in np.ndindex(*index_shape):
        src = list(pos)
        src[axis] = index[pos]
        grad[tuple(src)] += weight[pos]  # duplicates accumulate

    xt = paddle.to_tensor(x, stop_gradient=False)
    out = gather(xt, dim, paddle.to_tensor(index.astype(index_dtype)))
    np.testing.assert_array_equal(out.numpy(), expected)
    (out * paddle.to_tensor(weight)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), grad, rtol=1e-6)


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_index_select_matches_numpy(dim, index_dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    axis = dim % 3
    index = np.array([x.shape[axis] - 1, 0, x.shape[axis] - 1])  # duplicates, last slot
    expected = np.take(x, index, axis=axis)
    weight = rng.standard_normal(expected.shape).astype(np.float32)
    xt = paddle.to_tensor(x, stop_gradient=False)
    out = index_select(xt, dim, paddle.to_tensor(index.astype(index_dtype)))
    np.testing.assert_array_equal(out.numpy(), expected)
    (out * paddle.to_tensor(weight)).sum().backward()
    grad = np.zeros_like(x)
    np.add.at(np.moveaxis(grad, axis, 0), index, np.moveaxis(weight, axis, 0))
    np.testing.assert_allclose(xt.grad.numpy(), grad, rtol=1e-6)


def test_empty_index():
    x = paddle.to_tensor(np.ones((2, 3), np.float32), stop_gradient=False)
    out = gather(x, 1, paddle.zeros([2, 0], dtype="int32"))
    assert list(out.shape) == [2, 0]
    sel = index_select(x, 0, paddle.zeros([0], dtype="int64"))
    assert list(sel.shape) == [0, 3]
    (out.sum() + sel.sum() + x.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_rejects_bad_index():
    x = paddle.zeros([2, 4])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        gather(x, 1, paddle.to_tensor([[0, -1]]))  # Paddle would wrap around
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        index_select(x, 1, paddle.to_tensor([-1]))  # Paddle's backward would be wrong
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        index_select(x, 0, paddle.to_tensor([2]))
    with pytest.raises(ValueError, match="exceeds x shape"):
        gather(x, 1, paddle.zeros([3, 1], dtype="int64"))
    with pytest.raises(ValueError, match="must be 1-D"):
        index_select(x, 1, paddle.zeros([2, 2], dtype="int64"))
    with pytest.raises(TypeError, match="int32 or int64"):
        gather(x, 1, paddle.zeros([2, 1], dtype="float32"))
