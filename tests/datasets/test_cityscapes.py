"""Cityscapes dataset on synthetic scenes: layout, label types, modes, collate, bad input."""
import os
import shutil

import numpy as np
import paddle
import pytest
from PIL import Image

from paddlexseg.datasets.cityscapes import (CITYSCAPES_CLASSES, Cityscapes,
                                            label_ids_to_train_ids, train_ids_to_label_ids)
from paddlexseg.datasets.errors import DataError
from paddlexseg.datasets.synthetic.cityscapes_scenes import generate_cityscapes, main
from paddlexseg.structures import ImageBatch

W, H = 128, 64


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cityscapes"))
    generate_cityscapes(path, n_train=3, n_val=2, size=(W, H), seed=0)
    return path


def _copy(root, tmp_path):
    dst = str(tmp_path / "cs")
    shutil.copytree(root, dst)
    return dst


def test_generator_layout_classes_and_determinism(root, tmp_path):
    img = os.path.join(root, "leftImg8bit", "train", "aachen",
                       "aachen_000000_000000_leftImg8bit.png")
    gt = os.path.join(root, "gtFine", "train", "aachen", "aachen_000000_000000_gtFine_")
    assert os.path.isfile(img)
    ids = np.asarray(Image.open(gt + "labelIds.png"))
    train = np.asarray(Image.open(gt + "labelTrainIds.png"))
    assert np.asarray(Image.open(img)).shape == (H, W, 3) and ids.shape == (H, W)
    np.testing.assert_array_equal(label_ids_to_train_ids(ids), train)
    present = {CITYSCAPES_CLASSES[i] for i in np.unique(train) if i != 255}
    assert {"road", "sidewalk", "sky", "car"} <= present
    assert (train == 255).any()  # ego-vehicle hood is ignored
    other = str(tmp_path / "again")
    assert main(["--root", other, "--n_train", "1", "--n_val", "0", "--width", str(W),
                 "--height", str(H)]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(img)), np.asarray(Image.open(
        img.replace(root, other))))


def test_label_id_table_matches_cityscapesscripts():
    labels = pytest.importorskip("cityscapesscripts.helpers.labels", exc_type=ImportError)
    ids = np.array([lab.id for lab in labels.labels if lab.id >= 0])
    expect = np.array([lab.trainId for lab in labels.labels if lab.id >= 0])
    np.testing.assert_array_equal(label_ids_to_train_ids(ids), expect)
    assert CITYSCAPES_CLASSES == [labels.trainId2label[i].name for i in range(19)]


def test_label_id_table_by_hand():
    got = label_ids_to_train_ids(np.array([0, 1, 7, 8, 11, 17, 21, 23, 24, 26, 29, 33]))
    np.testing.assert_array_equal(got, [255, 255, 0, 1, 2, 5, 8, 10, 11, 13, 255, 18])
    np.testing.assert_array_equal(train_ids_to_label_ids(np.arange(19)),
                                  [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                   31, 32, 33])


def test_train_mode_transforms_and_collate(root):
    ds = Cityscapes(root, split="train", transforms=[
        {"type": "ResizeStepScaling", "min_scale_factor": 0.5, "max_scale_factor": 2.0},
        {"type": "RandomPaddingCrop", "crop_size": [64, 32]},
        {"type": "RandomHorizontalFlip"}, {"type": "Normalize"}])
    assert len(ds) == 3 and ds.mode == "train"
    s = ds[0]
    assert s["image"].shape == (3, 32, 64) and s["image"].dtype == np.float32
    assert s["labels"].shape == (32, 64) and s["labels"].dtype == np.int64
    assert -1.0 <= s["image"].min() and s["image"].max() <= 1.0
    assert set(np.unique(s["labels"])) <= set(range(19)) | {255}
    batch = Cityscapes.collate([ds[0], ds[1]])
    assert isinstance(batch, ImageBatch) and list(batch.image.shape) == [2, 3, 32, 64]
    assert batch.labels.dtype == paddle.int64 and list(batch.labels.shape) == [2, 32, 64]
    assert list(batch.inputs()) == ["image"] and len(batch.paths) == 2


def test_label_types_agree_and_val_keeps_full_resolution(root):
    a = Cityscapes(root, split="val", label_type="trainIds", transforms=[{"type": "Normalize"}])
    b = Cityscapes(root, split="val", label_type="labelIds",
                   transforms=[{"type": "Resize", "target_size": [64, 32]}, {"type": "Normalize"}])
    assert a.mode == b.mode == "val" and len(a) == 2
    sa, sb = a[1], b[1]
    np.testing.assert_array_equal(sa["labels"], sb["labels"])
    assert sb["image"].shape == (3, 32, 64) and sb["labels"].shape == (H, W)
    test = Cityscapes(root, split="val", mode="test")
    assert test[0]["labels"] is None and Cityscapes.collate([test[0]]).labels is None


def test_missing_label_names_the_image(root, tmp_path):
    dst = _copy(root, tmp_path)
    os.remove(os.path.join(dst, "gtFine", "val", "frankfurt",
                           "frankfurt_000000_000001_gtFine_labelTrainIds.png"))
    with pytest.raises(DataError, match="frankfurt_000000_000001_leftImg8bit.png: its label"):
        Cityscapes(dst, split="val")
    Cityscapes(dst, split="val", label_type="labelIds")  # the labelIds file is still there
    with pytest.raises(DataError, match="no such folder"):
        Cityscapes(dst, split="nosplit")


def test_wrong_size_and_unknown_ids_name_the_label(root, tmp_path):
    dst = _copy(root, tmp_path)
    gt = os.path.join(dst, "gtFine", "train", "bochum", "bochum_000000_000001_gtFine_")
    Image.fromarray(np.zeros((H // 2, W), np.uint8)).save(gt + "labelTrainIds.png")
    ds = Cityscapes(dst, split="train")
    i = [n for n, (img, _) in enumerate(ds.samples) if "bochum" in img][0]
    with pytest.raises(DataError, match="bochum_000000_000001_gtFine_labelTrainIds.png: label "
                                        "size 128x32 does not match"):
        ds[i]
    bad = np.full((H, W), 30, np.uint8)
    Image.fromarray(bad).save(gt + "labelTrainIds.png")
    with pytest.raises(DataError, match=r"labelTrainIds.png: unknown train id\(s\) \[30\]"):
        ds[i]
    bad[0, 0] = 40
    Image.fromarray(bad).save(gt + "labelIds.png")
    with pytest.raises(DataError, match=r"labelIds.png: unknown Cityscapes label id\(s\) \[40\]"):
        Cityscapes(dst, split="train", label_type="labelIds")[i]
    with pytest.raises(ValueError, match="Cityscapes.label_type"):
        Cityscapes(dst, label_type="colors")
