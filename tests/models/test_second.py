"""SECOND on tiny random frames: shapes, mmdet3d parameter names, losses, decoding."""
import os
import sys

import numpy as np
import paddle

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from second_tiny import CAR, random_frame, tiny_model_cfg  # noqa: E402

from paddlexseg.engine.builder import build_model  # noqa: E402
from paddlexseg.losses.composer import LossComposer  # noqa: E402
from paddlexseg.structures import DetBatch  # noqa: E402

LOSSES = [{"type": "Anchor3DHeadLoss", "input": ["cls_score", "bbox_pred", "dir_cls_pred",
                                                 "anchors"],
           "target": ["gt_boxes", "gt_labels"]}]


def _model():
    paddle.seed(0)
    return build_model({"model": tiny_model_cfg()})


def test_forward_shapes_and_names():
    model = _model()
    rng = np.random.default_rng(0)
    out = model([random_frame(rng), random_frame(rng, 500)])
    assert out["cls_score"].shape == [2, 6 * 3, 8, 8]
    assert out["bbox_pred"].shape == [2, 6 * 7, 8, 8]
    assert out["dir_cls_pred"].shape == [2, 6 * 2, 8, 8]
    assert out["anchors"].shape == [8, 8, 3, 2, 7]
    assert "detections" not in out
    keys = set(model.state_dict())
    for name in ("middle_encoder.conv_input.0.weight", "middle_encoder.conv_input.1._mean",
                 "middle_encoder.encoder_layers.encoder_layer2.0.0.weight",
                 "middle_encoder.encoder_layers.encoder_layer4.1.1.weight",
                 "middle_encoder.conv_out.0.weight", "backbone.blocks.1.3.weight",
                 "neck.deblocks.1.0.weight", "bbox_head.conv_cls.weight",
                 "bbox_head.conv_reg.bias", "bbox_head.conv_dir_cls.weight"):
        assert name in keys, name
    # anchors of class c (size c) sit in channels a * C + c, a = size * 2 + rot
    anchors = out["anchors"].numpy()
    np.testing.assert_allclose(anchors[0, 0, 2, 1, 3:], [3.9, 1.6, 1.56, 1.57], rtol=1e-6)
    np.testing.assert_allclose(anchors[0, :, 0, 0, 0], np.linspace(0, 6.4, 8), rtol=1e-5)


def test_full_kitti_parameter_shapes():
    cfg = tiny_model_cfg()
    cfg["voxel_layer"].update(voxel_size=[0.05, 0.05, 0.1],
                              point_cloud_range=[0, -40, -3, 70.4, 40, 1])
    cfg["middle_encoder"] = {"in_channels": 4, "sparse_shape": [41, 1600, 1408]}
    cfg["backbone"] = {"in_channels": 256, "out_channels": [128, 256], "layer_nums": [5, 5],
                       "layer_strides": [1, 2]}
    cfg["neck"] = {"in_channels": [128, 256], "out_channels": [256, 256],
                   "upsample_strides": [1, 2]}
    cfg["bbox_head"] = {"num_classes": 3, "in_channels": 512, "feat_channels": 512}
    shapes = {k: list(v.shape) for k, v in build_model({"model": cfg}).state_dict().items()}
    assert shapes["middle_encoder.conv_input.0.weight"] == [3, 3, 3, 4, 16]
    assert shapes["middle_encoder.conv_out.0.weight"] == [3, 1, 1, 64, 128]
    assert shapes["backbone.blocks.0.0.weight"] == [128, 256, 3, 3]
    assert shapes["neck.deblocks.1.0.weight"] == [256, 256, 2, 2]
    assert shapes["bbox_head.conv_cls.weight"] == [18, 512, 1, 1]
    assert shapes["bbox_head.conv_reg.weight"] == [42, 512, 1, 1]
    assert shapes["bbox_head.conv_dir_cls.weight"] == [12, 512, 1, 1]


