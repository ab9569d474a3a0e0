"""Fusion zoo: each module against its formula (NumPy), and each inside the tiny MVX-Net."""
import os
import sys

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_mvxnet import LOSSES, _batch, tiny_metas, tiny_mvx_cfg  # noqa: E402

from paddlexseg.engine.builder import build_model  # noqa: E402
from paddlexseg.losses.composer import LossComposer  # noqa: E402
from paddlexseg.models.fusion import FUSION_LAYERS  # noqa: E402
from paddlexseg.models.fusion.bev_common import lift_to_bev  # noqa: E402
from paddlexseg.models.fusion.point_fusion import sample_levels  # noqa: E402

BN = 1.0 / np.sqrt(1 + 1e-5)          # a fresh BN (eps 1e-5) in eval mode


def _lin(layer, x):
    return x @ layer.weight.numpy() + layer.bias.numpy()


def _sig(x):
    return 1 / (1 + np.exp(-x))


def test_li_fusion_formula():
    paddle.seed(0)
    rng = np.random.default_rng(0)
    fusion = FUSION_LAYERS.build({"type": "LIFusion", "img_channels": 4, "pts_channels": 8,
                                  "out_channels": 6, "img_levels": [0, 1]})
    fusion.eval()
    feats = [paddle.to_tensor(rng.normal(size=(1, 4, 16, 24)).astype("float32")),
             paddle.to_tensor(rng.normal(size=(1, 4, 8, 12)).astype("float32"))]
    pts = paddle.to_tensor(np.c_[rng.uniform(2, 6, 30), rng.uniform(-2, 2, 30),
                                 rng.uniform(-1, 0.5, 30)].astype("float32"))
    pf = rng.normal(size=(30, 8)).astype("float32")
    meta = tiny_metas(1)
    got = fusion(feats, [pts], paddle.to_tensor(pf), meta, (64, 96)).numpy()
    img = sample_levels(feats, [pts], meta, (64, 96)).numpy()
    ia = fusion.ia_layer
    w = _sig(_lin(ia.fc3, np.tanh(_lin(ia.fc1, img) + _lin(ia.fc2, pf))))
    img2 = w * np.maximum(_lin(ia.conv1[0], img) * BN, 0)
    ref = np.maximum(_lin(fusion.conv1, np.c_[pf, img2]) * BN, 0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_graph_pearson_summation_gnn_formulas():
    paddle.seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 4, 6)).astype("float32")
    x[1, 2] = 3.0                                                  # a constant channel
    adj = FUSION_LAYERS.build({"type": "GetGraphPearson"})(paddle.to_tensor(x)).numpy()
    for b in range(2):
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = np.nan_to_num(np.corrcoef(x[b].reshape(5, -1)))
        ref = np.maximum(ref, 0) * (1 - np.eye(5))
        np.testing.assert_allclose(adj[b], ref, atol=1e-5)
    summ = FUSION_LAYERS.build({"type": "FusionSummation", "in_channels": 5})
    got = summ(paddle.to_tensor(x), paddle.to_tensor(adj)).numpy()
    for b in range(2):
        mixed = np.einsum("ij,jhw->ihw", adj[b] + np.eye(5), x[b]) / max(adj[b].mean(), 1e-3)
        np.testing.assert_allclose(got[b], np.concatenate([x[b], mixed]), rtol=1e-4, atol=1e-4)
    gnn = FUSION_LAYERS.build({"type": "FusionGNN", "in_channels": 5, "num_layers": 3})
    gnn.eval()
    got = gnn(paddle.to_tensor(x), paddle.to_tensor(adj)).numpy()
    cur, outs = x, []
    for phi in gnn.phi:
        k = phi[0].weight.numpy()[:, :, 0, 0]                      # [out, in]
        h = np.maximum(np.einsum("oi,bihw->bohw", k, cur) * BN, 0)
        cur = np.einsum("bij,bjhw->bihw", adj, h)
        outs.append(cur)
    np.testing.assert_allclose(got, np.concatenate(outs, axis=1), rtol=1e-4, atol=1e-4)


