"""tools/val.py, predict.py, export.py and deploy/python/infer_det.py for MVX-Net on a tiny
synthetic KITTI 3-D set (random-init tiny models): PointFusion and a BEV-level variant
(ChannelExchange); modules without a graph form stop the export with one ``error:`` line."""
import glob
import importlib.util
import io
import logging
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

from paddlexseg.config import load_config
from paddlexseg.datasets.kitti_label import read_label
from paddlexseg.engine.builder import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = "configs/mvxnet/mvxnet_{}_synthetic-kitti3d_quick.yml"
PC = [0, -12.8, -3, 25.6, 12.8, 1]
IMAGE_SIZE = [160, 48]                                   # (W, H) after the dataset's resize
VARIANTS = sorted(os.path.basename(p)[len("mvxnet_"):-len("_synthetic-kitti3d_quick.yml")]
                  for p in glob.glob(os.path.join(REPO, QUICK.format("*"))))


def tiny_mvx_tools_cfg(root, tmp_path, variant="pointfusion"):
    """A quick MVX-Net config shrunk to a 16 x 16 BEV map, ResNet-18 with 8-channel FPN levels
    on 160 x 48 images; written to a YAML file whose path is returned."""
    cfg = load_config(os.path.join(REPO, QUICK.format(variant)))
    cfg.pop("_base_", None)
    cfg.update(iters=1, batch_size=1)
    for key in ("train_dataset", "val_dataset"):
        cfg[key].update(root=root, point_range=PC, image_size=IMAGE_SIZE)
    m = cfg["model"]
    m["img_neck"].update(out_channels=8)
    vfe = m["pts_voxel_encoder"]
    vfe.update(feat_channels=[16, 16], voxel_size=[0.2, 0.2, 0.1], point_cloud_range=PC)
    if vfe.get("fusion_layer"):
        vfe["fusion_layer"].update(img_channels=8, pts_channels=16, out_channels=16)
        if "mid_channels" in vfe["fusion_layer"]:
            vfe["fusion_layer"]["mid_channels"] = 8
    m["pts_middle_encoder"].update(in_channels=16, sparse_shape=[41, 128, 128],
                                   base_channels=4, output_channels=8,
                                   encoder_channels=[[4], [8, 8], [8, 8], [8, 8]],
                                   encoder_paddings=[[1], [1, 1], [1, 1], [[0, 1, 1], 1]])
    bev = m.get("bev_fusion") or {}
    if bev.get("type") == "ChannelExchange":             # output 2 x 8 = the backbone's 16
        bev.update(lidar_channels=16, img_channels=8, channels=8)
    elif bev.get("type") == "GraphBEVFusion":
        bev["pre_fusion"].update(lidar_channels=16, img_channels=8, out_channels=8)
        bev["neck"].update(out_channels=16)
    m["pts_backbone"].update(in_channels=16, out_channels=[8, 16], layer_nums=[1, 1])
    m["pts_neck"].update(in_channels=[8, 16], out_channels=[8, 8])
    m["pts_bbox_head"].update(in_channels=16, feat_channels=16, anchor_ranges=[
        [PC[0], PC[1], z, PC[3], PC[4], z] for z in (-0.6, -0.6, -1.78)])
    cfg["metric"].update(pcd_limit_range=PC[:5] + [0.0], point_cloud_range=PC)
    path = os.path.join(str(tmp_path), f"mvx_{variant}_tiny.yml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def _tool(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tool, *args):
    """Run ``<tool>``'s main in this process; returns (its result, the log and stdout)."""
    from contextlib import redirect_stdout
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("paddlexseg")
    logger.addHandler(handler)
    try:
        with redirect_stdout(stream):
            result = _tool(os.path.join(REPO, tool)).main(list(args))
    finally:
        logger.removeHandler(handler)
    return result, stream.getvalue()


def _labels(folder):
    return {n: read_label(os.path.join(folder, n)) for n in sorted(os.listdir(folder))}


def tiny_weights(cfg, tmp):
    """Random-init weights of the config's model, saved as ``tmp/tiny.pdparams``."""
    paddle.seed(0)
    model = build_model(load_config(cfg))
    head = model.pts_bbox_head
    # scores around 0.5 (boxes to draw and compare), box sizes near the anchors'
    for conv, std in ((head.conv_cls, 0.3), (head.conv_reg, 0.02)):
        conv.weight.set_value(paddle.randn(conv.weight.shape) * std)
    head.conv_cls.bias.set_value(paddle.zeros(head.conv_cls.bias.shape))
    path = os.path.join(str(tmp), "tiny.pdparams")
    paddle.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def weights(synthetic_kitti3d, tmp_path_factory):
    """PointFusion (the BEV-level export is compared in tests/apis/test_mvx_export.py)."""
    tmp = tmp_path_factory.mktemp("mvx_tools")
    cfg = tiny_mvx_tools_cfg(synthetic_kitti3d, tmp, "pointfusion")
    return cfg, tiny_weights(cfg, tmp), tmp


@pytest.mark.parametrize("variant", VARIANTS)
def test_predict_every_fusion_variant(variant, synthetic_kitti3d, tmp_path):
    """One frame per quick config: label_2 (parsable), BEV and camera PNGs with the boxes."""
    cfg = tiny_mvx_tools_cfg(synthetic_kitti3d, tmp_path, variant)
    scan = sorted(glob.glob(os.path.join(synthetic_kitti3d, "training", "velodyne", "*.bin")))[0]
    save = str(tmp_path / "pred")
    _run("tools/predict.py", "--config", cfg, "--model_path", tiny_weights(cfg, tmp_path),
         "--input", scan, "--save_dir", save, "--no_progress")
    name = os.path.basename(scan)[:-4]
    anno = read_label(os.path.join(save, "label_2", f"{name}.txt"))   # raises if malformed
    from PIL import Image
    camera = np.asarray(Image.open(os.path.join(save, "camera", f"{name}.png")))
    source = np.asarray(Image.open(os.path.join(synthetic_kitti3d, "training", "image_2",
                                                f"{name}.png")).convert("RGB"))
    assert camera.shape == source.shape
    if len(anno["name"]):                                               # boxes drawn
        assert (camera != source).any()
    assert os.path.isfile(os.path.join(save, "bev", f"{name}.png"))


def test_val_predict_export_infer(weights, synthetic_kitti3d):
    cfg, path, tmp = weights
    _, log = _run("tools/val.py", "--config", cfg, "--model_path", path, "--no_progress")
    assert "Car" in log and "AP40" in log
    pred = os.path.join(str(tmp), "pred")
    _run("tools/predict.py", "--config", cfg, "--model_path", path, "--input", synthetic_kitti3d,
         "--save_dir", pred, "--no_progress")
    frames = len(os.listdir(os.path.join(synthetic_kitti3d, "training", "velodyne")))
    for sub in ("label_2", "bev", "camera"):
        assert len(os.listdir(os.path.join(pred, sub))) == frames
    ref = _labels(os.path.join(pred, "label_2"))
    assert sum(len(a["name"]) for a in ref.values()) > 0           # boxes were drawn
    export = os.path.join(str(tmp), "export")
    _run("tools/export.py", "--config", cfg, "--model_path", path, "--save_dir", export)
    info = yaml.safe_load(open(os.path.join(export, "deploy.yaml")))["Deploy"]
    # the exported image input is the dataset's: resized to image_size, then padded to 32
    assert info["family"] == "fusion_detection" and info["image_shape"] == [64, 160]
    assert "dynamic scatter (max/mean)" in info["inside_graph"]
    infer = os.path.join(str(tmp), "infer")
    result, _ = _run("deploy/python/infer_det.py", "--config", export, "--input",
                     synthetic_kitti3d, "--save_dir", infer, "--no_progress")
    assert result["frames"] == frames
    got = _labels(os.path.join(infer, "label_2"))
    assert got.keys() == ref.keys()
    for name in ref:                                   # 4-decimal label files, same boxes
        assert list(got[name]["name"]) == list(ref[name]["name"])
        for key in ("location", "dimensions", "rotation_y", "score"):
            np.testing.assert_allclose(got[name][key], ref[name][key], rtol=1e-5, atol=2e-4)


def test_export_names_the_module_it_cannot_export(synthetic_kitti3d, tmp_path):
    """graph-gnn-aligned: PreFusionCat lifts the image to BEV through NumPy point binning."""
    cfg = tiny_mvx_tools_cfg(synthetic_kitti3d, tmp_path, "graph-gnn-aligned")
    module = "PreFusionCat"
    run = subprocess.run([sys.executable, os.path.join(REPO, "tools/export.py"), "--config",
                          cfg, "--save_dir", str(tmp_path / "export")],
                         capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1"))
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and module in lines[0] and "cannot be exported" in lines[0]
    assert not os.path.exists(tmp_path / "export" / "front.json")
