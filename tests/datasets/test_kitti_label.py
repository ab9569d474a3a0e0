import numpy as np

from paddlexseg.datasets.kitti_label import compute_difficulty, read_label, write_label

LABEL = """Pedestrian 0.00 0 -0.20 712.40 143.00 810.73 307.92 1.89 0.48 1.20 1.84 1.47 8.41 0.01
Car 0.12 1 1.55 0.00 180.00 120.00 260.00 1.50 1.60 3.90 -12.00 1.70 14.00 1.57
DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10
Cyclist 0.60 2 -1.00 600.00 170.00 620.00 185.00 1.70 0.60 1.80 1.00 1.60 40.00 0.30
"""


def test_read_all_fields_and_difficulty(tmp_path):
    path = tmp_path / "000000.txt"
    path.write_text(LABEL)
    a = read_label(str(path))
    np.testing.assert_array_equal(a["name"], ["Pedestrian", "Car", "DontCare", "Cyclist"])
    np.testing.assert_allclose(a["truncated"], [0, 0.12, -1, 0.6])
    np.testing.assert_array_equal(a["occluded"], [0, 1, -1, 2])
    np.testing.assert_allclose(a["alpha"], [-0.2, 1.55, -10, -1.0])
    np.testing.assert_allclose(a["bbox"][0], [712.40, 143.00, 810.73, 307.92])
    np.testing.assert_allclose(a["dimensions"][0], [1.20, 1.89, 0.48])        # l, h, w
    np.testing.assert_allclose(a["location"][1], [-12.0, 1.7, 14.0])
    np.testing.assert_allclose(a["rotation_y"], [0.01, 1.57, -10, 0.3])
    np.testing.assert_array_equal(a["score"], 0)
    # Ped: 165 px, occ 0, trunc 0 -> easy; Car: 80 px, occ 1, trunc 0.12 -> moderate;
    # Cyclist: 15 px high -> none; DontCare -> none
    np.testing.assert_array_equal(a["difficulty"], [0, 1, -1, -1])
    hard = {"bbox": np.array([[0, 0, 10, 30.0]]), "occluded": np.array([2]),
            "truncated": np.array([0.45])}
    assert compute_difficulty(hard).tolist() == [2]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    e = read_label(str(empty))
    assert e["name"].shape == (0,) and e["bbox"].shape == (0, 4) and e["dimensions"].shape == (0, 3)


def test_write_read_round_trip_with_score(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(LABEL)
    a = read_label(str(path))
    out = tmp_path / "b.txt"
    write_label(str(out), a)
    assert out.read_text().splitlines()[0].split() == LABEL.splitlines()[0].split()[:1] + [
        "0.00", "0", "-0.20", "712.40", "143.00", "810.73", "307.92", "1.89", "0.48", "1.20",
        "1.84", "1.47", "8.41", "0.01"]
    a["score"] = np.array([0.9, 0.8, 0.0, 0.5])
    write_label(str(out), a, decimals=4)
    lines = out.read_text().splitlines()
    assert all(len(l.split()) == 16 for l in lines) and lines[0].endswith(" 0.9000")
    b = read_label(str(out))
    for key in ("truncated", "alpha", "bbox", "dimensions", "location", "rotation_y", "score"):
        np.testing.assert_allclose(b[key], a[key], atol=1e-6, err_msg=key)
