"""tools/predict.py's logic on tiny random-init models: .label files, PNGs, image labels."""
import os
import sys

import numpy as np
import paddle
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models  # noqa: E402

from paddlexseg.apis.predict import predict, resolve_knn  # noqa: E402
from paddlexseg.apis.range_io import RANGENET_KNN  # noqa: E402
from paddlexseg.apis.range_predict import predict_range  # noqa: E402
from paddlexseg.datasets.cityscapes import (CITYSCAPES_COLORS,  # noqa: E402
                                            TRAIN_ID_TO_LABEL_ID)
from paddlexseg.datasets.errors import DataError  # noqa: E402
from paddlexseg.datasets.semantickitti import read_label  # noqa: E402
from paddlexseg.engine import builder  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def range_setup(synthetic_kitti, tmp_path_factory):
    """(config, weights path, the model with those weights)."""
    cfg = tiny_models.range_cfg(synthetic_kitti)
    weights, model = tiny_models.make_weights(cfg, tmp_path_factory.mktemp("w") / "rn.pdparams",
                                              return_model=True)
    return cfg, weights, model


def _dataset_argmax(cfg, model):
    """{scan name: (sample, argmax [H, W])} through the dataset class (independent path)."""
    dataset = builder.build_dataset(cfg, "val_dataset")
    out = {}
    for i in range(len(dataset)):
        s = dataset[i]
        with paddle.no_grad():
            logits = model(range_img=paddle.to_tensor(s["range_img"][None]))["logits"]
        out[s["name"]] = (s, logits.argmax(axis=1)[0])
    return out


def test_dataset_root_gives_benchmark_layout_with_raw_ids(range_setup, tmp_path, label_config):
    cfg, weights, model = range_setup
    save = str(tmp_path / "pred")
    summary = predict(cfg, weights, cfg["val_dataset"]["root"], save, use_knn=False, bev=True,
                      progress=False)
    assert summary["scans"] == 3
    velo = os.path.join(cfg["val_dataset"]["root"], "sequences", "08", "velodyne")
    for name, (s, argmax) in _dataset_argmax(cfg, model).items():
        expected = label_config.learning_map_inv[argmax.numpy()[s["proj_y"], s["proj_x"]]]
        path = os.path.join(save, "sequences", "08", "predictions", name + ".label")
        n_file = os.path.getsize(os.path.join(velo, name + ".bin")) // 16
        semantic, instance = read_label(path, n_file)  # one uint32 per .bin record
        np.testing.assert_array_equal(semantic, expected)
        assert not instance.any() and len(np.unique(semantic)) > 1
        assert set(np.unique(semantic)) <= set(label_config.learning_map_inv.tolist())
        picture = np.asarray(Image.open(os.path.join(save, "visualization", "08", name + ".png")))
        assert picture.shape == (2 * tiny_models.RANGE_H + 1, tiny_models.RANGE_W, 3)
        bev = np.asarray(Image.open(os.path.join(save, "visualization", "08", name + "_bev.png")))
        assert bev.shape == (1000, 1000, 3) and (bev.sum(axis=2) > 0).sum() > 1000


def test_knn_prediction_matches_the_op(range_setup, tmp_path, label_config):
    knn_op = pytest.importorskip("paddlexseg.ops.knn")
    cfg, _, model = range_setup
    scan = os.path.join(cfg["val_dataset"]["root"], "sequences", "08", "velodyne", "000000.bin")
    knn = resolve_knn(cfg)  # the config's metric.knn
    predict_range(model, cfg, scan, str(tmp_path), knn=knn, progress=False)
    s, argmax = _dataset_argmax(cfg, model)["000000"]
    learning = knn_op.knn_backproject(
        paddle.to_tensor(s["proj_range"]), paddle.to_tensor(s["unproj_range"]), argmax,
        paddle.to_tensor(s["proj_x"].astype(np.int64)),
        paddle.to_tensor(s["proj_y"].astype(np.int64)), 20, knn["k"], knn["search"],
        knn["sigma"], knn["cutoff"]).numpy().reshape(-1)
    semantic, _ = read_label(os.path.join(tmp_path, "sequences", "08", "predictions",
                                          "000000.label"), s["points"].shape[0])
    np.testing.assert_array_equal(semantic, label_config.learning_map_inv[learning])


def test_resolve_knn_follows_the_config_and_the_switch(range_setup):
    cfg = range_setup[0]
    assert resolve_knn(cfg) == cfg["metric"]["knn"]
    assert resolve_knn(cfg, False) is None
    no_knn = {"metric": {"type": "RangeIoU", "knn": None}}
    assert resolve_knn(no_knn) is None and resolve_knn(no_knn, True) == RANGENET_KNN


