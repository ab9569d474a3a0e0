"""Layers: SubMConv3d & co., SparseSequential with plain layers, BN, weight layouts."""
import numpy as np
import paddle
import pytest
from paddle import nn

from paddlexseg.sparse import (SPCONV_LAYOUTS, SparseBatchNorm, SparseConv3d,
                               SparseInverseConv3d, SparseLeakyReLU, SparseReLU,
                               SparseSequential, SparseTensor, SubMConv3d, subm_conv3d,
                               weight_from_spconv, weight_to_spconv)


def test_layer_parameters_and_init():
    conv = SubMConv3d(4, 6, 3, bias=True, indice_key="a")
    assert conv.weight.shape == [3, 3, 3, 4, 6] and conv.bias.shape == [6]
    bound = 1 / np.sqrt(4 * 27)
    assert np.abs(conv.weight.numpy()).max() <= bound and conv.weight.numpy().std() > bound / 4
    assert SparseConv3d(4, 6, (2, 3, 3), stride=2).weight.shape == [2, 3, 3, 4, 6]
    assert SparseConv3d(4, 6, 2).bias is None
    assert sorted(dict(conv.named_parameters())) == ["bias", "weight"]
    with pytest.raises(ValueError, match="odd"):
        SubMConv3d(2, 2, 2)
    with pytest.raises(TypeError, match="SparseTensor"):
        conv(paddle.zeros([3, 4]))


def test_conv1x1_is_a_matmul(make_sparse):
    x, _ = make_sparse(seed=40, channels=3)
    conv = SubMConv3d(3, 5, 1)
    y = conv(x)
    np.testing.assert_allclose(y.feats.numpy(), x.feats.numpy() @ conv.weight.numpy()[0, 0, 0],
                               rtol=1e-5, atol=1e-6)
    assert len(x.cache) == 0                            # no neighbour search


def test_sequential_runs_plain_layers_on_features(make_sparse):
    """Like spconv.SparseSequential(SubMConv3d, nn.BatchNorm1d, nn.LeakyReLU) in 2DPASS."""
    x, _ = make_sparse(seed=41, channels=3)
    seq = SparseSequential(SubMConv3d(3, 4, 3, indice_key="s"), nn.BatchNorm1D(4),
                           nn.LeakyReLU(0.1), SparseBatchNorm(4), SparseReLU(),
                           SparseLeakyReLU(0.2))
    keys = set(seq.state_dict())
    assert {"0.weight", "1.weight", "1._mean", "3.weight", "3._variance"} <= keys
    y = seq(x)
    assert isinstance(y, SparseTensor) and y.coords is x.coords
    h = subm_conv3d(x, seq[0].weight).feats
    for layer in (seq[1], seq[2]):
        h = layer(h)
    h = nn.functional.relu(nn.functional.batch_norm(
        h, seq[3]._mean, seq[3]._variance, seq[3].weight, seq[3].bias, training=True))
    np.testing.assert_allclose(y.feats.numpy(), h.numpy(), rtol=1e-4, atol=1e-5)
    y.feats.sum().backward()
    assert seq[0].weight.grad is not None and x.feats.grad is not None


def test_sparse_wrappers_accept_plain_tensors():
    t = paddle.to_tensor([[-1.0, 2.0]])
    np.testing.assert_allclose(SparseLeakyReLU(0.5)(t).numpy(), [[-0.5, 2.0]])
    np.testing.assert_allclose(SparseReLU()(t).numpy(), [[0.0, 2.0]])
    bn = SparseBatchNorm(2, momentum=0.5, epsilon=1e-3)
    bn.eval()
    np.testing.assert_allclose(bn(t).numpy(), t.numpy() / np.sqrt(1 + 1e-3), rtol=1e-5)


def test_unet_round_trip_trains(make_sparse):
    """subm -> down -> subm -> inverse back to the input sites, loss decreases."""
    x, coords = make_sparse(seed=42, channels=4, spatial_shape=(8, 8, 8), density=0.15)
    net = SparseSequential(
        SubMConv3d(4, 8, 3, indice_key="subm1"), SparseBatchNorm(8), SparseReLU(),
        SparseConv3d(8, 8, 3, stride=2, padding=1, indice_key="down1"), SparseReLU(),
        SubMConv3d(8, 8, 3, indice_key="subm2"), SparseReLU(),
        SparseInverseConv3d(8, 3, 3, indice_key="down1", bias=True))
    target = paddle.to_tensor(np.random.default_rng(43).standard_normal((len(coords), 3)),
                              "float32")
    opt = paddle.optimizer.Adam(1e-2, parameters=net.parameters())
    losses = []
    for _ in range(5):
        y = net(SparseTensor(x.feats.detach(), coords, x.spatial_shape, x.batch_size))
        assert np.array_equal(y.coords.numpy(), coords)
        loss = ((y.feats - target) ** 2).mean()
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    net.eval()
    with paddle.no_grad():                              # inference: no graph, same sites
        y = net(SparseTensor(x.feats.detach(), coords, x.spatial_shape, x.batch_size))
    assert y.feats.stop_gradient and y.feats.shape == [len(coords), 3]


def test_weight_layouts():
    cout, kz, ky, kx, cin = 2, 3, 1, 5, 4
    krsc = np.arange(cout * kz * ky * kx * cin, dtype=np.float32).reshape(cout, kz, ky, kx, cin)
    ours = weight_from_spconv(krsc)
    assert ours.shape == (kz, ky, kx, cin, cout)
    assert ours[2, 0, 4, 3, 1] == krsc[1, 2, 0, 4, 3]
    rskc = np.transpose(krsc, (1, 2, 3, 0, 4))
    np.testing.assert_array_equal(weight_from_spconv(rskc, layout="RSKC"), ours)
    np.testing.assert_array_equal(weight_from_spconv(ours, layout="RSCK"), ours)
    for layout in SPCONV_LAYOUTS:                       # round trips
        np.testing.assert_array_equal(
            weight_from_spconv(weight_to_spconv(ours, layout), layout), ours)
    np.testing.assert_array_equal(weight_to_spconv(ours), krsc)
    with pytest.raises(ValueError, match="layout"):
        weight_from_spconv(krsc, layout="OIDHW")
    with pytest.raises(ValueError, match="rank-5"):
        weight_from_spconv(krsc[0])
