"""Bad camera-side input of a LiDAR + camera KITTI frame (MVX-Net): a missing or wrongly sized
image, a calibration that projects every point outside the image, a NaN calibration and an
empty point cloud each end in one DataError naming the file (``error:`` line, exit 2 in the
tools), or a skip with a warning under ``on_bad_sample: skip``; never a hang or NaN."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.kitti_object import KittiObject
from paddlexseg.engine.builder import build_loader
from paddlexseg.models.fusion.projection import normalized_grid, project_to_input, \
    sample_feature

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "mvxnet", "mvxnet_pointfusion_synthetic-kitti3d_quick.yml")


@pytest.fixture
def kitti(synthetic_kitti3d, tmp_path):
    """A private copy of the tiny synthetic set (train / val splits) to break."""
    root = tmp_path / "kitti"
    shutil.copytree(os.path.join(synthetic_kitti3d, "ImageSets"), root / "ImageSets")
    for sub in ("velodyne", "image_2", "calib", "label_2"):
        shutil.copytree(os.path.join(synthetic_kitti3d, "training", sub), root / "training" / sub)
    return root


def _fusion(root, **kw):
    cfg = dict(split="train", mode="train", load_image=True, image_size=[160, 48], augment={})
    cfg.update(kw)
    return KittiObject(str(root), **cfg)


def _turn_camera_back(root, fid):
    """Negate the camera z row of Tr_velo_to_cam: every point lies behind the camera."""
    path = root / "training" / "calib" / f"{fid}.txt"
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("Tr_velo_to_cam:"):
            v = np.array([float(x) for x in line.split(":")[1].split()]).reshape(3, 4)
            v[2] = -v[2]
            line = "Tr_velo_to_cam: " + " ".join(repr(float(x)) for x in v.ravel())
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_image_fails_at_build_even_without_fov_crop(kitti):
    path = kitti / "training" / "image_2" / "000001.png"
    os.remove(path)
    with pytest.raises(DataError, match="camera image not found") as err:
        _fusion(kitti, fov_crop=False)
    assert str(err.value).startswith(str(path))


def test_image_of_unexpected_size(kitti):
    path = kitti / "training" / "image_2" / "000001.png"
    original = Image.open(path).copy()
    original.resize((620, 188)).save(path)              # resized after calibration
    with pytest.raises(DataError, match="image is 620 x 188 pixels but the calibration") as err:
        _fusion(kitti)
    assert str(err.value).startswith(str(path))
    original.save(path)
    ds = _fusion(kitti, fov_crop=False)
    original.crop((0, 0, 1240, 375)).save(path)         # changed after the dataset was indexed
    with pytest.raises(DataError, match="1240 x 375 pixels but was 1242 x 375"):
        ds[1]
    path.write_bytes(path.read_bytes()[:200])           # header kept, data cut
    with pytest.raises(DataError, match="cannot read the image"):
        ds[1]
    # the loader: the first bad sample ends the pass (error) or is skipped with a warning
    with pytest.raises(DataError, match="000001.png"):
        list(build_loader(ds, batch_size=1))
    batches = list(build_loader(ds, batch_size=1, on_bad_sample="skip"))
    assert [b.metas[0]["frame_id"] for b in batches] == ["000000", "000002"]


def test_calib_projecting_every_point_outside(kitti):
    calib = _turn_camera_back(kitti, "000000")
    velo = kitti / "training" / "velodyne" / "000000.bin"
    for kw in ({}, {"fov_crop": False}):                # empty FOV crop, or image never hit
        ds = _fusion(kitti, **kw)
        with pytest.raises(DataError, match="no point projects into the camera image") as err:
            ds[0]
        assert str(err.value).startswith(str(velo)) and str(calib) in str(err.value)
    assert len(KittiObject(str(kitti), split="train", fov_crop=False)[0]["points"]) > 1000
    # the model side stays finite if such a frame reaches it: zero image features, no NaN
    good = _fusion(kitti, fov_crop=False)[1]
    meta = dict(good["meta"], calib=good["meta"]["calib"].copy())
    meta["calib"]["Tr_velo_to_cam"] = meta["calib"]["Tr_velo_to_cam"] * np.array(
        [[1], [1], [-1], [1]])
    uv, depth = project_to_input(good["points"][:, :3], meta)
    grid = normalized_grid(uv, depth, good["image"].shape[1:])
    import paddle
    feat = sample_feature(paddle.to_tensor(good["image"][None]), grid).numpy()
    assert np.isfinite(grid).all() and (feat == 0).all()


def test_nan_calibration_and_empty_point_cloud(kitti):
    path = kitti / "training" / "calib" / "000002.txt"
    text = path.read_text().splitlines()
    text = [l.replace(l.split()[1], "nan", 1) if l.startswith("P2:") else l for l in text]
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"\('P2'\) holds NaN or infinite values") as err:
        _fusion(kitti)
    assert str(err.value).startswith(str(path))
    velo = kitti / "training" / "velodyne" / "000003.bin"              # a val frame
    velo.write_bytes(b"")
    with pytest.raises(DataError, match="0 bytes") as err:
        KittiObject(str(kitti), split="val", mode="val", load_image=True)
    assert str(err.value).startswith(str(velo))


def test_train_tool_exits_2_on_a_bad_frame_mid_run(kitti, tmp_path):
    """A frame whose calib turns the camera round is found when it is read (not at build):
    tools/train.py ends with one ``error:`` line naming the scan, exit 2, within a timeout."""
    _turn_camera_back(kitti, "000000")
    opts = [f"train_dataset.root={kitti}", f"val_dataset.root={kitti}",
            "train_dataset.image_size=[160,48]", "val_dataset.image_size=[160,48]",
            "batch_size=3", "model.img_backbone.depth=18", "train.num_workers=0"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train.py"),
                               "--config", CFG, "--save_dir", str(tmp_path / "o"), "--iters",
                               "1", "--no_progress", "--opts"] + opts,
                              capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("tools/train.py hung on a bad frame (no exit within 300 s)")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "000000.bin: no point projects" in last, last
