"""The KITTI 3-D detection metric for the training/validation loop: predicted LiDAR boxes ->
camera-frame KITTI annotations -> the official-protocol evaluator
(:func:`paddlexseg.metrics.kitti_ap.kitti_eval`).

The conversion follows mmdet3d's ``KittiMetric.convert_valid_bboxes`` / ``bbox2result_kitti``:
LiDAR -> camera boxes, the 2-D box from projecting the 3-D box with P2 clipped to the image,
``alpha = ry - atan2(x, z)``; a detection is kept when its 2-D box overlaps the image and its
centre lies in ``pcd_limit_range`` (mmdet3d: [0, -40, -3, 70.4, 40, 0]).
"""
import numpy as np

from ..boxes3d import alpha_from_ry, boxes_to_image_2d, lidar_boxes_to_camera
from ..boxes3d import lidar_box_corners
from ..registry import METRICS
from .base import Metric
from .kitti_ap import kitti_eval

__all__ = ["KittiDetMetric", "detections_to_kitti_anno", "bev_boxes_picture"]

_DEFAULT_LIMIT = (0.0, -40.0, -3.0, 70.4, 40.0, 0.0)


def _empty_anno():
    return {"name": np.zeros(0, dtype="<U16"), "truncated": np.zeros(0), "occluded":
            np.zeros(0, np.int64), "alpha": np.zeros(0), "bbox": np.zeros((0, 4)),
            "dimensions": np.zeros((0, 3)), "location": np.zeros((0, 3)),
            "rotation_y": np.zeros(0), "score": np.zeros(0)}


def detections_to_kitti_anno(det, meta, class_names, pcd_limit_range=_DEFAULT_LIMIT):
    """One frame's predicted LiDAR boxes -> a KITTI annotation dict (camera frame).

    Args:
        det: dict with ``boxes_3d`` [K, 7] LiDAR, ``scores_3d`` [K], ``labels_3d`` [K].
        meta: the frame's meta dict (``calib`` with ``P2``, ``R0_rect``, ``Tr_velo_to_cam``,
            ``image_shape`` (H, W)).
        class_names: label index -> KITTI type name.
        pcd_limit_range: boxes whose centre lies outside are dropped.

    Returns:
        dict of NumPy arrays (``name``, ``truncated``, ``occluded``, ``alpha``, ``bbox``,
        ``dimensions`` (l, h, w), ``location``, ``rotation_y``, ``score``).
    """
    boxes = np.asarray(det["boxes_3d"], np.float64).reshape(-1, 7)
    if boxes.shape[0] == 0:
        return _empty_anno()
    scores = np.asarray(det["scores_3d"], np.float64).reshape(-1)
    labels = np.asarray(det["labels_3d"], np.int64).reshape(-1)
    calib = meta["calib"]
    h, w = (int(v) for v in meta["image_shape"])
    cam = lidar_boxes_to_camera(boxes, calib)                       # [K, 7] x y z l h w ry
    bbox = boxes_to_image_2d(cam, calib["P2"], image_shape=(h, w))
    lim = np.asarray(pcd_limit_range, np.float64)
    centre = boxes[:, :3].copy()
    centre[:, 2] += boxes[:, 5] / 2  # gravity centre, as mmdet3d's ``box_preds.center``
    in_pcd = np.all((centre > lim[:3]) & (centre < lim[3:]), axis=1)
    in_cam = (bbox[:, 0] < w) & (bbox[:, 1] < h) & (bbox[:, 2] > 0) & (bbox[:, 3] > 0)
    keep = in_pcd & in_cam & (labels >= 0) & (labels < len(class_names))
    cam, bbox, scores, labels = cam[keep], bbox[keep], scores[keep], labels[keep]
    return {"name": np.asarray([class_names[i] for i in labels], dtype="<U16"),
            "truncated": np.zeros(cam.shape[0]), "occluded": np.zeros(cam.shape[0], np.int64),
            "alpha": alpha_from_ry(cam[:, 6], cam[:, :3]), "bbox": bbox,
            "dimensions": cam[:, 3:6], "location": cam[:, :3], "rotation_y": cam[:, 6],
            "score": scores}


def _draw_line(image, r0, c0, r1, c1, color):
    n = int(max(abs(r1 - r0), abs(c1 - c0))) + 1
    rows = np.round(np.linspace(r0, r1, n)).astype(np.int64)
    cols = np.round(np.linspace(c0, c1, n)).astype(np.int64)
    ok = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    image[rows[ok], cols[ok]] = color


