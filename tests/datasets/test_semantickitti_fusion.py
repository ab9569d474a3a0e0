import os

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.semantickitti_fusion import SemanticKITTIFusion, read_calib
from paddlexseg.datasets.synthetic.camera import generate_kitti_images, render_camera
from paddlexseg.datasets.synthetic.lidar_scenes import (CALIB, LidarSensor, build_sequence,
                                                        generate_semantickitti)
from paddlexseg.engine.builder import build_loader
from paddlexseg.registry import ConfigError
from paddlexseg.structures import FusionBatch
from paddlexseg.transforms.fusion import (BottomCrop, ColorJitter, FusionImageAugment,
                                          flip_image, project_to_image)

AUG = {"rotate": True, "flip": True, "scale": [0.95, 1.05], "translate_std": 0.1,
       "max_dropout": 0.2}


@pytest.fixture(scope="module")
def fusion_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kitti_fusion"))
    generate_semantickitti(root, sequences=(0,), scans_per_sequence=2, azimuth_steps=384)
    generate_kitti_images(root, scale=0.2)
    return root


def test_sample_geometry_and_labels(fusion_root):
    ds = SemanticKITTIFusion(fusion_root, [0], mode="val")
    s = ds[0]
    pts, idx, p2i = s["points"], s["img_indices"], s["point2img_index"]
    assert s["img"].shape == (3, 320, 480) and s["img"].dtype == np.float32
    assert np.all((pts[:, :3] > [-50, -50, -4]) & (pts[:, :3] < [50, 50, 2]))
    assert idx.shape == (p2i.size, 2) and p2i.size > 100
    assert idx[:, 0].min() >= 0 and idx[:, 0].max() < 320 and idx[:, 1].max() < 480
    raw, _ = ds.load(0)
    assert np.array_equal(raw[s["point_index"]], pts)          # val: no augmentation
    # the image points are the cropped projections of the same points
    calib = read_calib(os.path.join(fusion_root, "sequences", "00", "calib.txt"))
    keep, pix = project_to_image(pts[:, :3], calib["P2"] @ calib["Tr"], (1241, 376))
    inside = np.nonzero(keep)[0]
    assert set(p2i.tolist()) <= set(inside.tolist())
    assert np.all(pix[np.searchsorted(inside, p2i), 0].astype(int) - 56 == idx[:, 0])


def test_camera_sees_the_lidar_surfaces(fusion_root):
    spec = build_sequence(0, 0, 2, LidarSensor())
    _, label_img = render_camera(spec.scene.at_time(0.0), spec.velo_poses[0], scale=0.25,
                                 return_labels=True)
    pts = np.fromfile(os.path.join(fusion_root, "sequences/00/velodyne/000000.bin"),
                      np.float32).reshape(-1, 4)
    sem = np.fromfile(os.path.join(fusion_root, "sequences/00/labels/000000.label"),
                      np.uint32) & 0xFFFF
    keep, pix = project_to_image(pts[:, :3], CALIB["P2"] @ np.vstack([CALIB["Tr"], [0, 0, 0, 1]]),
                                 (1241, 376))
    seen = label_img[pix[:, 0].astype(int), pix[:, 1].astype(int)]
    labelled = sem[keep] > 1
    assert (seen[labelled] == sem[keep][labelled]).mean() > 0.85


def test_train_augmentation_batch_and_loader(fusion_root):
    ds = SemanticKITTIFusion(fusion_root, [0], mode="train", augment=AUG, seed=3)
    a, b = ds[0], ds[1]
    raw, _ = ds.load(0)
    assert a["points"].shape[0] <= raw.shape[0]
    assert not np.allclose(a["points"][:, :3], raw[a["point_index"], :3])   # augmented
    assert np.allclose(a["points"][:, 3], raw[a["point_index"], 3])         # intensity kept
    batch = ds.collate([a, b])
    assert isinstance(batch, FusionBatch) and batch.batch_size == 2
    n0 = a["points"].shape[0]
    p2i = batch.point2img_index.numpy()
    assert np.array_equal(p2i[:a["point2img_index"].size], a["point2img_index"])
    assert np.array_equal(p2i[a["point2img_index"].size:], b["point2img_index"] + n0)
    assert np.array_equal(batch.img_labels.numpy(), batch.labels.numpy()[p2i])
    assert sorted(batch.inputs()) == ["batch_idx", "img", "img_indices", "point2img_index",
                                      "points"]
    loaded = next(iter(build_loader(ds, batch_size=2)))
    assert isinstance(loaded, FusionBatch) and loaded.img.shape == [2, 3, 320, 480]


