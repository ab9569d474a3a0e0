import numpy as np
import pytest

from paddlexseg.registry import TRANSFORMS
from paddlexseg.transforms.range_projection import KITTI_MEANS, KITTI_STDS, RangeProjection


def _pixel(point, H, W, fov_up=3.0, fov_down=-25.0):
    """Row, column of one point by the RangeNet++ formulas, written out by hand."""
    x, y, z = point
    r = np.sqrt(x * x + y * y + z * z)
    col = 0.5 * (-np.arctan2(y, x) / np.pi + 1.0) * W
    row = (1.0 - (np.arcsin(z / r) + np.radians(-fov_down)) / np.radians(fov_up - fov_down)) * H
    return int(min(H - 1, max(0, np.floor(row)))), int(min(W - 1, max(0, np.floor(col))))


def test_known_pixels_and_empty_value():
    proj = RangeProjection(H=64, W=2048)
    pts = np.array([[10.0, 0.1, 0.0, 0.5],         # ahead, slightly left
                    [-5.0, -0.01, -1.7, 0.2],      # behind -> last column
                    [3.0, 3.0, 5.0, 0.9],          # above the fov -> row 0
                    [4.0, -4.0, -4.0, 0.1]], dtype=np.float32)
    out = proj(pts)
    for i, p in enumerate(pts):
        row, col = _pixel(p[:3], 64, 2048)
        assert (out["proj_y"][i], out["proj_x"][i]) == (row, col)
        assert out["proj_range"][row, col] == pytest.approx(np.linalg.norm(p[:3]), rel=1e-6)
    assert out["proj_y"][2] == 0 and out["proj_x"][1] == 2047
    assert out["proj_mask"].sum() == 4 and out["proj_mask"].dtype == np.int32
    empty = out["proj_mask"] == 0
    assert (out["proj_range"][empty] == -1).all() and (out["proj_idx"][empty] == -1).all()
    assert (out["range_img"][:, empty] == 0).all()
    row, col = out["proj_y"][0], out["proj_x"][0]
    expect = (np.array([np.linalg.norm(pts[0, :3]), *pts[0]]) - KITTI_MEANS) / KITTI_STDS
    np.testing.assert_allclose(out["range_img"][:, row, col], expect, rtol=1e-5)
    assert out["range_img"].dtype == np.float32 and out["range_img"].shape == (5, 64, 2048)


def test_nearest_point_wins_and_labels_follow():
    proj = RangeProjection(H=16, W=64)
    direction = np.array([1.0, 0.2, -0.1]) / np.linalg.norm([1.0, 0.2, -0.1])
    ranges = np.array([20.0, 5.0, 12.0, 5.5])
    pts = np.concatenate([direction * ranges[:, None], np.full((4, 1), 0.3)], 1).astype(np.float32)
    labels = np.array([1, 2, 3, 4])
    out = proj(pts, labels)
    row, col = out["proj_y"][0], out["proj_x"][0]
    assert (out["proj_y"] == row).all() and (out["proj_x"] == col).all()
    assert out["proj_idx"][row, col] == 1
    assert out["proj_range"][row, col] == pytest.approx(5.0, rel=1e-6)
    assert out["proj_labels"][row, col] == 2 and out["proj_labels"].dtype == np.int64
    assert out["proj_labels"].sum() == 2                       # 0 everywhere else
    np.testing.assert_allclose(out["unproj_range"], ranges, rtol=1e-6)


def test_point_zero_is_counted_in_the_mask():
    out = RangeProjection(H=8, W=32)(np.array([[5.0, 0.0, -0.5, 0.1]], np.float32), np.array([7]))
    assert out["proj_mask"].sum() == 1 and out["proj_labels"].max() == 7


@pytest.mark.parametrize("H,W,up,down", [(16, 1024, 15.0, -15.0), (32, 1024, 10.67, -30.67),
                                          (128, 2048, 22.5, -22.5)])
def test_other_sensors_fill_rows_evenly(H, W, up, down):
    el = np.radians(up - (np.arange(H) + 0.5) * (up - down) / H)          # one beam per row centre
    az = np.linspace(-np.pi, np.pi, W, endpoint=False) + np.pi / W
    el, az = np.meshgrid(el, az, indexing="ij")
    pts = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1) * 10
    pts = np.concatenate([pts.reshape(-1, 3), np.zeros((H * W, 1))], 1).astype(np.float32)
    out = RangeProjection(H=H, W=W, fov_up=up, fov_down=down)(pts)
    assert out["proj_mask"].shape == (H, W)
    assert out["proj_mask"].all()


def test_bad_arguments_and_registry():
    with pytest.raises(ValueError, match="fov_up"):
        RangeProjection(fov_up=-30.0, fov_down=-25.0)
    with pytest.raises(ValueError, match="5 values"):
        RangeProjection(means=(1.0, 2.0))
    with pytest.raises(ValueError, match="labels must have shape"):
        RangeProjection(H=4, W=8)(np.ones((3, 4), np.float32), np.ones(2))
    proj = TRANSFORMS.build({"type": "RangeProjection", "H": 32, "W": 256}, path="projection")
    assert (proj.H, proj.W) == (32, 256)


def test_synthetic_scan_statistics(synthetic_kitti):
    from paddlexseg.datasets.semantickitti import read_scan
    pts = read_scan(f"{synthetic_kitti}/sequences/00/velodyne/000000.bin")
    out = RangeProjection(H=64, W=512)(pts)
    assert 0.6 < out["proj_mask"].mean() <= 1.0
    img = out["range_img"][:, out["proj_mask"] == 1]
    assert np.abs(img.mean(axis=1)).max() < 2.0              # roughly normalized


def test_equals_the_original_per_channel_scatter():
    """lidar-bonnetal's do_range_projection: every channel scattered far -> near."""
    from paddlexseg.transforms.range_projection import spherical_coords
    rng = np.random.default_rng(4)
    pts = np.concatenate([rng.normal(0, 15, (20000, 3)), rng.random((20000, 1))], 1)
    pts = pts.astype(np.float32)  # 20k points on 16 x 64 pixels: heavy collisions
    labels = rng.integers(0, 20, 20000)
    out = RangeProjection(H=16, W=64)(pts, labels)
    px, py, depth = spherical_coords(pts, 16, 64, 3.0, -25.0)
    order = np.argsort(depth)[::-1]
    ref = {"proj_range": np.full((16, 64), -1, np.float32),
           "proj_idx": np.full((16, 64), -1, np.int32)}
    xyz = np.full((16, 64, 3), -1, np.float32)
    ref["proj_range"][py[order], px[order]] = depth[order]
    ref["proj_idx"][py[order], px[order]] = order
    xyz[py[order], px[order]] = pts[order, :3]
    for name, want in ref.items():
        np.testing.assert_array_equal(out[name], want, err_msg=name)
    mask = out["proj_mask"].astype(bool)
    means = np.float32(KITTI_MEANS[1:4])[:, None]
    stds = np.float32(KITTI_STDS[1:4])[:, None]
    np.testing.assert_array_equal(out["range_img"][1:4][:, mask],
                                  (xyz.transpose(2, 0, 1)[:, mask] - means) / stds)
    np.testing.assert_array_equal(out["proj_labels"][mask], labels[out["proj_idx"][mask]])
