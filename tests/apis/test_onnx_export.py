"""ONNX export (tools/export.py --format onnx) and infer.py --backend onnxruntime against dygraph.

Needs the onnx extra (pip install -e .[onnx]); skipped without it. One export per family and
output op (RangeNet++ none/softmax/argmax, SqueezeSegV3 softmax, PointRend softmax/argmax,
Event-VPR descriptor), each checked on a random batch of 3 (the batch axis is dynamic).
"""
import os
import sys

import numpy as np
import paddle
import pytest
import yaml

pytest.importorskip("paddle2onnx")
ort = pytest.importorskip("onnxruntime")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models  # noqa: E402
from test_export import load_infer  # noqa: E402

from paddlexseg.apis.export import ExportWrapper, export_model  # noqa: E402
from paddlexseg.apis.families import family_of  # noqa: E402
from paddlexseg.apis.range_predict import predict_range  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402

SOFTMAX_ATOL = 1e-5
EVENT_SENSOR = (26, 34)


def sqseg_cfg(root):
    cfg = tiny_models.range_cfg(root)
    cfg["model"] = {"type": "SqueezeSegV3", "num_classes": 20,
                    "backbone": {"type": "SACNet", "layers": 21, "output_stride": 8}}
    return cfg


def event_cfg():
    return {"model": {"type": "EventVPR", "in_bins": 3, "backbone": {"type": "ResNet", "depth": 18},
                      "crop_size": 32, "num_clusters": 4, "dim": 512},
            "val_dataset": {"type": "MVSECPlaces", "root": "unused", "num_bins": 3,
                            "sensor_size": list(EVENT_SENSOR)}}


class Exports:
    """Exports made once per module: (config, dygraph model, export folder) by key."""

    def __init__(self, root, kitti):
        self.root, self.kitti, self.done = root, kitti, {}

    def get(self, key):
        if key not in self.done:
            family, op = key.split("/")
            cfg = {"rangenet": lambda: tiny_models.range_cfg(self.kitti),
                   "sqseg": lambda: sqseg_cfg(self.kitti), "pointrend": tiny_models.image_cfg,
                   "event": event_cfg}[family]()
            shape = (64, 96) if family == "pointrend" else None
            weights, model = tiny_models.make_weights(cfg, self.root / f"{family}.pdparams",
                                                      seed=3, return_model=True)
            folder = str(self.root / key.replace("/", "_"))
            export_model(cfg, weights, folder, output_op=op, input_shape=shape, fmt="onnx")
            self.done[key] = (cfg, model, folder)
        return self.done[key]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, synthetic_kitti):
    return Exports(tmp_path_factory.mktemp("onnx"), synthetic_kitti)


def run_both(cfg, model, folder, batch=3):
    """(ONNX Runtime output, dygraph output) on a random batch; the deploy.yaml info."""
    info = yaml.safe_load(open(os.path.join(folder, "deploy.yaml")))["Deploy"]
    x = np.random.default_rng(7).standard_normal([batch] + info["input_shape"][1:])
    x = x.astype(np.float32)
    session = ort.InferenceSession(os.path.join(folder, info["onnx"]["model"]),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {info["input_name"]: x})[0]
    family = family_of(cfg)
    with paddle.no_grad():
        ref = ExportWrapper(model, family.input_name, family.output, info["output_op"])(
            paddle.to_tensor(x)).numpy()
    return got, ref, info


@pytest.mark.parametrize("key", ["rangenet/softmax", "rangenet/none", "rangenet/argmax",
                                 "sqseg/softmax", "pointrend/softmax", "pointrend/argmax",
                                 "event/none"])
def test_onnxruntime_equals_dygraph(exports, key):
    got, ref, info = run_both(*exports.get(key))
    assert got.shape == ref.shape and got.shape[0] == 3
    section = info["onnx"]
    assert section["opset"] == 16 and section["input_names"] == [info["input_name"]]
    assert section["dynamic_axes"][info["input_name"]] == {0: "batch"}
    op = info["output_op"]
    if op == "argmax":
        assert section["output_names"] == ["labels"] and got.dtype == np.int32
        np.testing.assert_array_equal(got, ref)
        assert len(np.unique(got)) > 1  # a real prediction
        assert section["check"]["label_mismatch"] == 0.0
    elif op == "softmax":
        assert section["output_names"] == ["probs"]
        assert np.abs(got - ref).max() <= SOFTMAX_ATOL
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))
    elif info["family"] == "event":
        assert section["output_names"] == ["descriptor"] and got.shape == (3, 4 * 512)
        assert np.abs(got - ref).max() <= SOFTMAX_ATOL
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    else:
        assert section["output_names"] == ["logits"]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(got.argmax(1), ref.argmax(1))


def labels_of(folder, names):
    return [np.fromfile(os.path.join(folder, "sequences", "08", "predictions", n + ".label"),
                        dtype=np.uint32) for n in names]


