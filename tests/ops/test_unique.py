"""unique_rows / encode_coords / decode_coords against np.unique(axis=0)."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.unique import (_unique_keys_paddle, decode_coords, encode_coords,
                                   unique_rows)


def _check_against_numpy(coords, result):
    uniq, inverse, counts = (r.numpy() if isinstance(r, paddle.Tensor) else r for r in result)
    ref_u, ref_i, ref_c = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(uniq, ref_u)
    np.testing.assert_array_equal(inverse, ref_i.reshape(-1))
    np.testing.assert_array_equal(counts, ref_c)
    np.testing.assert_array_equal(uniq[inverse], coords)
    assert uniq.dtype == coords.dtype and inverse.dtype == np.int64 and counts.dtype == np.int64


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_unique_rows_matches_numpy(dtype, as_tensor):
    rng = np.random.default_rng(0)
    coords = np.concatenate([rng.integers(-4, 5, (60, 4)), rng.integers(0, 2, (20, 4))])
    coords = coords.astype(dtype)  # negatives, duplicates
    result = unique_rows(paddle.to_tensor(coords) if as_tensor else coords)
    assert isinstance(result[0], paddle.Tensor) == as_tensor
    _check_against_numpy(coords, result)


def test_unique_rows_wide_spans_use_lexicographic_fallback():
    big = 2 ** 62
    coords = np.array([[big, -big, 1], [0, 0, 0], [big, -big, 1], [-5, 3, 2], [0, 0, -1]],
                      dtype=np.int64)  # spans overflow one int64 key
    _check_against_numpy(coords, unique_rows(coords))


def test_unique_rows_edge_cases():
    single = np.array([[3, 1, 2]], np.int32)
    _check_against_numpy(single, unique_rows(single))
    uniq, inverse, counts = unique_rows(paddle.zeros([0, 4], dtype="int32"))
    assert list(uniq.shape) == [0, 4] and uniq.dtype == paddle.int32
    assert list(inverse.shape) == [0] and list(counts.shape) == [0]
    with pytest.raises(TypeError, match="integer"):
        unique_rows(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        unique_rows(np.zeros(3, np.int64))


def test_paddle_sort_path_matches_numpy():
    """The on-device path (used for accelerator tensors) gives the same groups."""
    keys = np.random.default_rng(1).integers(0, 40, 300)
    first, inverse, counts = _unique_keys_paddle(paddle.to_tensor(keys))
    ref_u, ref_i, ref_c = np.unique(keys, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(keys[first.numpy()], ref_u)
    np.testing.assert_array_equal(inverse.numpy(), ref_i)
    np.testing.assert_array_equal(counts.numpy(), ref_c)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_encode_decode_round_trip_and_layout(as_tensor):
    shape = (2, 5, 7, 11)  # (B, D, H, W)
    rng = np.random.default_rng(2)
    coords = np.stack([rng.integers(0, s, 50) for s in shape], axis=1).astype(np.int32)
    data = paddle.to_tensor(coords) if as_tensor else coords
    keys = encode_coords(data, shape)
    keys_np = keys.numpy() if as_tensor else keys
    b, z, y, x = coords.T.astype(np.int64)
    np.testing.assert_array_equal(keys_np, ((b * 5 + z) * 7 + y) * 11 + x)
    back = decode_coords(keys, shape, dtype="int32")
    np.testing.assert_array_equal(back.numpy() if as_tensor else back, coords)
    order = np.lexsort(coords.T[::-1])  # row order == key order
    assert np.all(np.diff(keys_np[order]) >= 0)


def test_encode_rejects_out_of_grid_and_overflow():
    with pytest.raises(ValueError, match=r"column 2 has values in \[7, 7\], expected \[0, 7\)"):
        encode_coords(np.array([[0, 0, 7]]), (1, 1, 7))
    with pytest.raises(ValueError, match="int64 key"):
        encode_coords(np.zeros((1, 3), np.int64), (2 ** 30, 2 ** 30, 2 ** 4))
    with pytest.raises(ValueError, match="one size per coordinate column"):
        encode_coords(np.zeros((1, 3), np.int64), (4, 4))