def test_channel_exchange_swaps_small_gamma_channels_and_l1():
    paddle.seed(0)
    cen = FUSION_LAYERS.build({"type": "ChannelExchange", "lidar_channels": 3, "img_channels": 2,
                               "img_levels": [0], "channels": 4, "threshold": 0.02,
                               "l1_weight": 0.5})
    cen.eval()
    cen.bn_lidar.weight.set_value(paddle.to_tensor([0.0, 1.0, 1.0, 1.0]))
    cen.bn_img.weight.set_value(paddle.to_tensor([1.0, 1.0, 1.0, 0.01]))
    rng = np.random.default_rng(2)
    bev = paddle.to_tensor(rng.normal(size=(1, 3, 4, 4)).astype("float32"))
    img = [paddle.to_tensor(rng.normal(size=(1, 2, 4, 4)).astype("float32"))]
    out = cen(bev, img, None, None, None).numpy()
    y_l = np.einsum("oi,bihw->bohw", cen.conv_lidar.weight.numpy()[:, :, 0, 0], bev.numpy())
    y_i = np.einsum("oi,bihw->bohw", cen.conv_img.weight.numpy()[:, :, 0, 0], img[0].numpy())
    y_l = y_l * BN * np.array([0, 1, 1, 1.0])[None, :, None, None]
    y_i = y_i * BN * np.array([1, 1, 1, 0.01])[None, :, None, None]
    ex_l, ex_i = y_l.copy(), y_i.copy()
    ex_l[:, 0], ex_i[:, 3] = y_i[:, 0], y_l[:, 3]
    np.testing.assert_allclose(out, np.maximum(np.concatenate([ex_l, ex_i], 1), 0), atol=1e-5)
    l1 = cen.aux_losses()["l1_gamma"].item()
    assert l1 == pytest.approx(0.5 * (0.0 + 1.0 + 1.0 + 0.01))


def test_lift_to_bev_puts_the_sampled_feature_in_the_point_cell():
    feat = [paddle.to_tensor(np.arange(16 * 24, dtype="float32").reshape(1, 1, 16, 24))]
    pts = paddle.to_tensor(np.array([[4.0, 0.3, -0.5], [4.1, 0.35, 0.2], [5.0, 30.0, 0.0]],
                                    np.float32))
    pcr = [0, -3.2, -3, 6.4, 3.2, 1]
    bev = lift_to_bev(feat, [0], [pts], tiny_metas(1), (64, 96), (8, 8), pcr).numpy()
    s = sample_levels(feat, [pts], tiny_metas(1), (64, 96)).numpy()[:, 0]
    iy, ix = int((0.3 + 3.2) / 6.4 * 8), int(4.0 / 6.4 * 8)
    assert bev[0, 0, iy, ix] == pytest.approx(max(s[0], s[1]))
    assert np.count_nonzero(bev) == 1 and s[2] == 0.0