def test_lidar_only_and_test_mode(fusion_root):
    ds = SemanticKITTIFusion(fusion_root, [0], mode="test", use_image=False)
    s = ds[0]
    assert "img" not in s and s["labels"] is None
    batch = ds.collate([s])
    assert batch.img is None and batch.labels is None and batch.point2img_index is None
    # max_points is a training augmentation: val sees every point of the volume (issue 14)
    val = SemanticKITTIFusion(fusion_root, [0], mode="val", use_image=False, max_points=500)
    first = val[1]
    raw = np.fromfile(val.files[1][0], np.float32).reshape(-1, 4)
    inside = np.all((raw[:, :3] > [-50, -50, -4]) & (raw[:, :3] < [50, 50, 2]), axis=1)
    assert first["points"].shape == (int(inside.sum()), 4) and inside.sum() > 500
    np.testing.assert_array_equal(first["point_index"], np.nonzero(inside)[0])
    assert first["records"].xyz.shape == (raw.shape[0], 3)      # every point, for scoring
    train = SemanticKITTIFusion(fusion_root, [0], mode="train", use_image=False, max_points=500)
    assert train[1]["points"].shape == (500, 4) and "records" not in train[1]


def test_missing_image_or_calib_names_the_file(fusion_root, tmp_path):
    root = tmp_path / "broken"
    seq = root / "sequences" / "00"
    for sub in ("velodyne", "labels", "image_2"):
        os.makedirs(seq / sub)
    for sub, ext in (("velodyne", "bin"), ("labels", "label")):
        src = os.path.join(fusion_root, "sequences/00", sub, f"000000.{ext}")
        os.link(src, seq / sub / f"000000.{ext}")
    with pytest.raises(DataError, match="calib.txt"):
        SemanticKITTIFusion(str(root), [0], mode="val")
    os.link(os.path.join(fusion_root, "sequences/00/calib.txt"), seq / "calib.txt")
    with pytest.raises(DataError, match=r"image_2[/\\]000000.png"):
        SemanticKITTIFusion(str(root), [0], mode="val")
    ds = SemanticKITTIFusion(str(root), [0], mode="val", use_image=False)  # LiDAR only: fine
    assert len(ds) == 1
    (seq / "calib.txt").unlink()
    (seq / "calib.txt").write_text("P0: 1 2 3\n")
    with pytest.raises(DataError, match="'P2:' line"):
        read_calib(str(seq / "calib.txt"))
    with pytest.raises(ConfigError, match="augment.rotat"):
        SemanticKITTIFusion(fusion_root, [0], augment={"rotat": True})


def test_image_transforms_keep_pixels_in_step():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 64, 3)).astype(np.uint8)
    pixels = np.array([[39.5, 0.2], [10.0, 63.9], [30.2, 20.7]], np.float32)
    crop = BottomCrop(32, 16)
    out, moved, keep = crop(image, pixels, np.random.default_rng(1))
    assert out.shape == (16, 32, 3) and keep.tolist() == [keep[0], False, keep[2]]
    for (r, c), (r0, c0) in zip(moved.astype(int), pixels[keep].astype(int)):
        assert np.array_equal(out[r, c], image[r0, c0])
    flipped, fidx = flip_image(out, moved.astype(np.int64))
    for (r, c), (r0, c0) in zip(fidx, moved.astype(int)):
        assert np.array_equal(flipped[r, c], out[r0, c0])
    jit = ColorJitter(0.4, 0.4, 0.4)(image, np.random.default_rng(2))
    assert jit.shape == image.shape and 0 <= jit.min() and jit.max() <= 255
    aug = FusionImageAugment(bottom_crop=(32, 16), color_jitter=None, flip_prob=1.0)
    img, idx, kept = aug(image, pixels, np.random.default_rng(1), train=True)
    assert img.shape == (3, 16, 32) and idx.shape == (int(kept.sum()), 2)
