"""mmdet3d range anchors (layout and values) and the DeltaXYZWLHR box coder."""
import numpy as np
import paddle
import pytest

from paddlexseg.ops.anchors import AlignedAnchor3DRangeGenerator, Anchor3DRangeGenerator
from paddlexseg.ops.box_coder import DeltaXYZWLHRBBoxCoder

# mmdet3d configs/_base_/models/second_hv_secfpn_kitti.py (class order Pedestrian, Cyclist, Car)
RANGES = [[0, -40.0, -0.6, 70.4, 40.0, -0.6], [0, -40.0, -0.6, 70.4, 40.0, -0.6],
          [0, -40.0, -1.78, 70.4, 40.0, -1.78]]
SIZES = [[0.8, 0.6, 1.73], [1.76, 0.6, 1.73], [3.9, 1.6, 1.56]]


def _mmdet3d_single_range(feature_size, anchor_range, sizes, rotations, aligned):
    """anchors_single_range of mmdet3d transcribed with NumPy (meshgrid 'ij', repeat, permute)."""
    extra = 1 if aligned else 0
    z = np.linspace(anchor_range[2], anchor_range[5], feature_size[0] + extra)
    y = np.linspace(anchor_range[1], anchor_range[4], feature_size[1] + extra)
    x = np.linspace(anchor_range[0], anchor_range[3], feature_size[2] + extra)
    if aligned:
        z, y, x = z + (z[1] - z[0]) / 2, y + (y[1] - y[0]) / 2, x + (x[1] - x[0]) / 2
        z, y, x = z[:feature_size[0]], y[:feature_size[1]], x[:feature_size[2]]
    sizes = np.asarray(sizes).reshape(-1, 3)
    rets = list(np.meshgrid(x, y, z, np.asarray(rotations), indexing="ij"))
    for i in range(len(rets)):
        rets[i] = np.tile(rets[i][..., None, :], (1, 1, 1, sizes.shape[0], 1))[..., None]
    reps = list(rets[0].shape[:3]) + [1, rets[0].shape[4], 1]
    size = np.tile(sizes.reshape(1, 1, 1, -1, 1, 3), reps)
    rets.insert(3, size)
    return np.concatenate(rets, axis=-1).transpose(2, 1, 0, 3, 4, 5)


@pytest.mark.parametrize("cls,aligned", [(Anchor3DRangeGenerator, False),
                                         (AlignedAnchor3DRangeGenerator, True)])
def test_anchor_layout_matches_mmdet3d(cls, aligned):
    gen = cls(ranges=RANGES, sizes=SIZES, rotations=[0, 1.57], reshape_out=False)
    assert gen.num_base_anchors == 6
    anchors = gen.grid_anchors([(5, 4)])[0]
    assert isinstance(anchors, paddle.Tensor) and anchors.dtype == paddle.float32
    assert anchors.shape == [1, 5, 4, 3, 2, 7]
    ref = np.concatenate([_mmdet3d_single_range([1, 5, 4], r, s, [0, 1.57], aligned)
                          for r, s in zip(RANGES, SIZES)], axis=-3)
    np.testing.assert_allclose(anchors.numpy(), ref, atol=1e-5)
    flat = cls(ranges=RANGES, sizes=SIZES, rotations=[0, 1.57]).grid_anchors([(5, 4)])[0]
    assert flat.shape == [5 * 4 * 6, 7]


def test_kitti_second_anchors_hand_values():
    gen = Anchor3DRangeGenerator(ranges=RANGES, sizes=SIZES, rotations=[0, 1.57], reshape_out=False)
    a = gen.single_level_grid_anchors((200, 176)).numpy()  # [1, 200, 176, 3, 2, 7]
    np.testing.assert_allclose(a[0, 0, 0, 2, 1], [0, -40, -1.78, 3.9, 1.6, 1.56, 1.57], atol=1e-6)
    np.testing.assert_allclose(a[0, 199, 175, 0, 0], [70.4, 40, -0.6, 0.8, 0.6, 1.73, 0], atol=1e-5)
    np.testing.assert_allclose(a[0, 0, 1, 0, 0, 0], 70.4 / 175, atol=1e-6)  # ends included
    al = AlignedAnchor3DRangeGenerator(ranges=[[0, -40, -1.78, 70.4, 40, -1.78]], sizes=[SIZES[2]],
                                       rotations=[0, 1.57]).single_level_grid_anchors((200, 176))
    np.testing.assert_allclose(al.numpy()[0, 0, 0, 0, 0, :3], [0.2, -39.8, -1.78], atol=1e-5)
    with pytest.raises(ValueError, match="ranges"):
        Anchor3DRangeGenerator(ranges=[RANGES[0]] * 2, sizes=SIZES)


def test_box_coder_roundtrip_and_values():
    rng = np.random.default_rng(0)
    anchors = np.column_stack([rng.uniform(-5, 5, (20, 3)), rng.uniform(0.5, 4, (20, 3)),
                               rng.uniform(-3, 3, 20)])
    boxes = np.column_stack([rng.uniform(-5, 5, (20, 3)), rng.uniform(0.5, 4, (20, 3)),
                             rng.uniform(-3, 3, 20)])
    coder = DeltaXYZWLHRBBoxCoder()
    deltas = coder.encode(paddle.to_tensor(anchors), paddle.to_tensor(boxes))
    assert isinstance(deltas, paddle.Tensor) and deltas.shape == [20, 7]
    np.testing.assert_allclose(coder.decode(paddle.to_tensor(anchors), deltas).numpy(), boxes,
                               atol=1e-9)
    np.testing.assert_allclose(coder.encode(anchors, boxes), deltas.numpy(), atol=1e-12)
    # hand case: anchor 3 x 4 (diagonal 5), h 2 at z 0 (centre 1); target shifted
    a = np.array([[0, 0, 0, 3, 4, 2, 0.5]])
    g = np.array([[5, -10, 1, 6, 4, 4, 0.7]])  # centre z 3
    np.testing.assert_allclose(coder.encode(a, g),
                               [[1, -2, 1, np.log(2), 0, np.log(2), 0.2]], atol=1e-12)
    # extra columns (velocities) and gradients
    a_t = paddle.to_tensor(np.concatenate([anchors, np.zeros((20, 2))], 1), dtype="float32")
    d_t = paddle.to_tensor(rng.normal(0, 0.1, (20, 9)), dtype="float32", stop_gradient=False)
    out = coder.decode(a_t, d_t)
    out.sum().backward()
    assert out.shape == [20, 9] and np.isfinite(d_t.grad.numpy()).all()
    np.testing.assert_allclose(out.numpy()[:, 7:], d_t.numpy()[:, 7:], atol=1e-6)
    with pytest.raises(ValueError, match="src_boxes"):
        coder.encode(anchors[:, :6], boxes[:, :6])
