import numpy as np
import pytest

from paddlexseg.datasets.synthetic.primitives import Primitive, raycast


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_analytic_distances_and_normals():
    prims = [Primitive("plane", (0, 0, 0), (0, 0, 0), 72, "grass"),
             Primitive("box", (10, 0, 1), (2, 2, 2), 10, "car_paint"),
             Primitive("sphere", (0, 8, 1.5), (1, 0, 0), 70, "foliage"),
             Primitive("cylinder", (0, -6, 2), (0.5, 0, 4), 80, "metal"),
             Primitive("rect", (-5, 0, 0.001), (2, 2, 0), 40, "asphalt")]
    origin = (0, 0, 1.5)
    dirs = _unit([[1, 0, 0], [0, 1, 0], [0, -1, 0], [-5, 0, -1.499], [0.3, 0.2, -1],
                  [0, 0, 1]])
    hits = raycast(prims, origin, dirs, max_range=50)
    np.testing.assert_array_equal(hits.index, [1, 2, 3, 4, 0, -1])
    np.testing.assert_allclose(hits.t[:3], [9.0, 7.0, 5.5], atol=1e-9)
    np.testing.assert_allclose(hits.normal[:3], [[-1, 0, 0], [0, -1, 0], [0, 1, 0]], atol=1e-9)
    np.testing.assert_allclose(hits.normal[3:5], [[0, 0, 1], [0, 0, 1]], atol=1e-9)
    assert np.isinf(hits.t[5]) and (hits.normal[5] == 0).all()
    t_ground = 1.5 / np.abs(dirs[4, 2])
    assert hits.t[4] == pytest.approx(t_ground)


def test_nearest_wins_rotation_and_range_limit():
    near = Primitive("box", (5, 0, 0), (1, 1, 1), 10, "car_paint", yaw=np.pi / 4)
    far = Primitive("box", (20, 0, 0), (1, 4, 8), 50, "facade")
    dirs = _unit([[1, 0, 0], [1, 0, 0.15]])                         # 2nd passes above
    hits = raycast([far, near], (0, 0, 0), dirs, max_range=100)
    assert hits.index[0] == 1
    assert hits.t[0] == pytest.approx(5 - np.sqrt(0.5))              # rotated box: its corner
    assert hits.index[1] == 0
    short = raycast([far], (0, 0, 0), dirs, max_range=10)
    assert (short.index == -1).all()


def test_cylinder_cap_and_moving_primitive():
    cyl = Primitive("cylinder", (0, 0, 1), (1, 0, 2), 80, "metal", velocity=(1, 0, 0))
    hits = raycast([cyl], (0.2, 0, 5), _unit([[0, 0, -1]]))
    assert hits.t[0] == pytest.approx(3.0) and hits.normal[0].tolist() == [0, 0, 1]
    moved = cyl.at_time(2.0)
    assert moved.center == (2.0, 0.0, 1.0) and cyl.center == (0, 0, 1)
    assert raycast([moved], (0.2, 0, 5), _unit([[0, 0, -1]])).index[0] == -1


def test_many_rays_match_brute_force():
    rng = np.random.default_rng(0)
    prims = [Primitive("box", tuple(rng.uniform(-20, 20, 3)), tuple(rng.uniform(0.5, 4, 3)),
                       10, "metal", yaw=rng.uniform(0, 3)) for _ in range(15)]
    prims += [Primitive("sphere", tuple(rng.uniform(-20, 20, 3)), (rng.uniform(0.5, 3), 0, 0),
                        70, "foliage") for _ in range(10)]
    dirs = _unit(rng.normal(size=(3000, 3)))
    hits = raycast(prims, (0, 0, 0), dirs, max_range=100)
    single = np.stack([raycast([p], (0, 0, 0), dirs, 100).t for p in prims])   # [P, R]
    np.testing.assert_allclose(hits.t, single.min(axis=0))
    hit = np.isfinite(hits.t)
    assert hit.sum() > 50
    np.testing.assert_array_equal(hits.index[hit], single.argmin(axis=0)[hit])
    np.testing.assert_allclose(np.linalg.norm(hits.normal[hit], axis=1), 1.0)


def test_bad_primitive():
    with pytest.raises(ValueError, match="kind"):
        Primitive("cone", (0, 0, 0), (1, 1, 1), 10, "metal")
    with pytest.raises(ValueError, match="material"):
        Primitive("box", (0, 0, 0), (1, 1, 1), 10, "gold")


def test_sloped_plane_and_rect():
    ramp = Primitive("rect", (10, 0, 1.0), (4, 4, 0), 40, "asphalt", slope=(0.1, 0.0))
    hill = Primitive("plane", (0, 0, 0), (0, 0, 0), 72, "grass", slope=(0.0, 0.05))
    down = _unit([[0, 0, -1]])
    hit = raycast([ramp], (11, 0, 5), down)
    assert hit.t[0] == pytest.approx(5 - 1.1)                     # z = 1 + 0.1 * (11 - 10)
    n = np.array([-0.1, 0.0, 1.0]) / np.sqrt(1.01)
    np.testing.assert_allclose(hit.normal[0], n, atol=1e-9)
    assert raycast([ramp], (13, 0, 5), down).index[0] == -1        # outside the rectangle
    assert raycast([hill], (0, 4, 5), down).t[0] == pytest.approx(5 - 0.2)
    moved = ramp.at_time(1.0)
    assert moved.slope == (0.1, 0.0)
