"""Synthetic event VPR generator: layout, determinism, event validity and a place signal."""
import os

import numpy as np
import pytest

from paddlexseg.datasets.mvsec import load_sequence, read_events
from paddlexseg.datasets.synthetic.events import generate_event_vpr, main
from paddlexseg.transforms.events import events_to_voxel_grid

TINY = dict(width=64, height=48, route_length=60.0, train_length=30.0, step=0.2,
            events_per_sample=400, seed=3)
NAMES = {"outdoor_day1", "outdoor_day2", "outdoor_day1_train", "outdoor_day2_train"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic_events"))
    return root, generate_event_vpr(root, **TINY)


def test_layout_and_event_validity(tiny):
    root, counts = tiny
    assert set(counts) == NAMES and min(counts.values()) >= 5
    for name, n in counts.items():
        seq = load_sequence(root, name)
        assert len(seq["paths"]) == n
        for path in seq["paths"][::5]:
            raw = np.load(path)
            assert raw.shape == (400, 4) and raw.dtype == np.float64
            assert np.all(np.diff(raw[:, 0]) >= 0)
            assert raw[:, 1].max() < 64 and raw[:, 2].max() < 48 and raw[:, 1:3].min() >= 0
            assert set(np.unique(raw[:, 3])) <= {-1.0, 1.0}
            assert os.path.basename(path) == f"{raw[0, 0]:.6f}.npy"
        # the camera drives forward: positions advance along the stretch (60 m or 30 m)
        travelled = np.linalg.norm(np.diff(seq["positions"], axis=0), axis=1).sum()
        length = TINY["train_length"] if name.endswith("_train") else TINY["route_length"]
        assert 0.6 * length < travelled < 1.25 * length


def test_training_stretch_is_disjoint_from_the_evaluation_stretch(tiny):
    root, _ = tiny
    ev = np.concatenate([load_sequence(root, n)["positions"] for n in NAMES if "train" not in n])
    tr = np.concatenate([load_sequence(root, n)["positions"] for n in NAMES if "train" in n])
    gap = np.linalg.norm(ev[:, None] - tr[None], axis=2).min()
    assert gap > 40.0                      # 60 m train_gap minus GPS noise and sample spacing


def test_day1_is_noisier_than_day2(tiny):
    """Day1 (queries) has far more isolated (background-noise) events than day2."""
    root, _ = tiny

    def isolated_fraction(name):
        fracs = []
        for path in load_sequence(root, name)["paths"]:
            img = np.zeros((48, 64))
            ev = np.load(path)
            np.add.at(img, (ev[:, 2].astype(int), ev[:, 1].astype(int)), 1.0)
            pad = np.pad(img > 0, 1)
            neigh = sum(np.roll(np.roll(pad, dy, 0), dx, 1) for dy in (-1, 0, 1)
                        for dx in (-1, 0, 1))[1:-1, 1:-1] - (img > 0)
            fracs.append(((img > 0) & (neigh == 0)).sum() / max((img > 0).sum(), 1))
        return np.mean(fracs)

    assert isolated_fraction("outdoor_day1") > 1.5 * isolated_fraction("outdoor_day2")


def test_facade_styles_repeat():
    """Buildings share a few styles: with one style every facade has the same albedos."""
    from paddlexseg.datasets.synthetic.events import _Street
    street = _Street(0, 200.0, num_styles=1)
    assert len(np.unique(street.buildings["left"]["base"])) == 1
    many = _Street(0, 200.0, num_styles=4)
    bases = np.concatenate([many.buildings[s]["base"] for s in ("left", "right")])
    assert len(np.unique(bases)) == 4 and len(bases) > 40
    with pytest.raises(ValueError, match="num_styles"):
        generate_event_vpr("/nonexistent", num_styles=0)


def test_deterministic_by_seed(tiny, tmp_path):
    root, counts = tiny
    again = generate_event_vpr(str(tmp_path / "again"), **dict(TINY, route_length=20.0))
    first = load_sequence(root, "outdoor_day2")["paths"][0]
    second = load_sequence(str(tmp_path / "again"), "outdoor_day2")["paths"][0]
    np.testing.assert_array_equal(np.load(first), np.load(second))
    other = generate_event_vpr(str(tmp_path / "other"), **dict(TINY, route_length=20.0, seed=4))
    third = load_sequence(str(tmp_path / "other"), "outdoor_day2")["paths"][0]
    assert not np.array_equal(np.load(first), np.load(third))
    assert again and other


def test_traversals_differ_but_share_places(tiny):
    """Event images of the two traversals correlate better at the same place than 30 m away.

    Day1's noise events swamp single pixels, so the images are pooled over 4 x 4 blocks.
    """
    root, _ = tiny

    def images(name):
        seq = load_sequence(root, name)
        imgs = [np.abs(events_to_voxel_grid(read_events(p, sensor_size=(48, 64)), 2, 48, 64))
                .sum(0).reshape(12, 4, 16, 4).sum((1, 3)).ravel() for p in seq["paths"]]
        return np.array(imgs), seq["positions"][:, 0]

    db, db_x = images("outdoor_day2")
    q, q_x = images("outdoor_day1")
    assert not np.array_equal(db[0], q[0])
    db = (db - db.mean(1, keepdims=True)) / db.std(1, keepdims=True)
    q = (q - q.mean(1, keepdims=True)) / q.std(1, keepdims=True)
    same, far = [], []
    for i in range(len(q)):
        d = np.abs(db_x - q_x[i])
        corr = db @ q[i] / db.shape[1]
        same.append(corr[d.argmin()])
        if (d > 30).any():
            far.append(corr[d > 30].mean())
    assert np.mean(same) > np.mean(far) + 0.05


def test_main_cli(tmp_path, capsys):
    counts = main(["--root", str(tmp_path / "cli"), "--width", "32", "--height", "24",
                   "--route_length", "8", "--train_length", "0", "--events_per_sample", "500"])
    out = capsys.readouterr().out
    assert "outdoor_day2:" in out and "outdoor_day1:" in out and "_train" not in out
    assert set(counts) == {"outdoor_day1", "outdoor_day2"}
    with pytest.raises(FileExistsError, match="already holds samples.*--out"):
        main(["--root", str(tmp_path / "cli"), "--width", "32", "--height", "24",
              "--route_length", "8", "--train_length", "0"])
    assert counts["outdoor_day2"] == len(os.listdir(tmp_path / "cli" / "outdoor_day2"))
