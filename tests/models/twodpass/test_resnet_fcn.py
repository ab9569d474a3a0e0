import numpy as np
import paddle
import pytest

from paddlexseg.models.twodpass.resnet_fcn import ResNetFCN


@pytest.fixture(scope="module")
def fcn():
    paddle.seed(0)
    net = ResNetFCN(hidden_size=4)
    net.eval()
    return net


def test_gather_before_upsampling_equals_full_resolution(fcn):
    rng = np.random.default_rng(0)
    img = paddle.to_tensor(rng.normal(size=(2, 3, 32, 48)).astype(np.float32))
    idx = np.stack([rng.integers(0, 32, 40), rng.integers(0, 48, 40)], 1)
    bidx = rng.integers(0, 2, 40)
    with paddle.no_grad():
        out = fcn(img, paddle.to_tensor(idx), paddle.to_tensor(bidx))
        x = fcn.relu(fcn.bn1(fcn.conv1(img)))
        stages = [fcn.layer1(fcn.maxpool(x))]
        for layer in (fcn.layer2, fcn.layer3, fcn.layer4):
            stages.append(layer(stages[-1]))
        heads = (fcn.deconv_layer1, fcn.deconv_layer2, fcn.deconv_layer3, fcn.deconv_layer4)
        for scale, head, stage in zip((2, 4, 8, 16), heads, stages):
            full = head(stage).numpy()                                   # [2, 4, 32, 48]
            assert full.shape == (2, 4, 32, 48)
            ref = full[bidx, :, idx[:, 0], idx[:, 1]]                    # [40, 4]
            assert out[scale].shape == [40, 4]
            assert np.allclose(out[scale].numpy(), ref, atol=1e-5)


def test_stride_one_stem_names_and_size_check(fcn):
    assert list(fcn.conv1.weight.shape) == [64, 3, 7, 7] and list(fcn.conv1._stride) == [1, 1]
    names = set(fcn.state_dict())
    for key in ("bn1._mean", "layer4.2.conv2.weight", "deconv_layer1.0.weight",
                "deconv_layer3.2.weight", "deconv_layer4.4.bias"):
        assert key in names, key
    with pytest.raises(ValueError, match="multiple of 16"):
        fcn(paddle.zeros([1, 3, 30, 48]), paddle.zeros([1, 2], "int64"), paddle.zeros([1], "int64"))
    with pytest.raises(ValueError, match="resnet34"):
        ResNetFCN(backbone="resnet50")