def test_learnable_align_formula():
    paddle.seed(0)
    rng = np.random.default_rng(4)
    la = FUSION_LAYERS.build({"type": "LearnableAlign", "img_channels": 3, "pts_channels": 4,
                              "out_channels": 5, "embed_channels": 6, "img_levels": [0],
                              "voxel_size": [1.0, 1.0, 1.0],
                              "point_cloud_range": [0, -4, -3, 8, 4, 1]})
    la.eval()
    feats = [paddle.to_tensor(rng.normal(size=(1, 3, 16, 24)).astype("float32"))]
    xyz = np.array([[4.2, 0.1, -0.5], [4.7, 0.6, -0.2], [4.5, 0.9, -0.9], [6.5, -1.5, 0.3]])
    pts = paddle.to_tensor(xyz.astype("float32"))
    pf = rng.normal(size=(4, 4)).astype("float32")
    meta = tiny_metas(1)
    got = la(feats, [pts], paddle.to_tensor(pf), meta, (64, 96)).numpy()
    img = sample_levels(feats, [pts], meta, (64, 96)).numpy()
    assert np.abs(img[:3]).sum() > 0
    groups = [[0, 1, 2], [3]]                                      # points of each voxel
    ref = np.zeros((4, 5))
    for g in groups:
        q = _lin(la.q_embedding, pf[g].max(0))
        k, v = _lin(la.k_embedding, img[g]), _lin(la.v_embedding, img[g])
        logit = k @ q / np.sqrt(6)
        a = np.exp(logit - logit.max())
        a /= a.sum()
        z = _lin(la.c_proj, (a[:, None] * v).sum(0))
        for i in g:
            ref[i] = np.maximum(_lin(la.fuse[0], np.r_[pf[i], z]) / np.sqrt(1 + 1e-3), 0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


ZOO = {
    "LearnableAlign": {"pts_voxel_encoder": {"fusion_layer": {
        "type": "LearnableAlign", "img_channels": 8, "pts_channels": 16, "out_channels": 16,
        "embed_channels": 8, "img_levels": [0, 1], "voxel_size": [0.1, 0.1, 0.1],
        "point_cloud_range": [0, -3.2, -3, 6.4, 3.2, 1]}}},
    "LIFusion": {"pts_voxel_encoder": {"fusion_layer": {
        "type": "LIFusion", "img_channels": 8, "pts_channels": 16, "out_channels": 16}}},
    "GraphBEVFusion-FusionNN": {"bev_fusion": {
        "type": "GraphBEVFusion",
        "pre_fusion": {"type": "PreFusionCat", "lidar_channels": 16, "img_channels": 8,
                       "img_levels": [1], "out_channels": 8},
        "fusion": {"type": "FusionNN", "out_channels": 16},
        "neck": {"type": "FusionNeck", "out_channels": 16}}},
    "GraphBEVFusion-FusionGNN-aligned": {"bev_fusion": {
        "type": "GraphBEVFusion",
        "pre_fusion": {"type": "PreFusionCat", "lidar_channels": 16, "img_channels": 8,
                       "img_levels": [0, 1], "out_channels": 8, "aligned": True,
                       "point_cloud_range": [0, -3.2, -3, 6.4, 3.2, 1]},
        "graph": {"type": "GetGraphPearson"},
        "fusion": {"type": "FusionGNN"},
        "neck": {"type": "FusionNeck", "out_channels": 16}}},
    "GraphBEVFusion-FusionSummation": {"bev_fusion": {
        "type": "GraphBEVFusion",
        "pre_fusion": {"type": "PreFusionCat", "lidar_channels": 16, "img_channels": 8,
                       "img_levels": [1], "out_channels": 8},
        "graph": {"type": "GetGraphPearson"}, "fusion": {"type": "FusionSummation"},
        "neck": {"type": "FusionNeck", "out_channels": 16}}},
    "ChannelExchange": {"bev_fusion": {"type": "ChannelExchange", "lidar_channels": 16,
                                       "img_channels": 8, "img_levels": [1], "channels": 8}},
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_module_trains_inside_mvxnet(name):
    paddle.seed(0)
    cfg = tiny_mvx_cfg()
    over = ZOO[name]
    if "bev_fusion" in over:                                    # LiDAR-only voxel encoder
        cfg["pts_voxel_encoder"]["fusion_layer"] = None
        cfg["pts_middle_encoder"]["in_channels"] = 16
        cfg["bev_fusion"] = over["bev_fusion"]
    else:
        cfg["pts_voxel_encoder"]["fusion_layer"] = over["pts_voxel_encoder"]["fusion_layer"]
    model = build_model({"model": cfg})
    model.train()
    batch = _batch(np.random.default_rng(0))
    losses = LossComposer(LOSSES + [{"type": "FusionAuxLoss", "input": "fusion_aux_loss",
                                     "target": None, "name": "fusion_aux"}])
    out = model(**batch.inputs())
    total, terms = losses(out, batch)
    assert np.isfinite(total.item())
    total.backward()
    grads = [p.grad for n, p in model.named_parameters()
             if ("fusion" in n) and not p.stop_gradient]
    assert grads and all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    if name == "ChannelExchange":
        assert terms["fusion_aux"].item() > 0
