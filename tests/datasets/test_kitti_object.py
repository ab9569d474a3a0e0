import numpy as np
import pytest

from paddlexseg.boxes3d import camera_boxes_to_lidar, lidar_to_camera, project_to_image
from paddlexseg.datasets.kitti_object import KittiObject
from paddlexseg.registry import DATASETS, ConfigError
from paddlexseg.structures import DetBatch
from paddlexseg.transforms.det_aug import undo_points

RANGE = [0, -40, -3, 70.4, 40, 1]


def test_val_sample_matches_labels(synthetic_kitti3d):
    ds = DATASETS.build({"type": "KittiObject", "root": synthetic_kitti3d, "split": "val",
                         "mode": "val"}, path="val_dataset")
    assert len(ds) == 2 and ds.class_names == ("Car", "Pedestrian", "Cyclist")
    s = ds[0]
    anno, calib = s["anno"], s["meta"]["calib"]
    assert s["points"].dtype == np.float32 and s["points"].shape[1] == 4
    # FOV crop: every point projects into the image with positive depth
    uv, depth = project_to_image(lidar_to_camera(s["points"][:, :3], calib), calib["P2"])
    h, w = s["meta"]["image_shape"]
    assert (depth > 0).all() and (uv >= 0).all() and (uv[:, 0] < w).all() and (uv[:, 1] < h).all()
    # targets: the Car / Pedestrian / Cyclist lines converted to LiDAR, in file order
    keep = np.isin(anno["name"], ds.class_names)
    cam = np.concatenate([anno["location"], anno["dimensions"], anno["rotation_y"][:, None]], 1)
    np.testing.assert_allclose(s["gt_boxes"], camera_boxes_to_lidar(cam[keep], calib), atol=1e-4)
    names = np.array(ds.class_names)[s["gt_labels"]]
    np.testing.assert_array_equal(names, anno["name"][keep])
    assert s["meta"]["augmentation"] == [] and s["meta"]["pcd_scale_factor"] == 1.0
    for key in ("name", "truncated", "occluded", "alpha", "bbox", "dimensions", "location",
                "rotation_y", "score", "difficulty"):
        assert len(anno[key]) == len(anno["name"]), key
    # a val sample is the same every time
    np.testing.assert_array_equal(ds[0]["points"], s["points"])


def test_other_types_kept_for_evaluator_and_class_names(synthetic_kitti3d):
    ds = KittiObject(synthetic_kitti3d, split="trainval", mode="val", class_names=["Car"])
    names = np.concatenate([ds[i]["anno"]["name"] for i in range(len(ds))])
    assert {"Car", "Pedestrian", "Cyclist"} <= set(names) and {"Van", "DontCare"} & set(names)
    for i in range(len(ds)):
        s = ds[i]
        assert (s["gt_labels"] == 0).all()
        assert len(s["gt_labels"]) == int((s["anno"]["name"] == "Car").sum())
    with pytest.raises(ConfigError, match="dataset.mode"):
        KittiObject(synthetic_kitti3d, mode="training")
    with pytest.raises(ConfigError, match="point_range"):
        KittiObject(synthetic_kitti3d, point_range=[0, 0, 0, 1, 1])
    with pytest.raises(ConfigError, match="augment.rotation: unknown key"):
        KittiObject(synthetic_kitti3d, augment={"rotation": 1})


def test_train_augmentation_seeded_and_undoable(synthetic_kitti3d):
    cfg = dict(root=synthetic_kitti3d, split="train", mode="train", seed=7,
               augment={"shuffle": False})
    ds, again = KittiObject(**cfg), KittiObject(**cfg)
    plain = KittiObject(synthetic_kitti3d, split="train", mode="val")
    ds.set_epoch(3)
    again.set_epoch(3)
    a, b = ds[1], again[1]                            # same (seed, epoch, index): same sample
    np.testing.assert_array_equal(a["points"], b["points"])
    assert a["meta"]["augmentation"] == b["meta"]["augmentation"]
    ops = [s["op"] for s in a["meta"]["augmentation"]]
    assert ops == ["flip", "rotation", "scale", "translation"]
    np.testing.assert_allclose(undo_points(a["points"][:, :3], a["meta"]["augmentation"]),
                               plain[1]["points"][:, :3], atol=1e-4)
    assert np.abs(a["gt_boxes"][:, 6]).max() <= np.pi + 1e-6
    ds.set_epoch(4)
    assert ds[1]["meta"]["augmentation"] != a["meta"]["augmentation"]
    full = KittiObject(synthetic_kitti3d, split="train", augment={}, point_range=RANGE)
    s = full[0]
    assert [r["op"] for r in s["meta"]["augmentation"]] == [
        "flip", "rotation", "scale", "translation", "point_range", "object_range", "shuffle"]
    xyz = s["points"][:, :3]
    assert (xyz > np.array(RANGE[:3])).all() and (xyz < np.array(RANGE[3:])).all()
    assert np.abs(s["gt_boxes"][:, 6]).max() <= np.pi + 1e-6


def test_collate_and_images(synthetic_kitti3d):
    ds = KittiObject(synthetic_kitti3d, split="train", mode="train", augment={}, seed=1,
                     load_image=True, image_size=[320, 96])
    samples = [ds[0], ds[1]]
    batch = KittiObject.collate(samples)
    assert isinstance(batch, DetBatch) and batch.batch_size == 2
    assert list(batch.images.shape) == [2, 3, 96, 320] and str(batch.images.dtype).endswith(
        "float32")
    assert batch.inputs().keys() == {"points", "images", "metas"}     # MVX-Net (D4)
    for i, s in enumerate(samples):
        assert list(batch.points[i].shape) == list(s["points"].shape)
        assert list(batch.gt_boxes[i].shape) == [len(s["gt_labels"]), 7]
        assert str(batch.gt_labels[i].dtype).endswith("int64")
        meta = batch.metas[i]
        assert meta["img_shape"] == (96, 320) and meta["pad_shape"] == (96, 320)
        assert meta["flip"] == meta["pcd_horizontal_flip"]
        np.testing.assert_allclose(meta["scale_factor"], (320 / 1242, 96 / 375))
    # the image is the BGR file minus the MVX-Net mean, flipped with the points
    from PIL import Image
    with Image.open(f"{synthetic_kitti3d}/training/image_2/000000.png") as img:
        rgb = np.asarray(img.convert("RGB").resize((320, 96), Image.BILINEAR), np.float32)
    if samples[0]["meta"]["flip"]:
        rgb = rgb[:, ::-1]
    np.testing.assert_allclose(samples[0]["image"][0] + 103.53, rgb[:, :, 2], atol=1e-3)


def test_test_split_without_labels(synthetic_kitti3d, tmp_path):
    import shutil
    root = tmp_path / "k"
    for sub in ("velodyne", "image_2", "calib"):
        shutil.copytree(f"{synthetic_kitti3d}/training/{sub}", root / "testing" / sub)
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "test.txt").write_text("000003\n000004\n")
    ds = KittiObject(str(root), split="test", mode="test", point_range=RANGE)
    s = ds[1]
    assert s["anno"] == {} and s["gt_boxes"].shape == (0, 7) and s["meta"]["frame_id"] == "000004"
    batch = KittiObject.collate([s])
    assert batch.gt_annos == [{}] and batch.metas[0]["augmentation"][0]["op"] == "point_range"
