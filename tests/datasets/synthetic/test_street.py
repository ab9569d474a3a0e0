import numpy as np

from paddlexseg.datasets.synthetic.street import CAR_SHAPES, RAW, make_street_scene


def test_street_has_crowned_road_vegetation_volumes_and_car_shapes():
    scene = make_street_scene(np.random.default_rng(3), (-40.0, 40.0))
    prims = scene.primitives
    road = [p for p in prims if p.label == RAW["road"] and p.material == "asphalt"]
    assert sorted(p.slope[1] for p in road) == [-0.02, 0.02]        # falls towards both kerbs
    assert any(p.label == RAW["trunk"] for p in prims)
    foliage = [p for p in prims if p.material == "foliage"]
    assert foliage and all(p.label == RAW["vegetation"] for p in foliage)
    cars = {}
    for p in prims:
        if p.label in (RAW["car"], RAW["moving-car"]):
            cars.setdefault(p.instance, []).append(p)
    assert all(sorted(q.material for q in c) == ["car_paint", "glass"] for c in cars.values())
    ratios = {round(c[1].size[0] / c[0].size[0], 2) for c in cars.values()}
    assert len(ratios) >= 2                                          # several body shapes
    assert len(CAR_SHAPES) >= 4
    assert sum(p.label == RAW["building"] for p in prims) >= 2
