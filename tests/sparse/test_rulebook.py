"""Rulebook construction (against brute force) and the rulebook cache (indice_key)."""
import numpy as np
import paddle
import pytest

from paddlexseg.sparse import (SparseTensor, SubMConv3d, SparseConv3d, SparseInverseConv3d,
                               build_conv_rulebook, build_subm_rulebook, conv_output_shape,
                               get_conv_rulebook, get_subm_rulebook, kernel_offsets,
                               subm_conv3d)


def pair_sets(rulebook):
    """{offset: set of (in_row, out_row)} including the identity centre of a subm."""
    pairs = {k: set(zip(i.numpy().tolist(), o.numpy().tolist()))
             for k, i, o in zip(rulebook.offsets, rulebook.in_idx, rulebook.out_idx)}
    if rulebook.center is not None:
        pairs[rulebook.center] = {(r, r) for r in range(rulebook.num_in)}
    return pairs


def test_kernel_offsets_order():
    offs = kernel_offsets((2, 3, 1))
    assert offs.tolist() == [[kz, ky, kx] for kz in range(2) for ky in range(3) for kx in range(1)]
    assert conv_output_shape((60, 1000, 1000), (3, 3, 3), (2, 2, 2), (1, 1, 1),
                             (1, 1, 1)) == (30, 500, 500)
    assert conv_output_shape((5, 7, 9), (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1)) == (2, 3, 4)
    with pytest.raises(ValueError, match="too small"):
        conv_output_shape((2, 5, 5), (3, 3, 3), (1, 1, 1), (0, 0, 0), (1, 1, 1))


