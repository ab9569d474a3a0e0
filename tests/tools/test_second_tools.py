"""tools/train.py, val.py, predict.py and export.py on a tiny synthetic KITTI 3-D set (SECOND)."""
import importlib.util
import io
import logging
import os

import numpy as np
import paddle
import pytest
import yaml

from paddlexseg.config import load_config
from paddlexseg.datasets.kitti_label import read_label

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = os.path.join(REPO, "configs/second/second_hv_secfpn_synthetic-kitti3d_quick.yml")
PC = [0, -12.8, -3, 25.6, 12.8, 1]


def tiny_cfg(root, tmp_path):
    """The quick config shrunk further (BEV 16 x 16, few channels), written to a YAML file."""
    cfg = load_config(QUICK)
    cfg.pop("_base_", None)
    cfg.update(iters=2, batch_size=2)
    for key in ("train_dataset", "val_dataset"):
        cfg[key].update(root=root, point_range=PC)
    cfg["train_dataset"]["gt_sampler"]["sample_groups"] = {"Car": 2, "Pedestrian": 1,
                                                           "Cyclist": 1}
    m = cfg["model"]
    m["voxel_layer"].update(point_cloud_range=PC, voxel_size=[0.2, 0.2, 0.1])
    m["middle_encoder"].update(sparse_shape=[41, 128, 128], base_channels=4, output_channels=8,
                               encoder_channels=[[4], [8, 8], [8, 8], [8, 8]],
                               encoder_paddings=[[1], [1, 1], [1, 1], [[0, 1, 1], 1]])
    m["backbone"].update(in_channels=16, out_channels=[8, 16], layer_nums=[1, 1])
    m["neck"].update(in_channels=[8, 16], out_channels=[8, 8])
    m["bbox_head"].update(in_channels=16, feat_channels=16, anchor_ranges=[
        [PC[0], PC[1], z, PC[3], PC[4], z] for z in (-0.6, -0.6, -1.78)])
    cfg["metric"].update(pcd_limit_range=PC[:5] + [0.0], point_cloud_range=PC)
    cfg["train"].update(log_iters=1, eval_interval=2, save_interval=2)
    path = os.path.join(str(tmp_path), "second_tiny.yml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def _tool(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tool, *args):
    """Run ``tools/<tool>``'s main in this process; returns (its result, the log and stdout)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("paddlexseg")
    logger.addHandler(handler)
    try:
        from contextlib import redirect_stdout
        with redirect_stdout(stream):
            result = _tool(os.path.join(REPO, tool)).main(list(args))
    finally:
        logger.removeHandler(handler)
    return result, stream.getvalue()


@pytest.fixture(scope="module")
def trained(synthetic_kitti3d, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("second_tools")
    cfg = tiny_cfg(synthetic_kitti3d, tmp)
    out = os.path.join(str(tmp), "run")
    _, log = _run("tools/train.py", "--config", cfg, "--save_dir", out, "--do_eval", "--use_vdl",
               "--no_progress")
    return cfg, out, log, tmp


def test_train_logs_losses_table_and_vdl(trained):
    cfg, out, log, _ = trained
    assert "loss_cls" in log and "loss_bbox" in log and "loss_dir" in log
    assert "Car" in log and "AP40" in log          # the KITTI table after the evaluation
    assert os.path.isdir(os.path.join(out, "iter_2"))
    from visualdl import LogReader
    logdir = os.path.join(out, "vdl_log")
    reader = LogReader(file_path=os.path.join(logdir, sorted(os.listdir(logdir))[0]))
    tags = reader.get_tags()
    assert "train/loss_cls" in tags["scalar"] and "val/Car/3d/AP40/moderate" in tags["scalar"]
    assert any("bev" in t for t in tags.get("image", []))


def test_val_prints_kitti_table(trained):
    cfg, out, _, _ = trained
    _, log = _run("tools/val.py", "--config", cfg, "--model_path", os.path.join(out, "iter_2"),
               "--no_progress")
    assert "Car" in log and "Pedestrian" in log and "AP40" in log and "3d" in log


def test_predict_writes_valid_label_2(trained, synthetic_kitti3d):
    cfg, out, _, tmp = trained
    save = os.path.join(str(tmp), "pred")
    _run("tools/predict.py", "--config", cfg, "--model_path", os.path.join(out, "iter_2"),
         "--input", synthetic_kitti3d, "--save_dir", save, "--no_progress")
    n_frames = len(os.listdir(os.path.join(synthetic_kitti3d, "training", "velodyne")))
    labels = sorted(os.listdir(os.path.join(save, "label_2")))
    assert len(labels) == n_frames
    assert len(os.listdir(os.path.join(save, "bev"))) == n_frames
    assert len(os.listdir(os.path.join(save, "camera"))) == n_frames
    for name in labels:
        anno = read_label(os.path.join(save, "label_2", name))   # raises on a malformed line
        assert set(anno["name"]) <= {"Car", "Pedestrian", "Cyclist"}
        if len(anno["name"]):
            assert (anno["score"] > 0.1).all() and (anno["dimensions"] > 0).all()
            with open(os.path.join(save, "label_2", name)) as f:
                assert all(len(line.split()) == 16 for line in f)


def test_export_matches_dygraph(trained):
    cfg, out, _, tmp = trained
    save = os.path.join(str(tmp), "export")
    _run("tools/export.py", "--config", cfg, "--model_path", os.path.join(out, "iter_2"),
         "--save_dir", save)
    with open(os.path.join(save, "deploy.yaml")) as f:
        info = yaml.safe_load(f)["Deploy"]
    assert info["family"] == "detection" and info["input_shape"][1:] == [16, 16, 16]
    from paddle import inference
    from paddlexseg.engine.builder import build_model
    from paddlexseg.engine.checkpoint import load_model_weights
    config = inference.Config(os.path.join(save, info["model"]), os.path.join(save,
                                                                               info["params"]))
    config.disable_gpu()
    config.disable_onednn()
    predictor = inference.create_predictor(config)
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 16)).astype(np.float32)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(x.shape))
    handle.copy_from_cpu(x)
    predictor.run()
    got = [predictor.get_output_handle(n).copy_to_cpu() for n in predictor.get_output_names()]
    model = build_model(load_config(cfg))
    load_model_weights(model, os.path.join(out, "iter_2"))
    model.eval()
    with paddle.no_grad():
        ref = model.forward_dense(paddle.to_tensor(x))
    for arr, key in zip(got, info["output_names"]):
        np.testing.assert_allclose(arr, ref[key].numpy(), rtol=1e-4, atol=1e-5)
    assert os.path.isfile(os.path.join(save, info["sparse_params"]))


def test_deploy_infer_det_matches_predict(trained, synthetic_kitti3d):
    cfg, out, _, tmp = trained
    export_dir = os.path.join(str(tmp), "export_deploy")
    pred_dir, infer_dir = os.path.join(str(tmp), "pred2"), os.path.join(str(tmp), "infer")
    model_path = os.path.join(out, "iter_2")
    # a low score threshold so that both paths write boxes to compare
    opts = ["--opts", "model.bbox_head.score_thr=0.0"]
    _run("tools/export.py", "--config", cfg, "--model_path", model_path, "--save_dir",
         export_dir, *opts)
    _run("tools/predict.py", "--config", cfg, "--model_path", model_path, "--input",
         synthetic_kitti3d, "--save_dir", pred_dir, "--no_progress", *opts)
    result, _ = _run("deploy/python/infer_det.py", "--config", export_dir, "--input",
                     synthetic_kitti3d, "--save_dir", infer_dir, "--no_progress")
    assert result["frames"] == len(os.listdir(os.path.join(pred_dir, "label_2")))
    boxes = 0
    for name in sorted(os.listdir(os.path.join(pred_dir, "label_2"))):
        a = read_label(os.path.join(pred_dir, "label_2", name))
        b = read_label(os.path.join(infer_dir, "label_2", name))
        assert list(a["name"]) == list(b["name"])
        np.testing.assert_allclose(a["location"], b["location"], atol=2e-3)
        np.testing.assert_allclose(a["score"], b["score"], atol=2e-3)
        boxes += len(a["name"])
    assert boxes > 0
