"""Event validation, the fixed voxel grid and the EST quantization layer."""
import warnings

import numpy as np
import paddle
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.transforms.events import (EventVoxelGrid, QuantizationLayer, ValueLayer,
                                          check_events, events_to_voxel_grid)

H, W = 6, 8


def _events(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([np.sort(rng.uniform(10.0, 10.5, n)), rng.integers(0, W, n),
                     rng.integers(0, H, n), rng.integers(0, 2, n)], axis=1).astype(np.float64)


def _voxel_loop(events, bins):
    """Direct per-event reference of the bilinear-in-time voxel grid."""
    vox = np.zeros((bins, H, W))
    t = events[:, 0]
    span = t[-1] - t[0] or 1.0
    for ti, x, y, p in events:
        tn = (bins - 1) * (ti - t[0]) / span
        pol = 1.0 if p > 0 else -1.0
        for b in range(bins):
            vox[b, int(y), int(x)] += pol * max(0.0, 1.0 - abs(tn - b))
    return vox


@pytest.mark.parametrize("bins", [2, 5])
def test_voxel_grid_matches_per_event_reference(bins):
    ev = _events()
    vox = events_to_voxel_grid(ev, bins, H, W)
    assert vox.shape == (bins, H, W) and vox.dtype == np.float32
    np.testing.assert_allclose(vox, _voxel_loop(ev, bins), atol=1e-5)
    np.testing.assert_allclose(vox.sum(), np.where(ev[:, 3] > 0, 1, -1).sum(), atol=1e-4)


def test_voxel_grid_single_timestamp_and_normalize():
    ev = _events(20)
    ev[:, 0] = 3.0
    vox = events_to_voxel_grid(ev, 5, H, W)
    assert np.abs(vox[1:]).sum() == 0 and np.abs(vox[0]).sum() > 0
    norm = EventVoxelGrid(5, (H, W), normalize=True)(_events())
    nz = norm[norm != 0]
    assert abs(nz.mean()) < 1e-5 and abs(nz.std() - 1) < 1e-4


def test_check_events_maps_polarity_and_passes_clean_input():
    ev = _events()
    out = check_events(ev, (H, W), "clean.npy")
    assert set(np.unique(out[:, 3])) <= {-1.0, 1.0}
    np.testing.assert_array_equal(out[:, :3], ev[:, :3])


def test_check_events_empty_and_bad_shape_name_the_file():
    with pytest.raises(DataError, match="empty.npy.*no events"):
        check_events(np.zeros((0, 4)), (H, W), "empty.npy")
    with pytest.raises(DataError, match=r"shape.npy.*\[N, 4\]"):
        check_events(np.zeros((5, 3)), (H, W), "shape.npy")
    bad = _events(5)
    bad[0, 3] = 2
    with pytest.raises(DataError, match="pol.npy.*polarity"):
        check_events(bad, (H, W), "pol.npy")


def test_check_events_outside_sensor_drop_or_error():
    ev = _events(50)
    ev[3, 1] = W          # x out of range
    ev[7, 2] = -1         # y out of range
    with pytest.warns(UserWarning, match="out.npy: 2 of 50 events lie outside"):
        out = check_events(ev, (H, W), "out.npy")
    assert len(out) == 48
    with pytest.raises(DataError, match="out.npy: 2 of 50"):
        check_events(ev, (H, W), "out.npy", on_outside="error")
    ev[:, 1] = W + 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="no event lies inside"):
            check_events(ev, (H, W), "all_out.npy")


def test_check_events_unsorted_sort_or_error():
    ev = _events(30)
    shuffled = ev[np.random.default_rng(1).permutation(30)]
    with pytest.warns(UserWarning, match="unsorted.npy: event timestamps are not sorted"):
        out = check_events(shuffled, (H, W), "unsorted.npy")
    np.testing.assert_array_equal(out[:, 0], ev[:, 0])
    with pytest.raises(DataError, match="unsorted.npy.*not sorted"):
        check_events(shuffled, (H, W), "unsorted.npy", on_unsorted="error")


def test_value_layer_starts_as_trilinear_kernel():
    for bins in (3, 5, 9):
        layer = ValueLayer((1, 30, 30, 1), 0.1, bins)
        t = np.linspace(-1, 1, 401).astype(np.float32)
        ref = np.maximum(0.0, 1.0 - np.abs(t) * (bins - 1))
        np.testing.assert_allclose(layer(paddle.to_tensor(t)).numpy(), ref, atol=1e-5)
    with pytest.raises(ValueError, match="mlp_layers"):
        ValueLayer((1, 2, 1), 0.1, 5)


def test_quantization_layer_matches_numpy_and_has_gradients():
    bins, n = 3, 60
    rng = np.random.default_rng(0)
    ev = np.stack([rng.integers(0, W, n), rng.integers(0, H, n), rng.uniform(0, 1, n),
                   rng.choice([-1.0, 1.0], n), (np.arange(n) >= 25)], axis=1).astype(np.float32)
    layer = QuantizationLayer((bins, H, W), (1, 8, 8, 1))
    out = layer(paddle.to_tensor(ev), 2)
    assert out.shape == [2, 2 * bins, H, W]
    ref = np.zeros((2, 2, bins, H, W))
    for x, y, t, p, b in ev:
        for i in range(bins):
            k = max(0.0, 1.0 - abs(t - i / (bins - 1)) * (bins - 1))
            ref[int(b), int((p + 1) / 2), i, int(y), int(x)] += t * k
    ref = np.concatenate([ref[:, 0], ref[:, 1]], axis=1)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)
    out.sum().backward()
    grads = [p.grad for p in layer.parameters()]
    assert all(g is not None for g in grads)
    assert any(float(np.abs(g.numpy()).sum()) > 0 for g in grads)