def test_losses_finite_with_and_without_objects():
    model = _model()
    model.train()
    rng = np.random.default_rng(1)
    batch = DetBatch(points=[random_frame(rng, boxes=CAR), random_frame(rng)],
                     gt_boxes=[paddle.to_tensor(CAR), paddle.zeros([0, 7])],
                     gt_labels=[paddle.to_tensor([2], dtype="int64"),
                                paddle.zeros([0], dtype="int64")])
    losses = LossComposer(LOSSES)
    total, terms = losses(model(**batch.inputs()), batch)
    assert set(terms) == {"loss_cls", "loss_bbox", "loss_dir"}
    assert all(np.isfinite(v.item()) for v in terms.values())
    assert terms["loss_bbox"].item() > 0
    total.backward()
    grad = model.bbox_head.conv_reg.weight.grad
    assert grad is not None and np.isfinite(grad.numpy()).all()
    model.clear_gradients()
    empty = DetBatch(points=[random_frame(rng)], gt_boxes=[paddle.zeros([0, 7])],
                     gt_labels=[paddle.zeros([0], dtype="int64")])
    total, terms = losses(model(**empty.inputs()), empty)
    assert np.isfinite(total.item()) and terms["loss_bbox"].item() == 0.0
    total.backward()


def test_eval_detections_and_decode_of_targets():
    model = _model()
    model.eval()
    rng = np.random.default_rng(2)
    with paddle.no_grad():
        out = model([random_frame(rng, boxes=CAR)])
    (det,) = out["detections"]
    assert det["boxes_3d"].shape[1] == 7 and det["boxes_3d"].shape[0] <= 50
    assert det["scores_3d"].shape == det["labels_3d"].shape == (det["boxes_3d"].shape[0],)
    # the regression targets of the positive anchors decode back to the ground-truth box
    loss = LossComposer(LOSSES).losses[0]
    flat, t = loss.targets(out["anchors"], [paddle.to_tensor(CAR)],
                           [paddle.to_tensor([2], dtype="int64")])
    pos = t["pos"][0]
    assert pos.size > 0 and (t["labels"][0][pos] == 2).all()
    anchors = paddle.to_tensor(flat[pos])
    gt = paddle.to_tensor(np.repeat(CAR, pos.size, axis=0))
    decoded = model.bbox_head.bbox_coder.decode(anchors, loss.coder.encode(anchors, gt))
    np.testing.assert_allclose(decoded.numpy(), gt.numpy(), atol=1e-4)
    # a perfect prediction at those anchors is detected as the ground-truth box
    cls = np.full(out["cls_score"].shape, -10.0, np.float32)
    reg = np.zeros(out["bbox_pred"].shape, np.float32)
    dirs = np.zeros(out["dir_cls_pred"].shape, np.float32)
    h, w, s, r = out["anchors"].shape[:4]
    best = pos[0]
    hw, a = divmod(best, s * r)
    y, x = divmod(hw, w)
    cls[0, a * 3 + 2, y, x] = 10.0
    deltas = loss.coder.encode(anchors[:1], gt[:1]).numpy()[0]
    reg[0, a * 7:(a + 1) * 7, y, x] = deltas
    gt_bin = int(np.floor(((CAR[0, 6] + np.pi / 2) % (2 * np.pi)) / np.pi))
    dirs[0, a * 2 + gt_bin, y, x] = 5.0
    (det,) = model.predict_boxes({"cls_score": paddle.to_tensor(cls),
                                  "bbox_pred": paddle.to_tensor(reg),
                                  "dir_cls_pred": paddle.to_tensor(dirs),
                                  "anchors": out["anchors"]})
    assert det["boxes_3d"].shape[0] == 1 and det["labels_3d"][0] == 2
    np.testing.assert_allclose(det["boxes_3d"][0, :6], CAR[0, :6], atol=1e-4)
    d = (det["boxes_3d"][0, 6] - CAR[0, 6] + np.pi) % (2 * np.pi) - np.pi
    assert abs(d) < 1e-4
