"""MVX-Net (DynamicMVXFasterRCNN): PointFusion projection / sampling against a NumPy reference,
DynamicVFE formulas, frozen image BN, out-of-image points, training steps on tiny inputs."""
import os
import sys

import numpy as np
import paddle
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from second_tiny import CAR, PC_RANGE, random_frame, tiny_model_cfg  # noqa: E402

from paddlexseg.engine.builder import build_model  # noqa: E402
from paddlexseg.losses.composer import LossComposer  # noqa: E402
from paddlexseg.models.fusion.point_fusion import PointFusion, sample_levels  # noqa: E402
from paddlexseg.models.layers.dynamic_vfe import DynamicVFE  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402
from paddlexseg.structures import DetBatch  # noqa: E402
from paddlexseg.transforms.det_aug import flip_horizontal, rotate_scale_translate  # noqa: E402

IMG_H, IMG_W = 40, 90                      # network input before padding (-> 64 x 96)
LOSSES = [{"type": "Anchor3DHeadLoss", "input": ["cls_score", "bbox_pred", "dir_cls_pred",
                                                 "anchors"], "target": ["gt_boxes", "gt_labels"]}]


def tiny_calib(f=20.0, cx=45.0, cy=20.0):
    """Camera looking along +x of the LiDAR (KITTI axes), 4x4 float64 matrices."""
    p2, tr = np.eye(4), np.zeros((4, 4))
    p2[:3, :3] = [[f, 0, cx], [0, f, cy], [0, 0, 1]]
    p2[0, 3] = 1.5                                         # a baseline term, as KITTI's P2
    tr[:3, :3] = [[0, -1, 0], [0, 0, -1], [1, 0, 0]]
    tr[:3, 3] = [0.02, -0.08, -0.27]
    tr[3, 3] = 1.0
    return {"P2": p2, "R0_rect": np.eye(4), "Tr_velo_to_cam": tr}


def tiny_mvx_cfg(fusion=None, image_channels=8):
    base = tiny_model_cfg()
    fusion = fusion or {"type": "PointFusion", "img_channels": image_channels,
                        "pts_channels": 16, "mid_channels": 8, "out_channels": 16}
    mid = dict(base["middle_encoder"], in_channels=fusion.get("out_channels", 16))
    return {"type": "DynamicMVXFasterRCNN",
            "img_backbone": {"depth": 18, "out_indices": [0, 1, 2, 3], "frozen_stages": 1,
                             "stride_in_1x1": True, "norm_eval": True},
            "img_neck": {"out_channels": image_channels, "num_outs": 5},
            "pts_voxel_encoder": {"in_channels": 4, "feat_channels": [16, 16],
                                  "voxel_size": [0.1, 0.1, 0.1], "point_cloud_range": PC_RANGE,
                                  "fusion_layer": fusion},
            "pts_middle_encoder": mid, "pts_backbone": base["backbone"],
            "pts_neck": base["neck"], "pts_bbox_head": base["bbox_head"]}


def tiny_metas(n, flip=False, record=None):
    return [{"calib": tiny_calib(), "augmentation": record or [], "scale_factor": (0.5, 0.5),
             "flip": flip, "img_shape": (IMG_H, IMG_W)} for _ in range(n)]


def _bilinear_ref(feat, u, v):
    """align_corners=False, zeros padding bilinear sample of feat [C, H, W] at input pixel
    coordinates already mapped to feature pixels (x = u / s - 0.5)."""
    c, h, w = feat.shape
    x0, y0 = int(np.floor(u)), int(np.floor(v))
    out = np.zeros(c)
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            wgt = (1 - abs(u - xi)) * (1 - abs(v - yi))
            if 0 <= xi < w and 0 <= yi < h:
                out += wgt * feat[:, yi, xi]
    return out


