"""Image-consistent GT paste for LiDAR + camera detectors (an option of
:class:`~paddlexseg.datasets.gt_database.GTSampler`, off by default).

Plain GT sampling pastes database objects into the point cloud only, so a fusion model sees
objects in LiDAR that its camera image does not show. Here, as in MoCa (Zhang et al.,
"Exploring Data Augmentation for Multi-Modality 3D Object Detection", 2020) and mmdet3d's
``MMDataBaseSampler``, each database object also carries the image patch of its source frame
and is pasted into the target image where its 3-D box projects:

* **Database** (:func:`cut_image_patch`): the crop of the source image over the bounding
  rectangle of the box's 8 projected corners, kept only when that rectangle lies wholly in the
  image and every corner is in front of the camera (truncated objects get no patch and are
  never pasted).
* **Placement**: a database object keeps its 3-D box (GT sampling never moves it), so its
  target rectangle is the projection of the same box with the target calib; the patch is
  resized to it (:func:`~paddlexseg.transforms.det_image.resize_bilinear`) and drawn only
  inside the box's projected outline (convex hull of the 8 corners), not the whole rectangle.
* **2-D collisions**: a candidate is dropped when its outline covers more than ``max_overlap``
  of a farther object's outline (it would hide it) or has more than ``max_overlap`` of its own
  outline behind a nearer object (existing or already accepted); "near" compares the boxes'
  nearest corner depths.
* **Occlusion**: patches are drawn far to near, never over a nearer existing object; then a
  point is dropped when it lies inside the outline of a pasted object, is not that object's,
  and is farther than the object's nearest corner (the camera now sees the object there), and
  a pasted object's point is dropped when it lies behind a nearer existing object's outline.

Limits (honest): the outline is the box's, not the object's silhouette, so the patch brings
some source background (road, sky) around the object and a few target points just in front of
an obliquely seen box's far end can be dropped; the patch keeps the source frame's lighting
and whatever occluded the object there (use ``max_occlusion`` to paste only objects labelled
fully visible); depth tests are per box (nearest corner), not per pixel; ``ObjectNoise`` after
the paste moves points but not patches (MVX-Net does not use it).
"""
import os

import numpy as np

from ..boxes3d import lidar_box_corners
from ..transforms.det_image import resize_bilinear
from .errors import DataError

__all__ = ["project_corners", "cut_image_patch", "hull_mask", "paste_objects"]

_NEAR = 0.1


def _lidar2img(calib):
    """4x4 ``P2 @ R0_rect @ Tr_velo_to_cam`` (as ``models.fusion.projection.lidar2img``)."""
    return (np.asarray(calib["P2"], np.float64) @ np.asarray(calib["R0_rect"], np.float64)
            @ np.asarray(calib["Tr_velo_to_cam"], np.float64))


def project_corners(boxes, calib):
    """LiDAR boxes [M, 7] -> projected corners uv [M, 8, 2] and depths [M, 8]."""
    corners = lidar_box_corners(np.asarray(boxes, np.float64).reshape(-1, 7))      # [M, 8, 3]
    hom = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=-1)
    cam = hom @ _lidar2img(calib).T                                                 # [M, 8, 4]
    depth = cam[..., 2]
    uv = cam[..., :2] / np.where(depth > _NEAR, depth, 1.0)[..., None]
    return uv, depth


def _rect(uv):
    """Integer pixel rectangle (x1, y1, x2, y2), x2 / y2 exclusive, covering points uv [8, 2]."""
    return (int(np.floor(uv[:, 0].min())), int(np.floor(uv[:, 1].min())),
            int(np.ceil(uv[:, 0].max())), int(np.ceil(uv[:, 1].max())))


def cut_image_patch(image, box, calib):
    """The source image patch of one object: (uint8 [h, w, 3], rect) or None when the box is
    truncated by the image border or reaches behind the camera."""
    uv, depth = project_corners(box[None], calib)
    if (depth[0] <= _NEAR).any():
        return None
    x1, y1, x2, y2 = _rect(uv[0])
    h, w = image.shape[:2]
    if x1 < 0 or y1 < 0 or x2 > w or y2 > h or x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return image[y1:y2, x1:x2].copy(), (x1, y1, x2, y2)


def _hull(pts):
    """Convex hull (counter-clockwise vertex list) of 2-D points (Andrew's monotone chain)."""
    pts = sorted(map(tuple, np.asarray(pts, np.float64)))

    def half(seq):
        out = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) -
                                     (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out
    lower, upper = half(pts), half(reversed(pts))
    return lower[:-1] + upper[:-1]


def hull_mask(uv, shape):
    """Bool [H, W] of the pixels inside the convex outline of projected corners uv [8, 2]."""
    from PIL import Image, ImageDraw
    canvas = Image.new("L", (int(shape[1]), int(shape[0])), 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in _hull(uv)], fill=1)
    return np.asarray(canvas, dtype=bool)


