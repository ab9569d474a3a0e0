"""3-D box geometry in one place: camera <-> LiDAR boxes, corners, projection to the image.

Conventions (mmdetection3d >= 1.0, OpenPCDet):

* **LiDAR boxes** float [N, 7] ``(x, y, z, l, w, h, yaw)`` in the velodyne frame (x forward,
  y left, z up); ``z`` is the **bottom** centre; ``yaw`` turns about +z and yaw = 0 points the
  length ``l`` along +x.
* **Camera boxes** (KITTI ``label_2``) float [N, 7] ``(x, y, z, l, h, w, ry)`` in the rectified
  camera frame (x right, y down, z forward); ``(x, y, z)`` is the bottom centre, the size is
  stored in memory as (l, h, w) (the file has h w l), ``ry`` turns about the camera y axis.
* Camera -> LiDAR: ``xyz = inv(R0_rect @ Tr_velo_to_cam) @ [loc, 1]``, size ``(l, w, h)``,
  ``yaw = -ry - pi/2``; LiDAR -> camera is the exact inverse (``ry = -yaw - pi/2``).

Calibration matrices are 4 x 4 float64 (``P2`` padded with a last row ``[0, 0, 0, 1]``), as
returned by :func:`paddlexseg.datasets.kitti_calib.read_kitti_calib`. Everything is NumPy.
"""
import numpy as np

__all__ = ["limit_period", "normalize_angle", "camera_to_lidar", "lidar_to_camera",
           "camera_boxes_to_lidar", "lidar_boxes_to_camera", "lidar_box_corners",
           "camera_box_corners", "project_to_image", "boxes_to_image_2d", "alpha_from_ry",
           "rect_from_velo"]

# Unit corners of a box around its bottom centre, in the box's own (length, width, height)
# axes. Order (mmdetection3d's): 0..3 the bottom face, 4..7 the top face, the same x/y
# pattern in both: (-,-), (-,+), (+,+), (+,-) in (length, width).
_UNIT = np.array([[-0.5, -0.5, 0.0], [-0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, -0.5, 0.0],
                  [-0.5, -0.5, 1.0], [-0.5, 0.5, 1.0], [0.5, 0.5, 1.0], [0.5, -0.5, 1.0]])
# The 12 edges as corner index pairs (bottom ring, top ring, verticals).
BOX_EDGES = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5], [5, 6], [6, 7], [7, 4],
                      [0, 4], [1, 5], [2, 6], [3, 7]])


def limit_period(angle, offset=0.5, period=2 * np.pi):
    """``angle - floor(angle / period + offset) * period`` (mmdet3d ``limit_period``): with the
    defaults the result lies in [-pi, pi)."""
    angle = np.asarray(angle, dtype=np.float64)
    return angle - np.floor(angle / period + offset) * period


def normalize_angle(angle):
    """Angles wrapped to [-pi, pi)."""
    return limit_period(angle, 0.5, 2 * np.pi)


def rect_from_velo(calib):
    """4 x 4 velodyne -> rectified camera transform ``R0_rect @ Tr_velo_to_cam``."""
    return np.asarray(calib["R0_rect"], np.float64) @ np.asarray(calib["Tr_velo_to_cam"],
                                                                 np.float64)


def _homogeneous(xyz):
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    return np.concatenate([xyz, np.ones((xyz.shape[0], 1))], axis=1)


def camera_to_lidar(xyz, calib):
    """Rectified-camera points [N, 3] -> velodyne points [N, 3] (float64)."""
    return (_homogeneous(xyz) @ np.linalg.inv(rect_from_velo(calib)).T)[:, :3]


def lidar_to_camera(xyz, calib):
    """Velodyne points [N, 3] -> rectified-camera points [N, 3] (float64)."""
    return (_homogeneous(xyz) @ rect_from_velo(calib).T)[:, :3]


def _check_boxes(boxes, name):
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = boxes.reshape(0, 7)
    if boxes.ndim != 2 or boxes.shape[1] != 7:
        raise ValueError(f"{name}: expected boxes [N, 7], got shape {boxes.shape}")
    return boxes


def camera_boxes_to_lidar(boxes_cam, calib):
    """KITTI camera boxes [N, 7] ``(x, y, z, l, h, w, ry)`` -> LiDAR boxes [N, 7]
    ``(x, y, z, l, w, h, yaw)`` (bottom centres stay bottom centres; yaw = -ry - pi/2,
    wrapped to [-pi, pi))."""
    boxes_cam = _check_boxes(boxes_cam, "camera_boxes_to_lidar")
    xyz = camera_to_lidar(boxes_cam[:, :3], calib)
    l, h, w = boxes_cam[:, 3], boxes_cam[:, 4], boxes_cam[:, 5]
    yaw = normalize_angle(-boxes_cam[:, 6] - np.pi / 2)
    return np.concatenate([xyz, np.stack([l, w, h, yaw], axis=1)], axis=1)


