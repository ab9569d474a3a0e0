"""torch_scatter-style segment reductions against a NumPy loop, gradients included."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.segment import scatter_max, scatter_mean, scatter_min, scatter_sum


def _broadcast(index, shape, dim):
    """torch_scatter.utils.broadcast of an index to the src shape."""
    if index.ndim == 1:
        index = index.reshape([1] * dim + [-1] + [1] * (len(shape) - dim - 1))
    index = index.reshape(index.shape + (1,) * (len(shape) - index.ndim))
    return np.broadcast_to(index, shape)


def _reference(src, index, dim, size, reduce):
    """Loop over src in C order as torch_scatter's CPU kernel: (out, arg)."""
    full = _broadcast(index, src.shape, dim)
    shape = list(src.shape)
    shape[dim] = size
    total = np.zeros(shape, np.float64)
    count = np.zeros(shape, np.int64)
    best = np.full(shape, np.nan)
    arg = np.full(shape, src.shape[dim], np.int64)
    for pos in np.ndindex(*src.shape):
        dest = list(pos)
        dest[dim] = full[pos]
        dest = tuple(dest)
        value = src[pos]
        total[dest] += value
        count[dest] += 1
        better = value > best[dest] if reduce == "max" else value < best[dest]
        if np.isnan(best[dest]) or better:  # strict: the first of equal values wins
            best[dest], arg[dest] = value, pos[dim]
    if reduce == "sum":
        return total, None
    if reduce == "mean":
        return total / np.maximum(count, 1), None
    return np.nan_to_num(best, nan=0.0), arg


CASES = [  # src shape, index shape, dim, dim_size
    ((12, 3), (12,), 0, None),        # points -> voxels, 1-D index
    ((12, 3), (12,), 0, 9),           # dim_size with trailing empty segments
    ((2, 10, 3), (10,), 1, 6),        # middle axis, 1-D index
    ((2, 3, 10), (2, 3, 10), -1, 4),  # last axis, full index (varies along other dims)
    ((2, 10, 3), (2, 10), 1, None),   # partial index broadcast over the trailing dim
    ((1, 7), (1, 7), 1, 5),           # batch of one
]


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("src_shape,index_shape,dim,dim_size", CASES)
def test_segment_matches_reference(src_shape, index_shape, dim, dim_size, reduce, index_dtype):
    rng = np.random.default_rng(0)
    axis = dim % len(src_shape)
    size = dim_size or 5
    src = rng.integers(-3, 4, src_shape).astype(np.float32)  # small ints: many ties
    index = rng.integers(0, size, index_shape)
    index.flat[0] = size - 1  # the default dim_size is then `size` too
    out_ref, arg_ref = _reference(src, index, axis, size, reduce)

    fn = {"sum": scatter_sum, "mean": scatter_mean, "max": scatter_max, "min": scatter_min}
    st = paddle.to_tensor(src, stop_gradient=False)
    result = fn[reduce](st, paddle.to_tensor(index.astype(index_dtype)), dim=dim,
                        dim_size=dim_size)
    out = result[0] if reduce in ("max", "min") else result
    np.testing.assert_allclose(out.numpy(), out_ref, rtol=1e-6, atol=1e-6)
    weight = rng.standard_normal(out_ref.shape).astype(np.float32)
    (out * paddle.to_tensor(weight)).sum().backward()
    grad = st.grad.numpy()

    full = _broadcast(index, src.shape, axis)
    destinations = {}
    counts = np.zeros(out_ref.shape)
    for pos in np.ndindex(*src.shape):
        dest = list(pos)
        dest[axis] = full[pos]
        destinations[pos] = tuple(dest)
        counts[tuple(dest)] += 1
    expected = np.zeros_like(src)
    for pos, dest in destinations.items():
        if reduce == "sum":
            expected[pos] = weight[dest]
        elif reduce == "mean":
            expected[pos] = weight[dest] / counts[dest]
        elif arg_ref[dest] == pos[axis]:
            expected[pos] = weight[dest]  # only the first winner gets the gradient
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)
    if arg_ref is not None:
        np.testing.assert_array_equal(result[1].numpy(), arg_ref)
        assert result[1].dtype == paddle.int64


def test_scatter_max_empty_segments_and_unsorted_ids():
    src = paddle.to_tensor([[1.0, -2.0], [5.0, -1.0], [3.0, 7.0], [5.0, 0.0]])
    index = paddle.to_tensor([3, 0, 3, 0])  # unsorted, segments 1, 2, 4 empty
    values, arg = scatter_max(src, index, dim=0, dim_size=5)
    np.testing.assert_array_equal(values.numpy(),
                                  [[5, 0], [0, 0], [0, 0], [3, 7], [0, 0]])
    np.testing.assert_array_equal(arg.numpy(), [[1, 3], [4, 4], [4, 4], [2, 2], [4, 4]])


def test_integer_src_and_empty_index():
    src = paddle.to_tensor([[3], [4], [8]], dtype="int64")
    index = paddle.to_tensor([1, 1, 0])
    np.testing.assert_array_equal(scatter_mean(src, index).numpy(), [[8], [3]])  # floor
    np.testing.assert_array_equal(scatter_max(src, index)[0].numpy(), [[8], [4]])
    empty = paddle.zeros([0], dtype="int64")
    none = paddle.zeros([0, 2])
    assert list(scatter_sum(none, empty).shape) == [0, 2]
    values, arg = scatter_max(none, empty, dim_size=3)
    assert list(values.shape) == [3, 2] and not values.numpy().any()
    np.testing.assert_array_equal(arg.numpy(), np.zeros((3, 2)))  # src.shape[0] == 0


def test_bad_arguments():
    src = paddle.ones([4, 2])
    with pytest.raises(ValueError, match="does not fit dim_size=2"):
        scatter_sum(src, paddle.to_tensor([0, 1, 2, 0]), dim_size=2)
    with pytest.raises(ValueError, match=">= 0"):
        scatter_max(src, paddle.to_tensor([0, -1, 2, 0]))
    with pytest.raises(ValueError, match="does not broadcast"):
        scatter_mean(src, paddle.to_tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="int32 or int64"):
        scatter_sum(src, paddle.to_tensor([0.0, 1.0, 2.0, 0.0]))
