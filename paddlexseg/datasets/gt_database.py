"""Ground-truth database and GT sampling (SECOND's "ObjectSample" augmentation).

:func:`create_gt_database` (mmdet3d ``tools/dataset_converters/create_gt_database.py``) cuts
the points inside every labelled object of a training split (after the FOV crop, as mmdet3d
does on ``velodyne_reduced``) into ``root/kitti_gt_database/<frame>_<type>_<k>.bin`` (float32
x, y, z, intensity, **relative to the box's bottom centre**) and writes the index
``root/kitti_dbinfos_<split>.json``: ``{"infos": {type: [info, ...]}}`` with per object
``name, path, frame_id, gt_idx, box3d_lidar, num_points_in_gt, difficulty, group_id``,
``occluded``, ``truncated`` and, with ``with_image``, ``image_patch`` (path of the PNG crop of
the object's projected box, or None when truncated) and ``image_box`` (its source rectangle)
for the image-consistent paste (:mod:`paddlexseg.datasets.gt_paste`).

:class:`GTSampler` is mmdet3d's ``DataBaseSampler``: objects with too few points or of an
ignored difficulty are dropped once; per frame, each class is topped up to its
``sample_groups`` count with database objects that do not touch (rotated BEV overlap) the
frame's boxes or each other, their points pasted in and the frame's points inside them removed.
Unlike mmdet3d's stateful shuffled queue, candidates are drawn from the caller's generator,
so GT sampling depends only on (seed, epoch, frame index) and resumed runs are exact.
"""
import json
import os

import numpy as np

from ..ops.boxes import box_iou_bev, points_in_boxes
from ..registry import ConfigError
from .errors import DataError
from .gt_paste import cut_image_patch, paste_objects

__all__ = ["create_gt_database", "GTSampler", "DEFAULT_SAMPLE_GROUPS", "DEFAULT_MIN_POINTS"]

DEFAULT_SAMPLE_GROUPS = {"Car": 12, "Pedestrian": 6, "Cyclist": 6}
DEFAULT_MIN_POINTS = {"Car": 5, "Pedestrian": 10, "Cyclist": 10}
DB_TYPES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")


def create_gt_database(root, split="train", fov_crop=True, db_name="kitti_gt_database",
                       with_image=False):
    """Write the GT database of ``root/ImageSets/<split>.txt`` (see the module docstring);
    ``with_image`` also cuts each object's image patch (for ``GTSampler(paste_image=True)``).

    Returns:
        dict: info file path, objects per type, frames.
    """
    from .kitti_object import KittiObject, annotation_to_lidar
    data = KittiObject(root, split=split, mode="val", class_names=DB_TYPES, fov_crop=fov_crop,
                       load_image=bool(with_image))
    db_dir = os.path.join(str(root), db_name)
    os.makedirs(db_dir, exist_ok=True)
    infos = {}
    group = 0
    for index, frame in enumerate(data.frames):
        points = data.load_points(index)
        anno = frame["anno"]
        boxes, labels = annotation_to_lidar(anno, frame["calib"], DB_TYPES)
        names = anno["name"][anno["name"] != "DontCare"]
        difficulty = anno["difficulty"][anno["name"] != "DontCare"]
        inside = points_in_boxes(points[:, :3], boxes) if boxes.shape[0] else None  # [N, M]
        image = data.read_image(frame) if with_image else None
        visible = anno["name"] != "DontCare"
        for k in range(boxes.shape[0]):
            if labels[k] < 0:                        # a type outside KITTI's list
                continue
            pts = points[inside[:, k]].copy()
            pts[:, :3] -= boxes[k, :3].astype(np.float32)
            rel = os.path.join(db_name, f"{frame['frame_id']}_{names[k]}_{k}.bin")
            pts.astype(np.float32).tofile(os.path.join(str(root), rel))
            info = {"name": str(names[k]), "path": rel, "frame_id": frame["frame_id"],
                    "gt_idx": k, "box3d_lidar": [float(v) for v in boxes[k]],
                    "num_points_in_gt": int(pts.shape[0]), "difficulty": int(difficulty[k]),
                    "group_id": group, "occluded": int(anno["occluded"][visible][k]),
                    "truncated": float(anno["truncated"][visible][k])}
            if with_image:
                info.update(_save_patch(image, boxes[k], frame["calib"], root, rel))
            infos.setdefault(str(names[k]), []).append(info)
            group += 1
    info_path = os.path.join(str(root), f"kitti_dbinfos_{split}.json")
    with open(info_path, "w") as f:
        json.dump({"split": split, "fov_crop": bool(fov_crop), "with_image": bool(with_image),
                   "infos": infos}, f)
    return {"info_path": info_path, "frames": len(data),
            "objects": {k: len(v) for k, v in sorted(infos.items())}}


