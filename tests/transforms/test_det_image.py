"""MVX-Net image pipeline: mmdet Resize (range / keep ratio), cv2-style bilinear, flip, pad; and a
point projected by the dataset + projection lands on the marker drawn at it in the original image."""
import os
import shutil

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest
from PIL import Image

from paddlexseg.datasets.kitti_object import KittiObject
from paddlexseg.models.fusion.projection import (lidar2img, normalized_grid, project_to_input,
                                                 sample_feature)
from paddlexseg.registry import ConfigError
from paddlexseg.transforms.det_image import ImagePipeline, ImageResize, rescale_size, \
    resize_bilinear


def test_rescale_size_and_range_draws():
    assert rescale_size(1242, 375, (1280, 384)) == (1272, 384)      # mmdet3d test size
    assert rescale_size(1242, 375, (384, 1280)) == (1272, 384)      # order does not matter
    assert rescale_size(1224, 370, (2560, 768)) == (2541, 768)
    resize = ImageResize([[640, 192], [2560, 768]], "range", keep_ratio=True)
    rng = np.random.default_rng(0)
    scales = np.array([resize.draw_scale(rng) for _ in range(400)])
    assert scales[:, 0].min() >= 640 and scales[:, 0].max() <= 2560
    assert scales[:, 1].min() >= 192 and scales[:, 1].max() <= 768
    assert scales[:, 0].max() - scales[:, 0].min() > 1500          # spread over the range
    sizes = np.array([resize.target_size(1242, 375, rng) for _ in range(200)])
    assert (sizes[:, 0] <= 2560).all() and (sizes[:, 1] <= 768).all()
    ratio = sizes[:, 0] / sizes[:, 1]
    assert np.abs(ratio - 1242 / 375).max() < 0.02                  # keeps the aspect ratio
    exact = ImageResize([100, 30], keep_ratio=False)
    assert exact.target_size(1242, 375, rng) == (100, 30)
    with pytest.raises(ValueError, match="two"):
        ImageResize([[1, 2], [3, 4], [5, 6]], "range")
    with pytest.raises(ValueError, match="multiscale_mode"):
        ImageResize([1, 2], "ratio")


@pytest.mark.parametrize("size", [(31, 13), (97, 41), (50, 20)])
def test_resize_bilinear_matches_half_pixel_interpolation(size):
    img = np.random.default_rng(1).integers(0, 256, (20, 50, 3)).astype(np.uint8)
    out = resize_bilinear(img, size)
    # Paddle's bilinear with align_corners=False, align_mode=0 is cv2's INTER_LINEAR mapping
    ref = F.interpolate(paddle.to_tensor(img.transpose(2, 0, 1)[None].astype(np.float32)),
                        size=(size[1], size[0]), mode="bilinear", align_corners=False,
                        align_mode=0).numpy()[0].transpose(1, 2, 0)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    assert np.abs(out.astype(np.float64) - ref).max() <= 0.5 + 1e-3


def test_pipeline_flip_normalise_pad():
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :5, 0] = 200                                              # red on the left
    pipe = ImagePipeline(ImageResize([40, 20], keep_ratio=True), mean=(1, 2, 3),
                         pad_size_divisor=32)
    image, meta = pipe(rgb, True, np.random.default_rng(0))
    assert image.shape == (3, 32, 64) and meta["img_shape"] == (20, 40)
    assert meta["pad_shape"] == (32, 64) and meta["scale_factor"] == (2.0, 2.0)
    assert image[2, 5, 35] == 197 and image[2, 5, 2] == -3          # BGR: red is channel 2
    assert (image[:, 20:] == 0).all() and (image[:, :, 40:] == 0).all()   # zero padding


MARKERS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))


def _marked_copy(src, dst, frame="000000", half=6):
    """Copy a synthetic KITTI set; draw a (2 half + 1)^2 marker of a distinct colour at the
    projection of a few points of ``frame``; returns their indices in the FOV-cropped scan."""
    shutil.copytree(os.path.join(src, "ImageSets"), os.path.join(dst, "ImageSets"))
    for sub in ("velodyne", "image_2", "calib", "label_2"):
        shutil.copytree(os.path.join(src, "training", sub), os.path.join(dst, "training", sub))
    ds = KittiObject(dst, split="train", mode="val")
    pts = ds.load_points(ds.ids.index(frame))
    calib = ds.frames[ds.ids.index(frame)]["calib"]
    h, w = ds.frames[ds.ids.index(frame)]["image_shape"]
    cam = np.concatenate([pts[:, :3], np.ones((len(pts), 1))], 1) @ lidar2img(calib).T
    uv = cam[:, :2] / cam[:, 2:3]
    path = os.path.join(dst, "training", "image_2", f"{frame}.png")
    rgb = np.asarray(Image.open(path).convert("RGB")).copy()
    chosen, taken = [], []
    # points spread over the image, away from its left/right borders (flip) and each other
    for target in ((0.2, 0.5), (0.45, 0.55), (0.7, 0.45), (0.85, 0.6)):
        d = np.hypot(uv[:, 0] - target[0] * w, uv[:, 1] - target[1] * h)
        i = int(np.argmin(d))
        chosen.append(i)
        u, v = int(np.floor(uv[i, 0])), int(np.floor(uv[i, 1]))
        assert half < u < w - half and half < v < h - half
        assert all(abs(u - a) > 4 * half or abs(v - b) > 4 * half for a, b in taken)
        taken.append((u, v))
    for i, colour in zip(chosen, MARKERS):
        u, v = int(np.floor(uv[i, 0])), int(np.floor(uv[i, 1]))
        rgb[v - half:v + half + 1, u - half:u + half + 1] = colour
    Image.fromarray(rgb).save(path)
    return chosen