def test_infer_onnxruntime_writes_the_dygraph_labels(exports, synthetic_kitti, tmp_path):
    cfg, model, folder = exports.get("rangenet/none")
    velo = os.path.join(synthetic_kitti, "sequences", "08", "velodyne")
    infer = load_infer()
    names = ("000000", "000001")
    for knn in (None, cfg["metric"]["knn"]):
        tag = "knn" if knn else "plain"
        predict_range(model, cfg, velo, str(tmp_path / f"dy_{tag}"), knn=knn, progress=False)
        flag = [] if knn else ["--no-knn"]
        for backend in ("onnxruntime", "paddle"):
            infer.main(["--config", folder, "--input", velo, "--save_dir",
                        str(tmp_path / f"{backend}_{tag}"), "--backend", backend,
                        "--no_progress"] + flag)
        for a, b, c in zip(labels_of(tmp_path / f"onnxruntime_{tag}", names),
                           labels_of(tmp_path / f"paddle_{tag}", names),
                           labels_of(tmp_path / f"dy_{tag}", names)):
            assert a.size > 1000 and len(np.unique(a)) > 1
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)


def test_infer_onnxruntime_image(exports, tmp_path):
    cfg, model, folder = exports.get("pointrend/argmax")
    tiny_models.write_images(str(tmp_path / "images"), [(64, 96), (64, 96)])
    infer = load_infer()
    for backend in ("onnxruntime", "paddle"):
        infer.main(["--config", folder, "--input", str(tmp_path / "images"), "--save_dir",
                    str(tmp_path / backend), "--backend", backend, "--no_progress"])
    from PIL import Image
    for rel in ("img0.png", os.path.join("sub", "img1.png")):
        a = np.asarray(Image.open(tmp_path / "onnxruntime" / "label" / rel))
        b = np.asarray(Image.open(tmp_path / "paddle" / "label" / rel))
        assert a.shape == (64, 96)
        np.testing.assert_array_equal(a, b)


def write_events(folder, count, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        n = 3000
        ev = np.stack([np.sort(rng.uniform(0, 0.05, n)) + i,
                       rng.integers(0, EVENT_SENSOR[1], n), rng.integers(0, EVENT_SENSOR[0], n),
                       rng.integers(0, 2, n)], axis=1).astype(np.float64)
        np.save(os.path.join(folder, f"{i}.npy"), ev)


def test_infer_event_descriptors_equal_dygraph(exports, tmp_path):
    from paddlexseg.apis.event_deploy import voxelize_file
    cfg, model, folder = exports.get("event/none")
    write_events(str(tmp_path / "events"), 2)
    infer = load_infer()
    for backend in ("onnxruntime", "paddle"):
        outputs = infer.main(["--config", folder, "--input", str(tmp_path / "events"),
                              "--save_dir", str(tmp_path / backend), "--backend", backend,
                              "--no_progress"])
        assert len(outputs) == 2
    info = yaml.safe_load(open(os.path.join(folder, "deploy.yaml")))["Deploy"]
    for i in range(2):
        voxels = voxelize_file(str(tmp_path / "events" / f"{i}.npy"), info["events"])
        with paddle.no_grad():
            ref = model(voxels=paddle.to_tensor(voxels[None]))["descriptor"].numpy()[0]
        for backend in ("onnxruntime", "paddle"):
            got = np.load(tmp_path / backend / "descriptors" / f"{i}.npy")
            assert got.shape == (4 * 512,)
            assert np.abs(got - ref).max() <= SOFTMAX_ATOL


def test_onnxruntime_backend_needs_an_onnx_export(exports, tmp_path):
    _, _, folder = exports.get("event/none")
    info = yaml.safe_load(open(os.path.join(folder, "deploy.yaml")))
    del info["Deploy"]["onnx"]
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("model.json", "model.pdiparams"):
        os.symlink(os.path.join(folder, name), plain / name)
    (plain / "deploy.yaml").write_text(yaml.safe_dump(info))
    with pytest.raises(ConfigError, match="no 'onnx' section; re-export with tools/export.py "
                                          "--format onnx"):
        load_infer().main(["--config", str(plain), "--input", str(tmp_path), "--backend",
                           "onnxruntime"])


def test_export_rejects_a_descriptor_output_op():
    with pytest.raises(ConfigError, match="expected one of none for the event family"):
        export_model(event_cfg(), None, "unused", output_op="argmax", fmt="onnx")


def test_bench_onnx_tiny_runs_and_agrees():
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "benchmarks", "bench_onnx.py")
    spec = importlib.util.spec_from_file_location("bench_onnx", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--tiny", "--families", "event_vpr", "--repeats", "1"])
    assert len(rows) == 1 and rows[0]["input"] == "1x5x26x34"
    assert rows[0]["max_abs_diff"] <= SOFTMAX_ATOL
    assert all(rows[0][k] > 0 for k in ("dygraph", "paddle_inference", "onnxruntime"))
