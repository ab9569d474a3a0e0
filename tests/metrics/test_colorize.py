"""Label colouring and image stacking helpers."""
import numpy as np
import pytest

from paddlexseg.metrics.colorize import colorize_labels, gray_to_rgb, side_by_side, stack_images

COLORS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)


def test_colorize_with_and_without_mask():
    labels = np.array([[1, 2], [0, 1]])
    out = colorize_labels(labels, COLORS)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[0, 1], [0, 255, 0])
    masked = colorize_labels(labels, COLORS, mask=np.array([[1, 0], [1, 1]]))
    np.testing.assert_array_equal(masked[0, 1], [0, 0, 0])
    np.testing.assert_array_equal(masked[1, 1], [255, 0, 0])
    with pytest.raises(ValueError, match="3 entries"):
        colorize_labels(np.array([3]), COLORS)


def test_gray_to_rgb_normalises_valid_pixels():
    values = np.array([[1.0, 3.0], [100.0, 2.0]])
    out = gray_to_rgb(values, mask=np.array([[1, 1], [0, 1]]))
    np.testing.assert_array_equal(out[..., 0], [[0, 255], [0, 128]])
    assert (out[..., 0] == out[..., 2]).all()
    assert (gray_to_rgb(np.ones((2, 2))) == 255).all()


def test_stack_and_side_by_side():
    a = np.zeros((2, 3, 3), np.uint8)
    b = np.full((4, 3, 3), 7, np.uint8)
    stacked = stack_images([a, b], gap=1)
    assert stacked.shape == (7, 3, 3) and (stacked[2] == 255).all() and (stacked[3:] == 7).all()
    assert stack_images([a, b], gap=0).shape == (6, 3, 3)
    wide = side_by_side([a, np.ones((2, 5, 3), np.uint8)], gap=2, gap_value=0)
    assert wide.shape == (2, 10, 3) and (wide[:, 3:5] == 0).all() and (wide[:, 5:] == 1).all()
    with pytest.raises(ValueError, match="width"):
        stack_images([a, np.zeros((2, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="uint8"):
        side_by_side([a.astype(np.float32)])
