"""EventVPR: shapes, crop, EST option, config errors, the YAML configs, a short training run."""
import os

import numpy as np
import paddle
import pytest

import paddlexseg
from paddlexseg.config import load_config
from paddlexseg.datasets.synthetic.events import generate_event_vpr
from paddlexseg.losses.composer import LossComposer
from paddlexseg.registry import DATASETS, METRICS, MODELS, ConfigError

paddlexseg.load_all()
CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "event_vpr")
SMALL = {"type": "EventVPR", "in_bins": 3, "backbone": {"type": "ResNet", "depth": 18},
         "crop_size": 32, "num_clusters": 4, "dim": 512}


def test_forward_fixed_voxels_gives_normalized_descriptors():
    paddle.seed(0)
    model = MODELS.build(SMALL)
    model.eval()
    out = model(voxels=paddle.randn([2, 3, 30, 40]))
    assert list(out) == ["descriptor"] and out["descriptor"].shape == [2, 4 * 512]
    np.testing.assert_allclose(paddle.linalg.norm(out["descriptor"], axis=1).numpy(), 1.0,
                               rtol=1e-5)
    with pytest.raises(ValueError, match="needs voxels"):
        model(events=paddle.zeros([3, 5]))


@pytest.mark.parametrize("shape,window", [((1, 1, 6, 10), (slice(None), slice(2, 8))),
                                          ((1, 1, 9, 4), (slice(2, 6), slice(None)))])
