"""NetVLAD against a NumPy port of the reference's per-cluster loop."""
import numpy as np
import paddle
import pytest

from paddlexseg.models.layers.netvlad import NetVLAD


def _reference(x, weight, bias, centroids, normalize_input=True):
    """Nanne/pytorch-NetVlad forward in NumPy: x [N, D, H, W] -> [N, K*D]."""
    n, d = x.shape[:2]
    if normalize_input:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    xf = x.reshape(n, d, -1)                                           # [N, D, HW]
    logits = np.einsum("kd,ndp->nkp", weight, xf) + (0 if bias is None else bias[None, :, None])
    a = np.exp(logits - logits.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    vlad = np.zeros((n, len(centroids), d))
    for k in range(len(centroids)):
        residual = xf - centroids[k][None, :, None]                    # [N, D, HW]
        vlad[:, k] = (residual * a[:, k:k + 1]).sum(-1)
    vlad /= np.maximum(np.linalg.norm(vlad, axis=2, keepdims=True), 1e-12)
    vlad = vlad.reshape(n, -1)
    return vlad / np.maximum(np.linalg.norm(vlad, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize("vladv2,normalize_input", [(False, True), (True, False)])
def test_netvlad_matches_reference_loop(vladv2, normalize_input):
    paddle.seed(0)
    layer = NetVLAD(num_clusters=4, dim=6, normalize_input=normalize_input, vladv2=vladv2)
    x = np.random.default_rng(0).normal(size=(2, 6, 3, 5)).astype(np.float32)
    out = layer(paddle.to_tensor(x)).numpy()
    assert out.shape == (2, 24)
    bias = layer.conv.bias.numpy() if vladv2 else None
    ref = _reference(x, layer.conv.weight.numpy()[:, :, 0, 0], bias, layer.centroids.numpy(),
                     normalize_input)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert set(layer.state_dict()) == ({"conv.weight", "conv.bias", "centroids"}
                                       if vladv2 else {"conv.weight", "centroids"})


def test_netvlad_gradients_reach_all_parameters():
    layer = NetVLAD(num_clusters=3, dim=4)
    x = paddle.randn([2, 4, 2, 2])
    x.stop_gradient = False
    (layer(x) * paddle.randn([2, 12])).sum().backward()
    assert x.grad is not None and float(np.abs(x.grad.numpy()).sum()) > 0
    for p in layer.parameters():
        assert p.grad is not None and float(np.abs(p.grad.numpy()).sum()) > 0


def test_init_params_v1_and_v2():
    rng = np.random.default_rng(1)
    descs = rng.normal(size=(50, 6)).astype(np.float32)
    clsts = descs[:4].copy()
    v1 = NetVLAD(num_clusters=4, dim=6)
    v1.init_params(clsts, descs)
    assign = clsts / np.linalg.norm(clsts, axis=1, keepdims=True)
    dots = np.sort(assign @ descs.T, axis=0)[::-1]
    alpha = -np.log(0.01) / np.mean(dots[0] - dots[1])
    assert v1.alpha == pytest.approx(alpha, rel=1e-5)
    np.testing.assert_allclose(v1.conv.weight.numpy()[:, :, 0, 0], alpha * assign, rtol=1e-5)
    np.testing.assert_allclose(v1.centroids.numpy(), clsts)
    v2 = NetVLAD(num_clusters=4, dim=6, vladv2=True)
    v2.init_params(clsts, descs)
    np.testing.assert_allclose(v2.conv.weight.numpy()[:, :, 0, 0], 2 * v2.alpha * clsts,
                               rtol=1e-5)
    np.testing.assert_allclose(v2.conv.bias.numpy(), -v2.alpha * np.linalg.norm(clsts, axis=1),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="init_params"):
        v1.init_params(clsts[:2], descs)
    with pytest.raises(ValueError, match="expects 6 input channels"):
        v1(paddle.randn([1, 5, 2, 2]))