def test_projected_point_lands_on_its_marker_after_resize_flip_pad(synthetic_kitti3d,
                                                                   tmp_path):
    root = str(tmp_path / "k")
    chosen = _marked_copy(synthetic_kitti3d, root)
    mean = np.array([102.9801, 115.9465, 122.7717], np.float32)
    expect = np.array(MARKERS, np.float32)[:, ::-1] - mean                  # BGR - mean
    cfg = dict(root=root, split="train", mode="train", load_image=True,
               image_resize={"img_scale": [[640, 192], [2560, 768]], "multiscale_mode": "range"},
               image_pad_divisor=32, image_mean=mean.tolist(),
               augment={"flip_prob": 0.5, "shuffle": False})       # order kept: index = point
    ds = KittiObject(**cfg)
    seen_flip, sizes = set(), set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        samples = [ds[0], ds[1]]
        batch = KittiObject.collate(samples)                     # padded to the batch's largest
        meta = batch.metas[0]
        seen_flip.add(meta["flip"])
        sizes.add(meta["img_shape"])
        assert meta["flip"] == meta["pcd_horizontal_flip"]
        assert samples[0]["image"].shape[1] % 32 == 0 and samples[0]["image"].shape[2] % 32 == 0
        pad = tuple(batch.images.shape[2:])
        uv, depth = project_to_input(samples[0]["points"][chosen, :3], meta)
        grid = normalized_grid(uv, depth, pad)
        got = sample_feature(batch.images[0:1], grid, mode="nearest").numpy()      # [4, 3]
        np.testing.assert_allclose(got, expect, atol=2.0)
        # the same points with the image flip or the scale ignored miss their markers
        wrong = dict(meta, flip=not meta["flip"])
        uv, depth = project_to_input(samples[0]["points"][chosen, :3], wrong)
        miss = sample_feature(batch.images[0:1], normalized_grid(uv, depth, pad),
                              mode="nearest").numpy()
        assert np.abs(miss - expect).max(1).min() > 50
        wrong = dict(meta, scale_factor=(1.0, 1.0))
        uv, depth = project_to_input(samples[0]["points"][chosen, :3], wrong)
        miss = sample_feature(batch.images[0:1], normalized_grid(uv, depth, pad),
                              mode="nearest").numpy()
        assert np.abs(miss - expect).max(1).min() > 50
    assert seen_flip == {True, False} and len(sizes) == 4
    # test size: keep-ratio 1280 x 384 -> 1272 x 384, padded to 1280 x 384
    val = KittiObject(**dict(cfg, mode="val", image_resize={"img_scale": [1280, 384]}))
    s = val[0]
    assert s["meta"]["img_shape"] == (384, 1272) and s["image"].shape == (3, 384, 1280)
    with pytest.raises(ConfigError, match="dataset.image_resize"):
        KittiObject(**dict(cfg, image_resize={"img_scale": [1, 2], "multiscale_mode": "x"}))
    fixed = KittiObject(**dict(cfg, image_size=[320, 96]))              # image_size wins
    assert fixed[0]["image"].shape == (3, 96, 320)


def test_pipeline_from_dataset_config_and_the_full_config(synthetic_kitti3d):
    from paddlexseg.config import load_config
    from paddlexseg.transforms.det_image import pipeline_from_dataset_config
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    full = load_config(os.path.join(root, "configs", "mvxnet",
                                    "mvxnet_fpn_dv_second_secfpn_kitti-3d-3class.yml"))
    train = pipeline_from_dataset_config(full["train_dataset"])
    val = pipeline_from_dataset_config(full["val_dataset"])
    assert train.resize.scales == [(640, 192), (2560, 768)] and train.resize.mode == "range"
    assert train.resize.keep_ratio and train.pad == 32 and val.pad == 32
    rgb = np.zeros((375, 1242, 3), np.uint8)
    image, meta = val(rgb)                                          # predict: no rng needed
    assert image.shape == (3, 384, 1280) and meta["img_shape"] == (384, 1272)
    np.testing.assert_allclose(image[:, 0, 0], -np.array(full["val_dataset"]["image_mean"]),
                               rtol=1e-6)
    ds = KittiObject(synthetic_kitti3d, split="val", mode="val", load_image=True,
                     image_resize={"img_scale": [640, 192]}, image_pad_divisor=32)
    image, meta = ds.image_of(0, flip=True)
    np.testing.assert_array_equal(ds.image_of(0)[0], ds[0]["image"])        # as the sample
    np.testing.assert_array_equal(image[:, :, :636], ds[0]["image"][:, :, 635::-1])
    assert meta["img_shape"] == (192, 636) and image.shape == (3, 192, 640) and meta["flip"]
    with pytest.raises(ValueError, match="image_pad_divisor"):
        pipeline_from_dataset_config({"image_pad_divisor": 0})
    with pytest.raises(ConfigError, match="dataset.image_pad_divisor"):
        KittiObject(synthetic_kitti3d, split="val", mode="val", image_pad_divisor=-1)
    with pytest.raises(ConfigError, match="dataset.image_resize.scale: unknown key"):
        KittiObject(synthetic_kitti3d, split="val", mode="val", image_resize={"scale": 1})
