"""paddlexseg.engine.image_dependence: the derangement, the shuffled-image dataset, timing."""
import numpy as np
import pytest

from paddlexseg.datasets.kitti_object import KittiObject
from paddlexseg.engine.image_dependence import (ShuffledImages, TimedModel, _resize_nearest,
                                                count_used_parameters, derangement)
from paddlexseg.registry import ConfigError


def test_derangement_moves_every_frame_and_is_deterministic():
    for n in (2, 3, 7, 30):
        perm = derangement(n, seed=3)
        assert sorted(perm.tolist()) == list(range(n))
        assert (perm != np.arange(n)).all()
        np.testing.assert_array_equal(perm, derangement(n, seed=3))
    assert derangement(30, 0).tolist() != derangement(30, 1).tolist()
    with pytest.raises(ConfigError, match="at least 2 frames"):
        derangement(1)


def test_resize_nearest():
    img = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    out = _resize_nearest(img, (4, 3))
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[:, ::2], img)


def _dataset(root, load_image=True):
    return KittiObject(root, split="val", mode="val", class_names=["Pedestrian", "Cyclist", "Car"],
                       load_image=load_image, image_size=[64, 24])


def test_shuffled_images_keep_points_calib_and_swap_pixels(synthetic_kitti3d):
    ds = _dataset(synthetic_kitti3d)
    shuffled = ShuffledImages(ds, seed=0)
    assert shuffled.perm.tolist() == [1, 0]                     # 2 val frames: a swap
    for i in range(len(ds)):
        own, swapped = ds[i], shuffled[i]
        donor = int(shuffled.perm[i])
        np.testing.assert_array_equal(swapped["points"], own["points"])
        np.testing.assert_array_equal(swapped["meta"]["calib"]["P2"], own["meta"]["calib"]["P2"])
        assert swapped["meta"]["scale_factor"] == own["meta"]["scale_factor"]
        np.testing.assert_array_equal(swapped["image"], ds.image_of(donor)[0])
        assert np.abs(swapped["image"] - own["image"]).mean() > 1.0
        assert swapped["meta"]["image_source"] == ds.frames[donor]["frame_id"]
    batch = shuffled.collate([shuffled[0], shuffled[1]])
    assert list(batch.images.shape) == [2, 3, 24, 64]
    with pytest.raises(ConfigError, match="does not load images"):
        ShuffledImages(_dataset(synthetic_kitti3d, load_image=False))


def test_timed_model_and_used_parameters():
    import paddle
    net = paddle.nn.Linear(3, 2)
    timed = TimedModel(net)
    timed(paddle.ones([1, 3]))
    timed(paddle.ones([1, 3]))
    assert len(timed.times) == 2 and min(timed.times) > 0
    assert count_used_parameters(net) == 8

    class Control(paddle.nn.Layer):                  # a fusion model without fusion modules
        def __init__(self):
            super().__init__()
            self.img_backbone, self.head = paddle.nn.Linear(4, 4), paddle.nn.Linear(2, 1)

        def fusion_layers(self):
            return []
    assert count_used_parameters(Control()) == 3
