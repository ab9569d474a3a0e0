"""Preprocessed MVSEC layout: splitting, GPS interpolation, query/database splits, triplets."""
import os
import warnings

import numpy as np
import pytest

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.mvsec import (MVSECPlaces, MVSECTriplet, SequenceWriter, build_places,
                                       convert_mvsec_hdf5, interpolate_positions, load_sequence,
                                       read_events, split_events, write_track)
from paddlexseg.structures import EventBatch, TripletBatch

SENSOR = (12, 16)


def _stream(n, t0, duration, seed):
    rng = np.random.default_rng(seed)
    return np.stack([np.sort(rng.uniform(t0, t0 + duration, n)), rng.integers(0, SENSOR[1], n),
                     rng.integers(0, SENSOR[0], n), rng.integers(0, 2, n)], axis=1)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """Two 100 s traversals of a straight 100 m road (1 m/s), 50 samples of 200 events each."""
    root = str(tmp_path_factory.mktemp("mvsec_tiny"))
    for k, name in enumerate(("outdoor_day1", "outdoor_day2")):
        t0 = 1000.0 * (k + 1)
        SequenceWriter(root, name, events_per_sample=200).add(_stream(10000, t0, 100.0, k)).close()
        t = np.linspace(t0 - 1, t0 + 101, 103)
        write_track(root, name, np.stack([t - t0, np.zeros_like(t), t], axis=1))
    return root


def test_split_events_by_count_and_by_time():
    t = np.arange(10, dtype=np.float64) * 0.1
    bounds, rest = split_events(t, events_per_sample=3)
    assert bounds == [(0, 3), (3, 6), (6, 9)] and rest == 9
    bounds, rest = split_events(np.array([0.0, 0.1, 0.25, 0.7, 0.75, 1.3]), time_window=0.5)
    # windows [0, .5) [.5, 1) complete; [1, 1.5) holds the last event: incomplete
    assert bounds == [(0, 3), (3, 5)] and rest == 5


@pytest.mark.parametrize("mode", [dict(events_per_sample=70), dict(time_window=0.37)])
def test_sequence_writer_chunking_is_invisible(tmp_path, mode):
    ev = _stream(1000, 5.0, 10.0, 3)
    one = SequenceWriter(str(tmp_path / "a"), "s", **mode).add(ev).close()
    w = SequenceWriter(str(tmp_path / "b"), "s", **mode)
    for chunk in np.array_split(ev, 7):
        w.add(chunk)
    chunked = w.close()
    assert [os.path.basename(p) for p in one] == [os.path.basename(p) for p in chunked]
    for a, b in zip(one, chunked):
        np.testing.assert_array_equal(np.load(a), np.load(b))
    if "time_window" in mode:
        first = np.load(one[0])
        assert first[-1, 0] - first[0, 0] < 0.37


def test_interpolate_positions():
    track = np.array([[0.0, 0.0, 10.0], [10.0, 20.0, 20.0]])
    pos, inside = interpolate_positions(track, np.array([15.0, 9.0, 20.0]))
    np.testing.assert_allclose(pos[0], [5.0, 10.0])
    assert inside.tolist() == [True, False, True]


def test_read_events_column_order_and_errors(tmp_path):
    ev = _stream(50, 0.0, 1.0, 0)
    path = str(tmp_path / "xytp.npy")
    np.save(path, ev[:, [1, 2, 0, 3]])
    out = read_events(path, column_order="xytp", sensor_size=SENSOR)
    np.testing.assert_array_equal(out[:, :3], ev[:, :3])
    bad = str(tmp_path / "bad.npy")
    with open(bad, "wb") as f:
        f.write(b"not numpy")
    with pytest.raises(DataError, match="bad.npy: cannot read"):
        read_events(bad, sensor_size=SENSOR)
    empty = str(tmp_path / "empty.npy")
    np.save(empty, np.zeros((0, 4)))
    with pytest.raises(DataError, match="empty.npy: the sample has no events"):
        read_events(empty, sensor_size=SENSOR)


def test_load_sequence_and_its_errors(tiny_root, tmp_path):
    seq = load_sequence(tiny_root, "outdoor_day1")
    assert len(seq["paths"]) == 50 and np.all(np.diff(seq["timestamps"]) > 0)
    np.testing.assert_allclose(seq["positions"][:, 0], seq["timestamps"] - 1000.0)
    assert len(load_sequence(tiny_root, "outdoor_day1", stride=5)["paths"]) == 10
    with pytest.raises(DataError, match="outdoor_day9: sequence folder not found"):
        load_sequence(tiny_root, "outdoor_day9")
    os.makedirs(tmp_path / "s")
    with pytest.raises(DataError, match="gps.*s.npy: GPS track not found"):
        load_sequence(str(tmp_path), "s")
    write_track(str(tmp_path), "s", np.array([[0, 0, 0.0], [1, 0, 1.0]]))
    np.save(tmp_path / "s" / "frame_a.npy", np.zeros((1, 4)))
    with pytest.raises(DataError, match="frame_a.npy: sample files must be named by"):
        load_sequence(str(tmp_path), "s")
    os.remove(tmp_path / "s" / "frame_a.npy")
    np.save(tmp_path / "s" / "0.5.npy", np.zeros((1, 4)))
    np.save(tmp_path / "s" / "7.0.npy", np.zeros((1, 4)))
    with pytest.warns(UserWarning, match="1 of 2 samples lie outside the time range"):
        assert len(load_sequence(str(tmp_path), "s")["paths"]) == 1