def _load_patch(root, info):
    from PIL import Image
    path = os.path.join(root, info["image_patch"])
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except OSError as err:
        raise DataError(f"{path}: GT database image patch missing or unreadable ({err}); "
                        f"recreate the database with tools/create_gt_database.py "
                        f"--with_image") from None


def paste_objects(points, boxes, cand, cand_points, image, calib, root, max_overlap):
    """Accept candidates whose image paste is consistent, paste them, drop occluded points.

    Args:
        points: frame points [N, C] (those inside accepted boxes are removed here).
        boxes: the frame's LiDAR boxes [M, 7] (every labelled object).
        cand: database infos (BEV collision-free), cand_points: their points (list).
        image: uint8 RGB [H, W, 3] of the frame (not modified).
        calib: the frame's calib; root: database root; max_overlap: see the module docstring.

    Returns:
        (points, accepted indices into ``cand``, image, stats dict).
    """
    from ..ops.boxes import points_in_boxes
    h, w = image.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 7)
    objs = []                                     # existing objects: hull, near depth
    if boxes.shape[0]:
        uv, depth = project_corners(boxes, calib)
        for k in range(boxes.shape[0]):
            if (depth[k] > _NEAR).all():
                objs.append({"hull": hull_mask(uv[k], (h, w)), "near": depth[k].min(),
                             "pasted": False, "index": k})
    accepted, rejected = [], 0
    cboxes = np.array([c["box3d_lidar"] for c in cand], np.float64).reshape(-1, 7)
    if cboxes.shape[0]:
        cuv, cdepth = project_corners(cboxes, calib)
    for i in range(cboxes.shape[0]):
        x1, y1, x2, y2 = _rect(cuv[i]) if (cdepth[i] > _NEAR).all() else (-1, -1, w + 1, h + 1)
        if x1 < 0 or y1 < 0 or x2 > w or y2 > h or x2 - x1 < 2 or y2 - y1 < 2:
            rejected += 1
            continue
        hull, near = hull_mask(cuv[i], (h, w)), cdepth[i].min()
        area = max(int(hull.sum()), 1)
        clash = False
        for o in objs:
            inter = int(np.count_nonzero(hull & o["hull"]))
            if inter and inter / (area if o["near"] < near else
                                  max(int(o["hull"].sum()), 1)) > max_overlap:
                clash = True
                break
        if clash:
            rejected += 1
            continue
        objs.append({"hull": hull, "near": near, "pasted": True, "index": i,
                     "rect": (x1, y1, x2, y2)})
        accepted.append(i)
    pasted = [o for o in objs if o["pasted"]]
    image = image.copy()
    for o in sorted(pasted, key=lambda o: -o["near"]):                 # far to near
        x1, y1, x2, y2 = o["rect"]
        patch = resize_bilinear(_load_patch(root, cand[o["index"]]), (x2 - x1, y2 - y1))
        mask = o["hull"].copy()
        for e in objs:
            if not e["pasted"] and e["near"] < o["near"]:
                mask &= ~e["hull"]
        sub = mask[y1:y2, x1:x2]
        image[y1:y2, x1:x2][sub] = patch[sub]
    if not accepted:
        return points, accepted, image, {"rejected_2d": rejected, "occluded_dropped": 0}
    sboxes = cboxes[accepted]
    inside = np.asarray(points_in_boxes(points[:, :3], sboxes)).any(axis=1)
    spoints = [cand_points[i][:, :points.shape[1]] for i in accepted]
    owner = np.concatenate([np.full(len(p), i, np.int64) for i, p in zip(accepted, spoints)] +
                           [np.full(int((~inside).sum()), -1, np.int64)])
    points = np.concatenate(spoints + [points[~inside]], axis=0)
    # each point's pixel and depth in the target camera
    hom = np.concatenate([points[:, :3].astype(np.float64), np.ones((len(points), 1))], 1)
    cam = hom @ _lidar2img(calib).T
    pdepth = cam[:, 2]
    ok = pdepth > _NEAR
    pu = np.floor(cam[:, 0] / np.where(ok, pdepth, 1.0)).astype(np.int64)
    pv = np.floor(cam[:, 1] / np.where(ok, pdepth, 1.0)).astype(np.int64)
    ok &= (pu >= 0) & (pu < w) & (pv >= 0) & (pv < h)
    frame_in = np.zeros((len(points), boxes.shape[0]), bool)
    if boxes.shape[0]:
        frame_in = np.asarray(points_in_boxes(points[:, :3], boxes))           # [N, M]
    drop = np.zeros(len(points), bool)
    for o in objs:
        own = owner == o["index"] if o["pasted"] else frame_in[:, o["index"]]
        candidates = ok & ~own & (pdepth > o["near"])
        if not o["pasted"]:
            candidates &= owner >= 0                  # existing objects hide pasted points only
        idx = np.flatnonzero(candidates)
        hit = o["hull"][pv[idx], pu[idx]]
        drop[idx[hit]] = True
    return points[~drop], accepted, image, {"rejected_2d": rejected,
                                            "occluded_dropped": int(drop.sum())}