def test_centre_crop_like_the_reproduction(shape, window):
    model = MODELS.build(dict(SMALL, crop_size=min(shape[2:]) // 2 * 2))
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    out = model.crop_and_resize(paddle.to_tensor(x)).numpy()
    np.testing.assert_array_equal(out[0, 0], x[0, 0][window])


def test_est_quantization_option_trains_its_kernel():
    paddle.seed(0)
    model = MODELS.build(dict(SMALL, quantization="est", sensor_size=[12, 16]))
    assert model.backbone.conv1.weight.shape[1] == 6          # 2 polarities x 3 bins
    rng = np.random.default_rng(0)
    ev = np.stack([rng.integers(0, 16, 80), rng.integers(0, 12, 80), rng.uniform(0, 1, 80),
                   rng.choice([-1.0, 1.0], 80), np.repeat([0, 1], 40)], 1).astype(np.float32)
    out = model(events=paddle.to_tensor(ev))["descriptor"]
    assert out.shape == [2, 2048]
    (out * paddle.randn(out.shape)).sum().backward()
    grad = model.quantization_layer.value_layer.mlp[0].weight.grad
    assert grad is not None and float(np.abs(grad.numpy()).sum()) > 0
    with pytest.raises(ValueError, match="needs raw events"):
        model(voxels=paddle.zeros([1, 6, 12, 16]))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="model.quantization"):
        MODELS.build(dict(SMALL, quantization="learned"))
    with pytest.raises(ConfigError, match="model.backbone.in_channels: .* gives 3 channels"):
        MODELS.build(dict(SMALL, backbone={"type": "ResNet", "depth": 18, "in_channels": 5}))
    with pytest.raises(ConfigError, match="model.dim: .* 512 channels, got dim=256"):
        MODELS.build(dict(SMALL, dim=256))
    with pytest.raises(ConfigError, match="model.backbone.dpeth: unknown key"):
        MODELS.build(dict(SMALL, backbone={"type": "ResNet", "dpeth": 18}))


def test_mvsec_config_builds_the_reproduction_model():
    cfg = load_config(os.path.join(CONFIGS, "event_vpr_resnet34_mvsec.yml"))
    model = MODELS.build(cfg["model"], path="model")
    assert len(model.backbone.layer3) == 6 and model.backbone.conv1.weight.shape[1] == 5
    assert model.vlad.centroids.shape == [32, 512]
    model.eval()
    with paddle.no_grad():
        assert model(voxels=paddle.randn([1, 5, 26, 34]))["descriptor"].shape == [1, 16384]
    LossComposer(cfg["losses"])
    assert METRICS.build(cfg["metric"]).main == "recall@1"
    assert cfg["train_dataset"]["sequences"] == ["outdoor_day2"]
    assert cfg["val_dataset"]["sequences"] == ["outdoor_day1"]


def test_quick_config_trains_on_synthetic_events(tmp_path):
    root = str(tmp_path / "evpr")
    generate_event_vpr(root, width=64, height=48, route_length=50.0, train_length=60.0,
                       step=0.2, events_per_sample=300, seed=0)
    cfg = load_config(os.path.join(CONFIGS, "event_vpr_resnet18_synthetic_quick.yml"),
                      opts=[f"train_dataset.root={root}", f"val_dataset.root={root}",
                            "train_dataset.sensor_size=[48, 64]",
                            "val_dataset.sensor_size=[48, 64]", "model.crop_size=32"])
    train = DATASETS.build(cfg["train_dataset"], path="train_dataset")
    val = DATASETS.build(cfg["val_dataset"], path="val_dataset")
    # training places (the *_train stretch) are disjoint from the evaluated ones
    train_seqs = set(cfg["train_dataset"]["sequences"] + cfg["train_dataset"]["query_sequences"])
    val_seqs = set(cfg["val_dataset"]["sequences"] + cfg["val_dataset"]["query_sequences"])
    assert not train_seqs & val_seqs
    paddle.seed(0)
    model = MODELS.build(cfg["model"], path="model")
    losses = LossComposer(cfg["losses"])
    opt = paddle.optimizer.Adam(learning_rate=cfg["lr_scheduler"]["learning_rate"],
                                parameters=model.parameters())
    batch = train.collate([train[0], train[1]])
    assert batch.voxels.shape == [12, 5, 48, 64]                # 2 x (anchor, positive, 4 neg)
    # the untrained descriptors must not collapse (see the config's normalize_input note)
    model.eval()
    with paddle.no_grad():
        desc = model(**batch.inputs())["descriptor"].numpy()
    cos = desc @ desc.T
    assert cos[~np.eye(12, dtype=bool)].min() < 0.99
    model.train()
    first = None
    for _ in range(4):
        total, _ = losses(model(**batch.inputs()), batch)
        total.backward()
        opt.step()
        opt.clear_grad()
        first = total.item() if first is None else first
    assert np.isfinite(first) and total.item() < first
    model.eval()
    metric = METRICS.build(cfg["metric"])
    with paddle.no_grad():
        for s in range(0, len(val), 16):
            b = val.collate([val[i] for i in range(s, min(s + 16, len(val)))])
            metric.update(model(**b.inputs()), b)
    res = metric.compute()
    assert set(res) == {"recall@1", "recall@5", "recall@10"}
    assert 0.0 <= res["recall@1"] <= res["recall@5"] <= res["recall@10"] <= 1.0


def test_kmeans_recovers_separated_blobs():
    from paddlexseg.models.event_vpr import kmeans
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + 0.1 * rng.normal(size=(50, 2)) for c in truth])
    centers = kmeans(x, 3, 20, np.random.default_rng(1))
    dist = np.linalg.norm(centers[:, None] - truth[None], axis=-1)
    assert np.sort(dist.min(axis=1)).max() < 0.1
    with pytest.raises(ValueError, match="descriptors for 4 clusters"):
        kmeans(x[:3], 4, 5, rng)


class _VoxelBatch:
    def __init__(self, voxels):
        self.voxels = voxels

    def inputs(self):
        return {"voxels": self.voxels}


def test_init_from_data_spreads_the_descriptors():
    paddle.seed(0)
    model = MODELS.build({"type": "EventVPR", "backbone": {"type": "ResNet", "depth": 18},
                          "crop_size": 64, "num_clusters": 4, "dim": 512,
                          "normalize_input": True})
    batches = [_VoxelBatch(paddle.rand([4, 5, 26, 34]) * (i + 1)) for i in range(3)]

    def min_cosine():
        model.eval()
        with paddle.no_grad():
            d = np.concatenate([model(voxels=b.voxels)["descriptor"].numpy() for b in batches])
        model.train()
        return (d @ d.T).min()

    before = min_cosine()
    model.init_from_data(batches, kmeans_iters=10)
    centroids = model.vlad.centroids.numpy()
    assert np.isfinite(centroids).all() and model.vlad.alpha > 0
    # the assignment conv now points at the (normalised) centroids
    w = model.vlad.conv.weight.numpy()[:, :, 0, 0]
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    np.testing.assert_allclose(w, model.vlad.alpha * unit, rtol=1e-4, atol=1e-6)
    assert min_cosine() < before
