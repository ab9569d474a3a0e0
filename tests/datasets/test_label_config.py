import numpy as np
import pytest
import yaml

from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.label_config import LABELS_DIR, load_label_config
from paddlexseg.registry import ConfigError


def _yaml():
    with open(f"{LABELS_DIR}/semantic-kitti.yaml") as f:
        return yaml.safe_load(f)


def test_tables_match_the_yaml(label_config):
    raw = _yaml()
    assert label_config.num_classes == 20
    assert label_config.class_names[:3] == ["unlabeled", "car", "bicycle"]
    assert label_config.class_names[19] == "traffic-sign"
    assert label_config.ignore == [0]
    assert label_config.learning_map.dtype == np.int64
    assert label_config.learning_map.shape == (260,)
    for raw_id, learn in raw["learning_map"].items():
        assert label_config.learning_map[raw_id] == learn
    undefined = sorted(set(range(260)) - set(raw["learning_map"]))
    assert (label_config.learning_map[undefined] == -1).all()
    assert label_config.learning_map_inv.tolist() == [raw["learning_map_inv"][i] for i in range(20)]
    assert label_config.raw_names[252] == "moving-car"
    assert label_config.split["valid"] == [8]


def test_colors_are_rgb_per_learning_id(label_config):
    assert label_config.colors.dtype == np.uint8 and label_config.colors.shape == (20, 3)
    assert label_config.colors[1].tolist() == [100, 150, 245]        # car, BGR [245, 150, 100]
    assert label_config.colors[9].tolist() == [255, 0, 255]          # road
    assert label_config.colorize(np.array([[1, 9]])).shape == (1, 2, 3)


def test_content_sums_raw_frequencies(label_config):
    c = _yaml()["content"]
    assert label_config.content[1] == pytest.approx(c[10] + c[252])   # car + moving-car
    assert label_config.content[0] == pytest.approx(c[0] + c[1] + c[52] + c[99])
    assert label_config.content.sum() == pytest.approx(sum(c.values()))


def test_map_labels_and_inverse(label_config):
    raw = np.array([0, 1, 10, 252, 40, 60, 81])
    learn = label_config.map_labels(raw)
    assert learn.tolist() == [0, 0, 1, 1, 9, 9, 19]
    assert label_config.to_raw(learn).tolist() == [0, 0, 10, 10, 40, 40, 81]


def test_unknown_raw_id_names_the_file(label_config):
    with pytest.raises(DataError, match=r"000007\.label: raw class id\(s\) 5, 300"):
        label_config.map_labels(np.array([10, 5, 300]), source="000007.label")


def test_load_by_path_and_unknown_name(tmp_path):
    cfg = load_label_config(f"{LABELS_DIR}/semantic-kitti.yaml")
    assert cfg.num_classes == 20
    with pytest.raises(ConfigError, match="semantic-kitty"):
        load_label_config("semantic-kitty")


def test_missing_key_is_a_data_error(tmp_path):
    data = _yaml()
    del data["learning_map_inv"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataError, match="broken.yaml: missing key"):
        load_label_config(str(path))
