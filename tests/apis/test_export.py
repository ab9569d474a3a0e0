"""Export for Paddle Inference and deploy/python/infer.py against the dygraph model."""
import importlib.util
import os
import sys

import numpy as np
import paddle
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tiny_models  # noqa: E402

from paddlexseg.apis.export import ExportWrapper, export_model, resolve_input_shape  # noqa: E402
from paddlexseg.apis.families import FAMILIES  # noqa: E402
from paddlexseg.apis.range_predict import predict_range  # noqa: E402
from paddlexseg.registry import ConfigError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_infer():
    """deploy/python/infer.py as a module."""
    path = os.path.join(REPO, "deploy", "python", "infer.py")
    spec = importlib.util.spec_from_file_location("deploy_infer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Toy(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.conv = paddle.nn.Conv2D(5, 4, 1)

    def forward(self, range_img):
        return {"logits": self.conv(range_img)}


def test_wrapper_output_ops():
    paddle.seed(0)
    toy = Toy()
    x = paddle.randn([2, 5, 3, 4])
    logits = toy(x)["logits"]
    arg = ExportWrapper(toy, "range_img", output_op="argmax")(x)
    assert arg.dtype == paddle.int32 and arg.shape == [2, 3, 4]
    np.testing.assert_array_equal(arg.numpy(), logits.numpy().argmax(axis=1))
    prob = ExportWrapper(toy, "range_img", output_op="softmax")(x).numpy()
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(ExportWrapper(toy, "range_img", output_op="none")(x).numpy(),
                                  logits.numpy())
    with pytest.raises(ConfigError, match="--output_op: expected one of none, softmax, argmax"):
        ExportWrapper(toy, "range_img", output_op="max")


def test_input_shape_resolution(synthetic_kitti):
    cfg = tiny_models.range_cfg(synthetic_kitti)
    assert resolve_input_shape(cfg, FAMILIES["range"]) == (16, 64)
    assert resolve_input_shape(cfg, FAMILIES["range"], [32, 128]) == (32, 128)
    cfg["export"] = {"input_shape": [8, 32]}
    assert resolve_input_shape(cfg, FAMILIES["range"]) == (8, 32)
    image = tiny_models.image_cfg()
    with pytest.raises(ConfigError, match="--input_shape H W is required"):
        resolve_input_shape(image, FAMILIES["image"])
    image["val_dataset"]["transforms"].insert(0, {"type": "Resize", "target_size": [96, 48]})
    assert resolve_input_shape(image, FAMILIES["image"]) == (48, 96)
    with pytest.raises(ConfigError, match="two integers"):
        resolve_input_shape(image, FAMILIES["image"], ["a", 3])


def test_range_export_and_deploy_match_the_dygraph_model(synthetic_kitti, tmp_path,
                                                         label_config):
    cfg = tiny_models.range_cfg(synthetic_kitti)
    weights, model = tiny_models.make_weights(cfg, tmp_path / "rn.pdparams", seed=1,
                                              return_model=True)
    out = export_model(cfg, weights, str(tmp_path / "export"), output_op="argmax")
    assert sorted(os.listdir(tmp_path / "export")) == ["deploy.yaml", "model.json",
                                                       "model.pdiparams"]
    info = yaml.safe_load(open(out["deploy_yaml"]))["Deploy"]
    assert info["input_shape"] == [None, 5, 16, 64] and info["input_name"] == "range_img"
    assert (info["model"], info["params"], info["output_dtype"]) == ("model.json",
                                                                    "model.pdiparams", "int32")
    assert info["projection"]["H"] == 16 and info["projection"]["W"] == 64
    assert info["label_config"]["learning_map_inv"] == label_config.learning_map_inv.tolist()
    assert info["knn"] == cfg["metric"]["knn"]

    velo = os.path.join(synthetic_kitti, "sequences", "08", "velodyne")
    predict_range(model, cfg, velo, str(tmp_path / "dygraph"), knn=None, progress=False)
    infer = load_infer()
    outputs = infer.main(["--config", str(tmp_path / "export"), "--input", velo, "--save_dir",
                          str(tmp_path / "deploy"), "--no-knn", "--no_progress"])
    assert len(outputs) == 3
    for name in ("000000", "000001", "000002"):
        rel = os.path.join("sequences", "08", "predictions", name + ".label")
        deployed = np.fromfile(tmp_path / "deploy" / rel, dtype=np.uint32)
        dygraph = np.fromfile(tmp_path / "dygraph" / rel, dtype=np.uint32)
        assert deployed.shape == dygraph.shape and deployed.size > 1000
        np.testing.assert_array_equal(deployed, dygraph)
        assert len(np.unique(deployed)) > 1  # a real prediction, not a constant

    # KNN post-processing: on by default in deploy.yaml (metric.knn)
    pytest.importorskip("paddlexseg.ops.knn")
    scan = os.path.join(velo, "000001.bin")
    predict_range(model, cfg, scan, str(tmp_path / "dy_knn"), knn=info["knn"], progress=False)
    infer.main(["--config", str(tmp_path / "export"), "--input", scan, "--save_dir",
                str(tmp_path / "deploy_knn"), "--no_progress"])
    rel = os.path.join("sequences", "08", "predictions", "000001.label")
    with_knn = np.fromfile(tmp_path / "deploy_knn" / rel, dtype=np.uint32)
    np.testing.assert_array_equal(with_knn, np.fromfile(tmp_path / "dy_knn" / rel, np.uint32))
    assert (with_knn != np.fromfile(tmp_path / "deploy" / rel, np.uint32)).any()


def test_deploy_rejects_a_broken_export(tmp_path):
    infer = load_infer()
    with pytest.raises(FileNotFoundError, match="deploy.yaml not found"):
        infer.load_deploy(str(tmp_path))
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump({"Deploy": {"family": "range"}}))
    with pytest.raises(ConfigError, match="keys model, params.* are missing"):
        infer.load_deploy(str(tmp_path))