def _save_patch(image, box, calib, root, rel):
    """Cut and save one object's image patch next to its points (``.png``)."""
    from PIL import Image
    cut = cut_image_patch(image, box, calib)
    if cut is None:
        return {"image_patch": None, "image_box": None}
    path = rel[:-len(".bin")] + ".png"
    Image.fromarray(cut[0]).save(os.path.join(str(root), path))
    return {"image_patch": path, "image_box": list(cut[1])}


class GTSampler:
    """mmdet3d ``DataBaseSampler`` + ``ObjectSample`` on a database from
    :func:`create_gt_database`.

    Args:
        info_path: the ``kitti_dbinfos_<split>.json`` (relative paths are under ``root``).
        root: the data root the database paths are relative to.
        class_names: the dataset's classes (label order); every sampled type must be one.
        sample_groups: {type: wanted objects per frame} (SECOND 3-class: Car 12, Pedestrian 6,
            Cyclist 6).
        min_points: {type: minimum points of a database object} (5 / 10 / 10).
        difficulty_filter: difficulties left out of the database (mmdet3d: [-1]).
        paste_image: also paste each object's image patch into the frame's camera image with
            occlusion handling (:mod:`paddlexseg.datasets.gt_paste`; needs a database made
            with ``--with_image`` and a dataset with ``load_image: true``). Default off.
        max_overlap: with ``paste_image``, the largest share of an object's projected outline
            a paste may hide (or have hidden); more and the candidate is dropped.
        max_occlusion: with ``paste_image``, paste only objects whose KITTI ``occluded`` level
            is at most this (0 = fully visible in the source image); None = any.
    """

    def __init__(self, info_path="kitti_dbinfos_train.json", root=".", class_names=(),
                 sample_groups=None, min_points=None, difficulty_filter=(-1,),
                 paste_image=False, max_overlap=0.5, max_occlusion=None):
        self.root = str(root)
        path = info_path if os.path.isabs(info_path) else os.path.join(self.root, info_path)
        if not os.path.isfile(path):
            raise DataError(f"{path}: GT database index not found; create it with "
                            f"tools/create_gt_database.py --root {self.root}")
        try:
            with open(path, "r") as f:
                db = json.load(f)["infos"]
        except (ValueError, KeyError) as err:
            raise DataError(f"{path}: not a GT database index ({err}); recreate it with "
                            f"tools/create_gt_database.py") from None
        self.sample_groups = dict(DEFAULT_SAMPLE_GROUPS if sample_groups is None
                                  else sample_groups)
        self.min_points = dict(DEFAULT_MIN_POINTS if min_points is None else min_points)
        self.class_names = tuple(class_names)
        for name in self.sample_groups:
            if name not in self.class_names:
                raise ConfigError(f"gt_sampler.sample_groups: '{name}' is not one of the "
                                  f"dataset's class_names {list(self.class_names)}")
        drop = set(int(d) for d in difficulty_filter)
        self.paste_image, self.max_overlap = bool(paste_image), float(max_overlap)
        if not 0.0 <= self.max_overlap <= 1.0:
            raise ConfigError(f"gt_sampler.max_overlap: expected a share in [0, 1], got "
                              f"{max_overlap}")
        if self.paste_image and not any("image_patch" in i for v in db.values() for i in v):
            raise DataError(f"{path}: the GT database has no image patches (paste_image: true); "
                            f"recreate it with tools/create_gt_database.py --with_image")
        self.pools = {}
        for name in self.sample_groups:
            keep = [i for i in db.get(name, []) if i["difficulty"] not in drop
                    and i["num_points_in_gt"] >= int(self.min_points.get(name, 0))]
            if self.paste_image:
                keep = [i for i in keep if i.get("image_patch") and (
                    max_occlusion is None or i["occluded"] <= int(max_occlusion))]
            self.pools[name] = keep
        self.info_path = path

    def _load(self, info):
        path = os.path.join(self.root, info["path"])
        if not os.path.isfile(path):
            raise DataError(f"{path}: GT database object file not found; recreate the "
                            f"database with tools/create_gt_database.py")
        pts = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
        pts[:, :3] += np.asarray(info["box3d_lidar"][:3], dtype=np.float32)
        return pts

    def sample(self, boxes, labels, rng):
        """Chosen database infos (a list) for a frame with LiDAR ``boxes`` [M, 7] and
        ``labels`` [M] (-1 for types outside ``class_names``), none overlapping in BEV."""
        avoid = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
        chosen = []
        for name, wanted in self.sample_groups.items():
            label = self.class_names.index(name)
            num = int(wanted) - int(np.sum(labels == label))
            pool = self.pools[name]
            if num <= 0 or not pool:
                continue
            pick = rng.choice(len(pool), size=min(num, len(pool)), replace=False)
            cand = [pool[i] for i in pick]
            cboxes = np.array([c["box3d_lidar"] for c in cand], dtype=np.float64)
            total = np.concatenate([avoid, cboxes], axis=0)
            coll = np.asarray(box_iou_bev(total, total)) > 0                # [T, T]
            np.fill_diagonal(coll, False)
            valid = []
            for i in range(avoid.shape[0], total.shape[0]):                 # mmdet3d's order
                if coll[i].any():
                    coll[i] = False
                    coll[:, i] = False
                else:
                    valid.append(i - avoid.shape[0])
            if valid:
                chosen += [cand[i] for i in valid]
                avoid = np.concatenate([avoid, cboxes[valid]], axis=0)
        return chosen

    def __call__(self, points, boxes, labels, class_names, rng, record):
        """Paste sampled objects into a frame; appends ``{"op": "gt_sample", ...}`` to
        ``record``. Returns (points, boxes, labels) with the sampled ones appended to boxes and
        their points first (mmdet3d: ``cat([sampled_points, points])``)."""
        chosen = self.sample(boxes, labels, rng)
        record.append({"op": "gt_sample", "num": len(chosen),
                       "names": [c["name"] for c in chosen],
                       "sources": [[c["frame_id"], c["gt_idx"]] for c in chosen]})
        if not chosen:
            return points, boxes, labels
        sboxes = np.array([c["box3d_lidar"] for c in chosen], dtype=np.float64)
        slabels = np.array([class_names.index(c["name"]) for c in chosen], dtype=np.int64)
        inside = np.asarray(points_in_boxes(points[:, :3], sboxes)).any(axis=1)
        spoints = [self._load(c)[:, :points.shape[1]] for c in chosen]
        points = np.concatenate(spoints + [points[~inside]], axis=0)
        return (points, np.concatenate([np.asarray(boxes).reshape(-1, 7), sboxes], axis=0),
                np.concatenate([labels, slabels]))

    def paste_with_image(self, points, boxes, labels, class_names, rng, record, image, calib):
        """:meth:`__call__` with the image-consistent paste: returns (points, boxes, labels,
        image) with ``image`` (uint8 RGB [H, W, 3], the frame's original) holding the pasted
        patches and points hidden behind them dropped; the record adds ``image_paste``,
        ``sources`` ([frame id, object index] per pasted object), ``rejected_2d`` and
        ``occluded_dropped``."""
        cand = self.sample(boxes, labels, rng)
        cand_points = [self._load(c) for c in cand]
        points, kept, image, stats = paste_objects(points, boxes, cand, cand_points, image,
                                                   calib, self.root, self.max_overlap)
        chosen = [cand[i] for i in kept]
        record.append(dict({"op": "gt_sample", "num": len(chosen),
                            "names": [c["name"] for c in chosen], "image_paste": True,
                            "sources": [[c["frame_id"], c["gt_idx"]] for c in chosen]},
                           **stats))
        if not chosen:
            return points, boxes, labels, image
        sboxes = np.array([c["box3d_lidar"] for c in chosen], dtype=np.float64)
        slabels = np.array([class_names.index(c["name"]) for c in chosen], dtype=np.int64)
        return (points, np.concatenate([np.asarray(boxes).reshape(-1, 7), sboxes], axis=0),
                np.concatenate([labels, slabels]), image)
