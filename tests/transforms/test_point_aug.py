import numpy as np
import pytest

from paddlexseg.registry import TRANSFORMS
from paddlexseg.transforms.point_aug import (PointAugment, PointBeamDropout, PointDropout,
                                             PointFlip, PointRemissionJitter, PointRotateZ,
                                             PointScale, PointTranslate)


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


def test_scale_is_one_factor_on_xyz_only():
    pts, lab = _cloud()
    out, _ = PointScale(s=0.1)(pts, lab, np.random.default_rng(0))
    factor = out[:, :3] / pts[:, :3]
    np.testing.assert_allclose(factor, factor[0, 0], rtol=1e-5)
    assert 0.9 <= factor[0, 0] <= 1.1 and factor[0, 0] != 1.0
    np.testing.assert_array_equal(out[:, 3], pts[:, 3])


def test_beam_dropout_removes_whole_rings():
    # 8 rings at the centre elevations of 8 bands over [-25, 3] degrees, 50 points each
    elev = np.deg2rad(3.0 - (np.arange(8) + 0.5) * 28.0 / 8)
    az = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    ring = np.repeat(np.arange(8), 50)
    e, a = elev[ring], np.tile(az, 8)
    pts = np.stack([10 * np.cos(e) * np.cos(a), 10 * np.cos(e) * np.sin(a), 10 * np.sin(e),
                    np.full(400, 0.3)], axis=1).astype(np.float32)
    out, out_ring = PointBeamDropout(ratio=0.5, beams=8)(pts, ring, np.random.default_rng(3))
    kept = np.unique(out_ring)
    assert 0 < kept.size < 8
    assert all((out_ring == r).sum() == 50 for r in kept)      # a ring goes whole or not at all
    np.testing.assert_array_equal(out, pts[np.isin(ring, kept)])
    with pytest.raises(ValueError, match="fov_up"):
        PointBeamDropout(fov_up=-30.0)


def test_remission_jitter_one_gain_plus_noise_clipped():
    pts, lab = _cloud()
    pts[:, 3] = np.linspace(0.0, 0.5, pts.shape[0])
    out, _ = PointRemissionJitter(s=0.5, noise=0.0)(pts, lab, np.random.default_rng(0))
    gain = out[1:, 3] / pts[1:, 3]
    np.testing.assert_allclose(gain, gain[0], rtol=1e-5)
    assert 1 / 1.5 <= gain[0] <= 1.5 and gain[0] != 1.0
    np.testing.assert_array_equal(out[:, :3], pts[:, :3])
    noisy, _ = PointRemissionJitter(s=0.0, noise=0.5)(pts, lab, np.random.default_rng(0))
    assert noisy[:, 3].min() == 0.0 and noisy[:, 3].max() <= 1.0
    with pytest.raises(ValueError, match="remission"):
        PointRemissionJitter()(pts[:, :3], None, np.random.default_rng(0))


def test_pipeline_domain_steps():
    aug = PointAugment(rotate_z=0, flip_x=0, flip_y=0, beam_dropout=0.1, scale=0.05,
                       remission_jitter=0.3)
    assert repr(aug) == "PointAugment(PointBeamDropout, PointRemissionJitter, PointScale)"
