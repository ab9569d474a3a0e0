"""tools/predict.py for point models (2DPASS): LiDAR-only .label files, TTA, bad input.

The tiny model is the 3D network of 2DPASS (``baseline_only``: the part that runs at
inference; the 2D branch's 21M ResNet-34 parameters would only slow the test down) with 8
channels on a 1 m grid, random init.
"""
import copy
import importlib.util
import os
import sys

import numpy as np
import paddle
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "apis"))
import tiny_models  # noqa: E402

from paddlexseg.apis.export import export_model  # noqa: E402
from paddlexseg.apis.families import family_of  # noqa: E402
from paddlexseg.apis.point_predict import point_setup, predict_point  # noqa: E402
from paddlexseg.apis.predict import predict  # noqa: E402
from paddlexseg.datasets.errors import DataError  # noqa: E402
from paddlexseg.datasets.semantickitti import read_label  # noqa: E402
from paddlexseg.engine import builder  # noqa: E402
from paddlexseg.models.twodpass.model import _apply_view, tta_views  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402
from paddlexseg.tool_errors import run_tool  # noqa: E402

POINT_CFG = {
    "batch_size": 1,
    "iters": 1,
    "model": {"type": "TwoDPASS", "num_classes": 20, "hidden_size": 8,
              "spatial_shape": [100, 100, 12], "baseline_only": True, "num_vote": 1},
    "val_dataset": {"type": "SemanticKITTIFusion", "root": None, "sequences": [8], "mode": "val",
                    "label_config": "semantic-kitti", "min_volume": [-50, -50, -4],
                    "max_volume": [50, 50, 2], "use_image": False},
    "metric": {"type": "PointIoU", "label_config": "semantic-kitti"},
}


@pytest.fixture(scope="module")
def point_model(synthetic_kitti, tmp_path_factory):
    """(config, weights path, the model with those weights in eval mode)."""
    cfg = copy.deepcopy(POINT_CFG)
    cfg["val_dataset"]["root"] = synthetic_kitti
    weights, model = tiny_models.make_weights(cfg, tmp_path_factory.mktemp("w") / "p.pdparams",
                                              return_model=True)
    return cfg, weights, model


def _dataset_argmax(cfg, model):
    """{scan name: (sample, argmax [N'])} through the data set class (independent path)."""
    dataset = builder.build_dataset(cfg, "val_dataset")
    out = {}
    for i in range(len(dataset)):
        sample = dataset[i]
        batch = dataset.collate([sample])
        with paddle.no_grad():
            logits = model(**batch.inputs())["logits"]  # [N', C]
        name = os.path.splitext(os.path.basename(sample["path"]))[0]
        out[name] = (sample, logits.argmax(axis=1).numpy())
    return out


def test_dataset_root_round_trips_through_learning_map_inv(point_model, tmp_path, label_config):
    cfg, weights, model = point_model
    save = str(tmp_path / "pred")
    summary = predict(cfg, weights, cfg["val_dataset"]["root"], save, bev=True, progress=False)
    assert summary["scans"] == 3 and summary["outside"] > 0
    velo = os.path.join(cfg["val_dataset"]["root"], "sequences", "08", "velodyne")
    for name, (sample, argmax) in _dataset_argmax(cfg, model).items():
        n_file = os.path.getsize(os.path.join(velo, name + ".bin")) // 16
        label = os.path.join(save, "sequences", "08", "predictions", name + ".label")
        semantic, instance = read_label(label, n_file)
        inside = sample["point_index"]
        assert os.path.getsize(label) == 4 * n_file and not instance.any()  # uint32 per record
        np.testing.assert_array_equal(semantic[inside], label_config.learning_map_inv[argmax])
        np.testing.assert_array_equal(label_config.learning_map[semantic[inside]], argmax)
        outside = np.setdiff1d(np.arange(n_file), inside)
        # beyond 50 m: the prediction of the nearest point the model saw (unseen_points)
        xyz = np.fromfile(os.path.join(velo, name + ".bin"), np.float32).reshape(-1, 4)[:, :3]
        d2 = ((xyz[outside, None, :].astype(np.float64) - xyz[None, inside]) ** 2).sum(-1)
        nearest = argmax[np.argmin(d2, axis=1)]
        assert outside.size > 0
        np.testing.assert_array_equal(semantic[outside], label_config.learning_map_inv[nearest])
        assert len(np.unique(semantic[inside])) > 2
        bev = np.asarray(Image.open(os.path.join(save, "visualization", "08", name + "_bev.png")))
        assert bev.shape == (1000, 1000, 3) and (bev.sum(axis=2) > 0).sum() > 1000


