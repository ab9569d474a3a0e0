"""knn_backproject against a literal NumPy port of lidar-bonnetal's KNN.forward."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.knn import gaussian_kernel, knn_backproject


def torch_like_knn(proj_range, unproj_range, proj_argmax, px, py, nclasses, knn, search,
                   sigma, cutoff):
    """Step-by-step port of KNN.forward: full unfold, stable top-k (lowest position on ties)."""
    height, width = proj_range.shape
    pad = (search - 1) // 2
    padded_range = np.pad(proj_range, pad)  # F.unfold zero padding
    padded_argmax = np.pad(proj_argmax, pad)
    windows = [(i, j) for i in range(search) for j in range(search)]
    unfold_range = np.stack([padded_range[i:i + height, j:j + width].ravel() for i, j in windows])
    unfold_argmax = np.stack([padded_argmax[i:i + height, j:j + width].ravel()
                              for i, j in windows])  # [S*S, H*W]
    idx_list = py * width + px
    ranges = unfold_range[:, idx_list]  # [S*S, N]
    ranges[ranges < 0] = np.inf
    ranges[(search * search - 1) // 2, :] = unproj_range
    distances = np.abs(ranges - unproj_range) * (1 - gaussian_kernel(search, sigma)).reshape(-1, 1)
    knn_idx = np.argsort(distances, axis=0, kind="stable")[:knn]  # [k, N]
    knn_argmax = np.take_along_axis(unfold_argmax[:, idx_list], knn_idx, axis=0)
    if cutoff > 0:
        knn_distances = np.take_along_axis(distances, knn_idx, axis=0)
        knn_argmax[knn_distances > np.float32(cutoff)] = nclasses
    onehot = np.zeros((nclasses + 1, len(px)))
    np.add.at(onehot, (knn_argmax, np.broadcast_to(np.arange(len(px)), knn_argmax.shape)), 1)
    return onehot[1:-1].argmax(axis=0) + 1


def _scan(height, width, num, classes, seed):
    rng = np.random.default_rng(seed)
    proj_range = rng.uniform(1.0, 30.0, (height, width)).astype(np.float32)
    proj_range[rng.random((height, width)) < 0.3] = -1.0  # empty pixels
    proj_argmax = rng.integers(0, classes, (height, width))
    px = rng.integers(0, width, num)
    py = rng.integers(0, height, num)
    base = np.where(proj_range[py, px] > 0, proj_range[py, px], 10.0)
    unproj_range = (base + rng.normal(0.0, 0.8, num)).astype(np.float32)
    return proj_range, unproj_range, proj_argmax, px, py


def test_gaussian_kernel_matches_formula():
    kernel = gaussian_kernel(5, 1.0)
    y, x = np.mgrid[0:5, 0:5]
    ref = np.exp(-((x - 2.0) ** 2 + (y - 2.0) ** 2) / 2.0)
    np.testing.assert_allclose(kernel, ref / ref.sum(), rtol=1e-6)
    assert kernel.dtype == np.float32


@pytest.mark.parametrize("k,search,sigma,cutoff", [
    (5, 5, 1.0, 1.0),   # RangeNet++ defaults (SemanticKITTI config)
    (5, 5, 1.0, 0.0),   # no cutoff: empty (inf) neighbours vote too
    (1, 3, 0.5, 2.0),
    (9, 3, 1.0, 0.5),   # k == search**2: everybody votes
    (7, 7, 2.0, 1.0),
])
def test_matches_torch_like_reference(k, search, sigma, cutoff):
    proj_range, unproj_range, proj_argmax, px, py = _scan(6, 16, 300, 5, seed=search + k)
    labels = knn_backproject(proj_range, unproj_range, proj_argmax, px, py, 5, k=k,
                             search=search, sigma=sigma, cutoff=cutoff)
    expected = torch_like_knn(proj_range, unproj_range, proj_argmax, px, py, 5, k, search,
                              sigma, cutoff)
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.int64 and labels.min() >= 1


def test_votes_by_hand():
    proj_range = np.array([[10.0, 10.2, -1.0],
                           [30.0, 10.1, 10.0],
                           [10.3, 10.0, 50.0]], np.float32)
    proj_argmax = np.array([[2, 2, 3],
                            [1, 0, 3],
                            [2, 3, 1]])
    # point at the centre pixel, range 10.1: 3x3 window, k=5, cutoff 1
    labels = knn_backproject(proj_range, np.array([10.1], np.float32), proj_argmax,
                             np.array([1]), np.array([1]), 4, k=5, search=3, cutoff=1.0)
    # nearest five: centre (class 0, dropped), 10.2 (2), 10.0 (3), 10.0 (3), corner 10.0 (2);
    # 50.0, 30.0 and 10.3 (corner, weight 0.92) are farther, the empty pixel is inf.
    # 2:2 votes between classes 2 and 3 -> argmax keeps the lower class
    assert labels.tolist() == [2]
    # far point: every neighbour beyond the cutoff -> no valid vote -> class 1
    far = knn_backproject(proj_range, np.array([90.0], np.float32), proj_argmax,
                          np.array([1]), np.array([1]), 4, k=5, search=3, cutoff=1.0)
    assert far.tolist() == [1]


def test_border_outside_points_and_tensor_io():
    proj_range, unproj_range, proj_argmax, px, py = _scan(4, 8, 40, 4, seed=7)
    px[:4] = [0, 7, 0, 7]  # corners: windows reach into the zero padding
    py[:4] = [0, 0, 3, 3]
    px[4:7] = [-1, 8, 3]   # outside the image
    py[4:7] = [0, 1, -1]
    inside = (px >= 0) & (px < 8) & (py >= 0) & (py < 4)
    result = knn_backproject(paddle.to_tensor(proj_range), paddle.to_tensor(unproj_range),
                             paddle.to_tensor(proj_argmax), paddle.to_tensor(px),
                             paddle.to_tensor(py), 4)
    assert isinstance(result, paddle.Tensor) and result.dtype == paddle.int64
    labels = result.numpy()
    assert labels[~inside].tolist() == [0, 0, 0]
    expected = torch_like_knn(proj_range, unproj_range[inside], proj_argmax, px[inside],
                              py[inside], 4, 5, 5, 1.0, 1.0)
    np.testing.assert_array_equal(labels[inside], expected)
    empty = knn_backproject(proj_range, np.zeros(0, np.float32), proj_argmax,
                            np.zeros(0, int), np.zeros(0, int), 4)
    assert empty.shape == (0,)


def test_bad_arguments():
    proj_range, unproj_range, proj_argmax, px, py = _scan(4, 8, 10, 4, seed=1)
    with pytest.raises(ValueError, match="odd"):
        knn_backproject(proj_range, unproj_range, proj_argmax, px, py, 4, search=4)
    with pytest.raises(ValueError, match="k must lie"):
        knn_backproject(proj_range, unproj_range, proj_argmax, px, py, 4, k=10, search=3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        knn_backproject(proj_range, unproj_range, proj_argmax, px, py, 3)
    with pytest.raises(ValueError, match=r"\[N\]"):
        knn_backproject(proj_range, unproj_range, proj_argmax, px[:5], py, 4)


def test_chunked_vote_equals_one_pass(monkeypatch):
    """Huge scans are voted in chunks of points (bounded memory); the labels do not change."""
    import paddlexseg.ops.knn as knn_mod
    rng = np.random.default_rng(3)
    h, w, n = 8, 32, 700
    proj_range = np.where(rng.random((h, w)) < 0.2, -1.0, rng.uniform(1, 30, (h, w)))
    argmax = rng.integers(0, 6, (h, w))
    px, py = rng.integers(0, w, n), rng.integers(0, h, n)
    unproj = rng.uniform(1, 30, n).astype(np.float32)
    whole = knn_mod.knn_backproject(proj_range, unproj, argmax, px, py, 6)
    monkeypatch.setattr(knn_mod, "CHUNK_ELEMENTS", 25 * 64)  # 64 points per chunk
    np.testing.assert_array_equal(knn_mod.knn_backproject(proj_range, unproj, argmax, px, py, 6),
                                  whole)
