import numpy as np
import pytest

from paddlexseg.registry import TRANSFORMS
from paddlexseg.transforms.point_aug import (PointAugment, PointDropout, PointFlip,
                                             PointRotateZ, PointTranslate)


def _cloud(n=200):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 4)).astype(np.float32), np.arange(n)


def test_rotation_keeps_radius_height_and_remission():
    pts, lab = _cloud()
    out, out_lab = PointRotateZ(max_angle=180)(pts, lab, np.random.default_rng(0))
    np.testing.assert_allclose(np.hypot(out[:, 0], out[:, 1]), np.hypot(pts[:, 0], pts[:, 1]),
                               rtol=1e-5)
    np.testing.assert_array_equal(out[:, 2:], pts[:, 2:])
    assert not np.allclose(out[:, :2], pts[:, :2]) and out_lab is lab


def test_flip_signs():
    pts, lab = _cloud()
    out, _ = PointFlip(prob_x=1.0, prob_y=0.0)(pts, lab, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 0], -pts[:, 0])
    np.testing.assert_array_equal(out[:, 1:], pts[:, 1:])
    out, _ = PointFlip(prob_x=0.0, prob_y=1.0)(pts, lab, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 1], -pts[:, 1])


def test_translate_is_one_shift():
    pts, lab = _cloud()
    out, _ = PointTranslate(std=(1.0, 1.0, 0.0))(pts, lab, np.random.default_rng(0))
    shift = out[:, :3] - pts[:, :3]
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-5)
    assert shift[0, 2] == 0 and np.abs(shift[0, :2]).max() > 0


def test_dropout_keeps_labels_aligned():
    pts, lab = _cloud(1000)
    out, out_lab = PointDropout(ratio=0.3)(pts, lab, np.random.default_rng(0))
    assert 600 < out.shape[0] < 800
    np.testing.assert_array_equal(out, pts[out_lab])
    one, _ = PointDropout(ratio=0.99)(pts[:1], None, np.random.default_rng(0))
    assert one.shape == (1, 4)


def test_pipeline_is_seeded_and_registered():
    pts, lab = _cloud()
    aug = TRANSFORMS.build({"type": "PointAugment", "rotate_z": 90, "dropout": 0.1,
                            "translate_std": [0.1, 0.1, 0.0]}, path="augment")
    a = aug(pts, lab, np.random.default_rng(5))
    b = aug(pts, lab, np.random.default_rng(5))
    c = aug(pts, lab, np.random.default_rng(6))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])
    assert "identity" in repr(PointAugment(rotate_z=0, flip_x=0, flip_y=0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_angle"):
        PointRotateZ(max_angle=400)
    with pytest.raises(ValueError, match="prob_y"):
        PointFlip(prob_y=1.5)
    with pytest.raises(ValueError, match="ratio"):
        PointDropout(ratio=1.0)
    with pytest.raises(ValueError, match="points"):
        PointRotateZ()(np.ones(5), None, np.random.default_rng(0))
