import numpy as np

from paddlexseg.datasets.synthetic.hdl64 import (EGO_BODY, HDL64E_S2_ELEVATIONS, ego_blocked,
                                                 mixed_pixels, remission_model)
from paddlexseg.datasets.synthetic.lidar_scenes import LidarSensor, scan_lidar
from paddlexseg.datasets.synthetic.primitives import Primitive


def test_beam_table_blocks_and_sensor_mapping():
    t = HDL64E_S2_ELEVATIONS
    assert t.shape == (64,) and t[0] == 2.0 and np.isclose(t[31], -8.33, atol=0.01)
    assert np.isclose(t[32], -8.83) and np.isclose(t[63], -24.33)
    np.testing.assert_allclose(np.diff(t[:32]), -1 / 3)               # upper block 1/3 deg
    np.testing.assert_allclose(np.diff(t[32:]), -0.5)                 # lower block 1/2 deg
    sensor = LidarSensor()                                            # KITTI unit: +2 .. -24.9
    el = sensor.elevations()
    assert el[0] == 2.0 and np.isclose(el[-1], -24.9) and sensor.height == 1.73
    assert np.all(np.diff(el) < 0)
    heights = sensor.laser_heights()
    assert heights[:32].tolist() == [0.21] * 32 and heights[32:].tolist() == [0.12] * 32
    assert LidarSensor(beams=16).laser_heights().tolist() == [0.0] * 16
    assert sensor.body() == EGO_BODY and LidarSensor(beams=16).body() == ()
    cal = sensor.calibration(np.random.default_rng(0))
    dirs = LidarSensor(azimuth_steps=16).directions(cal)
    np.testing.assert_array_equal(sensor.beam_of(dirs, cal), np.repeat(np.arange(64), 16))


def test_remission_range_quantisation_and_fading():
    rng = np.random.default_rng(0)
    n = 20000
    ones = np.ones(n)
    near = remission_model(0.32 * ones, 0.07 * ones, 0.0 * ones, 0.3 * ones, 8.0 * ones, rng)
    assert near.min() >= 0 and near.max() <= 0.99
    np.testing.assert_allclose(near * 100, np.round(near * 100), atol=1e-9)     # 0.01 steps
    assert 0.2 < np.median(near) < 0.3                                # real road median 0.25
    far = remission_model(0.32 * ones, 0.07 * ones, 0.0 * ones, 0.3 * ones, 60.0 * ones, rng)
    assert np.median(far) < 0.5 * np.median(near) and (far == 0).mean() > 0.3
    dark = remission_model(0.24 * ones, 0.1 * ones, 0.5 * ones, ones, 8.0 * ones, rng)
    assert 0.45 < (dark == 0).mean() < 0.6


def test_ego_shadow_blocks_only_steep_rays_near_the_car():
    dirs = np.array([[0, 0, -1.0], [1, 0, 0], [0, 1, 0], [0.9, 0, -0.43], [0.9, 0, -0.2],
                     [-0.93, 0, -0.37]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    origins = np.tile([0, 0, 0.12], (dirs.shape[0], 1))
    np.testing.assert_array_equal(ego_blocked(origins, dirs),
                                  [True, False, False, True, False, True])
    assert not ego_blocked(origins, dirs, body=()).any()
    # flat ground only: the bonnet and the boot hide the nearest ground ahead and behind
    sensor = LidarSensor(azimuth_steps=256, dropout=0.0, outlier_rate=0.0)
    free = LidarSensor(azimuth_steps=256, dropout=0.0, outlier_rate=0.0, ego_body=())
    ground = [Primitive("plane", (0, 0, 0), (0, 0, 0), 40, "asphalt")]
    pose = np.eye(4)
    pose[2, 3] = sensor.height
    cal = sensor.calibration(np.random.default_rng(1))
    pts = scan_lidar(ground, pose, sensor, cal, np.random.default_rng(2))["points"]
    ref = scan_lidar(ground, pose, free, cal, np.random.default_rng(2))["points"]
    np.testing.assert_allclose(pts[:, 2], -1.73, atol=0.1)
    x_max = max(max(abs(b[0]), abs(b[1])) for b in EGO_BODY)
    assert 2.0 < x_max < 2.5

    def near_axis(p):                     # the bottom beams' ground ahead of / behind the car
        return (p[:, 0] > -4.6) & (p[:, 0] < 4.2) & (np.abs(p[:, 1]) < 0.5)
    assert near_axis(ref).sum() > 4 and not near_axis(pts).any()
    assert ref.shape[0] - pts.shape[0] > 256


def test_mixed_pixels_lie_between_the_two_surfaces():
    t = np.array([5.0, 5.0, 20.0, 20.0, np.inf, 5.0])
    beam = np.array([0, 0, 0, 1, 1, 1])
    out, src = mixed_pixels(t, beam, np.random.default_rng(0), rate=1.0)
    assert 5.0 < out[1] < 20.0 and src[1] in (1, 2)
    np.testing.assert_array_equal(out[[0, 2, 3, 5]], t[[0, 2, 3, 5]])   # beam change, miss
    assert np.isinf(out[4])


def test_foliage_scatters_and_scan_is_deterministic():
    sensor = LidarSensor(beams=16, azimuth_steps=64, fov_up=5.0, fov_down=-5.0, dropout=0.0,
                         outlier_rate=0.0, range_noise=0.0, ego_body=(), mixed_pixel_rate=0.0)
    scene = [Primitive("box", (10, 0, 0), (1, 8, 8), 70, "foliage"),
             Primitive("box", (20, 0, 0), (1, 40, 40), 50, "facade")]
    pose = np.eye(4)
    cal = sensor.calibration(np.random.default_rng(0))
    a = scan_lidar(scene, pose, sensor, cal, np.random.default_rng(3))
    b = scan_lidar(scene, pose, sensor, cal, np.random.default_rng(3))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    x = a["points"][:, 0]
    veg, wall = a["semantic"] == 70, a["semantic"] == 50
    assert veg.sum() > 0 and (x[veg] >= 9.5 - 1e-3).all() and (x[veg] > 9.6).mean() > 0.5
    ahead = np.abs(np.arctan2(a["points"][:, 1], x)) < np.arctan(3.5 / 10)
    assert (wall & ahead).sum() > 0                                  # seen through the bush