def _crafted_scan(root, folder):
    """2000 points of a synthetic scan, 3 NaN records and 2 points far outside the volume."""
    src = os.path.join(root, "sequences", "08", "velodyne", "000001.bin")
    points = np.fromfile(src, np.float32).reshape(-1, 4)[:2000].copy()
    points[[5, 700, 1999]] = np.nan
    far = np.array([[80.0, 0.0, 0.0, 0.5], [0.0, 0.0, 9.0, 0.5]], np.float32)
    points = np.concatenate([points, far])
    os.makedirs(folder, exist_ok=True)
    points.tofile(os.path.join(folder, "000042.bin"))
    np.fromfile(src, np.float32)[:4000].tofile(os.path.join(folder, "000043.bin"))
    return points


def _inside(points):
    """bool [N_file]: finite records inside the config's volume."""
    keep = np.isfinite(points).all(axis=1)
    keep[keep] = np.all((points[keep, :3] > [-50, -50, -4]) & (points[keep, :3] < [50, 50, 2]),
                        axis=1)
    return keep


def test_loose_scans_batched_voted_and_nan_records(point_model, tmp_path, label_config):
    cfg, _, model = point_model
    folder = str(tmp_path / "scans")
    points = _crafted_scan(cfg["val_dataset"]["root"], folder)
    one = predict_point(model, cfg, folder, str(tmp_path / "b1"), sequence=5, progress=False)
    two = predict_point(model, cfg, folder, str(tmp_path / "b2"), sequence=5, progress=False,
                        batch_size=2)
    other = np.fromfile(os.path.join(folder, "000043.bin"), np.float32).reshape(-1, 4)
    outside = int(np.isfinite(points).all(axis=1).sum() - _inside(points).sum()
                  + other.shape[0] - _inside(other).sum())
    assert one["scans"] == two["scans"] == 2 and one["outside"] == two["outside"] == outside
    for name, n in (("000042", points.shape[0]), ("000043", 1000)):
        a, _ = read_label(os.path.join(tmp_path, "b1", "sequences", "05", "predictions",
                                       name + ".label"), n)
        b, _ = read_label(os.path.join(tmp_path, "b2", "sequences", "05", "predictions",
                                       name + ".label"), n)
        np.testing.assert_array_equal(a, b)  # split per scan by scan_predictions
    first, _ = read_label(os.path.join(tmp_path, "b1", "sequences", "05", "predictions",
                                       "000042.label"), points.shape[0])
    # NaN records: the nearest finite record in file order (the earlier one on a tie)
    np.testing.assert_array_equal(first[[5, 700, 1999]], first[[4, 699, 1998]])
    # far records: the prediction of the nearest point inside the volume
    keep = _inside(points)
    for far in (2000, 2001):
        d = np.linalg.norm(points[keep, :3] - points[far, :3], axis=1)
        assert first[far] == first[np.nonzero(keep)[0][np.argmin(d)]]
    orig = copy.deepcopy(cfg)
    orig["val_dataset"]["unseen_points"] = "unlabeled"     # the original 2DPASS: class 0
    predict_point(model, orig, folder, str(tmp_path / "b0"), sequence=5, progress=False)
    zero, _ = read_label(os.path.join(tmp_path, "b0", "sequences", "05", "predictions",
                                      "000042.label"), points.shape[0])
    assert not zero[[5, 700, 1999, 2000, 2001]].any()
    np.testing.assert_array_equal(zero[keep], first[keep])

    # num_vote from the model: the mean of the views' logits, each run on its own
    keep = _inside(points)
    x = paddle.to_tensor(points[keep])
    idx = paddle.zeros([int(keep.sum())], "int64")
    with paddle.no_grad():
        views = [model.model_3d(_apply_view(x, v), idx, 1)["logits"] for v in tta_views(3)]
    expected = label_config.learning_map_inv[paddle.stack(views).mean(0).argmax(1).numpy()]
    model.num_vote = 3
    try:
        predict_point(model, cfg, os.path.join(folder, "000042.bin"), str(tmp_path / "v"),
                      progress=False)
    finally:
        model.num_vote = 1
    voted, _ = read_label(os.path.join(tmp_path, "v", "sequences", "00", "predictions",
                                       "000042.label"), points.shape[0])
    np.testing.assert_array_equal(voted[keep], expected)


