"""RangeNet++ / DarkNet: checkpoint key layout, strides, shapes and gradients on tiny inputs."""
import numpy as np
import paddle
import pytest

from paddlexseg.models.backbones.darknet import DarkNet, horizontal_strides
from paddlexseg.models.rangenet import RangeNet
from paddlexseg.registry import BACKBONES, MODELS, ConfigError


def _torch_bn(prefix, c):
    return {f"{prefix}.weight": [c], f"{prefix}.bias": [c], f"{prefix}.running_mean": [c],
            f"{prefix}.running_var": [c], f"{prefix}.num_batches_tracked": []}


def _torch_block(prefix, planes):
    keys = {f"{prefix}.conv1.weight": [planes[0], planes[1], 1, 1]}
    keys.update(_torch_bn(f"{prefix}.bn1", planes[0]))
    keys[f"{prefix}.conv2.weight"] = [planes[1], planes[0], 3, 3]
    keys.update(_torch_bn(f"{prefix}.bn2", planes[1]))
    return keys


def torch_backbone_keys(layers, in_channels=5):
    """The state_dict of lidar-bonnetal's darknet Backbone, written out from its source."""
    blocks = {21: [1, 1, 2, 2, 1], 53: [1, 2, 8, 8, 4]}[layers]
    keys = {"conv1.weight": [32, in_channels, 3, 3]}
    keys.update(_torch_bn("bn1", 32))
    ch = [32, 64, 128, 256, 512, 1024]
    for i in range(5):
        p = f"enc{i + 1}"
        keys[f"{p}.conv.weight"] = [ch[i + 1], ch[i], 3, 3]
        keys.update(_torch_bn(f"{p}.bn", ch[i + 1]))
        for j in range(blocks[i]):
            keys.update(_torch_block(f"{p}.residual_{j}", [ch[i], ch[i + 1]]))
    return keys


def torch_decoder_keys(output_stride=32):
    strides = [1] * (5 - int(np.log2(output_stride))) + [2] * int(np.log2(output_stride))
    keys = {}
    ch = [1024, 512, 256, 128, 64, 32]
    for i in range(5):
        p = f"dec{5 - i}"
        if strides[i] == 2:
            keys[f"{p}.upconv.weight"] = [ch[i], ch[i + 1], 1, 4]  # ConvTranspose2d [in, out, ..]
            keys[f"{p}.upconv.bias"] = [ch[i + 1]]
        else:
            keys[f"{p}.conv.weight"] = [ch[i + 1], ch[i], 3, 3]
            keys[f"{p}.conv.bias"] = [ch[i + 1]]
        keys.update(_torch_bn(f"{p}.bn", ch[i + 1]))
        keys.update(_torch_block(f"{p}.residual", [ch[i], ch[i + 1]]))
    return keys


def rename(torch_keys, prefix):
    out = {}
    for k, shape in torch_keys.items():
        if k.endswith("num_batches_tracked"):
            continue
        k = k.replace("running_mean", "_mean").replace("running_var", "_variance")
        out[f"{prefix}.{k}" if prefix else k] = shape
    return out


def shapes(layer):
    return {k: list(v.shape) for k, v in layer.state_dict().items()}


@pytest.fixture(scope="module")
def rangenet21():
    paddle.seed(0)
    return RangeNet(backbone={"type": "DarkNet", "layers": 21}, num_classes=20)


def test_checkpoint_keys_map_by_renaming(rangenet21):
    expected = rename(torch_backbone_keys(21), "backbone")
    expected.update(rename(torch_decoder_keys(32), "decoder"))
    expected.update({"head.1.weight": [20, 32, 3, 3], "head.1.bias": [20]})
    assert shapes(rangenet21) == expected


def test_darknet53_keys_and_parameter_count():
    net = DarkNet(layers=53)
    assert shapes(net) == rename(torch_backbone_keys(53), "")
    n = sum(int(np.prod(p.shape)) for p in net.parameters())
    assert 40e6 < n < 42e6  # the paper's RangeNet53 has ~50M parameters with the decoder


