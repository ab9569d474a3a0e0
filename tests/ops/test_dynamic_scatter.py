"""Dynamic voxelization and DynamicScatter against a per-voxel NumPy loop, gradients included."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.dynamic_scatter import (DynamicScatter, batch_dynamic_voxelize,
                                            dynamic_scatter, dynamic_voxelize)

VOXEL = (1.0, 1.0, 1.0)
RANGE = (0.0, 0.0, 0.0, 4.0, 4.0, 2.0)


def _reference(feats, coors, reduce):
    """Unique rows sorted, then reduce each voxel's points in a loop (mmcv semantics)."""
    keep = np.all(coors >= 0, axis=1)
    rows = sorted({tuple(r) for r in coors[keep]})
    out = np.zeros((len(rows), feats.shape[1]))
    for k, row in enumerate(rows):
        members = feats[np.all(coors == row, axis=1)]
        out[k] = {"max": members.max(0), "mean": members.mean(0), "sum": members.sum(0)}[reduce]
    return out, np.asarray(rows, np.int32).reshape(-1, coors.shape[1])


@pytest.mark.parametrize("reduce", ["max", "mean", "sum"])
def test_dynamic_scatter_matches_loop_and_gradient(reduce):
    rng = np.random.default_rng(0)
    coors = rng.integers(0, 3, (60, 3))
    coors[::7] = -1  # points outside the range are dropped
    feats = rng.normal(size=(60, 5))
    feats_t = paddle.to_tensor(feats, dtype="float64", stop_gradient=False)
    out, out_coors, p2v, counts = dynamic_scatter(feats_t, paddle.to_tensor(coors, "int32"),
                                                  reduce, return_map=True)
    ref, ref_coors = _reference(feats, coors, reduce)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)
    np.testing.assert_array_equal(out_coors.numpy(), ref_coors)
    assert out_coors.dtype == paddle.int32
    np.testing.assert_array_equal(out_coors.numpy()[p2v.numpy()[coors[:, 0] >= 0]],
                                  coors[coors[:, 0] >= 0])
    assert np.all(p2v.numpy()[::7] == -1) and counts.numpy().sum() == (coors[:, 0] >= 0).sum()
    weights = rng.normal(size=ref.shape)
    (out * paddle.to_tensor(weights)).sum().backward()
    grad = feats_t.grad.numpy()
    p2v_np = p2v.numpy()
    for i in range(60):
        if p2v_np[i] < 0:
            assert not grad[i].any()
            continue
        v = p2v_np[i]
        if reduce == "sum":
            want = weights[v]
        elif reduce == "mean":
            want = weights[v] / counts.numpy()[v]
        else:  # first point holding the max of each channel gets the gradient
            members = np.flatnonzero(p2v_np == v)
            first = members[np.argmax(feats[members], axis=0)]
            want = np.where(first == i, weights[v], 0.0)
        np.testing.assert_allclose(grad[i], want, atol=1e-12)


def test_dynamic_scatter_layer_batched_equals_per_batch():
    rng = np.random.default_rng(1)
    points = [paddle.to_tensor(rng.uniform([-0.5, 0, 0, 0], [4.5, 4, 2, 1], (40, 4)), "float32")
              for _ in range(2)]
    cat, coors = batch_dynamic_voxelize(points, VOXEL, RANGE)
    assert coors.shape == [80, 4] and coors.dtype == paddle.int32
    single = dynamic_voxelize(points[1], VOXEL, RANGE)
    np.testing.assert_array_equal(coors.numpy()[40:, 1:], single.numpy())
    assert (single.numpy() == -1).all(axis=1).any()  # some x outside [0, 4)
    layer = DynamicScatter(VOXEL, RANGE, average_points=True)
    feats, vcoors = layer(cat, coors)
    parts = []
    for b in range(2):
        f, c = dynamic_scatter(points[b], dynamic_voxelize(points[b], VOXEL, RANGE), "mean")
        parts.append((f.numpy(), np.concatenate([np.full((c.shape[0], 1), b), c.numpy()], 1)))
    np.testing.assert_allclose(feats.numpy(), np.concatenate([p[0] for p in parts]), atol=1e-6)
    np.testing.assert_array_equal(vcoors.numpy(), np.concatenate([p[1] for p in parts]))
    maxed, _ = DynamicScatter(VOXEL, RANGE, average_points=False)(cat, coors)
    assert np.all(maxed.numpy() >= feats.numpy() - 1e-6)


def test_dynamic_scatter_empty_and_errors():
    feats = paddle.ones([3, 2])
    coors = paddle.full([3, 3], -1, "int32")
    out, out_coors = dynamic_scatter(feats, coors, "mean")
    assert out.shape == [0, 2] and out_coors.shape == [0, 3]
    with pytest.raises(ValueError, match="reduce_type"):
        dynamic_scatter(feats, coors, "min")
    with pytest.raises(ValueError, match="coors"):
        dynamic_scatter(feats, paddle.zeros([2, 3], "int32"))


@pytest.mark.parametrize("reduce", ["max", "mean", "sum"])
def test_dynamic_scatter_traced_graph_equals_eager(reduce):
    """Under paddle.jit.to_static the scatter is the graph form (sort + cumsum + sorted-segment
    ops); the saved program gives the eager result, maps and counts included."""
    from paddlexseg.ops.dynamic_scatter import dynamic_scatter

    class Scatter(paddle.nn.Layer):
        def forward(self, feats, coors):
            return dynamic_scatter(feats, coors, reduce, return_map=True)

    rng = np.random.default_rng(3)
    coors = paddle.to_tensor(rng.integers(-1, 4, (300, 4)).astype("int32"))
    feats = paddle.to_tensor(rng.standard_normal((300, 6)).astype("float32"))
    ref = Scatter()(feats, coors)
    specs = [paddle.static.InputSpec([None, 6], "float32"),
             paddle.static.InputSpec([None, 4], "int32")]
    got = paddle.jit.to_static(Scatter(), input_spec=specs, full_graph=True)(feats, coors)
    for r, g in zip(ref, got):
        assert list(r.shape) == list(g.shape)
        np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-6, atol=1e-6)
