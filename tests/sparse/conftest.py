"""Shared fixtures for the sparse convolution tests: small random sparse grids."""
import numpy as np
import paddle
import pytest

from paddlexseg.sparse import SparseTensor


def random_sites(rng, batch_size, spatial_shape, density, empty=(), shuffle=True):
    """int64 [N, 4] unique (batch, z, y, x) sites; batch elements in ``empty`` have none."""
    occ = rng.random((batch_size,) + tuple(spatial_shape)) < density
    for b in empty:
        occ[b] = False
    coords = np.argwhere(occ).astype(np.int64)
    return coords[rng.permutation(len(coords))] if shuffle else coords


@pytest.fixture
def make_sparse():
    """Factory: make_sparse(seed, channels, batch_size, spatial_shape, density, empty, shuffle)
    -> (SparseTensor with float32 feats that require grad, int64 coords [N, 4])."""
    def make(seed=0, channels=3, batch_size=3, spatial_shape=(6, 7, 5), density=0.25,
             empty=(1,), shuffle=True):
        rng = np.random.default_rng(seed)
        coords = random_sites(rng, batch_size, spatial_shape, density, empty, shuffle)
        feats = paddle.to_tensor(rng.standard_normal((len(coords), channels)).astype("float32"),
                                 stop_gradient=False)
        return SparseTensor(feats, coords, spatial_shape, batch_size), coords
    return make


@pytest.fixture(params=["numpy", "paddle"])
def backend(request):
    """Run a test with each execution backend, restoring the previous one afterwards."""
    from paddlexseg.sparse import get_backend, set_backend
    previous = get_backend()
    set_backend(request.param)
    yield request.param
    set_backend(*previous)