def test_point_sample_matches_numpy_reference_with_augmentation_undone():
    rng = np.random.default_rng(0)
    orig = np.c_[rng.uniform(2, 6, 60), rng.uniform(-2, 2, 60), rng.uniform(-1.5, 0.5, 60)]
    aug, _ = flip_horizontal(orig, np.zeros((0, 7)))
    aug, _ = rotate_scale_translate(aug, np.zeros((0, 7)), 0.3, 1.04, [0.1, -0.2, 0.05])
    record = [{"op": "flip", "horizontal": True}, {"op": "rotation", "angle": 0.3},
              {"op": "scale", "factor": 1.04}, {"op": "translation", "offset": [0.1, -0.2, 0.05]}]
    pad = (64, 96)
    feats = [paddle.to_tensor(rng.normal(size=(1, 3, pad[0] // s, pad[1] // s)).astype("float32"))
             for s in (4, 8)]
    meta = tiny_metas(1, flip=True, record=record)[0]
    got = sample_levels(feats, [paddle.to_tensor(aug.astype("float32"))], [meta], pad).numpy()
    calib = tiny_calib()
    m = calib["P2"] @ calib["R0_rect"] @ calib["Tr_velo_to_cam"]
    cam = np.c_[orig, np.ones(len(orig))] @ m.T
    uv = cam[:, :2] / cam[:, 2:3] * 0.5
    uv[:, 0] = IMG_W - uv[:, 0]
    inside = 0
    for k in range(len(orig)):
        ref = np.concatenate([_bilinear_ref(f.numpy()[0], uv[k, 0] / s - 0.5, uv[k, 1] / s - 0.5)
                              for f, s in zip(feats, (4, 8))])
        np.testing.assert_allclose(got[k], ref, atol=1e-4)
        inside += bool(np.abs(ref).sum() > 0)
    assert inside > 20                       # the check covers points inside the image


def test_points_outside_or_behind_give_zero_image_features():
    pad = (64, 96)
    feat = [paddle.ones([1, 4, 16, 24])]
    pts = paddle.to_tensor(np.array([[5.0, 0.0, 0.0], [5.0, 50.0, 0.0], [-5.0, 0.0, 0.0],
                                     [0.27, 0.0, 0.0], [1e9, 1e9, 1e9]], np.float32))
    out = sample_levels(feat, [pts], tiny_metas(1), pad).numpy()
    assert np.isfinite(out).all()
    assert out[0].min() > 0.5                                    # in front, inside
    np.testing.assert_array_equal(out[1:4], 0.0)                 # outside / behind / depth 0
    # a calib projecting every point outside the image: the fused output stays finite
    fusion = PointFusion(img_channels=4, pts_channels=6, mid_channels=4, out_channels=5,
                         img_levels=[0])
    fusion.eval()
    meta = tiny_metas(1)[0]
    meta["calib"] = dict(meta["calib"], P2=np.diag([1.0, 1.0, 1.0, 1.0]) * 1e-3)
    meta["calib"]["P2"][0, 2] = 1e5
    img = fusion.obtain_mlvl_feats(feat, [pts[:2]], [meta], pad).numpy()
    np.testing.assert_array_equal(img, 0.0)
    res = fusion(feat, [pts[:2]], paddle.ones([2, 6]), [meta], pad).numpy()
    assert np.isfinite(res).all()


def test_dynamic_vfe_decorations_and_max_scatter():
    paddle.seed(0)
    vfe = DynamicVFE(in_channels=4, feat_channels=[6], voxel_size=[1.0, 1.0, 1.0],
                     point_cloud_range=[0, 0, 0, 4, 4, 4], return_point_feats=True)
    vfe.eval()
    pts = np.array([[0.2, 0.3, 0.1, 1.0], [0.8, 0.1, 0.6, 0.5], [2.5, 1.5, 3.5, 0.2]], np.float32)
    coors = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 3, 1, 2]], np.int32)   # (b, z, y, x)
    got = vfe(paddle.to_tensor(pts), paddle.to_tensor(coors)).numpy()
    mean = np.array([pts[:2, :3].mean(0), pts[:2, :3].mean(0), pts[2, :3]])
    centre = coors[:, [3, 2, 1]] + 0.5
    dec = np.c_[pts, pts[:, :3] - mean, pts[:, :3] - centre]
    lin = vfe.vfe_layers[0][0].weight.numpy()
    ref = np.maximum(dec @ lin / np.sqrt(1 + 1e-3), 0)            # fresh BN in eval mode
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    vfe.return_point_feats = False
    vox, vc = vfe(paddle.to_tensor(pts), paddle.to_tensor(coors))
    np.testing.assert_allclose(vox.numpy(), np.stack([ref[:2].max(0), ref[2]]), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_array_equal(vc.numpy(), [[0, 0, 0, 0], [0, 3, 1, 2]])


def _batch(rng, n=2, with_images=True):
    frames = [random_frame(rng, boxes=CAR)] + [random_frame(rng) for _ in range(n - 1)]
    boxes = [paddle.to_tensor(CAR)] + [paddle.zeros([0, 7]) for _ in range(n - 1)]
    labels = [paddle.to_tensor([2], dtype="int64")] + \
        [paddle.zeros([0], dtype="int64") for _ in range(n - 1)]
    images = paddle.to_tensor(rng.normal(size=(n, 3, IMG_H, IMG_W)).astype("float32")) \
        if with_images else None
    return DetBatch(points=frames, gt_boxes=boxes, gt_labels=labels, images=images,
                    metas=tiny_metas(n))


def test_forward_names_frozen_parts_and_training_steps():
    paddle.seed(0)
    model = build_model({"model": tiny_mvx_cfg()})
    names = dict(model.named_parameters())
    for key in ("img_backbone.layer1.0.conv1.weight", "img_neck.fpn.fpn_lateral2.weight",
                "pts_voxel_encoder.vfe_layers.1.0.weight",
                "pts_voxel_encoder.fusion_layer.lateral_convs.4.weight",
                "pts_voxel_encoder.fusion_layer.img_transform.0.weight",
                "pts_voxel_encoder.fusion_layer.pts_transform.1.weight",
                "pts_middle_encoder.conv_input.0.weight", "pts_bbox_head.conv_cls.weight"):
        assert key in names, key
    assert names["img_backbone.layer1.0.conv1.weight"].stop_gradient          # frozen stage 1
    assert names["img_backbone.bn1.weight"].stop_gradient                      # frozen stem
    assert not names["img_backbone.layer2.0.conv1.weight"].stop_gradient
    assert names["img_backbone.layer3.0.bn1.weight"].stop_gradient             # norm_eval
    assert names["img_neck.fpn.fpn_lateral2.norm.weight"].stop_gradient
    rng = np.random.default_rng(0)
    batch = _batch(rng)
    model.train()
    stats = model.img_backbone.layer3[0].bn1._mean.numpy().copy()
    opt = paddle.optimizer.AdamW(1e-3, parameters=model.parameters(), beta1=0.95, beta2=0.99,
                                 weight_decay=0.01,
                                 grad_clip=paddle.nn.ClipGradByGlobalNorm(35.0))
    losses = LossComposer(LOSSES)
    for _ in range(2):
        total, terms = losses(model(**batch.inputs()), batch)
        assert np.isfinite(total.item()) and terms["loss_bbox"].item() > 0
        total.backward()
        g = model.img_backbone.layer2[0].conv1.weight.grad
        assert g is not None and np.isfinite(g.numpy()).all() and np.abs(g.numpy()).sum() > 0
        assert model.img_backbone.layer1[0].conv1.weight.grad is None
        opt.step()
        opt.clear_grad()
    np.testing.assert_array_equal(model.img_backbone.layer3[0].bn1._mean.numpy(), stats)
    model.eval()
    with paddle.no_grad():
        out = model(**batch.inputs())
    assert out["cls_score"].shape == [2, 18, 8, 8] and len(out["detections"]) == 2


def test_image_features_reach_the_head_and_bad_input():
    paddle.seed(0)
    model = build_model({"model": tiny_mvx_cfg()})
    model.eval()
    rng = np.random.default_rng(3)
    batch = _batch(rng, n=1)
    with paddle.no_grad():
        feats, pad = model.extract_img_feat(batch.images)
        a = model.extract_pts_feat(batch.points, feats, batch.metas, pad).numpy()
        feats, pad = model.extract_img_feat(batch.images * 0 + 5.0)
        b = model.extract_pts_feat(batch.points, feats, batch.metas, pad).numpy()
        model(**batch.inputs())
    assert np.abs(a - b).max() > 1e-2 * np.abs(a).max() > 0     # the camera changes the BEV
    with pytest.raises(ValueError, match="needs images"):
        model(points=batch.points)
    bad = tiny_mvx_cfg()
    bad["pts_middle_encoder"]["sparse_shape"] = [41, 32, 64]
    with pytest.raises(ConfigError, match="sparse_shape"):
        build_model({"model": bad})
    bad = tiny_mvx_cfg()
    bad["pts_voxel_encoder"]["fusion_layer"] = {"type": "NoSuchFusion"}
    with pytest.raises(ConfigError, match="fusion_layer.type"):
        build_model({"model": bad})


def test_frame_without_points_and_without_objects_trains_finite():
    paddle.seed(0)
    model = build_model({"model": tiny_mvx_cfg()})
    model.train()
    rng = np.random.default_rng(5)
    batch = _batch(rng)
    batch.points[1] = paddle.zeros([0, 4])
    total, terms = LossComposer(LOSSES)(model(**batch.inputs()), batch)
    assert np.isfinite(total.item())
    total.backward()
    g = model.pts_voxel_encoder.fusion_layer.img_transform[0].weight.grad
    assert g is not None and np.isfinite(g.numpy()).all()
