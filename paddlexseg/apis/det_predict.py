"""``tools/predict.py`` for 3-D detectors (SECOND, MVX-Net): KITTI object frames in, per frame a
KITTI ``label_2`` file with scores, a bird's-eye-view PNG and a camera PNG with the projected
boxes. Fusion models (MVX-Net and the fusion zoo) also get the camera image (resized and
normalised as ``val_dataset`` says: :func:`camera_input`) and the calibration.

Input: a KITTI object root (its ``training`` folder is used; ``testing`` if there is no
``training``), a split folder holding ``velodyne/``, ``calib/`` and ``image_2/``, or one
``velodyne/NNNNNN.bin`` in such a folder. Points are cropped to the camera's field of view as
in training (KITTI's ``velodyne_reduced``). Outputs under ``save_dir``:
``label_2/NNNNNN.txt``, ``bev/NNNNNN.png``, ``camera/NNNNNN.png``.
"""
import glob
import os
import time

import numpy as np
import paddle
from PIL import Image, ImageDraw
from tqdm import tqdm

from ..boxes3d import BOX_EDGES, camera_box_corners, project_to_image
from ..datasets.errors import DataError
from ..datasets.kitti_calib import fov_mask, read_kitti_calib
from ..datasets.kitti_label import write_label
from ..datasets.kitti_object import MVX_IMAGE_MEAN
from ..metrics.kitti_metric import bev_boxes_picture, detections_to_kitti_anno
from ..transforms.det_image import pipeline_from_dataset_config

__all__ = ["resolve_frames", "read_frame", "camera_picture", "predict_detection",
           "write_frame_outputs", "class_names_of", "image_settings", "camera_input",
           "model_inputs", "point_cloud_range_of"]

_COLORS = {"Car": (255, 60, 60), "Pedestrian": (60, 200, 255), "Cyclist": (255, 200, 0)}


def _split_dir(path):
    for sub in ("training", "testing"):
        if os.path.isdir(os.path.join(path, sub, "velodyne")):
            return os.path.join(path, sub)
    if os.path.isdir(os.path.join(path, "velodyne")):
        return path
    return None


def resolve_frames(input_path):
    """(split folder, [frame ids]) of a KITTI object root, split folder or ``.bin`` file."""
    if os.path.isfile(input_path) and input_path.endswith(".bin"):
        folder = os.path.dirname(os.path.dirname(os.path.abspath(input_path)))
        if os.path.basename(os.path.dirname(os.path.abspath(input_path))) != "velodyne":
            raise DataError(f"{input_path}: a scan must sit in <split>/velodyne/ next to "
                            f"calib/ and image_2/")
        return folder, [os.path.splitext(os.path.basename(input_path))[0]]
    split = _split_dir(input_path) if os.path.isdir(input_path) else None
    if split is None:
        raise DataError(f"{input_path}: expected a KITTI object root (with training/velodyne), "
                        f"a folder with velodyne/, calib/ and image_2/, or a velodyne .bin file")
    ids = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob(os.path.join(split, "velodyne", "*.bin")))
    if not ids:
        raise DataError(f"{os.path.join(split, 'velodyne')}: no .bin scans found")
    return split, ids


def read_frame(split, frame_id):
    """Points (FOV-cropped float32 [N, 4]), calib, image (uint8 RGB) of one frame."""
    bin_path = os.path.join(split, "velodyne", f"{frame_id}.bin")
    raw = np.fromfile(bin_path, dtype=np.float32)
    if raw.size % 4:
        raise DataError(f"{bin_path}: size is not a multiple of 4 float32 (x, y, z, intensity)")
    calib = read_kitti_calib(os.path.join(split, "calib", f"{frame_id}.txt"))
    img_path = os.path.join(split, "image_2", f"{frame_id}.png")
    if not os.path.isfile(img_path):
        raise DataError(f"{img_path}: image not found (needed for the image size and the "
                        f"camera picture)")
    image = np.asarray(Image.open(img_path).convert("RGB"))
    points = raw.reshape(-1, 4)
    points = points[fov_mask(points, calib, image.shape[:2])]
    return points, calib, image


def camera_picture(image, anno, p2):
    """The image (uint8 RGB) with the 3-D boxes of a KITTI annotation dict projected by P2
    (edges whose both ends lie in front of the camera)."""
    out = Image.fromarray(np.asarray(image, np.uint8).copy())
    if p2 is None or len(anno["name"]) == 0:
        return np.asarray(out)
    draw = ImageDraw.Draw(out)
    cam = np.concatenate([anno["location"], anno["dimensions"], anno["rotation_y"][:, None]], 1)
    corners = camera_box_corners(cam)                                # [K, 8, 3]
    uv, depth = project_to_image(corners, p2)
    for k, name in enumerate(anno["name"]):
        color = _COLORS.get(str(name), (255, 255, 255))
        for a, b in BOX_EDGES:
            if depth[k, a] > 0.1 and depth[k, b] > 0.1:
                draw.line([tuple(uv[k, a]), tuple(uv[k, b])], fill=color, width=2)
    return np.asarray(out)


