"""A tiny SECOND config (8 x 8 BEV map, few channels) shared by the detection tests."""
import numpy as np
import paddle

PC_RANGE = [0.0, -3.2, -3.0, 6.4, 3.2, 1.0]


def tiny_model_cfg():
    z = lambda v: [PC_RANGE[0], PC_RANGE[1], v, PC_RANGE[3], PC_RANGE[4], v]  # noqa: E731
    return {
        "type": "SECOND",
        "voxel_layer": {"voxel_size": [0.1, 0.1, 0.1], "point_cloud_range": PC_RANGE,
                        "max_num_points": 5, "max_voxels": [4000, 4000]},
        "voxel_encoder": {"num_features": 4},
        "middle_encoder": {"in_channels": 4, "sparse_shape": [41, 64, 64], "base_channels": 4,
                           "output_channels": 8,
                           "encoder_channels": [[4], [8, 8], [8, 8], [8, 8]],
                           "encoder_paddings": [[1], [1, 1], [1, 1], [[0, 1, 1], 1]]},
        "backbone": {"in_channels": 16, "out_channels": [8, 16], "layer_nums": [1, 1],
                     "layer_strides": [1, 2]},
        "neck": {"in_channels": [8, 16], "out_channels": [8, 8], "upsample_strides": [1, 2]},
        "bbox_head": {"num_classes": 3, "in_channels": 16, "feat_channels": 16,
                      "anchor_ranges": [z(-0.6), z(-0.6), z(-1.78)],
                      "anchor_sizes": [[0.8, 0.6, 1.73], [1.76, 0.6, 1.73], [3.9, 1.6, 1.56]],
                      "anchor_rotations": [0, 1.57]},
    }


def random_frame(rng, n_points=1500, boxes=None):
    """Points uniformly in the range plus dense points inside ``boxes``."""
    lo, hi = np.array(PC_RANGE[:3]), np.array(PC_RANGE[3:])
    pts = [np.c_[rng.uniform(lo, hi, (n_points, 3)), rng.uniform(0, 1, (n_points, 1))]]
    for b in (boxes if boxes is not None else []):
        local = rng.uniform(-0.5, 0.5, (200, 3)) * b[3:6] + [0, 0, 0.5 * b[5]]
        c, s = np.cos(b[6]), np.sin(b[6])
        xy = local[:, :2] @ np.array([[c, s], [-s, c]])
        pts.append(np.c_[xy + b[:2], local[:, 2] + b[2], np.ones(200)])
    return paddle.to_tensor(np.concatenate(pts).astype(np.float32))


CAR = np.array([[3.0, 0.5, -1.7, 3.9, 1.6, 1.5, 0.3]], np.float32)
