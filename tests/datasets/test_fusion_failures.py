"""2DPASS never trains silently without its 2D branch: a NaN calibration, an image whose size
does not match the calibration, and a sample whose points project to no pixel raise DataError
naming the file."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.semantickitti_fusion import SemanticKITTIFusion
from paddlexseg.datasets.synthetic.camera import generate_kitti_images
from paddlexseg.datasets.synthetic.lidar_scenes import generate_semantickitti
from paddlexseg.engine.builder import build_loader


@pytest.fixture(scope="module")
def fusion_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fusion_fail"))
    generate_semantickitti(root, sequences=(0,), scans_per_sequence=2, azimuth_steps=256,
                           beams=32)
    generate_kitti_images(root, scale=0.1)
    return root


def _copy(root, tmp_path):
    dst = str(tmp_path / "kitti")
    shutil.copytree(root, dst)
    return dst, os.path.join(dst, "sequences", "00")


def _edit_calib(seq, key, fn):
    path = os.path.join(seq, "calib.txt")
    lines = []
    for line in open(path):
        if line.startswith(key + ":"):
            values = np.array([float(v) for v in line.split(":", 1)[1].split()])
            line = f"{key}: " + " ".join(repr(float(v)) for v in fn(values)) + "\n"
        lines.append(line)
    open(path, "w").writelines(lines)
    return path


def test_clean_data_has_image_points(fusion_root):
    ds = SemanticKITTIFusion(fusion_root, [0], mode="train")
    assert all(ds[i]["img_indices"].shape[0] > 0 for i in range(len(ds)))


def test_nan_calibration(fusion_root, tmp_path):
    root, seq = _copy(fusion_root, tmp_path)
    calib = _edit_calib(seq, "P2", lambda v: np.where(np.arange(12) == 0, np.nan, v))
    with pytest.raises(DataError, match=f"{calib}: the 'P2:' line holds NaN"):
        SemanticKITTIFusion(root, [0], mode="train")


@pytest.mark.parametrize("workers", [0, 2])
def test_image_size_not_matching_the_calibration(fusion_root, tmp_path, workers):
    root, seq = _copy(fusion_root, tmp_path)
    image = os.path.join(seq, "image_2", "000001.png")
    Image.open(image).resize((620, 188)).save(image)  # resized after calibration
    ds = SemanticKITTIFusion(root, [0], mode="train")
    with pytest.raises(DataError, match="000001.png: image is 620 x 188 pixels but"):
        list(build_loader(ds, batch_size=1, num_workers=workers))


def test_no_point_projects_into_the_image(fusion_root, tmp_path):
    root, seq = _copy(fusion_root, tmp_path)
    # the camera looks backwards: every point lies behind it
    _edit_calib(seq, "Tr", lambda v: np.where(np.arange(12) // 4 == 2, -v, v))
    ds = SemanticKITTIFusion(root, [0], mode="val")
    with pytest.raises(DataError, match="000000.bin: no point projects into the camera image"):
        ds[0]
