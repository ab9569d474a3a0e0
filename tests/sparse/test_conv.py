"""Sparse convolutions against dense references restricted to the active sites.

Forward: a NumPy dense conv3d / transposed conv3d in float64. Gradients: Paddle autograd
through a dense ``F.conv3d`` / ``F.conv3d_transpose`` on ``SparseTensor.dense()``.
"""
import itertools

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from paddlexseg.sparse import (SparseTensor, conv_output_shape, sparse_conv3d,
                               sparse_inverse_conv3d, subm_conv3d)


def np_conv3d(x, w, stride, padding, dilation):
    """Dense cross-correlation. x [B, Cin, Z, Y, X], w [kz, ky, kx, Cin, Cout]."""
    b, _, *shape = x.shape
    kernel = w.shape[:3]
    out_shape = conv_output_shape(shape, kernel, stride, padding, dilation)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out = np.zeros((b, w.shape[4]) + tuple(out_shape))
    for k in itertools.product(*(range(n) for n in kernel)):
        sl = tuple(slice(k[a] * dilation[a], k[a] * dilation[a] + stride[a] * (out_shape[a] - 1)
                         + 1, stride[a]) for a in range(3))
        out += np.einsum("bczyx,co->bozyx", xp[(slice(None), slice(None)) + sl], w[k])
    return out


def np_conv3d_transpose(x, w, stride, padding, dilation, out_shape):
    """Adjoint of np_conv3d: out[i] += x[o] @ w[k] for i = o * stride - padding + k * dilation."""
    b, _, *in_shape = x.shape
    big = np.zeros((b, w.shape[4]) + tuple(s + 2 * p for s, p in zip(out_shape, padding)))
    for k in itertools.product(*(range(n) for n in w.shape[:3])):
        sl = tuple(slice(k[a] * dilation[a], k[a] * dilation[a] + stride[a] * (in_shape[a] - 1)
                         + 1, stride[a]) for a in range(3))
        big[(slice(None), slice(None)) + sl] += np.einsum("bczyx,co->bozyx", x, w[k])
    return big[(slice(None), slice(None)) + tuple(slice(p, p + s)
                                                 for p, s in zip(padding, out_shape))]


def at_sites(dense, coords):
    """[B, C, Z, Y, X] -> [N, C] rows at coords [N, 4]."""
    return dense[coords[:, 0], :, coords[:, 1], coords[:, 2], coords[:, 3]]


def random_weight(seed, kernel, cin, cout):
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.standard_normal(tuple(kernel) + (cin, cout)).astype("float32"),
                            stop_gradient=False)


def check_grads(loss_sparse, loss_dense, leaves):
    g_sparse = paddle.grad(loss_sparse, leaves)
    g_dense = paddle.grad(loss_dense, leaves)
    for a, b in zip(g_sparse, g_dense):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


SUBM_CASES = [((3, 3, 3), (1, 1, 1)), ((3, 3, 3), (2, 2, 2)), ((3, 1, 5), (1, 1, 1))]


