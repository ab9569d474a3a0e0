"""Bad KITTI object input: one DataError naming the file, raised when the dataset is built."""
import importlib.util
import os
import shutil

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.kitti_object import KittiObject


@pytest.fixture
def kitti(synthetic_kitti3d, tmp_path):
    """A private copy of the tiny synthetic set (train split only) to break."""
    root = tmp_path / "kitti"
    shutil.copytree(os.path.join(synthetic_kitti3d, "ImageSets"), root / "ImageSets")
    for sub in ("velodyne", "image_2", "calib", "label_2"):
        shutil.copytree(os.path.join(synthetic_kitti3d, "training", sub), root / "training" / sub)
    return root


def _label(root, fid="000001"):
    return root / "training" / "label_2" / f"{fid}.txt"


def _raises(root, match, **kw):
    with pytest.raises(DataError, match=match) as err:
        KittiObject(str(root), split="train", **kw)
    return str(err.value)


def test_label_line_with_wrong_field_count(kitti):
    lines = _label(kitti).read_text().splitlines()
    lines[1] = " ".join(lines[1].split()[:-2])
    _label(kitti).write_text("\n".join(lines) + "\n")
    msg = _raises(kitti, "line 2 has 13 fields; expected 15")
    assert msg.startswith(str(_label(kitti)))


def test_box_with_non_positive_size(kitti):
    lines = _label(kitti).read_text().splitlines()
    f = lines[0].split()
    f[10] = "0.0000"                                     # length l
    lines[0] = " ".join(f)
    lines.append("DontCare -1 -1 -10 100.00 150.00 120.00 170.00 -1 -1 -1 -1000 -1000 -1000 -10")
    _label(kitti).write_text("\n".join(lines) + "\n")
    msg = _raises(kitti, r"line 1 \('Car'\) has a non-positive size")
    assert msg.startswith(str(_label(kitti)))


def test_calib_without_tr_velo_to_cam(kitti):
    path = kitti / "training" / "calib" / "000002.txt"
    path.write_text("".join(l for l in open(path) if not l.startswith("Tr_velo_to_cam")))
    assert _raises(kitti, "no Tr_velo_to_cam line").startswith(str(path))


@pytest.mark.parametrize("sub,ext,match", [("velodyne", "bin", "velodyne file not found"),
                                           ("image_2", "png", "camera image not found"),
                                           ("calib", "txt", "calibration file not found"),
                                           ("label_2", "txt", "label file not found")])
def test_missing_file(kitti, sub, ext, match):
    path = kitti / "training" / sub / f"000000.{ext}"
    os.remove(path)
    assert _raises(kitti, match).startswith(str(path))
    if sub == "image_2":                                 # LiDAR only, no FOV crop: fine
        assert len(KittiObject(str(kitti), split="train", fov_crop=False)) == 3


def test_image_set_name_without_files_and_empty_split(kitti):
    sets = kitti / "ImageSets" / "train.txt"
    sets.write_text(sets.read_text() + "004242\n")
    msg = _raises(kitti, "frame '004242' listed in ImageSets/train.txt")
    assert msg.startswith(str(kitti / "training" / "velodyne" / "004242.bin"))
    sets.write_text("\n")
    assert _raises(kitti, "lists no frame").startswith(str(sets))
    with pytest.raises(DataError, match="test.txt: split file not found"):
        KittiObject(str(kitti), split="test", mode="test")


def test_truncated_velodyne_file(kitti):
    path = kitti / "training" / "velodyne" / "000002.bin"
    path.write_bytes(path.read_bytes()[:-3])
    assert _raises(kitti, "not a positive multiple of 16").startswith(str(path))
    path.write_bytes(b"")
    assert _raises(kitti, "0 bytes").startswith(str(path))


def test_frame_without_objects_gives_a_valid_batch(kitti):
    _label(kitti, "000000").write_text("")
    ds = KittiObject(str(kitti), split="train", mode="train", augment={},
                     point_range=[0, -40, -3, 70.4, 40, 1])
    s = ds[0]
    assert s["gt_boxes"].shape == (0, 7) and s["gt_labels"].shape == (0,)
    assert len(s["anno"]["name"]) == 0 and s["anno"]["bbox"].shape == (0, 4)
    batch = KittiObject.collate([s, ds[1]])
    assert list(batch.gt_boxes[0].shape) == [0, 7] and list(batch.gt_labels[0].shape) == [0]
    assert np.isfinite(batch.points[0].numpy()).all() and batch.points[0].shape[0] > 1000


def test_tool_prints_one_error_line(kitti, capsys):
    os.remove(kitti / "training" / "calib" / "000001.txt")
    path = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "create_gt_database.py")
    spec = importlib.util.spec_from_file_location("create_gt_database_tool", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from paddlexseg.tool_errors import run_tool
    with pytest.raises(SystemExit) as exit_info:
        run_tool(tool.main, ["--root", str(kitti)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "000001.txt" in err[0]
