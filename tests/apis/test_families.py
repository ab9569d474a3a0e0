"""The model-family table that predict, export and deploy dispatch on."""
import pytest

from paddlexseg import load_all
from paddlexseg.apis.families import FAMILIES, MODEL_FAMILIES, dataset_config, family_of
from paddlexseg.registry import MODELS, ConfigError


@pytest.mark.parametrize("model_type, family, input_name, channels", [
    ("RangeNet", "range", "range_img", 5),
    ("SqueezeSegV3", "range", "range_img", 5),
    ("PointRendFPN", "image", "image", 3),
])
def test_model_types_map_to_their_family(model_type, family, input_name, channels):
    fam = family_of({"model": {"type": model_type}})
    assert (fam.name, fam.input_name, fam.channels) == (family, input_name, channels)


def test_table_names_registered_models_and_their_forward_argument():
    import inspect
    load_all()
    for model_type, family in MODEL_FAMILIES.items():
        cls = MODELS.get(model_type)
        assert FAMILIES[family].input_name in inspect.signature(cls.forward).parameters


def test_unknown_model_falls_back_to_the_dataset_type():
    cfg = {"model": {"type": "MyNet"}, "val_dataset": {"type": "SemanticKITTI"}}
    assert family_of(cfg).name == "range"
    cfg = {"model": {"type": "MyNet"}, "train_dataset": {"type": "Cityscapes"}}
    assert family_of(cfg).name == "image"


def test_unknown_model_and_dataset_is_a_config_error_listing_known_types():
    with pytest.raises(ConfigError, match=r"model.type: cannot predict or export 'MyNet'.*"
                                          r"PointRendFPN, RangeNet, SECOND, SqueezeSegV3"):
        family_of({"model": {"type": "MyNet"}, "val_dataset": {"type": "Other"}})


def test_dataset_config_prefers_val_and_requires_one():
    cfg = {"val_dataset": {"type": "A"}, "train_dataset": {"type": "B"}}
    assert dataset_config(cfg)["type"] == "A"
    assert dataset_config({"train_dataset": {"type": "B"}})["type"] == "B"
    assert dataset_config({}, required=False) is None
    with pytest.raises(ConfigError, match="val_dataset"):
        dataset_config({})


def test_detection_family():
    fam = family_of({"model": {"type": "SECOND"}})
    assert fam.name == "detection" and fam.input_name == "points" and fam.exportable
    assert family_of({"model": {"type": "X"}, "val_dataset": {"type": "KittiObject"}}) is fam