@pytest.mark.parametrize("kernel,dilation", SUBM_CASES)
def test_subm_matches_dense(make_sparse, backend, kernel, dilation):
    x, coords = make_sparse(seed=1)
    w = random_weight(2, kernel, 3, 4)
    bias = paddle.to_tensor(np.arange(4, dtype="float32"), stop_gradient=False)
    y = subm_conv3d(x, w, bias, dilation=dilation)
    assert y.coords is x.coords and y.cache is x.cache and y.feats.shape == [len(coords), 4]
    pad = tuple(d * (k // 2) for k, d in zip(kernel, dilation))
    dense = x.dense().numpy().astype(np.float64)
    ref = np_conv3d(dense, w.numpy().astype(np.float64), (1, 1, 1), pad, dilation)
    np.testing.assert_allclose(y.feats.numpy(), at_sites(ref, coords) + np.arange(4),
                               rtol=1e-4, atol=1e-4)

    r = paddle.to_tensor(np.random.default_rng(3).standard_normal((len(coords), 4)), "float32")
    out_dense = F.conv3d(x.dense(), w.transpose([4, 3, 0, 1, 2]), bias, padding=list(pad),
                         dilation=list(dilation))
    rows = out_dense.transpose([0, 2, 3, 4, 1])[tuple(paddle.to_tensor(coords.T))]  # [N, 4]
    check_grads((y.feats * r).sum(), (rows * r).sum(), [x.feats, w, bias])


CONV_CASES = [((3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1)),
              ((2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1)),
              ((3, 3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1)),
              ((3, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1)),
              ((3, 3, 3), (1, 1, 1), (2, 2, 2), (2, 2, 2))]


@pytest.mark.parametrize("kernel,stride,padding,dilation", CONV_CASES)
def test_strided_and_inverse_match_dense(make_sparse, backend, kernel, stride, padding,
                                         dilation):
    x, coords = make_sparse(seed=4)
    w = random_weight(5, kernel, 3, 4)
    y = sparse_conv3d(x, w, stride=stride, padding=padding, dilation=dilation, indice_key="down")
    out_shape = conv_output_shape(x.spatial_shape, kernel, stride, padding, dilation)
    assert y.spatial_shape == out_shape and y.cache is x.cache

    # output sites: exactly the sites a dense conv of the occupancy reaches, sorted
    occ = np.zeros((3, 1) + x.spatial_shape)
    occ[coords[:, 0], 0, coords[:, 1], coords[:, 2], coords[:, 3]] = 1
    reach = np_conv3d(occ, np.ones(tuple(kernel) + (1, 1)), stride, padding, dilation)[:, 0]
    np.testing.assert_array_equal(y.coords.numpy(), np.argwhere(reach > 0.5))
    assert not np.any(y.coords.numpy()[:, 0] == 1)          # the empty batch element stays empty

    dense = x.dense().numpy().astype(np.float64)
    ref = np_conv3d(dense, w.numpy().astype(np.float64), stride, padding, dilation)
    out_coords = y.coords.numpy()
    np.testing.assert_allclose(y.feats.numpy(), at_sites(ref, out_coords), rtol=1e-4, atol=1e-4)

    r = paddle.to_tensor(np.random.default_rng(6).standard_normal(y.feats.shape), "float32")
    out_dense = F.conv3d(x.dense(), w.transpose([4, 3, 0, 1, 2]), stride=list(stride),
                         padding=list(padding), dilation=list(dilation))
    rows = out_dense.transpose([0, 2, 3, 4, 1])[tuple(paddle.to_tensor(out_coords.T))]
    check_grads((y.feats * r).sum(), (rows * r).sum(), [x.feats, w])

    # inverse: back to exactly the input rows, equal to a dense transposed conv there
    w_inv = random_weight(7, kernel, 4, 2)
    z = sparse_inverse_conv3d(y, w_inv, indice_key="down")
    assert z.coords is x.coords and z.coords_id == x.coords_id
    assert z.spatial_shape == x.spatial_shape
    ref = np_conv3d_transpose(y.dense().numpy().astype(np.float64),
                              w_inv.numpy().astype(np.float64), stride, padding, dilation,
                              x.spatial_shape)
    np.testing.assert_allclose(z.feats.numpy(), at_sites(ref, coords), rtol=1e-4, atol=1e-4)

    r2 = paddle.to_tensor(np.random.default_rng(8).standard_normal((len(coords), 2)), "float32")
    inv_dense = F.conv3d_transpose(y.dense(), w_inv.transpose([3, 4, 0, 1, 2]),
                                   stride=list(stride), padding=list(padding),
                                   dilation=list(dilation), output_size=list(x.spatial_shape))
    rows = inv_dense.transpose([0, 2, 3, 4, 1])[tuple(paddle.to_tensor(coords.T))]
    check_grads((z.feats * r2).sum(), (rows * r2).sum(), [x.feats, w, w_inv])


def test_row_order_does_not_matter(make_sparse):
    """Unsorted input: outputs follow the input rows (subm) or are the same sorted sites."""
    x, coords = make_sparse(seed=9, shuffle=False)
    perm = np.random.default_rng(10).permutation(len(coords))
    xp = SparseTensor(paddle.gather(x.feats, paddle.to_tensor(perm)), coords[perm],
                      x.spatial_shape, x.batch_size)
    w = random_weight(11, (3, 3, 3), 3, 4)
    np.testing.assert_allclose(subm_conv3d(xp, w).feats.numpy(),
                               subm_conv3d(x, w).feats.numpy()[perm], rtol=1e-5, atol=1e-5)
    a, b = sparse_conv3d(xp, w, stride=2, padding=1), sparse_conv3d(x, w, stride=2, padding=1)
    np.testing.assert_array_equal(a.coords.numpy(), b.coords.numpy())
    np.testing.assert_allclose(a.feats.numpy(), b.feats.numpy(), rtol=1e-5, atol=1e-5)


def test_int32_coords_like_2dpass(make_sparse):
    """int32 coords (what 2DPASS passes) give int32 output sites and the same numbers."""
    x, coords = make_sparse(seed=27)
    x32 = SparseTensor(x.feats, coords.astype(np.int32), x.spatial_shape, x.batch_size)
    w = random_weight(28, (3, 3, 3), 3, 4)
    a, b = sparse_conv3d(x32, w, stride=2, padding=1), sparse_conv3d(x, w, stride=2, padding=1)
    assert a.coords.dtype == paddle.int32
    np.testing.assert_array_equal(a.coords.numpy(), b.coords.numpy())
    np.testing.assert_allclose(a.feats.numpy(), b.feats.numpy(), rtol=1e-6)
    np.testing.assert_allclose(subm_conv3d(x32, w).feats.numpy(), subm_conv3d(x, w).feats.numpy(),
                               rtol=1e-6)


def test_empty_input_and_empty_output(backend):
    empty = SparseTensor(paddle.zeros([0, 3]), np.zeros((0, 4), np.int64), (4, 4, 4), 2)
    w = random_weight(12, (3, 3, 3), 3, 5)
    assert subm_conv3d(empty, w).feats.shape == [0, 5]
    y = sparse_conv3d(empty, w, stride=2, padding=1, indice_key="k")
    assert y.feats.shape == [0, 5] and y.coords.shape == [0, 4]
    assert sparse_inverse_conv3d(y, random_weight(13, (3, 3, 3), 5, 3),
                                 indice_key="k").feats.shape == [0, 3]
    # one site at the high border whose stride-2 window (kernel 2, no padding) is cut off
    feats = paddle.ones([1, 3])
    feats.stop_gradient = False
    edge = SparseTensor(feats, np.array([[0, 4, 4, 4]]), (5, 5, 5), 1)
    out = sparse_conv3d(edge, random_weight(14, (2, 2, 2), 3, 5), stride=2)
    assert out.spatial_shape == (2, 2, 2) and out.feats.shape == [0, 5]
    (out.feats.sum() + 1.0).backward()
    assert feats.grad is not None and float(feats.grad.abs().sum().item()) == 0.0


def test_matches_paddle_sparse_on_coalesced_input(make_sparse):
    """paddle.sparse (coalesced input) agrees with ours: same sites, same values."""
    x, coords = make_sparse(seed=15, shuffle=False, batch_size=2, empty=())
    w = random_weight(16, (3, 3, 3), 3, 4)
    ref = paddle.sparse.sparse_coo_tensor(paddle.to_tensor(coords.T), x.feats.detach(),
                                          shape=[2, *x.spatial_shape, 3])
    ours = subm_conv3d(x, w)
    theirs = paddle.sparse.nn.functional.subm_conv3d(ref, w.detach(), padding=1)
    np.testing.assert_array_equal(theirs.indices().numpy().T, coords)
    np.testing.assert_allclose(ours.feats.numpy(), theirs.values().numpy(), rtol=1e-4, atol=1e-4)
    ours = sparse_conv3d(x, w, stride=2, padding=1)
    theirs = paddle.sparse.nn.functional.conv3d(ref, w.detach(), stride=2, padding=1)
    assert tuple(theirs.shape[1:4]) == ours.spatial_shape
    np.testing.assert_array_equal(theirs.indices().numpy().T, ours.coords.numpy())
    np.testing.assert_allclose(ours.feats.numpy(), theirs.values().numpy(), rtol=1e-4, atol=1e-4)


def test_backends_agree_and_stop_gradient(make_sparse):
    """NumPy (1 or 3 worker threads) and Paddle backends give the same values and grads;
    frozen inputs get none."""
    from paddlexseg.sparse import get_backend, set_backend
    x, _ = make_sparse(seed=17, channels=3)
    w1, w = random_weight(19, (3, 3, 3), 3, 3), random_weight(18, (3, 3, 3), 3, 4)
    previous = get_backend()
    results = []
    try:
        for name, workers in (("numpy", 1), ("numpy", 3), ("paddle", 1)):
            set_backend(name, workers=workers)
            y = sparse_conv3d(subm_conv3d(x, w1), w, stride=2, padding=1)
            grads = paddle.grad((y.feats ** 2).sum(), [x.feats, w1, w])
            results.append([y.feats.numpy()] + [g.numpy() for g in grads])
        frozen = SparseTensor(x.feats.detach(), x.coords, x.spatial_shape, x.batch_size)
        out = subm_conv3d(frozen, w)
        out.feats.sum().backward()
        assert frozen.feats.grad is None and w.grad is not None
        with pytest.raises(ValueError, match="expected one of"):
            set_backend("cuda")
        with pytest.raises(ValueError, match="workers"):
            set_backend("numpy", workers=0)
    finally:
        set_backend(*previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
