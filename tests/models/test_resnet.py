"""ResNet backbone: shapes, parameter counts against torchvision, freezing, key mapping."""
import numpy as np
import paddle
import pytest

from paddlexseg.models.backbones.resnet import ResNet, detectron2_to_paddle_key


def _num_params(model):
    """Trainable parameters (Paddle lists batch-norm statistics as parameters too)."""
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


@pytest.mark.parametrize("variant", ["b", "d"])
def test_resnet18_feature_pyramid(variant):
    paddle.seed(0)
    model = ResNet(depth=18, variant=variant)
    model.eval()
    outs = model(paddle.randn([2, 3, 64, 96]))
    assert [list(o.shape) for o in outs] == [[2, 64, 16, 24], [2, 128, 8, 12], [2, 256, 4, 6],
                                             [2, 512, 2, 3]]
    assert model.out_channels == [64, 128, 256, 512]
    assert model.out_strides == [4, 8, 16, 32]
    assert all(np.isfinite(o.numpy()).all() for o in outs)


def test_resnet34_five_channels_full_resolution_stem():
    model = ResNet(depth=34, in_channels=5, out_indices=(1, 3), stem_stride=1, stem_pool=False)
    model.eval()
    outs = model(paddle.randn([1, 5, 32, 64]))
    assert [list(o.shape) for o in outs] == [[1, 128, 16, 32], [1, 512, 4, 8]]
    assert model.out_strides == [2, 8]
    assert list(model.conv1.weight.shape) == [64, 5, 7, 7]


def test_resnet50_builds_like_torchvision():
    # torchvision resnet18 / resnet50 without the fc layer
    assert _num_params(ResNet(depth=18)) == 11689512 - 513000
    r50 = ResNet(depth=50)
    assert _num_params(r50) == 25557032 - 2049000
    assert r50.out_channels == [256, 512, 1024, 2048]
    assert r50.layer2[0].conv2._stride == [2, 2]  # torchvision: stride on the 3x3
    msra = ResNet(depth=50, stride_in_1x1=True, out_indices=(3,))
    assert msra.layer2[0].conv1._stride == [2, 2] and msra.layer2[0].conv2._stride == [1, 1]
    assert msra.out_channels == [2048]


def test_variant_d_names():
    keys = set(ResNet(depth=18, variant="d").state_dict())
    assert {"conv1.0.weight", "conv1.3.weight", "conv1.6.weight", "bn1._mean",
            "layer2.0.downsample.1.weight", "layer2.0.downsample.2._variance"} <= keys


def test_frozen_stages_keep_weights_and_statistics():
    paddle.seed(0)
    model = ResNet(depth=18, frozen_stages=1)
    model.train()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt = paddle.optimizer.SGD(0.1, parameters=model.parameters())
    loss = sum(o.mean() for o in model(paddle.randn([2, 3, 64, 64])))
    loss.backward()
    opt.step()
    after = model.state_dict()
    for k, v in before.items():
        same = np.array_equal(v, after[k].numpy())
        if k.startswith(("conv1", "bn1", "layer1.")):
            assert same, f"{k} changed although frozen"
        elif k.startswith("layer3.") and k.endswith(("weight", "_mean")):
            assert not same, f"{k} did not train"


def _detectron2_resnet_keys(blocks, bottleneck):
    keys = ["stem.conv1.weight"] + [f"stem.conv1.norm.{p}" for p in
                                    ("weight", "bias", "running_mean", "running_var")]
    convs = ("conv1", "conv2", "conv3") if bottleneck else ("conv1", "conv2")
    for s, n in zip(range(2, 6), blocks):
        for b in range(n):
            names = list(convs) + (["shortcut"] if b == 0 and (bottleneck or s > 2) else [])
            for c in names:
                keys.append(f"res{s}.{b}.{c}.weight")
                keys += [f"res{s}.{b}.{c}.norm.{p}" for p in
                         ("weight", "bias", "running_mean", "running_var")]
    return keys


@pytest.mark.parametrize("depth,blocks,bottleneck", [(18, (2, 2, 2, 2), False),
                                                     (50, (3, 4, 6, 3), True)])
def test_detectron2_key_table_covers_every_parameter(depth, blocks, bottleneck):
    model = ResNet(depth=depth)
    mapped = [detectron2_to_paddle_key(k) for k in _detectron2_resnet_keys(blocks, bottleneck)]
    assert len(set(mapped)) == len(mapped)
    assert set(mapped) == set(model.state_dict())
    assert detectron2_to_paddle_key("res3.0.shortcut.norm.running_var") == \
        "layer2.0.downsample.1._variance"
    assert detectron2_to_paddle_key("res2.0.conv1.norm.num_batches_tracked") is None
    with pytest.raises(KeyError, match="res9"):
        detectron2_to_paddle_key("res9.0.conv1.weight")


def test_bad_arguments_name_the_key():
    with pytest.raises(ValueError, match="ResNet.depth"):
        ResNet(depth=42)
    with pytest.raises(ValueError, match="ResNet.variant"):
        ResNet(depth=18, variant="c")
    with pytest.raises(ValueError, match="ResNet.out_indices"):
        ResNet(depth=18, out_indices=(4,))
    with pytest.raises(FileNotFoundError, match="pretrained"):
        ResNet(depth=18, pretrained="/nonexistent/r18.pdparams")


def test_pretrained_roundtrip(tmp_path):
    paddle.seed(1)
    src = ResNet(depth=18)
    path = str(tmp_path / "r18.pdparams")
    paddle.save(src.state_dict(), path)
    dst = ResNet(depth=18, pretrained=path)
    np.testing.assert_array_equal(dst.layer4[1].conv2.weight.numpy(),
                                  src.layer4[1].conv2.weight.numpy())
    with pytest.raises(ValueError, match="does not fit ResNet-34b"):
        ResNet(depth=34, pretrained=path)
