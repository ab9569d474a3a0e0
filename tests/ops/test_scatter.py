"""scatter / scatter_add against a NumPy loop with torch's forward and backward rules."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.scatter import scatter, scatter_add


def _destinations(index, dim):
    """Yield (position in index/src, destination in x) in C order, as torch defines them."""
    for pos in np.ndindex(*index.shape):
        dest = list(pos)
        dest[dim] = int(index[pos])
        yield pos, tuple(dest)


def _reference(x, dim, index, src, weight, mode):
    """Forward out and the gradients of sum(out * weight) w.r.t. x and src (torch rules)."""
    out = x.copy()
    grad_x = weight.copy()
    grad_src = np.zeros_like(src)
    for pos, dest in _destinations(index, dim):
        if mode == "assign":
            out[dest] = src[pos]  # the last duplicate wins (Paddle CPU order)
            grad_x[dest] = 0.0
        else:
            out[dest] += src[pos]
        grad_src[pos] = weight[dest]  # torch: grad.gather(dim, index) for every duplicate
    return out, grad_x, grad_src


CASES = [  # x shape, index shape, src shape, dim
    ((4, 6), (4, 3), (4, 3), 1),      # last axis
    ((3, 5, 4), (3, 7, 4), (3, 7, 4), 1),  # middle axis, more writes than slots (duplicates)
    ((3, 5, 4), (2, 3, 2), (3, 4, 4), 1),  # index smaller than x and src in other dims
    ((1, 4, 8), (1, 4, 5), (1, 4, 5), -1),  # batch of one, negative dim
    ((5, 3), (4, 3), (6, 3), 0),      # first axis, src larger than index
]


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
@pytest.mark.parametrize("mode", ["assign", "add"])
@pytest.mark.parametrize("x_shape,index_shape,src_shape,dim", CASES)
def test_scatter_matches_reference(x_shape, index_shape, src_shape, dim, mode, index_dtype):
    rng = np.random.default_rng(0)
    axis = dim % len(x_shape)
    x = rng.standard_normal(x_shape).astype(np.float32)
    src = rng.standard_normal(src_shape).astype(np.float32)
    index = rng.integers(0, x_shape[axis], index_shape)
    weight = rng.standard_normal(x_shape).astype(np.float32)
    out_ref, gx_ref, gs_ref = _reference(x, axis, index, src, weight, mode)

    xt = paddle.to_tensor(x, stop_gradient=False)
    st = paddle.to_tensor(src, stop_gradient=False)
    it = paddle.to_tensor(index.astype(index_dtype))
    fn = scatter if mode == "assign" else scatter_add
    out = fn(xt, dim, it, st)
    np.testing.assert_allclose(out.numpy(), out_ref, rtol=1e-6, atol=1e-6)
    (out * paddle.to_tensor(weight)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), gx_ref, rtol=1e-6)
    assert list(st.grad.shape) == list(src_shape)
    np.testing.assert_allclose(st.grad.numpy(), gs_ref, rtol=1e-6)


def test_scatter_pointrend_refine_pattern():
    """refined.reshape(B, C, H*W).scatter_(2, idx.expand(-1, C, -1), point_logits)."""
    rng = np.random.default_rng(1)
    b, c, hw, p = 2, 3, 20, 6
    refined = rng.standard_normal((b, c, hw)).astype(np.float32)
    points = np.stack([rng.choice(hw, p, replace=False) for _ in range(b)])[:, None, :]  # [B,1,P]
    logits = rng.standard_normal((b, c, p)).astype(np.float32)
    idx = paddle.to_tensor(points).expand([-1, c, -1])
    out = scatter(paddle.to_tensor(refined), 2, idx, paddle.to_tensor(logits)).numpy()
    expected = refined.copy()
    for i in range(b):
        expected[i][:, points[i, 0]] = logits[i]
    np.testing.assert_array_equal(out, expected)


def test_scatter_scalar_and_reduce_multiply():
    x = paddle.to_tensor(np.arange(8, dtype=np.float32).reshape(2, 4))
    idx = paddle.to_tensor([[0, 3], [1, 1]])
    np.testing.assert_array_equal(scatter(x, 1, idx, -1.0).numpy(),
                                  [[-1, 1, 2, -1], [4, -1, 6, 7]])
    src = paddle.to_tensor([[2.0, 3.0], [2.0, 5.0]])
    np.testing.assert_array_equal(scatter(x, 1, idx, src, reduce="multiply").numpy(),
                                  [[0, 1, 2, 9], [4, 50, 6, 7]])
    np.testing.assert_array_equal(scatter(x, 1, idx, src, reduce="add").numpy(),
                                  [[2, 1, 2, 6], [4, 12, 6, 7]])


def test_scatter_empty_index_returns_copy_with_gradient():
    x = paddle.to_tensor(np.ones((2, 3), np.float32), stop_gradient=False)
    src = paddle.to_tensor(np.ones((2, 3), np.float32), stop_gradient=False)
    empty = paddle.zeros([2, 0], dtype="int64")
    for fn in (scatter, scatter_add):
        x.clear_gradient()
        out = fn(x, 1, empty, src)
        np.testing.assert_array_equal(out.numpy(), np.ones((2, 3)))
        (out * 2).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
        assert src.grad is None or not src.grad.numpy().any()


@pytest.mark.parametrize("fn", [scatter, scatter_add])
def test_scatter_rejects_bad_index(fn):
    x = paddle.zeros([2, 4])
    src = paddle.ones([2, 4])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        fn(x, 1, paddle.to_tensor([[0, -1], [1, 2]]), src)  # torch raises, Paddle would wrap
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        fn(x, 1, paddle.to_tensor([[0, 4], [1, 2]]), src)
    with pytest.raises(ValueError, match="exceeds x shape"):
        fn(x, 1, paddle.zeros([3, 1], dtype="int64"), paddle.ones([3, 1]))
    with pytest.raises(ValueError, match="exceeds src shape"):
        fn(x, 1, paddle.zeros([2, 5], dtype="int64"), src)
    with pytest.raises(TypeError, match="int32 or int64"):
        fn(x, 1, paddle.zeros([2, 1], dtype="float32"), src)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        fn(x, 2, paddle.zeros([2, 1], dtype="int64"), src)


def test_scatter_and_gather_trace_with_to_static(tmp_path):
    """Index checks are skipped on traced values; the traced graph matches eager mode."""
    from paddlexseg.ops.gather import gather

    class Refine(paddle.nn.Layer):
        def forward(self, flat, index, values):
            return gather(scatter(flat, 2, index, values), 2, index) + flat.sum()

    rng = np.random.default_rng(2)
    flat = paddle.to_tensor(rng.standard_normal((2, 3, 10)).astype(np.float32))
    index = paddle.to_tensor(np.stack([rng.permutation(10)[:4]] * 3)[None].repeat(2, 0))
    values = paddle.to_tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    layer = Refine()
    eager = layer(flat, index, values).numpy()
    spec = [paddle.static.InputSpec([None, 3, 10], "float32"),
            paddle.static.InputSpec([None, 3, 4], "int64"),
            paddle.static.InputSpec([None, 3, 4], "float32")]
    traced = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    np.testing.assert_allclose(traced(flat, index, values).numpy(), eager, rtol=1e-6)
    paddle.jit.save(traced, str(tmp_path / "refine"))
    assert (tmp_path / "refine.json").exists() or (tmp_path / "refine.pdmodel").exists()
