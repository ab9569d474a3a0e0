import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.kitti_calib import fov_mask, read_kitti_calib, write_kitti_calib

KITTI_000000 = """P0: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
P1: 7.215377e+02 0.000000e+00 6.095593e+02 -3.875744e+02 0.000000e+00 7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
P2: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
P3: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03
R0_rect: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01
Tr_velo_to_cam: 7.533745e-03 -9.999714e-01 -6.166020e-04 -4.069766e-03 1.480249e-02 7.280733e-04 -9.998902e-01 -7.631618e-02 9.998621e-01 7.523790e-03 1.480755e-02 -2.717806e-01
Tr_imu_to_velo: 9.999976e-01 7.553071e-04 -2.035826e-03 -8.086759e-01 -7.854027e-04 9.998898e-01 -1.482298e-02 3.195559e-01 2.024406e-03 1.482454e-02 9.998881e-01 -7.997231e-01

"""


def test_read_write_round_trip(tmp_path):
    path = tmp_path / "000000.txt"
    path.write_text(KITTI_000000)
    calib = read_kitti_calib(str(path))
    assert sorted(calib) == ["P0", "P1", "P2", "P3", "R0_rect", "Tr_imu_to_velo",
                             "Tr_velo_to_cam"]
    for mat in calib.values():
        assert mat.shape == (4, 4) and mat.dtype == np.float64
        np.testing.assert_array_equal(mat[3], [0, 0, 0, 1])
    assert calib["P2"][0, 3] == pytest.approx(44.85728) and calib["R0_rect"][2, 2] == 0.9999631
    np.testing.assert_array_equal(calib["R0_rect"][:3, 3], 0)
    out = tmp_path / "copy.txt"
    write_kitti_calib(str(out), calib)
    again = read_kitti_calib(str(out))
    for key in calib:
        np.testing.assert_array_equal(again[key], calib[key])


def test_fov_mask(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(KITTI_000000)
    calib = read_kitti_calib(str(path))
    pts = np.array([[10.0, 0.0, -1.0, 0], [-10.0, 0.0, -1.0, 0], [10.0, 20.0, -1.0, 0],
                    [10.0, -5.0, 0.0, 0], [2.0, 0.0, 5.0, 0]], np.float32)
    # ahead, behind, far left (outside the ~81 degree horizontal FOV), ahead-right, too high
    np.testing.assert_array_equal(fov_mask(pts, calib, (375, 1242)),
                                  [True, False, False, True, False])


@pytest.mark.parametrize("drop,match", [("Tr_velo_to_cam", "no Tr_velo_to_cam line"),
                                        ("R0_rect", "no R0_rect line")])
def test_missing_key(tmp_path, drop, match):
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(l for l in KITTI_000000.splitlines() if not l.startswith(drop)))
    with pytest.raises(DataError, match=match) as err:
        read_kitti_calib(str(path))
    assert str(path) in str(err.value)


def test_bad_values_and_missing_file(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text(KITTI_000000.replace("P2: 7.215377e+02 ", "P2: "))
    with pytest.raises(DataError, match=r"short.txt: line 3 \('P2'\) has 11 values"):
        read_kitti_calib(str(path))
    path.write_text(KITTI_000000.replace("P2: 7.215377e+02", "P2: abc"))
    with pytest.raises(DataError, match="non-numeric"):
        read_kitti_calib(str(path))
    with pytest.raises(DataError, match="calibration file not found"):
        read_kitti_calib(str(tmp_path / "none.txt"))
