import os

import numpy as np

from paddlexseg.boxes3d import boxes_to_image_2d, camera_boxes_to_lidar
from paddlexseg.datasets.kitti_calib import read_kitti_calib
from paddlexseg.datasets.kitti_label import read_label
from paddlexseg.datasets.synthetic.kitti3d import KITTI_CALIB, IMAGE_SHAPE, generate_kitti3d
from paddlexseg.ops.boxes import points_in_boxes


def _frame(root, fid):
    t = os.path.join(root, "training")
    pts = np.fromfile(os.path.join(t, "velodyne", f"{fid}.bin"), np.float32).reshape(-1, 4)
    return pts, read_label(os.path.join(t, "label_2", f"{fid}.txt")), \
        read_kitti_calib(os.path.join(t, "calib", f"{fid}.txt"))


def test_layout_and_split(synthetic_kitti3d):
    root = synthetic_kitti3d
    assert sorted(os.listdir(os.path.join(root, "training"))) == ["calib", "image_2", "label_2",
                                                                   "velodyne"]
    read = lambda s: open(os.path.join(root, "ImageSets", f"{s}.txt")).read().split()  # noqa
    assert read("train") == ["000000", "000001", "000002"]
    assert read("val") == ["000003", "000004"] and read("trainval") == read("train") + read("val")
    from PIL import Image
    with Image.open(os.path.join(root, "training", "image_2", "000003.png")) as img:
        assert img.size == (IMAGE_SHAPE[1], IMAGE_SHAPE[0]) and img.mode == "RGB"
    calib = read_kitti_calib(os.path.join(root, "training", "calib", "000000.txt"))
    for key, mat in KITTI_CALIB.items():
        np.testing.assert_allclose(calib[key], mat, atol=1e-11)
    rot = calib["Tr_velo_to_cam"][:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-10)


def test_labels_are_exact_and_learnable(synthetic_kitti3d):
    names, points_per_car, n_frames = [], [], 5
    for k in range(n_frames):
        pts, anno, calib = _frame(synthetic_kitti3d, f"{k:06d}")
        names += list(anno["name"])
        real = anno["name"] != "DontCare"
        assert (anno["dimensions"][real] > 0).all()
        assert (anno["truncated"][real] >= 0).all() and (anno["truncated"][real] <= 1).all()
        assert set(anno["occluded"][real].tolist()) <= {0, 1, 2}
        boxes_cam = np.concatenate([anno["location"], anno["dimensions"],
                                    anno["rotation_y"][:, None]], 1)[real]
        # the 2-D box is the projection of the 3-D box, clipped to the image (4 decimals / 2)
        np.testing.assert_allclose(boxes_to_image_2d(boxes_cam, calib["P2"], IMAGE_SHAPE),
                                   anno["bbox"][real], atol=0.02)
        lidar = camera_boxes_to_lidar(boxes_cam, calib)
        inside = points_in_boxes(pts[:, :3].astype(np.float64), lidar)
        cars = anno["name"][real] == "Car"
        visible = cars & (anno["occluded"][real] == 0) & (anno["truncated"][real] < 0.3)
        points_per_car += inside.sum(0)[visible].tolist()
        # every point in a box belongs to that object only: boxes do not overlap
        assert inside.sum(1).max() <= 1
        # truncation 0 means the projected box lies inside the image
        t0 = anno["truncated"][real] == 0
        assert (anno["bbox"][real][t0][:, 2] < IMAGE_SHAPE[1] - 1).all()
    for cls in ("Car", "Pedestrian", "Cyclist"):
        assert names.count(cls) >= n_frames if cls == "Car" else names.count(cls) >= 2, cls
    assert len(points_per_car) >= n_frames and np.median(points_per_car) > 50


def test_deterministic_by_seed(tmp_path):
    kw = dict(n_train=1, n_val=0, beams=16, azimuth_steps=256, image_scale=0.05)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_kitti3d(str(a), seed=3, **kw)
    generate_kitti3d(str(b), seed=3, **kw)
    generate_kitti3d(str(c), seed=4, **kw)
    for sub in ("velodyne/000000.bin", "label_2/000000.txt", "image_2/000000.png"):
        fa, fb, fc = (open(os.path.join(r, "training", sub), "rb").read() for r in (a, b, c))
        assert fa == fb and fa != fc


def test_decoys_are_unlabelled_look_alikes_and_leave_the_default_unchanged():
    from paddlexseg.datasets.synthetic.kitti3d import build_frame
    from paddlexseg.datasets.synthetic.primitives import MATERIALS
    from paddlexseg.datasets.synthetic.street import RAW
    plain = build_frame(np.random.default_rng([0, 4]))
    again = build_frame(np.random.default_rng([0, 4]), decoys=0)
    with_decoys = build_frame(np.random.default_rng([0, 4]), decoys=3)
    assert len(again[0]) == len(plain[0])
    # the labelled objects are drawn first: identical with decoys
    for a, b in zip(plain[1], with_decoys[1]):
        assert a.name == b.name and a.prims == b.prims
        np.testing.assert_array_equal(a.box, b.box)
    assert len(plain[1]) == len(with_decoys[1])
    extra = with_decoys[0][len(plain[0]):]
    kinds = {p.material for p in extra}
    assert extra and kinds <= {"decoy_paint", "decoy_cloth"} and len(kinds) == 2
    assert all(p.label == RAW["other-object"] for p in extra)
    # LiDAR cannot tell them apart (same remission), the camera can (another colour)
    for decoy, real in (("decoy_paint", "car_paint"), ("decoy_cloth", "cloth")):
        assert MATERIALS[decoy].remission == MATERIALS[real].remission
        assert MATERIALS[decoy].remission_std == MATERIALS[real].remission_std
        assert np.abs(np.subtract(MATERIALS[decoy].color, MATERIALS[real].color)).max() > 100