def class_names_of(cfg):
    """The label order of the detector: ``metric.class_names``, else the dataset's."""
    for section in ("metric", "val_dataset", "train_dataset"):
        names = (cfg.get(section) or {}).get("class_names")
        if names:
            return list(names)
    return ["Pedestrian", "Cyclist", "Car"]


def image_settings(cfg):
    """The camera input settings of ``val_dataset`` (else ``train_dataset``), as ``KittiObject``
    reads them: ``image_size`` (W, H) or None, ``image_resize`` (ImageResize arguments) or None,
    ``image_pad_divisor``, ``image_mean`` and ``image_std`` (BGR)."""
    data = cfg.get("val_dataset") or cfg.get("train_dataset") or {}
    size = data.get("image_size")
    return {"image_size": None if size is None else [int(size[0]), int(size[1])],
            "image_resize": data.get("image_resize"),
            "image_pad_divisor": data.get("image_pad_divisor"),
            "image_mean": [float(v) for v in data.get("image_mean", MVX_IMAGE_MEAN)],
            "image_std": [float(v) for v in data.get("image_std", (1.0, 1.0, 1.0))]}


def camera_input(image, calib, settings):
    """One frame's camera input exactly as ``KittiObject(load_image=True)`` builds it in
    evaluation (the dataset's own pipeline, ``transforms.det_image``; no flip): uint8 RGB
    [H0, W0, 3] -> (BGR float32 [3, H, W] resized at the test scale, minus mean over std,
    padded; meta dict with ``calib``, ``ori_shape``, ``img_shape``, ``pad_shape``,
    ``scale_factor``, ``flip`` False and no augmentation)."""
    pipeline = pipeline_from_dataset_config(settings, default_mean=MVX_IMAGE_MEAN)
    img, meta = pipeline(np.asarray(image, np.uint8), flip=False, rng=None)
    meta.update(calib=calib, augmentation=[])
    return img, meta


def model_inputs(model, points, calib, image, settings):
    """Keyword arguments of ``model`` for one frame: ``points`` (SECOND) plus ``images`` and
    ``metas`` when the model fuses the camera (``fusion_layers()`` not empty)."""
    inputs = {"points": [paddle.to_tensor(points)]}
    fusion = getattr(model, "fusion_layers", None)
    if fusion is not None and fusion():
        img, meta = camera_input(image, calib, settings)
        inputs.update(images=paddle.to_tensor(img[None]), metas=[meta])
    return inputs


def point_cloud_range_of(model):
    """The detector's point cloud range (SECOND: its voxelizer's; MVX-Net: its own)."""
    voxelizer = getattr(model, "voxelizer", None)
    return voxelizer.point_cloud_range if voxelizer is not None else model.point_cloud_range


def write_frame_outputs(save_dir, frame_id, points, image, calib, det, class_names, pc_range):
    """Write ``label_2/<id>.txt`` (with scores), ``bev/<id>.png`` and ``camera/<id>.png`` for
    one frame's detections (LiDAR ``boxes_3d``, ``scores_3d``, ``labels_3d``); returns the
    KITTI annotation dict written."""
    for sub in ("label_2", "bev", "camera"):
        os.makedirs(os.path.join(save_dir, sub), exist_ok=True)
    anno = detections_to_kitti_anno(det, {"calib": calib, "image_shape": image.shape[:2]},
                                    class_names)
    write_label(os.path.join(save_dir, "label_2", f"{frame_id}.txt"), anno, with_score=True,
                decimals=4)
    Image.fromarray(bev_boxes_picture(points, None, det["boxes_3d"], pc_range)).save(
        os.path.join(save_dir, "bev", f"{frame_id}.png"))
    Image.fromarray(camera_picture(image, anno, calib["P2"])).save(
        os.path.join(save_dir, "camera", f"{frame_id}.png"))
    return anno


def predict_detection(model, cfg, split, frame_ids, save_dir, progress=True):
    """Run ``model`` on each frame and write label_2 / bev / camera outputs.

    Returns:
        dict: ``frames``, ``boxes`` (written), ``seconds``, ``label_dir``.
    """
    names = class_names_of(cfg)
    settings = image_settings(cfg)
    start, total = time.time(), 0
    for frame_id in tqdm(frame_ids, desc="predict", disable=not progress, mininterval=2):
        points, calib, image = read_frame(split, frame_id)
        with paddle.no_grad():
            det = model(**model_inputs(model, points, calib, image, settings))["detections"][0]
        anno = write_frame_outputs(save_dir, frame_id, points, image, calib, det, names,
                                   point_cloud_range_of(model))
        total += len(anno["name"])
    return {"frames": len(frame_ids), "boxes": total, "seconds": time.time() - start,
            "label_dir": os.path.join(save_dir, "label_2")}
