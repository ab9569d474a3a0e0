"""SparseTensor: active voxel coordinates, their features and a shared rulebook cache.

Mirrors ``spconv.SparseConvTensor`` (spconv 2.x): ``coords`` are the spconv ``indices``
(batch, z, y, x), ``feats`` the spconv ``features``. Tensors derived from one another
(a convolution's output, ``replace_feature``) share one ``cache`` dict, so that layers with
the same ``indice_key`` (or submanifold layers at the same scale) share one neighbour search.
"""
import itertools

import numpy as np
import paddle

__all__ = ["SparseTensor"]

_COORDS_IDS = itertools.count(1)


def new_coords_id():
    """A fresh token identifying one set of coordinates (see ``SparseTensor.coords_id``)."""
    return next(_COORDS_IDS)


class SparseTensor:
    """Features on the active sites of a batch of 3-D grids.

    Args:
        feats: float Tensor [N, C], one row per active site.
        coords: int32/int64 Tensor or array [N, 4] (batch, z, y, x); rows may come in any
            order but must be unique (duplicated sites make submanifold convolutions wrong).
        spatial_shape: (Z, Y, X) grid size; coordinates lie in [0, Z) x [0, Y) x [0, X).
        batch_size: number of grids B; batch indices lie in [0, B). A grid may be empty.
        cache: rulebook cache shared with related tensors (spconv's ``indice_dict``);
            a new dict when None.
        coords_id: token naming this set of coordinates; tensors with equal ``coords_id``
            have identical ``coords`` (same rows in the same order). New when None.
    """

    def __init__(self, feats, coords, spatial_shape, batch_size, cache=None, coords_id=None):
        if not isinstance(coords, paddle.Tensor):
            coords = paddle.to_tensor(np.ascontiguousarray(coords))
        if coords.dtype not in (paddle.int32, paddle.int64):
            raise TypeError(f"SparseTensor: coords must be int32 or int64, got {coords.dtype}")
        if coords.ndim != 2 or coords.shape[1] != 4:
            raise ValueError(f"SparseTensor: coords must have shape [N, 4] (batch, z, y, x), "
                             f"got {list(coords.shape)}")
        if feats.ndim != 2 or feats.shape[0] != coords.shape[0]:
            raise ValueError(f"SparseTensor: feats must have shape [N, C] with N = "
                             f"{coords.shape[0]} rows like coords, got {list(feats.shape)}")
        spatial_shape = tuple(int(s) for s in spatial_shape)
        if len(spatial_shape) != 3 or min(spatial_shape) < 1:
            raise ValueError(f"SparseTensor: spatial_shape must be 3 positive ints (Z, Y, X), "
                             f"got {spatial_shape}")
        self.feats = feats                      # [N, C]
        self.coords = coords                    # [N, 4] (batch, z, y, x)
        self.spatial_shape = spatial_shape      # (Z, Y, X)
        self.batch_size = int(batch_size)
        self.cache = {} if cache is None else cache
        self.coords_id = new_coords_id() if coords_id is None else coords_id

    # spconv-style aliases, so ported code reads the same
    @property
    def features(self):
        """Alias of ``feats`` (spconv's name)."""
        return self.feats

    @property
    def indices(self):
        """Alias of ``coords`` (spconv's name)."""
        return self.coords

    @property
    def num_points(self):
        return int(self.coords.shape[0])

    @property
    def num_channels(self):
        return int(self.feats.shape[1])

    def __repr__(self):
        return (f"SparseTensor(N={self.num_points}, C={self.num_channels}, "
                f"spatial_shape={self.spatial_shape}, batch_size={self.batch_size}, "
                f"cached_rulebooks={len(self.cache)})")

    def replace_feature(self, feats):
        """A new tensor with ``feats`` [N, C'] on the same sites, sharing coords and cache."""
        return SparseTensor(feats, self.coords, self.spatial_shape, self.batch_size,
                            cache=self.cache, coords_id=self.coords_id)

    def validate(self):
        """Check coordinate ranges and uniqueness (copies coords to the host).

        Raises:
            ValueError: naming the first offending row or the duplicated site.
        """
        c = self.coords.numpy().astype(np.int64)
        if c.shape[0] == 0:
            return self
        upper = np.array((self.batch_size,) + self.spatial_shape)
        bad = np.nonzero(np.any((c < 0) | (c >= upper), axis=1))[0]
        if bad.size:
            raise ValueError(f"SparseTensor: coords row {bad[0]} = {c[bad[0]].tolist()} lies "
                             f"outside batch_size x spatial_shape = {upper.tolist()}")
        _, first, counts = np.unique(c, axis=0, return_index=True, return_counts=True)
        if np.any(counts > 1):
            dup = c[first[np.argmax(counts > 1)]]
            raise ValueError(f"SparseTensor: site {dup.tolist()} occurs more than once; "
                             f"merge duplicated voxels first (e.g. scatter-mean their features)")
        return self

    def dense(self, channels_first=True):
        """Scatter into a dense grid (differentiable w.r.t. ``feats``).

        Returns:
            Tensor [B, C, Z, Y, X] (or [B, Z, Y, X, C] with ``channels_first=False``),
            zeros at inactive sites.
        """
        z, y, x = self.spatial_shape
        b, c = self.batch_size, self.num_channels
        coords = self.coords.astype("int64")
        flat = ((coords[:, 0] * z + coords[:, 1]) * y + coords[:, 2]) * x + coords[:, 3]
        grid = paddle.zeros([b * z * y * x, c], dtype=self.feats.dtype)
        if self.num_points:
            grid = paddle.scatter(grid, flat, self.feats, overwrite=True)
        grid = grid.reshape([b, z, y, x, c])
        return grid.transpose([0, 4, 1, 2, 3]) if channels_first else grid
