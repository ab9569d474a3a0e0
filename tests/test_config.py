import os

import pytest

from paddlexseg.config import apply_opts, load_config, merge, save_config
from paddlexseg.registry import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_base_deep_merge_lists_replaced(tmp_path):
    _write(tmp_path / "base.yml", "model: {type: A, depth: 21, extra: {x: 1, y: 2}}\n"
                                  "losses: [{type: L1}, {type: L2}]\niters: 10\n")
    child = _write(tmp_path / "child.yml", "_base_: base.yml\nmodel: {depth: 53, extra: {y: 3}}\n"
                                           "losses: [{type: L3}]\n")
    cfg = load_config(child)
    assert cfg["model"] == {"type": "A", "depth": 53, "extra": {"x": 1, "y": 3}}
    assert cfg["losses"] == [{"type": "L3"}]
    assert cfg["iters"] == 10
    assert cfg["train"]["log_iters"] == 10  # defaults filled


def test_delete_replaces_mapping():
    assert merge({"a": {"x": 1}}, {"a": {"_delete_": True, "y": 2}}) == {"a": {"y": 2}}


def test_opts_are_typed_and_index_lists():
    cfg = {"model": {"depth": 21}, "losses": [{"weight": 1.0}]}
    apply_opts(cfg, ["model.depth=53", "losses.0.weight=2.5", "model.flag=true",
                     "model.sizes=[1, 2]", "model.name=abc", "train.seed=3"])
    assert cfg["model"] == {"depth": 53, "flag": True, "sizes": [1, 2], "name": "abc"}
    assert cfg["losses"][0]["weight"] == 2.5
    assert cfg["train"]["seed"] == 3


@pytest.mark.parametrize("opt,match", [("losses.5.weight=1", "out of range"),
                                       ("noequals", "key.path=value"),
                                       ("losses.x.weight=1", "list index")])
def test_bad_opts(opt, match):
    with pytest.raises(ConfigError, match=match):
        apply_opts({"losses": [{"weight": 1}]}, [opt])


def test_unknown_top_level_and_train_keys(tmp_path):
    with pytest.raises(ConfigError, match="unknown top-level key 'modle'"):
        load_config(_write(tmp_path / "a.yml", "modle: {type: X}\n"))
    with pytest.raises(ConfigError, match="train.log_iter'"):
        load_config(_write(tmp_path / "b.yml", "train: {log_iter: 3}\n"))
    with pytest.raises(ConfigError, match="either 'iters' or 'epochs'"):
        load_config(_write(tmp_path / "c.yml", "iters: 3\nepochs: 2\n"))


def test_missing_file_and_cycle(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yml"))
    _write(tmp_path / "x.yml", "_base_: y.yml\n")
    _write(tmp_path / "y.yml", "_base_: x.yml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(str(tmp_path / "x.yml"))


def test_save_roundtrip(tmp_path):
    cfg = {"model": {"type": "A"}, "iters": 3, "losses": [{"type": "L"}]}
    save_config(cfg, str(tmp_path / "out" / "config.yml"))
    assert load_config(str(tmp_path / "out" / "config.yml"))["model"] == {"type": "A"}


def test_every_shipped_config_loads_and_builds_its_model():
    from paddlexseg.engine.builder import build_model
    configs = []
    for d, _, files in os.walk(os.path.join(ROOT, "configs")):
        configs += [os.path.join(d, f) for f in files if f.endswith(".yml") and "_base_" not in d]
    assert configs
    for path in configs:
        cfg = load_config(path)
        assert "model" in cfg, path
        if "quick" in path:  # the quick configs are small enough to build here
            build_model(cfg)
