from paddlexseg._autoimport import import_submodules

import_submodules(__name__, __path__)

from paddlexseg.ops.gather import gather, index_select  # noqa: E402
from paddlexseg.ops.knn import knn_backproject  # noqa: E402
from paddlexseg.ops.scatter import scatter, scatter_add  # noqa: E402
from paddlexseg.ops.segment import scatter_max, scatter_mean, scatter_min, scatter_sum  # noqa: E402
from paddlexseg.ops.unique import decode_coords, encode_coords, unique_rows  # noqa: E402
from paddlexseg.ops.voxelize import (hard_voxelize, points_to_multiscale_voxel_coords,  # noqa: E402
                                     points_to_voxel_coords, voxel_grid_shape, voxelize_unique)

__all__ = ["gather", "index_select", "knn_backproject", "scatter", "scatter_add", "scatter_sum",
           "scatter_mean", "scatter_max", "scatter_min", "encode_coords", "decode_coords",
           "unique_rows", "hard_voxelize", "points_to_voxel_coords",
           "points_to_multiscale_voxel_coords", "voxel_grid_shape", "voxelize_unique"]
