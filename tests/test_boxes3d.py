import numpy as np
import pytest

from paddlexseg import boxes3d as B


def _calib(realistic=True):
    """A KITTI training/calib/000000.txt-like calibration (4 x 4 float64)."""
    tr = np.eye(4)
    tr[:3] = [[7.533745e-03, -9.999714e-01, -6.166020e-04, -4.069766e-03],
              [1.480249e-02, 7.280733e-04, -9.998902e-01, -7.631618e-02],
              [9.998621e-01, 7.523790e-03, 1.480755e-02, -2.717806e-01]]
    r0 = np.eye(4)
    r0[:3, :3] = [[9.999239e-01, 9.837760e-03, -7.445048e-03],
                  [-9.869795e-03, 9.999421e-01, -4.278459e-03],
                  [7.402527e-03, 4.351614e-03, 9.999631e-01]]
    p2 = np.eye(4)
    p2[:3] = [[7.215377e+02, 0, 6.095593e+02, 4.485728e+01],
              [0, 7.215377e+02, 1.728540e+02, 2.163791e-01], [0, 0, 1, 2.745884e-03]]
    if not realistic:                                 # ideal axes: x_c = -y, y_c = -z, z_c = x
        tr = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1.0]])
        r0 = np.eye(4)
    return {"P2": p2, "R0_rect": r0, "Tr_velo_to_cam": tr}


def _random_cam_boxes(rng, n):
    loc = np.stack([rng.uniform(-10, 10, n), rng.uniform(1, 2, n), rng.uniform(5, 40, n)], 1)
    size = rng.uniform(0.5, 4.5, (n, 3))
    ry = rng.uniform(-np.pi, np.pi, n)
    return np.concatenate([loc, size, ry[:, None]], axis=1)


def test_camera_lidar_round_trip_and_hand_case():
    calib = _calib()
    boxes = _random_cam_boxes(np.random.default_rng(0), 20)
    lidar = B.camera_boxes_to_lidar(boxes, calib)
    back = B.lidar_boxes_to_camera(lidar, calib)
    np.testing.assert_allclose(back[:, :6], boxes[:, :6], atol=1e-9)
    np.testing.assert_allclose(B.normalize_angle(back[:, 6] - boxes[:, 6]), 0, atol=1e-9)
    # ideal axes: a car 10 m ahead, 2 m right, bottom 1.7 m below the camera, ry = 0
    # (its length points to the camera's right = LiDAR -y)
    cam = np.array([[2.0, 1.7, 10.0, 4.0, 1.5, 1.6, 0.0]])        # l, h, w
    lid = B.camera_boxes_to_lidar(cam, _calib(False))
    np.testing.assert_allclose(lid, [[10.0, -2.0, -1.7, 4.0, 1.6, 1.5, -np.pi / 2]], atol=1e-12)
    # yaw = 0 (length along +x, forward) is ry = -pi/2 in the camera
    lid0 = np.array([[10.0, 0.0, -1.7, 4.0, 1.6, 1.5, 0.0]])
    np.testing.assert_allclose(B.lidar_boxes_to_camera(lid0, _calib(False))[0, 6], -np.pi / 2)
    assert B.camera_boxes_to_lidar(np.zeros((0, 7)), calib).shape == (0, 7)
    with pytest.raises(ValueError, match=r"\[N, 7\]"):
        B.camera_boxes_to_lidar(np.zeros((3, 6)), calib)


@pytest.mark.parametrize("realistic", [False, True])
def test_corners_agree_between_frames_and_with_size(realistic):
    calib = _calib(realistic)
    boxes = _random_cam_boxes(np.random.default_rng(1), 10)
    lidar = B.camera_boxes_to_lidar(boxes, calib)
    lc = B.lidar_box_corners(lidar)                                   # [N, 8, 3]
    cc = B.camera_box_corners(boxes)
    # exact with ideal axes; KITTI's camera y axis is ~1 degree off the LiDAR's z axis, so the
    # boxes (upright in either frame) differ by a few cm there, as in mmdet3d / OpenPCDet
    np.testing.assert_allclose(B.camera_to_lidar(cc.reshape(-1, 3), calib).reshape(-1, 8, 3),
                               lc, atol=0.1 if realistic else 1e-9)
    # bottom face at z, top face at z + h; edge lengths l and w
    np.testing.assert_allclose(lc[:, :4, 2], lidar[:, None, 2].repeat(4, 1), atol=1e-9)
    np.testing.assert_allclose(lc[:, 4:, 2], (lidar[:, 2] + lidar[:, 5])[:, None].repeat(4, 1),
                               atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(lc[:, 2] - lc[:, 1], axis=1), lidar[:, 3])
    np.testing.assert_allclose(np.linalg.norm(lc[:, 1] - lc[:, 0], axis=1), lidar[:, 4])
    # yaw = 0: the +x face (corners 2, 3) lies at x + l / 2
    one = B.lidar_box_corners([[1.0, 2.0, 0.0, 4.0, 2.0, 1.0, 0.0]])[0]
    np.testing.assert_allclose(one[[2, 3], 0], 3.0)
    np.testing.assert_allclose(one[[1, 2], 1], 3.0)


def test_projection_2d_boxes_clip_and_behind():
    calib = _calib()
    p2 = calib["P2"]
    front = np.array([[0.0, 1.6, 15.0, 4.0, 1.5, 1.7, 0.3]])
    box = B.boxes_to_image_2d(front, p2, (375, 1242))
    uv, depth = B.project_to_image(B.camera_box_corners(front)[0], p2)
    assert (depth > 0).all()
    np.testing.assert_allclose(box[0], [*uv.min(0), *uv.max(0)])
    # a car beside the camera, half behind it: finite box, clipped to the image
    side = np.array([[-3.0, 1.6, 0.5, 4.0, 1.5, 1.7, np.pi / 2]])
    clipped, raw = B.boxes_to_image_2d(side, p2, (375, 1242), return_unclipped=True)
    assert np.isfinite(clipped).all() and clipped[0, 0] == 0 and raw[0, 0] < 0
    assert 0 <= clipped[0, 1] < clipped[0, 3] <= 374
    behind = np.array([[0.0, 1.6, -10.0, 4.0, 1.5, 1.7, 0.0]])
    np.testing.assert_array_equal(B.boxes_to_image_2d(behind, p2, (375, 1242)), -1)


def test_alpha_and_angle_normalisation():
    xyz = np.array([[0.0, 1.0, 10.0], [10.0, 1.0, 10.0]])
    alpha = B.alpha_from_ry(np.array([0.5, 0.0]), xyz)
    np.testing.assert_allclose(alpha, [0.5, -np.pi / 4])
    a = B.normalize_angle(np.array([np.pi, -np.pi, 3 * np.pi / 2, -7.0, 0.0]))
    assert (a >= -np.pi).all() and (a < np.pi).all()
    np.testing.assert_allclose(np.cos(a), np.cos([np.pi, -np.pi, 3 * np.pi / 2, -7.0, 0.0]),
                               atol=1e-12)
    np.testing.assert_allclose(B.limit_period(np.array([0.1, 3.2]), 0, np.pi), [0.1, 3.2 - np.pi])