def lidar_boxes_to_camera(boxes_lidar, calib):
    """LiDAR boxes [N, 7] -> KITTI camera boxes [N, 7] ``(x, y, z, l, h, w, ry)``
    (ry = -yaw - pi/2, wrapped to [-pi, pi))."""
    boxes_lidar = _check_boxes(boxes_lidar, "lidar_boxes_to_camera")
    xyz = lidar_to_camera(boxes_lidar[:, :3], calib)
    l, w, h = boxes_lidar[:, 3], boxes_lidar[:, 4], boxes_lidar[:, 5]
    ry = normalize_angle(-boxes_lidar[:, 6] - np.pi / 2)
    return np.concatenate([xyz, np.stack([l, h, w, ry], axis=1)], axis=1)


def lidar_box_corners(boxes):
    """Corners [N, 8, 3] of LiDAR boxes (order: see ``_UNIT``; 0..3 bottom, 4..7 top)."""
    boxes = _check_boxes(boxes, "lidar_box_corners")
    local = _UNIT[None] * boxes[:, None, 3:6]                               # [N, 8, 3]
    c, s = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], axis=-1) + boxes[:, None, :3]


def camera_box_corners(boxes_cam):
    """Corners [N, 8, 3] of KITTI camera boxes in the rectified camera frame.

    Corner k is the same physical corner as corner k of :func:`lidar_box_corners` of the
    converted box (bottom face first; "up" is -y in the camera).
    """
    boxes_cam = _check_boxes(boxes_cam, "camera_box_corners")
    l, h, w, ry = boxes_cam[:, 3], boxes_cam[:, 4], boxes_cam[:, 5], boxes_cam[:, 6]
    # the box's length axis points along (cos ry, 0, -sin ry), its width axis (LiDAR's left)
    # along (sin ry, 0, cos ry), up is (0, -1, 0)
    u = _UNIT[None] * np.stack([l, w, h], axis=1)[:, None, :]               # [N, 8, 3]
    c, s = np.cos(ry)[:, None], np.sin(ry)[:, None]
    x = c * u[..., 0] + s * u[..., 1]
    z = -s * u[..., 0] + c * u[..., 1]
    y = -u[..., 2]
    return np.stack([x, y, z], axis=-1) + boxes_cam[:, None, :3]


def project_to_image(xyz_cam, p2):
    """Rectified-camera points [..., 3] -> pixel coordinates [..., 2] and depth [...] with P2
    (3 x 4 or 4 x 4). Points behind the camera get meaningless pixels; check the depth."""
    xyz_cam = np.asarray(xyz_cam, dtype=np.float64)
    p2 = np.asarray(p2, dtype=np.float64)[:3]
    hom = np.concatenate([xyz_cam, np.ones(xyz_cam.shape[:-1] + (1,))], axis=-1)
    uvw = hom @ p2.T
    depth = uvw[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[..., :2] / depth[..., None]
    return uv, depth


def boxes_to_image_2d(boxes_cam, p2, image_shape=None, near=0.1, return_unclipped=False):
    """2-D boxes [N, 4] ``(x1, y1, x2, y2)`` of camera boxes projected with P2.

    The 12 edges of each box are clipped at the plane ``z = near`` first, so a box reaching
    behind the camera still gets the extent of its visible part; the projected points' min/max
    is then clipped to the image when ``image_shape`` (H, W) is given. A box entirely behind
    the plane gets ``(-1, -1, -1, -1)``.

    Returns:
        float64 [N, 4] (and, with ``return_unclipped``, the boxes before clipping to the image).
    """
    corners = camera_box_corners(boxes_cam)                                 # [N, 8, 3]
    a, b = corners[:, BOX_EDGES[:, 0]], corners[:, BOX_EDGES[:, 1]]         # [N, 12, 3]
    za, zb = a[..., 2], b[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((near - za) / (zb - za), 0.0, 1.0)
    cross = (za < near) != (zb < near)
    hit = a + t[..., None] * (b - a)                                        # on the near plane
    pts = np.concatenate([corners, hit], axis=1)                            # [N, 20, 3]
    valid = np.concatenate([corners[..., 2] >= near, cross], axis=1)        # [N, 20]
    uv, _ = project_to_image(pts, p2)
    uv = np.where(valid[..., None], uv, np.nan)
    out = np.full((corners.shape[0], 4), -1.0)
    any_valid = valid.any(axis=1)
    if any_valid.any():
        with np.errstate(invalid="ignore"):
            out[any_valid, 0:2] = np.nanmin(uv[any_valid], axis=1)
            out[any_valid, 2:4] = np.nanmax(uv[any_valid], axis=1)
    unclipped = out.copy()
    if image_shape is not None:
        h, w = int(image_shape[0]), int(image_shape[1])
        out[any_valid, 0::2] = np.clip(out[any_valid, 0::2], 0.0, w - 1.0)
        out[any_valid, 1::2] = np.clip(out[any_valid, 1::2], 0.0, h - 1.0)
    return (out, unclipped) if return_unclipped else out


def alpha_from_ry(ry, xyz_cam):
    """KITTI observation angle ``alpha = ry - atan2(x, z)`` in [-pi, pi) (OpenPCDet /
    mmdet3d: ``-atan2(-y_lidar, x_lidar) + ry``)."""
    xyz_cam = np.asarray(xyz_cam, dtype=np.float64).reshape(-1, 3)
    return normalize_angle(np.asarray(ry, np.float64) - np.arctan2(xyz_cam[:, 0], xyz_cam[:, 2]))
