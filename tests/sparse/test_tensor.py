"""SparseTensor construction, checks, replace_feature and dense()."""
import numpy as np
import paddle
import pytest

from paddlexseg.sparse import SparseTensor


def test_replace_feature_shares_coords_and_cache(make_sparse):
    x, coords = make_sparse(seed=30)
    x.cache["k"] = "rulebook"
    y = x.replace_feature(x.feats * 2)
    assert y.coords is x.coords and y.cache is x.cache and y.coords_id == x.coords_id
    assert y.spatial_shape == x.spatial_shape and y.batch_size == x.batch_size
    assert y.features is y.feats and y.indices is y.coords    # spconv aliases
    other = SparseTensor(x.feats, coords, x.spatial_shape, x.batch_size)
    assert other.coords_id != x.coords_id and other.cache == {}
    assert "N=%d" % len(coords) in repr(x)


def test_dense_places_rows_and_is_differentiable(make_sparse):
    x, coords = make_sparse(seed=31, channels=2)
    d = x.dense()
    assert d.shape == [3, 2] + list(x.spatial_shape)
    arr = d.numpy()
    np.testing.assert_array_equal(arr[coords[:, 0], :, coords[:, 1], coords[:, 2], coords[:, 3]],
                                  x.feats.numpy())
    assert np.count_nonzero(np.abs(arr).sum(1)) == len(coords)
    assert x.dense(channels_first=False).shape == [3] + list(x.spatial_shape) + [2]
    (d * 3).sum().backward()
    np.testing.assert_allclose(x.feats.grad.numpy(), 3.0)


def test_bad_inputs_are_named():
    f = paddle.zeros([2, 3])
    with pytest.raises(ValueError, match=r"coords must have shape \[N, 4\]"):
        SparseTensor(f, np.zeros((2, 3), np.int64), (4, 4, 4), 1)
    with pytest.raises(ValueError, match="feats must have shape"):
        SparseTensor(paddle.zeros([3, 3]), np.zeros((2, 4), np.int64), (4, 4, 4), 1)
    with pytest.raises(TypeError, match="int32 or int64"):
        SparseTensor(f, np.zeros((2, 4), np.float32), (4, 4, 4), 1)
    with pytest.raises(ValueError, match="spatial_shape"):
        SparseTensor(f, np.zeros((2, 4), np.int64), (4, 4), 1)
    outside = SparseTensor(f, np.array([[0, 1, 1, 1], [1, 0, 0, 0]]), (4, 4, 4), 1)
    with pytest.raises(ValueError, match="row 1"):
        outside.validate()
    ok = SparseTensor(f, np.array([[0, 1, 1, 1], [0, 3, 0, 2]], np.int32), (4, 4, 4), 1)
    assert ok.validate() is ok
