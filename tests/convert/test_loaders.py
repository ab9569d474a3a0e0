"""Reading checkpoint files: .npz, detectron2 .pkl and (only with torch) torch.save files."""
import os
import pickle
import sys
from collections import OrderedDict

import numpy as np
import pytest

from paddlexseg.convert.core import ConversionError
from paddlexseg.convert.loaders import MissingTorchError, load_checkpoint


class _Hostile:
    """Unpickling this calls os.makedirs(marker): the loaders must not let that happen."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def test_npz_and_data_parallel_prefix(tmp_path):
    path = tmp_path / "sd.npz"
    np.savez(path, **{"module.conv.weight": np.ones((2, 3), np.float32),
                      "module.bn.running_var": np.arange(2.0)})
    notes = []
    out = load_checkpoint(str(path), notes)
    assert list(out) == ["conv.weight", "bn.running_var"]
    np.testing.assert_array_equal(out["bn.running_var"], [0.0, 1.0])
    assert any("module." in n for n in notes)


def test_detectron2_pickle_reads_arrays_and_never_runs_foreign_code(tmp_path):
    marker = tmp_path / "pwned"
    model = OrderedDict([("backbone.fpn_lateral2.weight", np.ones((4, 8, 1, 1), np.float32)),
                         ("sem_seg_head.point_head.fc1.bias", np.zeros(4, np.float32))])
    path = tmp_path / "model_final.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": model, "__author__": "Detectron2 Model Zoo",
                     "extra": _Hostile(str(marker))}, f, protocol=2)
    notes = []
    out = load_checkpoint(str(path), notes)
    assert not marker.exists()
    assert list(out) == list(model) and out["backbone.fpn_lateral2.weight"].shape == (4, 8, 1, 1)
    assert "'model' entry" in notes[0]

    caffe = tmp_path / "caffe2.pkl"
    with open(caffe, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": np.ones(3)}}, f)
    assert list(load_checkpoint(str(caffe))) == ["conv1_w"]


def test_bad_files_fail_with_the_file_name(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        load_checkpoint(str(tmp_path / "nothere.pth"))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ConversionError, match="bad.pkl: not a readable pickle"):
        load_checkpoint(str(bad))
    empty = tmp_path / "empty.pkl"
    with open(empty, "wb") as f:
        pickle.dump({"model": {"note": "no arrays"}}, f)
    with pytest.raises(ConversionError, match="no arrays"):
        load_checkpoint(str(empty))
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    weights = tmp_path / "backbone"
    weights.write_bytes(b"PK\x03\x04")
    with pytest.raises(MissingTorchError, match=r"backbone: .*pip install -e \.\[convert\]"):
        load_checkpoint(str(weights))


def test_torch_files_state_dict_legacy_lightning_and_module(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Linear(4, 2))
    net[1].register_buffer("scratch", torch.ones(1), persistent=False)
    net[2].weight.data = net[2].weight.data.to(torch.bfloat16)
    expected = {k: v.float().numpy() for k, v in net.state_dict().items()}
    marker = tmp_path / "pwned"

    paths = {"zip": tmp_path / "backbone", "legacy": tmp_path / "segmentation_decoder"}
    torch.save(net.state_dict(), paths["zip"])
    torch.save(net.state_dict(), paths["legacy"], _use_new_zipfile_serialization=False)
    paths["ckpt"] = tmp_path / "last.ckpt"
    torch.save({"epoch": 3, "state_dict": net.state_dict(), "hyper_parameters":
                {"config": _Hostile(str(marker))}, "optimizer_states": []}, paths["ckpt"])
    paths["module"] = tmp_path / "model.pth"
    torch.save(net, paths["module"])
    for kind, path in paths.items():
        out = load_checkpoint(str(path))
        assert list(out) == list(expected), kind
        for key, value in expected.items():
            np.testing.assert_array_equal(out[key], value, err_msg=f"{kind} {key}")
    assert out["2.weight"].dtype == np.float32  # bfloat16 read as float32
    assert not marker.exists()
