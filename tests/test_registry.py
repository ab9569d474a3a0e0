import pytest

from paddlexseg.registry import ConfigError, Registry


def test_build_checks_keys_with_path():
    reg = Registry("thing")

    @reg.register()
    class Thing:
        def __init__(self, depth=21, width=1.0):
            self.depth, self.width = depth, width

    assert reg.build({"type": "Thing", "depth": 53}).depth == 53
    with pytest.raises(ConfigError, match=r"model\.backbone\.depht: unknown key for Thing"):
        reg.build({"type": "Thing", "depht": 53}, path="model.backbone")
    with pytest.raises(ConfigError, match=r"model\.type: unknown thing type 'Thin'"):
        reg.build({"type": "Thin"}, path="model")
    with pytest.raises(ConfigError, match="with a 'type' key"):
        reg.build({"depth": 1}, path="model")
    with pytest.raises(KeyError, match="twice"):
        reg.register(Thing)


def test_config_path_passed_when_accepted():
    reg = Registry("thing")

    @reg.register()
    class WithPath:
        def __init__(self, config_path="x"):
            self.config_path = config_path

    assert reg.build({"type": "WithPath"}, path="train_dataset").config_path == "train_dataset"
