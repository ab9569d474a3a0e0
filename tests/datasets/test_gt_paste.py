"""Image-consistent GT paste: database patches, pasted patches where the pasted points project,
2-D collision filter, points hidden behind pasted objects dropped."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.gt_database import GTSampler, create_gt_database
from paddlexseg.datasets.gt_paste import cut_image_patch, hull_mask, project_corners
from paddlexseg.datasets.kitti_object import KittiObject, annotation_to_lidar
from paddlexseg.models.fusion.projection import lidar2img
from paddlexseg.ops.boxes import points_in_boxes
from paddlexseg.registry import ConfigError

CLASSES = ("Car", "Pedestrian", "Cyclist")
GROUPS = {"Car": 15, "Pedestrian": 8, "Cyclist": 8}
MIN_POINTS = {"Car": 5, "Pedestrian": 5, "Cyclist": 5}


@pytest.fixture(scope="module")
def kitti_img(synthetic_kitti3d, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("paste"))
    shutil.copytree(os.path.join(synthetic_kitti3d, "ImageSets"), os.path.join(root, "ImageSets"))
    for sub in ("velodyne", "image_2", "calib", "label_2"):
        shutil.copytree(os.path.join(synthetic_kitti3d, "training", sub),
                        os.path.join(root, "training", sub))
    create_gt_database(root, split="train", with_image=True)
    return root


def _pixels(points, calib):
    hom = np.concatenate([points[:, :3].astype(np.float64), np.ones((len(points), 1))], 1)
    cam = hom @ lidar2img(calib).T
    return np.floor(cam[:, :2] / cam[:, 2:3]).astype(int), cam[:, 2]


def test_database_patches_are_the_source_crops(kitti_img):
    with open(os.path.join(kitti_img, "kitti_dbinfos_train.json")) as f:
        db = json.load(f)
    infos = [i for v in db["infos"].values() for i in v]
    with_patch = [i for i in infos if i["image_patch"]]
    assert db["with_image"] and len(with_patch) >= 5 and len(with_patch) < len(infos)
    for info in with_patch:
        src = np.asarray(Image.open(os.path.join(kitti_img, "training", "image_2",
                                                 info["frame_id"] + ".png")).convert("RGB"))
        x1, y1, x2, y2 = info["image_box"]
        patch = np.asarray(Image.open(os.path.join(kitti_img, info["image_patch"])))
        np.testing.assert_array_equal(patch, src[y1:y2, x1:x2])
        assert 0 <= x1 < x2 <= src.shape[1] and 0 <= y1 < y2 <= src.shape[0]
    calib = KittiObject(kitti_img, split="train", mode="val").frames[0]["calib"]
    behind = np.array([-5.0, 0, -1, 4, 2, 1.5, 0])                   # behind the camera
    assert cut_image_patch(np.zeros((375, 1242, 3), np.uint8), behind, calib) is None


def test_pasted_patch_appears_where_its_points_project(kitti_img):
    ds = KittiObject(kitti_img, split="val", mode="val", load_image=True)
    sampler = GTSampler(root=kitti_img, class_names=CLASSES, sample_groups=GROUPS,
                        min_points=MIN_POINTS, paste_image=True, max_overlap=0.8)
    plain = GTSampler(root=kitti_img, class_names=CLASSES, sample_groups=GROUPS,
                      min_points=MIN_POINTS)
    assert all(i["image_patch"] for p in sampler.pools.values() for i in p)
    total_pasted = total_dropped = 0
    for index, seed in ((0, 0), (1, 1), (0, 2)):
        frame = ds.frames[index]
        calib, rgb = frame["calib"], ds.read_image(frame)
        pts = ds.load_points(index)
        boxes, labels = annotation_to_lidar(frame["anno"], calib, CLASSES)
        record = []
        out_p, out_b, out_l, out_img = sampler.paste_with_image(
            pts, boxes, labels, CLASSES, np.random.default_rng(seed), record, rgb, calib)
        rec = record[0]
        n = rec["num"]
        assert rec["image_paste"] and len(out_b) == len(boxes) + n == len(out_l)
        np.testing.assert_array_equal(rgb, ds.read_image(frame))         # input untouched
        total_pasted += n
        total_dropped += rec["occluded_dropped"]
        if n == 0:
            continue
        sboxes = out_b[len(boxes):]
        own = np.asarray(points_in_boxes(out_p[:, :3], sboxes))          # [N, n]
        names = rec["names"]
        lookup = {(i["frame_id"], i["gt_idx"]): i for p in sampler.pools.values() for i in p}
        chosen = [lookup[tuple(src)] for src in rec["sources"]]                # paste order
        assert [c["name"] for c in chosen] == names
        drawn = [c["name"] for c in plain.sample(boxes, labels, np.random.default_rng(seed))]
        assert all(names.count(k) <= drawn.count(k) for k in set(names))  # the same draw
        hits = misses_before = count = 0
        for j, info in enumerate(chosen):
            src = np.asarray(Image.open(os.path.join(kitti_img, "training", "image_2",
                                                     info["frame_id"] + ".png")).convert("RGB"))
            uv, _ = _pixels(out_p[own[:, j]], calib)
            got, want = out_img[uv[:, 1], uv[:, 0]], src[uv[:, 1], uv[:, 0]]
            hits += int((got == want).all(1).sum())
            misses_before += int((rgb[uv[:, 1], uv[:, 0]] != want).any(1).sum())
            count += len(uv)
        assert count > 0 and hits >= 0.95 * count, (hits, count)       # the patch is there
        assert misses_before > 0.5 * count                              # and was not before
        # no remaining non-pasted point lies behind a pasted object in a repainted pixel
        rest = out_p[~own.any(1)]
        uv, depth = _puv = _pixels(rest, calib)
        h, w = rgb.shape[:2]
        inimg = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        changed = np.zeros(len(rest), bool)
        changed[inimg] = (out_img[uv[inimg, 1], uv[inimg, 0]] !=
                          rgb[uv[inimg, 1], uv[inimg, 0]]).any(1)
        cuv, cdepth = project_corners(sboxes, calib)
        for k in np.flatnonzero(changed):
            inside = [(cuv[j, :, 0].min() <= uv[k, 0] + 1) & (uv[k, 0] <= cuv[j, :, 0].max()) &
                      (cuv[j, :, 1].min() <= uv[k, 1] + 1) & (uv[k, 1] <= cuv[j, :, 1].max())
                      for j in range(len(sboxes))]
            assert any(inside) and depth[k] <= max(cdepth[j].min() for j in
                                                  range(len(sboxes)) if inside[j]) + 1e-6
        # 2-D collision filter: no pasted outline hides more than 80 % of another outline
        uv_all, d_all = project_corners(out_b, calib)
        front = [j for j in range(len(out_b)) if (d_all[j] > 0.1).all()]
        masks = {j: hull_mask(uv_all[j], (h, w)) for j in front}
        for j in front:
            if j < len(boxes):
                continue
            for o in front:
                if o == j or (o >= len(boxes) and o < j):
                    continue
                inter = (masks[j] & masks[o]).sum()
                far = o if d_all[o].min() > d_all[j].min() else j
                assert inter <= 0.8 * masks[far].sum() + 1
    assert total_pasted >= 3 and total_dropped > 0


def test_dataset_option_and_errors(kitti_img, synthetic_kitti3d):
    cfg = dict(root=kitti_img, split="train", mode="train", load_image=True,
               image_size=[320, 96], augment={}, seed=3,
               gt_sampler={"sample_groups": GROUPS, "min_points": MIN_POINTS,
                           "paste_image": True})
    s = KittiObject(**cfg)[0]
    rec = s["meta"]["augmentation"][0]
    assert rec["op"] == "gt_sample" and rec["image_paste"] and s["image"].shape == (3, 96, 320)
    with pytest.raises(ConfigError, match="paste_image: needs load_image"):
        KittiObject(**dict(cfg, load_image=False))
    with pytest.raises(ConfigError, match="max_overlap"):
        KittiObject(**dict(cfg, gt_sampler=dict(cfg["gt_sampler"], max_overlap=2)))
    with pytest.raises((DataError, ConfigError), match="no image patches"):              # a LiDAR-only database
        KittiObject(**dict(cfg, root=synthetic_kitti3d))


def test_after_augmentation_and_resize_pasted_points_see_their_patch(kitti_img):
    """Through the whole train pipeline (paste, flip, rotation / scale / translation, random
    keep-ratio resize, pad): the network image at a pasted point's projection shows its source
    image's colour there; without ``paste_image`` it mostly does not."""
    from paddlexseg.models.fusion.projection import normalized_grid, project_to_input, \
        sample_feature
    from paddlexseg.transforms.det_aug import undo_points
    import paddle
    mean = np.array([100.0, 110.0, 120.0])
    cfg = dict(root=kitti_img, split="val", mode="train", load_image=True, seed=5,
               image_resize={"img_scale": [[640, 192], [2560, 768]]}, image_pad_divisor=32,
               image_mean=mean.tolist(), augment={"shuffle": False},
               gt_sampler={"sample_groups": GROUPS, "min_points": MIN_POINTS,
                           "paste_image": True, "max_overlap": 0.8})
    fractions = {}
    for paste in (True, False):
        ds = KittiObject(**dict(cfg, gt_sampler=dict(cfg["gt_sampler"], paste_image=paste)))
        close = total = 0
        for epoch in range(3):
            ds.set_epoch(epoch)
            for index in range(len(ds)):
                s = ds[index]
                rec, meta = s["meta"]["augmentation"][0], s["meta"]
                n = rec["num"]
                if n == 0:
                    continue
                pasted = s["gt_boxes"][-n:].astype(np.float64)
                own = np.asarray(points_in_boxes(s["points"][:, :3], pasted))
                for j, (fid, _) in enumerate(rec["sources"]):
                    pts = s["points"][own[:, j], :3]
                    uv, depth = project_to_input(pts, meta)
                    got = sample_feature(paddle.to_tensor(s["image"][None]),
                                         normalized_grid(uv, depth, s["image"].shape[1:]),
                                         mode="nearest").numpy()                   # [K, 3] BGR
                    src = np.asarray(Image.open(os.path.join(
                        kitti_img, "training", "image_2", fid + ".png")).convert("RGB"))
                    suv, _ = _pixels(undo_points(pts, meta["augmentation"]), meta["calib"])
                    want = src[suv[:, 1], suv[:, 0], ::-1] - mean
                    close += int((np.abs(got - want).max(1) <= 12).sum())
                    total += len(pts)
        fractions[paste] = close / max(total, 1)
        assert total > 50
    print("share of pasted points seeing their source colour", fractions)
    assert fractions[True] > 0.85 and fractions[False] < 0.5, fractions