def test_build_places_random_and_traversal(tiny_root):
    a = build_places(tiny_root, ["outdoor_day2"], "random", query_fraction=0.3, seed=1)
    b = build_places(tiny_root, ["outdoor_day2"], "random", query_fraction=0.3, seed=1)
    c = build_places(tiny_root, ["outdoor_day2"], "random", query_fraction=0.3, seed=2)
    assert a["is_query"].sum() == 15 and a["paths"] == b["paths"] and a["paths"] != c["paths"]
    assert sorted(a["paths"]) == sorted(load_sequence(tiny_root, "outdoor_day2")["paths"])
    t = build_places(tiny_root, ["outdoor_day2"], "traversal", query_sequences=["outdoor_day1"])
    assert t["is_query"].sum() == 50 and (~t["is_query"]).sum() == 50
    assert all("outdoor_day1" in p for p, q in zip(t["paths"], t["is_query"]) if q)
    with pytest.raises(ValueError, match="query_sequences"):
        build_places(tiny_root, ["outdoor_day2"], "traversal")
    with pytest.raises(ValueError, match="split"):
        build_places(tiny_root, ["outdoor_day2"], "sideways")


def test_triplets_respect_radii_and_collate(tiny_root):
    ds = MVSECTriplet(tiny_root, sequences=["outdoor_day2"], num_negatives=3, num_bins=4,
                      sensor_size=SENSOR, pos_radius=10.0, neg_radius=25.0)
    assert len(ds) == 15
    for i in range(len(ds)):
        item = ds[i]
        d = np.linalg.norm(item["positions"][1:] - item["positions"][0], axis=1)
        assert d[0] < 10.0 and np.all(d[1:] > 25.0) and len(set(item["paths"][2:])) == 3
    batch = MVSECTriplet.collate([ds[0], ds[1]])
    assert isinstance(batch, TripletBatch) and batch.group_size == 5 and batch.batch_size == 2
    assert batch.voxels.shape == [10, 4, *SENSOR] and batch.events is None
    assert list(batch.inputs()) == ["voxels", "events"]
    with pytest.raises(DataError, match="no query"):
        MVSECTriplet(tiny_root, sequences=["outdoor_day2"], num_negatives=60, sensor_size=SENSOR)


def test_triplets_traversal_split_and_event_representation(tiny_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = MVSECTriplet(tiny_root, sequences=["outdoor_day2"], split="traversal",
                          query_sequences=["outdoor_day1"], num_negatives=2, sensor_size=SENSOR,
                          representation="events")
    assert len(ds) == 50 and "outdoor_day1" in ds[0]["paths"][0]
    batch = MVSECTriplet.collate([ds[3], ds[4]])
    ev = batch.events.numpy()
    assert batch.voxels is None and ev.shape == (8 * 200, 5)
    assert sorted(np.unique(ev[:, 4]).tolist()) == list(range(8))
    assert ev[:, 2].min() == 0.0 and ev[:, 2].max() == 1.0
    assert set(np.unique(ev[:, 3]).tolist()) == {-1.0, 1.0}


def test_places_dataset_collate(tiny_root):
    ds = MVSECPlaces(tiny_root, sequences=["outdoor_day1"], query_fraction=0.3,
                     sensor_size=SENSOR, num_bins=5)
    assert len(ds) == 50
    batch = MVSECPlaces.collate([ds[i] for i in (0, 1, 48, 49)])
    assert isinstance(batch, EventBatch) and batch.batch_size == 4
    assert batch.voxels.shape == [4, 5, *SENSOR]
    assert batch.is_query.tolist() == [False, False, True, True]
    assert batch.positions.shape == (4, 2) and batch.positions.dtype == np.float64


def test_convert_mvsec_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    ev = _stream(1000, 50.0, 10.0, 4)
    with h5py.File(tmp_path / "seq_data.hdf5", "w") as f:
        f["davis/left/events"] = np.stack([ev[:, 1], ev[:, 2], ev[:, 0], 2 * ev[:, 3] - 1], 1)
    pose = np.tile(np.eye(4), (11, 1, 1))
    pose[:, 0, 3] = np.arange(11)
    pose[:, 1, 3] = 2 * np.arange(11)
    with h5py.File(tmp_path / "seq_gt.hdf5", "w") as f:
        f["davis/left/pose"] = pose
        f["davis/left/pose_ts"] = 50.0 + np.arange(11)
    n = convert_mvsec_hdf5(str(tmp_path / "seq_data.hdf5"), str(tmp_path / "seq_gt.hdf5"),
                           str(tmp_path / "out"), "seq", events_per_sample=100, chunk_size=333)
    assert n == 10
    seq = load_sequence(str(tmp_path / "out"), "seq")
    np.testing.assert_allclose(seq["positions"][:, 1], 2 * seq["positions"][:, 0])
    np.testing.assert_array_equal(read_events(seq["paths"][0], sensor_size=SENSOR)[:, :3],
                                  ev[:100, :3])