def test_output_stride_8_uses_plain_convs_in_first_decoder_stages():
    paddle.seed(1)
    model = RangeNet(backbone={"type": "DarkNet", "layers": 21, "output_stride": 8},
                     num_classes=4)
    assert model.backbone.strides == [2, 2, 2, 1, 1]
    assert model.decoder.strides == [1, 1, 2, 2, 2]
    expected = rename(torch_decoder_keys(8), "decoder")
    assert {k: v for k, v in shapes(model).items() if k.startswith("decoder.")} == expected
    model.eval()
    x = paddle.randn([1, 5, 2, 16])
    feature, skips = model.backbone(x)
    assert feature.shape == [1, 1024, 2, 2]
    assert {k: v.shape for k, v in skips.items()} == {
        1: [1, 32, 2, 16], 2: [1, 64, 2, 8], 4: [1, 128, 2, 4]}
    assert model(x)["logits"].shape == [1, 4, 2, 16]


def test_forward_backward_shapes_and_gradients(rangenet21):
    rangenet21.train()
    x = paddle.randn([2, 5, 2, 64])
    out = rangenet21(x)
    assert sorted(out) == ["logits"] and out["logits"].shape == [2, 20, 2, 64]
    out["logits"].square().mean().backward()
    for name in ("backbone.conv1.weight", "backbone.enc5.residual_0.conv2.weight",
                 "decoder.dec1.upconv.weight", "head.1.bias"):
        grad = dict(rangenet21.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum().item()) > 0, name
    rangenet21.clear_gradients()


def test_eval_is_deterministic(rangenet21):
    x = paddle.randn([1, 5, 2, 32])
    rangenet21.eval()
    a = rangenet21(x)["logits"].numpy()
    b = rangenet21(x)["logits"].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()


def test_bn_settings_follow_the_original():
    net = DarkNet(layers=21, bn_momentum=0.01)
    assert net.bn1._momentum == pytest.approx(0.99) and net.bn1._epsilon == pytest.approx(1e-5)
    assert net.enc3[0]._stride == [1, 2]
    assert horizontal_strides(32) == [2, 2, 2, 2, 2] and horizontal_strides(1) == [1] * 5


def test_bad_config_and_input_errors():
    with pytest.raises(ConfigError, match="model.backbone.depth"):
        MODELS.build({"type": "RangeNet", "backbone": {"type": "DarkNet", "depth": 21}})
    with pytest.raises(ConfigError, match="layers"):
        BACKBONES.build({"type": "DarkNet", "layers": 34})
    with pytest.raises(ConfigError, match="output_stride"):
        DarkNet(output_stride=12)
    net = DarkNet(layers=21)
    with pytest.raises(ValueError, match="divisible"):
        net(paddle.randn([1, 5, 2, 40]))


def test_train_steps_with_configured_losses_and_metric_on_a_range_batch(rangenet21):
    from paddlexseg.losses.composer import LossComposer
    from paddlexseg.metrics.iou import RangeIoU
    from paddlexseg.structures import RangeBatch, ScanPoints

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 20, size=(1, 2, 32))
    py, px = np.nonzero(labels[0] >= 0)
    scan = ScanPoints(proj_x=px.astype(np.int32), proj_y=py.astype(np.int32),
                      unproj_range=np.ones(px.size, np.float32), labels=labels[0, py, px])
    batch = RangeBatch(range_img=paddle.to_tensor(rng.normal(size=(1, 5, 2, 32)).astype("float32")),
                       labels=paddle.to_tensor(labels), scans=[scan])
    from paddlexseg.datasets.label_config import load_label_config
    from paddlexseg.losses.cross_entropy import content_class_weights
    lc = load_label_config("semantic-kitti")  # the weights of the full configs
    weights = content_class_weights(lc.content, lc.ignore, 0.001).tolist()
    composer = LossComposer([{"type": "WeightedCrossEntropyLoss", "class_weights": weights},
                             {"type": "LovaszSoftmaxLoss", "weight": 1.0}])
    opt = paddle.optimizer.Adam(learning_rate=1e-3, parameters=rangenet21.parameters())
    rangenet21.train()
    losses = []
    for _ in range(3):
        total, terms = composer(rangenet21(**batch.inputs()), batch)
        total.backward()
        opt.step()
        opt.clear_grad()
        losses.append(total.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    rangenet21.eval()
    metric = RangeIoU()
    with paddle.no_grad():
        metric.update(rangenet21(**batch.inputs()), batch)
    result = metric.compute()
    # every pixel holds exactly one point, so point and pixel IoU agree
    assert result["mIoU"] == pytest.approx(result["range_mIoU"])
