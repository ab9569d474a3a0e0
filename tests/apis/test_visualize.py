"""Prediction pictures: range image over ground truth, bird's-eye view, PNG writing."""
import numpy as np
import pytest
from PIL import Image

from paddlexseg.apis.visualize import bev_picture, palette, range_picture, save_png

COLORS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def test_range_picture_puts_prediction_above_ground_truth():
    pred = np.array([[1, 2], [3, 1]])
    mask = np.array([[1, 1], [0, 1]])
    top = range_picture(pred, mask, COLORS)
    assert top.shape == (2, 2, 3)
    np.testing.assert_array_equal(top[1, 0], COLORS[0])  # empty pixel drawn as class 0
    np.testing.assert_array_equal(top[0, 1], COLORS[2])
    both = range_picture(pred, mask, COLORS, gt=np.array([[2, 2], [0, 3]]))
    assert both.shape == (5, 2, 3)  # prediction, a white line, ground truth
    np.testing.assert_array_equal(both[2], 255)
    np.testing.assert_array_equal(both[3, 0], COLORS[2])


def test_bev_orientation_and_the_highest_point_shows():
    points = np.array([[5.0, 0.0, 0.0],     # 5 m ahead: above the centre
                       [0.0, 5.0, 0.0],     # 5 m to the left: left of the centre
                       [0.0, 5.0, 2.0],     # same column, higher: it wins
                       [50.0, 0.0, 0.0]])   # outside the 10 m square: dropped
    image = bev_picture(points, np.array([1, 2, 3, 1]), COLORS, extent=10.0, resolution=1.0)
    assert image.shape == (20, 20, 3)
    np.testing.assert_array_equal(image[5, 10], COLORS[1])   # row (10 - 5), col 10
    np.testing.assert_array_equal(image[10, 5], COLORS[3])   # col (10 - 5), top point
    np.testing.assert_array_equal(image[10, 10], 255)        # the sensor
    colored = (image.sum(axis=2) > 0) & (image.min(axis=2) < 255)
    assert colored.sum() == 2
    with pytest.raises(ValueError, match="labels"):
        bev_picture(points, np.array([1]), COLORS)


def test_save_png_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    path = save_png(str(tmp_path / "a" / "b.png"), image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    with pytest.raises(ValueError, match="expected uint8"):
        save_png(str(tmp_path / "c.png"), image.astype(np.float32))


def test_palette_is_fixed():
    np.testing.assert_array_equal(palette(7), palette(7))
    assert palette(7).shape == (7, 3) and palette(7).dtype == np.uint8