def test_bad_input_fails_before_the_model_is_built(range_setup, tmp_path):
    cfg = range_setup[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "000000.bin").write_bytes(b"\0" * 20)
    # the weights path does not exist: reaching the model would raise FileNotFoundError
    with pytest.raises(DataError, match="000000.bin: file size 20 bytes"):
        predict(cfg, str(tmp_path / "none.pdparams"), str(bad), str(tmp_path), use_knn=False)
    with pytest.raises(ConfigError, match="apply to range"):
        predict(tiny_models.image_cfg(), "none", str(bad), str(tmp_path), bev=True)


def test_image_model_writes_label_id_train_id_and_color_pngs(tmp_path):
    cfg = tiny_models.image_cfg()
    weights = tiny_models.make_weights(cfg, tmp_path / "pr.pdparams")
    images = tiny_models.write_images(str(tmp_path / "in"), [(40, 72), (64, 64)])
    save, default = str(tmp_path / "out"), str(tmp_path / "default")
    summary = predict(cfg, weights, str(tmp_path / "in"), save, progress=False,
                      image_outputs=["labelid", "trainid", "color"])
    assert summary["images"] == 2
    # Cityscapes default: label ids only (what cityscapesscripts reads), nothing else
    assert predict(cfg, weights, str(tmp_path / "in"), default, progress=False)["kinds"] == \
        ["labelid"]
    assert sorted(os.listdir(default)) == ["label"]
    for image, rel in zip(images, ["img0.png", os.path.join("sub", "img1.png")]):
        h, w = np.asarray(Image.open(image)).shape[:2]
        train = np.asarray(Image.open(os.path.join(save, "trainid", rel)))
        label = np.asarray(Image.open(os.path.join(save, "label", rel)))
        color = np.asarray(Image.open(os.path.join(save, "color", rel)))
        assert train.shape == (h, w) and train.dtype == np.uint8 and train.max() < 19
        np.testing.assert_array_equal(label, TRAIN_ID_TO_LABEL_ID[train])
        np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(default, "label", rel))),
                                      label)
        np.testing.assert_array_equal(color, CITYSCAPES_COLORS[train])
    with pytest.raises(ConfigError, match="--image_outputs applies to image models only"):
        predict(tiny_models.range_cfg("unused"), weights, str(tmp_path / "in"), save,
                image_outputs=["color"])


def test_range_val_equals_the_official_evaluator_with_nan_records(range_setup, tmp_path):
    """NaN/inf records: predict writes the nearest record's class, val scores them the same
    (issue 14 (2)); the official evaluator (np_ioueval) on the files gives val's mIoU."""
    import copy
    import shutil
    from paddlexseg.datasets.label_config import load_label_config
    from paddlexseg.engine.evaluate import evaluate
    cfg, weights, model = range_setup
    dst = tmp_path / "root" / "sequences" / "08"
    shutil.copytree(os.path.join(cfg["val_dataset"]["root"], "sequences", "08"), dst,
                    ignore=shutil.ignore_patterns("image_2"))
    scan = dst / "velodyne" / "000001.bin"
    pts = np.fromfile(scan, np.float32).reshape(-1, 4)
    pts[[0, 7, 8, 500]] = np.inf
    pts.tofile(scan)
    cfg = copy.deepcopy(cfg)
    cfg["val_dataset"]["root"] = str(tmp_path / "root")
    cfg["metric"]["knn"] = None
    dataset = builder.build_dataset(cfg, "val_dataset")
    metric = builder.build_metric(cfg)
    with pytest.warns(UserWarning, match="NaN/inf"):
        val = evaluate(model, builder.build_loader(dataset, batch_size=1, num_workers=0), metric,
                       progress=False)
    assert metric.conf.sum() == sum(os.path.getsize(f) // 16 for f, _ in dataset.files)
    predict(cfg, weights, str(tmp_path / "root"), str(tmp_path / "pred"), use_knn=False,
            progress=False)
    lut = load_label_config("semantic-kitti").learning_map
    conf = np.zeros((20, 20), np.int64)
    for f, label in dataset.files:
        name = os.path.basename(f)[:-4] + ".label"
        pred = np.fromfile(tmp_path / "pred" / "sequences" / "08" / "predictions" / name,
                           np.uint32)
        np.add.at(conf, (lut[pred & 0xFFFF], lut[np.fromfile(label, np.uint32) & 0xFFFF]), 1)
    conf[:, 0] = 0
    tp = np.diag(conf)
    official = (tp / (conf.sum(0) + conf.sum(1) - tp + 1e-15))[1:].mean()
    assert val["mIoU"] == pytest.approx(official, abs=1e-12)
