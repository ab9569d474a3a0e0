"""Spherical (range-image) projection of a LiDAR scan, as in RangeNet++.

Port of ``LaserScan.do_range_projection`` / ``SemLaserScan.do_label_projection`` and the
normalisation in ``parser.py`` of PRBonn/lidar-bonnetal (Milioto et al., "RangeNet++: Fast and
Accurate LiDAR Semantic Segmentation", IROS 2019).

One deliberate difference: the original builds ``proj_mask = proj_idx > 0``, which marks the pixel
holding point 0 as empty; here ``proj_mask = proj_idx >= 0`` so every occupied pixel counts.
"""
import numpy as np

from ..registry import TRANSFORMS

__all__ = ["RangeProjection", "spherical_coords"]

# RangeNet++ darknet21.yaml, dataset.sensor.img_means / img_stds: range, x, y, z, remission
KITTI_MEANS = (12.12, 10.88, 0.23, -1.04, 0.21)
KITTI_STDS = (12.32, 11.47, 6.91, 0.86, 0.16)


def spherical_coords(points, H, W, fov_up, fov_down):
    """Pixel coordinates of points in a range image (floor and clip, like the original).

    Args:
        points: float [N, >=3] x, y, z in the sensor frame (x forward, y left, z up).
        H, W: image height (rows, elevation) and width (columns, azimuth).
        fov_up, fov_down: vertical field of view limits in degrees (fov_down negative).

    Returns:
        (proj_x int32 [N] in [0, W-1], proj_y int32 [N] in [0, H-1], depth float32 [N]).
    """
    fov_up_rad = fov_up / 180.0 * np.pi
    fov_down_rad = fov_down / 180.0 * np.pi
    fov = abs(fov_down_rad) + abs(fov_up_rad)
    xyz = points[:, :3].astype(np.float32)
    depth = np.linalg.norm(xyz, 2, axis=1)                                  # [N]
    yaw = -np.arctan2(xyz[:, 1], xyz[:, 0])
    # a zero-range point would give arcsin(0/0); treat it as pitch 0 instead of NaN
    ratio = np.divide(xyz[:, 2], depth, out=np.zeros_like(depth), where=depth > 0)
    pitch = np.arcsin(np.clip(ratio, -1.0, 1.0))
    proj_x = 0.5 * (yaw / np.pi + 1.0) * W                                  # in [0, W]
    proj_y = (1.0 - (pitch + abs(fov_down_rad)) / fov) * H                  # in [0, H]
    proj_x = np.maximum(0, np.minimum(W - 1, np.floor(proj_x))).astype(np.int32)
    proj_y = np.maximum(0, np.minimum(H - 1, np.floor(proj_y))).astype(np.int32)
    return proj_x, proj_y, depth


