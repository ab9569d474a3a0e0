"""Paddle layers holding converted weights compute what the torch layers compute.

Each check builds a Paddle layer, loads a random weight given in the *torch* layout through the
converter's transform, and compares the output with a NumPy implementation of the torch formula
(float64). When torch is installed, the same weights also go through the real torch layers.
"""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from paddle import nn

from paddlexseg.convert.core import apply_transform
from paddlexseg.sparse import SparseTensor, subm_conv3d

RNG = np.random.default_rng(0)


def _r(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _run(layer, x):
    layer.eval()
    with paddle.no_grad():
        return layer(paddle.to_tensor(x)).numpy()


def np_conv2d(x, w, b, stride, pad):
    """torch.nn.functional.conv2d (cross-correlation), w [Cout, Cin, kh, kw]."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    return np.einsum("nchwij,ocij->nohw", win, w) + b[None, :, None, None]


def np_conv_transpose2d(x, w, b, stride, pad, output_padding=(0, 0)):
    """torch.nn.functional.conv_transpose2d, w [Cin, Cout, kh, kw]: scatter every input pixel
    times the kernel to ``i * stride + k``, then crop ``pad`` (the far side extended by
    ``output_padding``)."""
    n, _, h, wd = x.shape
    kh, kw = w.shape[2:]
    full = np.zeros((n, w.shape[1], (h - 1) * stride[0] + kh + output_padding[0],
                     (wd - 1) * stride[1] + kw + output_padding[1]))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw] += \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    out_h = (h - 1) * stride[0] - 2 * pad[0] + kh + output_padding[0]
    out_w = (wd - 1) * stride[1] - 2 * pad[1] + kw + output_padding[1]
    return full[:, :, pad[0]:pad[0] + out_h, pad[1]:pad[1] + out_w] + b[None, :, None, None]


def np_batch_norm_eval(x, w, b, mean, var, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) + \
        b.reshape(shape)


def np_group_norm(x, groups, w, b, eps=1e-5):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1).astype(np.float64)
    g = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)
    return g.reshape(x.shape) * w[None, :, None, None] + b[None, :, None, None]


def test_conv2d_and_conv1d():
    x, w, b = _r(2, 5, 6, 8), _r(7, 5, 3, 3), _r(7)
    layer = nn.Conv2D(5, 7, 3, stride=[1, 2], padding=1)
    layer.weight.set_value(apply_transform("copy", w))
    layer.bias.set_value(b)
    np.testing.assert_allclose(_run(layer, x), np_conv2d(x, w, b, (1, 2), (1, 1)), atol=1e-4)
    x1, w1, b1 = _r(2, 9, 11), _r(4, 9, 1), _r(4)   # PointRend point head: Conv1d kernel 1
    conv1d = nn.Conv1D(9, 4, 1)
    conv1d.weight.set_value(apply_transform("copy", w1))
    conv1d.bias.set_value(b1)
    np.testing.assert_allclose(_run(conv1d, x1),
                               np.einsum("ncp,oc->nop", x1, w1[:, :, 0]) + b1[None, :, None],
                               atol=1e-4)


@pytest.mark.parametrize("cfg", [
    dict(k=[1, 4], stride=[1, 2], pad=[0, 1], op=[0, 0]),   # RangeNet / SqueezeSegV3 upconv
    dict(k=[3, 3], stride=[2, 2], pad=[1, 1], op=[1, 1]),   # 2DPASS deconv_layer3/4
])
def test_conv_transpose2d_keeps_the_torch_layout(cfg):
    x, w, b = _r(2, 6, 4, 5), _r(6, 3, *cfg["k"]), _r(3)     # torch: [Cin, Cout, kh, kw]
    layer = nn.Conv2DTranspose(6, 3, cfg["k"], stride=cfg["stride"], padding=cfg["pad"],
                               output_padding=cfg["op"])
    assert list(layer.weight.shape) == list(w.shape)
    layer.weight.set_value(apply_transform("conv_transpose", w))
    layer.bias.set_value(b)
    ref = np_conv_transpose2d(x, w, b, cfg["stride"], cfg["pad"], cfg["op"])
    got = _run(layer, x)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_linear_batch_norm_group_norm_and_leaky_relu():
    x, w, b = _r(5, 6), _r(4, 6), _r(4)                    # torch Linear weight [out, in]
    linear = nn.Linear(6, 4)
    linear.weight.set_value(apply_transform("transpose", w))
    linear.bias.set_value(b)
    np.testing.assert_allclose(_run(linear, x), x @ w.T + b, atol=1e-5)

    stats = [_r(6), _r(6), _r(6), np.abs(_r(6)) + 0.5]     # weight, bias, running mean / var
    for layer, xb in ((nn.BatchNorm2D(6, momentum=0.99, epsilon=1e-5), _r(2, 6, 3, 4)),
                      (nn.BatchNorm1D(6), _r(7, 6))):
        for name, value in zip(("weight", "bias", "_mean", "_variance"), stats):
            getattr(layer, name).set_value(value)
        np.testing.assert_allclose(_run(layer, xb), np_batch_norm_eval(xb, *stats), atol=1e-5)

    gn = nn.GroupNorm(2, 6)                                 # detectron2 GN (32 groups, eps 1e-5)
    gn.weight.set_value(stats[0])
    gn.bias.set_value(stats[1])
    xg = _r(2, 6, 3, 4)
    np.testing.assert_allclose(_run(gn, xg), np_group_norm(xg, 2, stats[0], stats[1]), atol=1e-5)

    xl = _r(3, 4)
    np.testing.assert_allclose(_run(nn.LeakyReLU(0.1), xl), np.where(xl > 0, xl, 0.1 * xl))


def test_unfold_channel_order_matches_torch():
    """SqueezeSegV3's 1x1 conv reads F.unfold channels in torch's order c * 9 + ky * 3 + kx."""
    x = _r(1, 2, 4, 5)
    got = F.unfold(paddle.to_tensor(x), kernel_sizes=3, paddings=1).numpy()
    win = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    ref = win.transpose(0, 1, 4, 5, 2, 3).reshape(1, 2 * 9, 4 * 5)
    np.testing.assert_array_equal(got, ref)


def test_bgr_to_rgb_conv_on_rgb_equals_original_on_bgr():
    rgb, w, b = _r(1, 3, 6, 6), _r(4, 3, 3, 3), _r(4)
    conv = nn.Conv2D(3, 4, 3)
    conv.weight.set_value(apply_transform("bgr_to_rgb", w))
    conv.bias.set_value(b)
    np.testing.assert_allclose(_run(conv, rgb), np_conv2d(rgb[:, ::-1], w, b, (1, 1), (0, 0)),
                               atol=1e-4)


def test_spconv_krsc_weight_gives_the_torch_conv3d_result_at_active_sites():
    grid = (4, 5, 6)
    coords = np.array([[0, z, y, x] for z in range(4) for y in range(5) for x in range(6)
                       if (z * 7 + y * 3 + x) % 3 == 0])
    feats = _r(len(coords), 3)
    w = _r(2, 3, 3, 3, 3)                                   # spconv 2.x KRSC [Cout, k, k, k, Cin]
    st = SparseTensor(paddle.to_tensor(feats), coords, grid, 1)
    got = subm_conv3d(st, paddle.to_tensor(apply_transform("spconv:KRSC", w))).feats.numpy()
    dense = np.zeros((3,) + grid)
    dense[:, coords[:, 1], coords[:, 2], coords[:, 3]] = feats.T
    dense = np.pad(dense, ((0, 0), (1, 1), (1, 1), (1, 1)))
    win = sliding_window_view(dense, (3, 3, 3), axis=(1, 2, 3))  # [Cin, Z, Y, X, kz, ky, kx]
    ref = np.einsum("czyxijk,oijkc->ozyx", win, w)                # torch Conv3d, same kernel axes
    np.testing.assert_allclose(got, ref[:, coords[:, 1], coords[:, 2], coords[:, 3]].T, atol=1e-4)


def test_against_real_torch_layers():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    cases = [
        (tn.ConvTranspose2d(6, 3, [1, 4], stride=[1, 2], padding=[0, 1]),
         nn.Conv2DTranspose(6, 3, [1, 4], stride=[1, 2], padding=[0, 1]), (2, 6, 3, 5),
         {"weight": "conv_transpose"}),
        (tn.ConvTranspose2d(4, 5, 3, stride=2, padding=1, output_padding=1),
         nn.Conv2DTranspose(4, 5, 3, stride=2, padding=1, output_padding=1), (2, 4, 3, 4),
         {"weight": "conv_transpose"}),
        (tn.Conv2d(5, 4, 3, stride=[1, 2], padding=1), nn.Conv2D(5, 4, 3, [1, 2], 1),
         (2, 5, 6, 8), {}),
        (tn.Linear(6, 3), nn.Linear(6, 3), (4, 6), {"weight": "transpose"}),
        (tn.Conv1d(7, 3, 1), nn.Conv1D(7, 3, 1), (2, 7, 5), {}),
        (tn.GroupNorm(2, 6), nn.GroupNorm(2, 6), (2, 6, 3, 3), {}),
        (tn.BatchNorm2d(6, momentum=0.01), nn.BatchNorm2D(6, momentum=0.99), (2, 6, 3, 3), {}),
        (tn.BatchNorm1d(6), nn.BatchNorm1D(6), (5, 6), {}),
    ]
    renames = {"running_mean": "_mean", "running_var": "_variance"}
    for t_layer, p_layer, shape, transforms in cases:
        with torch.no_grad():
            for p in t_layer.parameters():
                p.copy_(torch.randn(p.shape))
            for name, buf in t_layer.named_buffers():
                if name == "running_var":
                    buf.copy_(torch.rand(buf.shape) + 0.5)
                elif name == "running_mean":
                    buf.copy_(torch.randn(buf.shape))
        t_layer.eval()
        state = {renames.get(k, k): apply_transform(transforms.get(k, "copy"), v.numpy())
                 for k, v in t_layer.state_dict().items() if k != "num_batches_tracked"}
        missing, unexpected = p_layer.set_state_dict(state)
        assert not missing and not unexpected, type(p_layer).__name__
        x = _r(*shape)
        with torch.no_grad():
            ref = t_layer(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(_run(p_layer, x), ref, atol=1e-5,
                                   err_msg=type(p_layer).__name__)
    x = _r(1, 3, 4, 5)
    ref = torch.nn.functional.unfold(torch.from_numpy(x), 3, padding=1).numpy()
    np.testing.assert_array_equal(F.unfold(paddle.to_tensor(x), 3, paddings=1).numpy(), ref)


def test_spconv2_kernel_volume_1_weight_is_read_as_its_raw_memory():
    """spconv 2.x conv1x1 path: ``torch.mm(features, weight.view(Cin, Cout))`` of the stored
    ``[Cout, 1, 1, 1, Cin]`` tensor (issue 19); spconv 1.x stores ``[1, 1, 1, Cin, Cout]``."""
    from paddlexseg.convert.core import resolve_spconv
    from paddlexseg.sparse import SubMConv3d
    coords = np.array([[0, 0, 0, 0], [0, 1, 2, 3], [0, 2, 1, 0], [1, 3, 3, 3]])
    feats = _r(4, 3)
    stored = _r(5, 1, 1, 1, 3)                              # KRSC, Cin 3 -> Cout 5
    raw = stored.reshape(3, 5)                              # weight.view(in, out)
    transposed = stored.reshape(5, 3).T
    assert not np.allclose(raw, transposed)                 # the two readings differ
    ref = feats.astype(np.float64) @ raw                    # what spconv 2.x computes
    layout, mm = resolve_spconv(None, "2.1.16")
    assert (layout, mm) == ("KRSC", True)
    layer = SubMConv3d(3, 5, kernel_size=1)
    for name, expected in (("spconv2:KRSC", ref), ("spconv:KRSC", feats @ transposed)):
        layer.weight.set_value(apply_transform(name, stored))
        st = SparseTensor(paddle.to_tensor(feats), coords, (4, 4, 4), 2)
        with paddle.no_grad():
            np.testing.assert_allclose(layer(st).feats.numpy(), expected, atol=1e-5)
    native = np.ascontiguousarray(stored.reshape(5, 3)[None, None, None])      # RSKC, same memory
    np.testing.assert_array_equal(apply_transform("spconv2:RSKC", native),
                                  apply_transform("spconv2:KRSC", stored))
    hwio = _r(1, 1, 1, 3, 5)                                 # 2.x SPCONV_FILTER_HWIO=1
    np.testing.assert_array_equal(apply_transform("spconv2:RSCK", hwio)[0, 0, 0],
                                  hwio.reshape(5, 3).T)      # weight.view(out, in).T
    assert resolve_spconv(None, "1.2.1") == ("RSCK", False)
    np.testing.assert_array_equal(apply_transform("spconv:RSCK", hwio), hwio)   # 1.x: plain
    w333 = _r(5, 3, 3, 3, 3)                                  # kernel volume 27: unchanged rule
    np.testing.assert_array_equal(apply_transform("spconv2:KRSC", w333),
                                  apply_transform("spconv:KRSC", w333))