def bev_boxes_picture(points, gt_boxes, pred_boxes, point_cloud_range=(0, -40, -3, 70.4, 40, 1),
                      resolution=0.1):
    """Bird's-eye view: points grey, ground truth green, predictions red (heading edge yellow).

    x forward is up, y left is left. Returns uint8 [H, W, 3] with
    ``H = (x1 - x0) / resolution``, ``W = (y1 - y0) / resolution``.
    """
    x0, y0, _, x1, y1, _ = (float(v) for v in point_cloud_range)
    hgt, wid = int(round((x1 - x0) / resolution)), int(round((y1 - y0) / resolution))
    image = np.zeros((hgt, wid, 3), np.uint8)

    def pix(x, y):
        return (x1 - x) / resolution, (y1 - y) / resolution

    if points is not None and len(points):
        pts = np.asarray(points, np.float64)
        r, c = pix(pts[:, 0], pts[:, 1])
        r, c = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
        ok = (r >= 0) & (r < hgt) & (c >= 0) & (c < wid)
        image[r[ok], c[ok]] = 110
    for boxes, color in ((gt_boxes, (0, 255, 0)), (pred_boxes, (255, 40, 40))):
        if boxes is None or len(boxes) == 0:
            continue
        boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
        boxes = boxes[np.isfinite(boxes).all(axis=1) & (np.abs(boxes[:, :6]) < 1e3).all(axis=1)]
        corners = lidar_box_corners(boxes)[:, :4, :2]
        for quad in corners:
            for k in range(4):
                a, b = quad[k], quad[(k + 1) % 4]
                # corners 2-3 are the front (+l) edge
                edge = (255, 255, 0) if k == 2 else color
                _draw_line(image, *pix(a[0], a[1]), *pix(b[0], b[1]), edge)
    return image


@METRICS.register()
class KittiDetMetric(Metric):
    """KITTI AP (bbox / BEV / 3D / AOS, AP11 and AP40) of a detector's ``detections`` output.

    Args:
        class_names: the model's label order (the config's classes, e.g. mmdet3d's
            Pedestrian, Cyclist, Car).
        eval_classes: classes evaluated (KITTI: Car, Pedestrian, Cyclist).
        main: the selection key (default ``Car/3d/AP40/moderate``; e.g.
            ``mAP/3d/AP40/moderate`` for the mean).
        pcd_limit_range: see :func:`detections_to_kitti_anno`.
        point_cloud_range: extent of the BEV picture.
        vis_frames: frames drawn for VisualDL (the first ones of the pass).
    """

    print_report = True  # the trainer prints the KITTI table after each evaluation

    def __init__(self, class_names=("Pedestrian", "Cyclist", "Car"),
                 eval_classes=("Car", "Pedestrian", "Cyclist"), main="Car/3d/AP40/moderate",
                 pcd_limit_range=_DEFAULT_LIMIT, point_cloud_range=(0, -40, -3, 70.4, 40, 1),
                 vis_frames=1):
        self.class_names = list(class_names)
        self.eval_classes = tuple(eval_classes)
        self.main = main
        self.pcd_limit_range = tuple(float(v) for v in pcd_limit_range)
        self.point_cloud_range = tuple(float(v) for v in point_cloud_range)
        self.vis_frames = int(vis_frames)
        self.reset()

    def reset(self):
        self.gt_annos, self.dt_annos, self._pictures, self._table = [], [], [], None

    def update(self, outputs, batch):
        dets = outputs["detections"]
        for i, (det, meta, gt) in enumerate(zip(dets, batch.metas, batch.gt_annos)):
            self.gt_annos.append(gt)
            self.dt_annos.append(detections_to_kitti_anno(det, meta, self.class_names,
                                                          self.pcd_limit_range))
            if len(self._pictures) < self.vis_frames:
                pts = batch.points[i]
                pts = pts.numpy() if hasattr(pts, "numpy") else np.asarray(pts)
                gtb = batch.gt_boxes[i]
                gtb = gtb.numpy() if hasattr(gtb, "numpy") else np.asarray(gtb)
                self._pictures.append(bev_boxes_picture(pts, gtb, det["boxes_3d"],
                                                        self.point_cloud_range))

    def compute(self):
        self._table, results = kitti_eval(self.gt_annos, self.dt_annos,
                                          classes=self.eval_classes)
        return {k: float(v) for k, v in results.items()}

    def images(self):
        return {f"val/bev_{i}": img for i, img in enumerate(self._pictures)}

    def report(self):
        if self._table is None:
            self.compute()
        return self._table