@TRANSFORMS.register()
class RangeProjection:
    """Project a scan to a normalized 5-channel range image (range, x, y, z, remission).

    Points are written in order of decreasing range, so the nearest point wins a pixel.
    The defaults are the HDL-64E setup of RangeNet++ (darknet21.yaml); for other sensors set
    ``H``/``W``/``fov_up``/``fov_down`` (e.g. VLP-16: H=16, fov_up=15, fov_down=-15;
    HDL-32E: H=32, fov_up=10.67, fov_down=-30.67; OS1-128: H=128, fov_up=22.5, fov_down=-22.5)
    and the ``means``/``stds`` measured on that data.

    Args:
        H: image rows (beams). W: image columns (azimuth steps).
        fov_up, fov_down: vertical field of view in degrees.
        means, stds: per-channel normalisation of (range, x, y, z, remission).
    """

    def __init__(self, H=64, W=2048, fov_up=3.0, fov_down=-25.0, means=KITTI_MEANS,
                 stds=KITTI_STDS):
        if int(H) <= 0 or int(W) <= 0:
            raise ValueError(f"RangeProjection: H and W must be positive, got H={H}, W={W}")
        if not fov_up > fov_down:
            raise ValueError(f"RangeProjection: fov_up ({fov_up}) must be above fov_down "
                             f"({fov_down}) (degrees)")
        if len(means) != 5 or len(stds) != 5:
            raise ValueError(f"RangeProjection: means and stds need 5 values (range, x, y, z, "
                             f"remission), got {len(means)} and {len(stds)}")
        if any(float(s) <= 0 for s in stds):
            raise ValueError(f"RangeProjection: stds must be positive, got {list(stds)}")
        self.H, self.W = int(H), int(W)
        self.fov_up, self.fov_down = float(fov_up), float(fov_down)
        self.means = np.asarray(means, dtype=np.float32).reshape(5, 1, 1)
        self.stds = np.asarray(stds, dtype=np.float32).reshape(5, 1, 1)

    def __repr__(self):
        return (f"RangeProjection(H={self.H}, W={self.W}, fov_up={self.fov_up}, "
                f"fov_down={self.fov_down})")

    def __call__(self, points, labels=None):
        """Project one scan.

        Args:
            points: float32 [N, 4] x, y, z, remission (a 3-column array gets remission 0).
            labels: optional int [N] per-point labels (learning ids) to project.

        Returns:
            dict with
              range_img float32 [5, H, W]: normalized (range, x, y, z, remission), 0 where empty;
              proj_mask int32 [H, W]: 1 where a point landed;
              proj_range float32 [H, W]: range in metres, -1 where empty;
              proj_idx int32 [H, W]: index of the point shown in each pixel, -1 where empty;
              proj_labels int64 [H, W] (only with ``labels``): label per pixel, 0 where empty;
              proj_x, proj_y int32 [N]: pixel column / row of every point (original order);
              unproj_range float32 [N]: range of every point.
        """
        points = np.asarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] < 3:
            raise ValueError(f"RangeProjection: expected points [N, 4], got shape {points.shape}")
        n = points.shape[0]
        remission = points[:, 3] if points.shape[1] > 3 else np.zeros(n, np.float32)
        H, W = self.H, self.W
        proj_x, proj_y, depth = spherical_coords(points, H, W, self.fov_up, self.fov_down)

        order = np.argsort(depth)[::-1]                 # far -> near: the nearest is written last
        # one scatter of the point indices picks each pixel's point; the channels are then
        # gathered for the occupied pixels only (the original scatters every channel of every
        # point: same images, ~3x slower)
        proj_idx = np.full(H * W, -1, dtype=np.int32)
        proj_idx[proj_y[order] * W + proj_x[order]] = order.astype(np.int32)
        occupied = np.flatnonzero(proj_idx >= 0)
        shown = proj_idx[occupied]                      # [M] point of each occupied pixel
        proj_range = np.full(H * W, -1, dtype=np.float32)
        proj_xyz = np.full((H * W, 3), -1, dtype=np.float32)
        proj_rem = np.full(H * W, -1, dtype=np.float32)
        proj_range[occupied] = depth[shown]
        proj_xyz[occupied] = points[shown, :3]
        proj_rem[occupied] = remission[shown]
        proj_idx, proj_range = proj_idx.reshape(H, W), proj_range.reshape(H, W)
        proj_xyz, proj_rem = proj_xyz.reshape(H, W, 3), proj_rem.reshape(H, W)
        proj_mask = (proj_idx >= 0).astype(np.int32)

        img = np.concatenate([proj_range[None], proj_xyz.transpose(2, 0, 1),
                              proj_rem[None]], axis=0)                       # [5, H, W]
        img = (img - self.means) / self.stds * proj_mask[None].astype(np.float32)
        out = {"range_img": img.astype(np.float32), "proj_mask": proj_mask,
               "proj_range": proj_range, "proj_idx": proj_idx, "proj_x": proj_x,
               "proj_y": proj_y, "unproj_range": depth.astype(np.float32)}
        if labels is not None:
            labels = np.asarray(labels).astype(np.int64)
            if labels.shape != (n,):
                raise ValueError(f"RangeProjection: labels must have shape ({n},) like the "
                                 f"points, got {labels.shape}")
            proj_labels = np.zeros((H, W), dtype=np.int64)
            occupied = proj_idx >= 0
            proj_labels[occupied] = labels[proj_idx[occupied]]
            out["proj_labels"] = proj_labels
        return out