def test_truncated_scan_fails_before_the_model_naming_the_file(point_model, tmp_path):
    cfg = point_model[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "000007.bin").write_bytes(b"\0" * 50)
    with pytest.raises(DataError, match=r"000007\.bin: file size 50 bytes is not a positive "
                                        r"multiple of 16"):
        predict(cfg, str(tmp_path / "no_weights.pdparams"), str(bad), str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_config_errors_knn_dataset_and_export(point_model, tmp_path):
    cfg, weights, _ = point_model
    with pytest.raises(ConfigError, match="--knn applies to range"):
        predict(cfg, weights, cfg["val_dataset"]["root"], str(tmp_path), use_knn=True)
    assert family_of(cfg, predict_only=True).name == "point"
    with pytest.raises(ConfigError, match="'TwoDPASS' \\(point family\\) cannot be exported"):
        export_model(cfg, weights, str(tmp_path / "export"))
    nusc = copy.deepcopy(cfg)
    nusc["val_dataset"] = {"type": "NuScenesLidarSeg", "root": "x"}
    with pytest.raises(ConfigError, match="val_dataset.type: .*got 'NuScenesLidarSeg'"):
        point_setup(nusc)
    nusc["val_dataset"] = dict(cfg["val_dataset"], max_volume=[50, 50])
    with pytest.raises(ConfigError, match="val_dataset.max_volume: expected three numbers"):
        point_setup(nusc)


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_predict_tool_with_tta_opts(point_model, tmp_path, capsys):
    cfg, weights, _ = point_model
    cfg_path = tiny_models.write_config(cfg, tmp_path / "cfg.yml")
    scan = os.path.join(cfg["val_dataset"]["root"], "sequences", "08", "velodyne", "000002.bin")
    run_tool(_load_tool("predict").main,
             ["--config", cfg_path, "--model_path", weights, "--input", scan, "--save_dir",
              str(tmp_path / "o"), "--bev", "--no_progress", "--opts", "model.num_vote=2"])
    n = os.path.getsize(scan) // 16
    semantic, _ = read_label(str(tmp_path / "o" / "sequences" / "08" / "predictions" /
                                 "000002.label"), n)
    assert semantic.shape == (n,) and len(np.unique(semantic)) > 2
    assert (tmp_path / "o" / "visualization" / "08" / "000002_bev.png").is_file()
    (tmp_path / "trunc.bin").write_bytes(b"\0" * 20)
    with pytest.raises(SystemExit) as info:
        run_tool(_load_tool("predict").main,
                 ["--config", cfg_path, "--model_path", weights, "--input",
                  str(tmp_path / "trunc.bin")])
    assert info.value.code == 2 and "trunc.bin: file size 20 bytes" in capsys.readouterr().err


def test_generate_synthetic_images_flag_feeds_the_fusion_dataset(tmp_path, capsys):
    tool = _load_tool("generate_synthetic")
    tool.main(["--kind", "semantickitti", "--out", str(tmp_path), "--sequences", "3", "--scans",
               "1", "--beams", "16", "--azimuth_steps", "256", "--images", "--image_scale", "0.1"])
    assert "1 images" in capsys.readouterr().out
    image = Image.open(tmp_path / "sequences" / "03" / "image_2" / "000000.png")
    assert image.size == (1241, 376)
    dataset = builder.build_dataset(
        {"val_dataset": {"type": "SemanticKITTIFusion", "root": str(tmp_path), "sequences": [3],
                         "mode": "val", "use_image": True}}, "val_dataset")
    sample = dataset[0]
    assert sample["img"].shape == (3, 320, 480) and sample["point2img_index"].size > 100
    with pytest.raises(SystemExit, match="--images applies to --kind semantickitti only"):
        tool.main(["--kind", "cityscapes", "--out", str(tmp_path / "c"), "--images"])


def _official_miou(pred_dir, label_dir, names, label_config):
    """semantic-kitti-api evaluate_semantics.py on the written files (np_ioueval.iouEval)."""
    lut = label_config.learning_map
    n = label_config.num_classes
    conf = np.zeros((n, n), np.int64)
    for name in names:
        label = lut[np.fromfile(os.path.join(label_dir, name + ".label"), np.uint32) & 0xFFFF]
        pred = lut[np.fromfile(os.path.join(pred_dir, name + ".label"), np.uint32) & 0xFFFF]
        np.add.at(conf, (pred, label), 1)
    conf[:, 0] = 0
    tp = np.diag(conf)
    iou = tp / (tp + conf.sum(1) - tp + conf.sum(0) - tp + 1e-15)
    return iou[1:].mean()


@pytest.mark.parametrize("unseen", ["nearest", "unlabeled"])
def test_val_equals_the_official_evaluator_on_the_predicted_files(point_model, tmp_path,
                                                                   label_config, unseen):
    """Issue 14 (1)-(3): max_points in the val config, NaN records and points outside the
    volume; val.py's mIoU is the official evaluator's on predict.py's files."""
    import shutil
    from paddlexseg.engine.evaluate import evaluate
    cfg, weights, model = point_model
    src = os.path.join(cfg["val_dataset"]["root"], "sequences", "08")
    dst = tmp_path / "root" / "sequences" / "08"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("image_2"))
    first = dst / "velodyne" / "000000.bin"
    pts = np.fromfile(first, np.float32).reshape(-1, 4)
    pts[[3, 50, 51]] = np.nan                                      # records the reader drops
    pts.tofile(first)
    cfg = copy.deepcopy(cfg)
    cfg["val_dataset"].update(root=str(tmp_path / "root"), max_points=500, unseen_points=unseen)
    dataset = builder.build_dataset(cfg, "val_dataset")
    metric = builder.build_metric(cfg)
    with pytest.warns(UserWarning, match="NaN/inf"):
        val = evaluate(model, builder.build_loader(dataset, batch_size=1, num_workers=0), metric,
                       progress=False)
    # every record of every file is in the confusion matrix (not 500 per scan)
    assert metric.conf.sum() == sum(os.path.getsize(f) // 16 for f, _ in dataset.files)
    assert f"unseen_points={unseen}" in metric.report()
    predict(cfg, weights, str(tmp_path / "root"), str(tmp_path / "pred"), progress=False)
    names = [os.path.basename(f)[:-4] for f, _ in dataset.files]
    official = _official_miou(str(tmp_path / "pred" / "sequences" / "08" / "predictions"),
                              str(dst / "labels"), names, label_config)
    assert val["mIoU"] == pytest.approx(official, abs=1e-12)