def test_subm_pairs_brute_force(make_sparse):
    _, coords = make_sparse(seed=20, spatial_shape=(4, 5, 6), density=0.4)
    site = {tuple(c): r for r, c in enumerate(coords.tolist())}
    for kernel, dil in [((3, 3, 3), (1, 1, 1)), ((3, 5, 1), (2, 1, 1))]:
        rb = build_subm_rulebook(paddle.to_tensor(coords), (4, 5, 6), kernel, dil, coords_id=-1)
        expect = {}
        for k, off in enumerate(kernel_offsets(kernel)):
            disp = (off - np.array(kernel) // 2) * np.array(dil)
            found = {(site[(c[0], c[1] + disp[0], c[2] + disp[1], c[3] + disp[2])], o)
                     for o, c in enumerate(coords.tolist())
                     if (c[0], c[1] + disp[0], c[2] + disp[1], c[3] + disp[2]) in site}
            if found:
                expect[k] = found
        assert pair_sets(rb) == expect
        assert rb.num_pairs == sum(len(v) for v in expect.values())


def test_strided_pairs_brute_force(make_sparse):
    _, coords = make_sparse(seed=21, spatial_shape=(5, 6, 7), density=0.3)
    kernel, stride, pad = (3, 2, 3), (2, 2, 1), (1, 0, 1)
    rb = build_conv_rulebook(paddle.to_tensor(coords), (5, 6, 7), kernel, stride, pad,
                             (1, 1, 1), coords_id=-1, out_coords_id=-2)
    out_shape = conv_output_shape((5, 6, 7), kernel, stride, pad, (1, 1, 1))
    expect = {}
    for k, off in enumerate(kernel_offsets(kernel)):
        for i, c in enumerate(coords.tolist()):
            num = [c[a + 1] + pad[a] - off[a] for a in range(3)]
            if all(n >= 0 and n % s == 0 and n // s < m for n, s, m in zip(num, stride, out_shape)):
                expect.setdefault(k, set()).add((i, (c[0],) + tuple(n // s for n, s in
                                                                   zip(num, stride))))
    out_coords = [tuple(r) for r in rb.out_coords.numpy().tolist()]
    assert out_coords == sorted({o for v in expect.values() for _, o in v})
    got = {k: {(i, out_coords[o]) for i, o in v} for k, v in pair_sets(rb).items()}
    assert got == expect


def test_kernel2_stride2_sites_are_halved_coords(make_sparse):
    x, coords = make_sparse(seed=22, spatial_shape=(8, 6, 10), density=0.2)
    rb = get_conv_rulebook(x, 2, stride=2)
    halved = np.unique(np.concatenate([coords[:, :1], coords[:, 1:] // 2], 1), axis=0)
    np.testing.assert_array_equal(rb.out_coords.numpy(), halved)
    assert rb.num_pairs == len(coords)                  # every input feeds exactly one output


def test_duplicate_sites_rejected():
    x = SparseTensor(paddle.ones([3, 2]), np.array([[0, 1, 1, 1], [0, 2, 1, 1], [0, 1, 1, 1]]),
                     (4, 4, 4), 1)
    with pytest.raises(ValueError, match="duplicated"):
        get_subm_rulebook(x, 3)
    with pytest.raises(ValueError, match="more than once"):
        x.validate()


def test_cache_reuse_gives_identical_results(make_sparse):
    x, coords = make_sparse(seed=23, channels=4)
    a = SubMConv3d(4, 4, 3, indice_key="subm1")
    b = SubMConv3d(4, 4, 3, indice_key="subm1")
    y = b(a(x))
    rb = x.cache["subm1"]
    assert get_subm_rulebook(y, 3, indice_key="subm1") is rb
    assert get_subm_rulebook(y, 3) is rb               # also under the automatic key
    # the same layers on a fresh tensor (empty cache) give the same numbers
    fresh = SparseTensor(x.feats, coords, x.spatial_shape, x.batch_size)
    np.testing.assert_array_equal(b(a(fresh)).feats.numpy(), y.feats.numpy())
    assert len(fresh.cache) == 2                        # one rulebook, two keys


def test_subm_without_key_shares_per_scale(make_sparse):
    x, _ = make_sparse(seed=24, channels=2)
    w = paddle.ones([3, 3, 3, 2, 2])
    y = subm_conv3d(subm_conv3d(x, w), w)
    assert len(x.cache) == 1 and y.cache is x.cache
    down = SparseConv3d(2, 2, 3, stride=2, padding=1, indice_key="d1")(y)
    subm_conv3d(down, w)
    assert len(x.cache) == 4                 # + conv (auto key and "d1") + subm at scale 2
    up = SparseInverseConv3d(2, 2, 3, indice_key="d1")(down)
    rb_before = get_subm_rulebook(x, 3)
    subm_conv3d(up, w)                       # same coords_id as x: reuses the scale-1 rulebook
    assert len(x.cache) == 4 and get_subm_rulebook(up, 3) is rb_before


def test_cache_errors_name_the_key(make_sparse):
    x, _ = make_sparse(seed=25, channels=2)
    SubMConv3d(2, 2, 3, indice_key="k1")(x)
    with pytest.raises(ValueError, match="'k1'.*kernel"):
        SubMConv3d(2, 2, 5, indice_key="k1")(x)
    down = SparseConv3d(2, 2, 2, stride=2, indice_key="down")(x)
    with pytest.raises(ValueError, match="'k1'.*other coordinates"):
        SubMConv3d(2, 2, 3, indice_key="k1")(down)
    with pytest.raises(ValueError, match="'nope'.*no strided"):
        SparseInverseConv3d(2, 2, 2, indice_key="nope")(down)
    with pytest.raises(ValueError, match="kernel_size"):
        SparseInverseConv3d(2, 2, 3, indice_key="down")(down)
    with pytest.raises(ValueError, match="sites"):
        SparseInverseConv3d(2, 2, 2, indice_key="down")(x)
    with pytest.raises(ValueError, match="indice_key is required"):
        SparseInverseConv3d(2, 2, 2)


def test_all_offsets_listed_once(make_sparse):
    """Every (offset, pair) of a dense-ish grid appears exactly once, in offset order."""
    _, coords = make_sparse(seed=26, spatial_shape=(3, 3, 3), density=1.0, batch_size=1,
                            empty=())
    rb = build_subm_rulebook(paddle.to_tensor(coords), (3, 3, 3), (3, 3, 3), (1, 1, 1), -1)
    assert rb.offsets == [k for k in range(27) if k != 13] and rb.center == 13
    full = sum(np.prod([3 - abs(d) for d in off - 1]) for off in kernel_offsets((3, 3, 3)))
    assert rb.num_pairs == full
    for i, o in zip(rb.in_idx, rb.out_idx):
        assert len(set(i.numpy().tolist())) == i.shape[0]
        assert len(set(o.numpy().tolist())) == o.shape[0]
