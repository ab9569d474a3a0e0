"""The 3D branch of 2DPASS: an SPVCNN-style point-voxel encoder on submanifold sparse convs.

``network/baseline.py`` and ``network/basic_block.py`` of yanx27/2DPASS (the "baseline" that
2DPASS distils into). Per scale ``i`` an :class:`SPVBlock` runs two :class:`SparseBasicBlock`
(submanifold 3x3x3 convs on the voxels of the previous scale) and a :class:`point_encoder`
(an MLP on those voxels plus a pooled coarser context), fuses both into the voxels of scale
``scale_list[i]`` and hands every point its feature; the classifier reads the concatenated
per-scale point features. Sublayer names follow the original (``voxel_3d_generator``,
``spv_enc.{i}.v_enc.{0,1}.layers_in/layers``, ``spv_enc.{i}.p_enc.layer_in/PPmodel/layer_out``,
``classifier``) so that converted checkpoints load; spconv weights need
:func:`paddlexseg.sparse.weight_from_spconv`.
"""
import paddle
import paddle.nn.functional as F
from paddle import nn

from ...ops import scatter_mean, unique_rows
from ...sparse import SparseModule, SparseSequential, SparseTensor, SubMConv3d
from .voxelize import multi_scale_voxelize, voxel_3d_generator

__all__ = ["SparseBasicBlock", "point_encoder", "SPVBlock", "SPVCNN"]


class SparseBasicBlock(nn.Layer, SparseModule):
    """Residual block: (1x1 conv, BN) + (3x3 conv, BN, LeakyReLU, 3x3 conv, BN), LeakyReLU."""

    def __init__(self, in_channels, out_channels, indice_key):
        super().__init__()
        self.layers_in = SparseSequential(
            SubMConv3d(in_channels, out_channels, 1, indice_key=indice_key, bias=False),
            nn.BatchNorm1D(out_channels))
        self.layers = SparseSequential(
            SubMConv3d(in_channels, out_channels, 3, indice_key=indice_key, bias=False),
            nn.BatchNorm1D(out_channels),
            nn.LeakyReLU(0.1),
            SubMConv3d(out_channels, out_channels, 3, indice_key=indice_key, bias=False),
            nn.BatchNorm1D(out_channels))

    def forward(self, x):
        identity = self.layers_in(x)
        output = self.layers(x)
        return output.replace_feature(F.leaky_relu(output.feats + identity.feats, 0.1))


class point_encoder(nn.Layer):  # noqa: N801 (name of the original, for checkpoints)
    """Voxel MLP with a 2x coarser pooled context, pooled into the next scale's voxels."""

    def __init__(self, in_channels, out_channels, scale):
        super().__init__()
        self.scale = scale
        self.layer_in = nn.Sequential(nn.Linear(in_channels, out_channels), nn.LeakyReLU(0.1))
        self.PPmodel = nn.Sequential(
            nn.Linear(in_channels, out_channels // 2), nn.LeakyReLU(0.1),
            nn.BatchNorm1D(out_channels // 2),
            nn.Linear(out_channels // 2, out_channels // 2), nn.LeakyReLU(0.1),
            nn.BatchNorm1D(out_channels // 2),
            nn.Linear(out_channels // 2, out_channels), nn.LeakyReLU(0.1))
        self.layer_out = nn.Sequential(
            nn.Linear(2 * out_channels, out_channels), nn.LeakyReLU(0.1),
            nn.Linear(out_channels, out_channels))

    @staticmethod
    def downsample(coors, p_fea, scale=2):
        """Mean of the voxel features over voxels merged by ``coors // scale`` (batch kept)."""
        coarse = paddle.concat([coors[:, :1], coors[:, 1:] // scale], axis=1)
        uniq, inv, _ = unique_rows(coarse)
        return scatter_mean(p_fea, inv, dim_size=int(uniq.shape[0])), inv

    def forward(self, features, coors, coors_inv_last, next_scale):
        """Args:
            features: float [V, C] on the voxels ``coors`` [V, 4] (batch, z, y, x) of the
                previous scale.
            coors_inv_last: int64 [N] voxel row of each point at the previous scale.
            next_scale: VoxelScale of this block's scale.

        Returns:
            float [V', C] on the voxels of ``next_scale``.
        """
        output, inv = self.downsample(coors, features)
        identity = self.layer_in(features)                                   # [V, C]
        output = paddle.gather(self.PPmodel(output), inv)                    # [V, C]
        output = paddle.concat([identity, output], axis=1)                   # [V, 2C]
        # The original runs layer_out on output[coors_inv] (one row per point); the rows of
        # the points of one voxel are equal, so running it per voxel and then gathering gives
        # the same values at a fraction of the cost.
        per_point = paddle.gather(self.layer_out(output), coors_inv_last)    # [N, C]
        return scatter_mean(per_point, next_scale.coors_inv, dim_size=next_scale.num_voxels)


class SPVBlock(nn.Layer):
    """One scale of the encoder: sparse voxel convs + point encoder, fused at ``scale``."""

    def __init__(self, in_channels, out_channels, indice_key, scale, last_scale):
        super().__init__()
        self.scale, self.last_scale, self.indice_key = scale, last_scale, indice_key
        self.v_enc = SparseSequential(
            SparseBasicBlock(in_channels, out_channels, indice_key),
            SparseBasicBlock(out_channels, out_channels, indice_key))
        self.p_enc = point_encoder(in_channels, out_channels, scale)

    def forward(self, sparse, voxels):
        """Args:
            sparse: SparseTensor on the voxels of ``last_scale``.
            voxels: {scale: VoxelScale}.

        Returns:
            (voxel features [V_last, C] after the convs (the fusion's ``pts_feat``),
             point-encoder features [V_cur, C] on the voxels of ``scale`` (each point's
             feature is the row of its voxel), SparseTensor on the voxels of ``scale``).
        """
        last, cur = voxels[self.last_scale], voxels[self.scale]
        v_fea = self.v_enc(sparse)
        v_fea_inv = scatter_mean(paddle.gather(v_fea.feats, last.coors_inv), cur.coors_inv,
                                 dim_size=cur.num_voxels)                    # [V_cur, C]
        p_fea = self.p_enc(sparse.feats + v_fea.feats, last.coors, last.coors_inv,
                           cur)                                              # [V_cur, C]
        nxt = SparseTensor(p_fea + v_fea_inv, cur.coors, cur.spatial_shape, sparse.batch_size)
        return v_fea.feats, p_fea, nxt


class SPVCNN(nn.Layer):
    """2DPASS's 3D network (``baseline.get_model`` without its loss).

    Args:
        num_classes: output classes (20 SemanticKITTI, 17 nuScenes).
        input_dims: point channels (4: x, y, z, intensity).
        hidden_size: channels of every scale (64 small, 256 large).
        scale_list: voxel scales of the encoder blocks, e.g. [2, 4, 8, 16].
        spatial_shape: finest grid (X, Y, Z), e.g. [1000, 1000, 60] (0.1 m).
        min_volume, max_volume: (x, y, z) corners of the volume.
    """

    def __init__(self, num_classes, input_dims, hidden_size, scale_list, spatial_shape,
                 min_volume, max_volume):
        super().__init__()
        self.num_classes, self.hidden_size = int(num_classes), int(hidden_size)
        self.scale_list = [int(s) for s in scale_list]
        self.spatial_shape = [int(s) for s in spatial_shape]
        self.coors_range = [(float(a), float(b)) for a, b in zip(min_volume, max_volume)]
        self.voxel_3d_generator = voxel_3d_generator(input_dims, hidden_size, self.coors_range,
                                                     self.spatial_shape)
        self.spv_enc = nn.LayerList([
            SPVBlock(hidden_size, hidden_size, f"spv_{i}", scale,
                     self.scale_list[i - 1] if i > 0 else 1)
            for i, scale in enumerate(self.scale_list)])
        self.classifier = nn.Sequential(
            nn.Linear(hidden_size * len(self.scale_list), 128), nn.ReLU(),
            nn.Linear(128, num_classes))

    def forward(self, points, batch_idx, batch_size):
        """Args:
            points: float [N, input_dims]. batch_idx: int64 [N]. batch_size: B.

        Returns:
            dict: ``logits`` [N, num_classes], ``voxels`` {scale: VoxelScale} and ``layers``
            (per block: (voxel features [V_last, C], last scale)).
        """
        voxels = multi_scale_voxelize(points[:, :3], batch_idx, batch_size, self.coors_range,
                                      self.spatial_shape, self.scale_list + [1])
        sparse = self.voxel_3d_generator(points, voxels[1], batch_size)
        enc_feats, layers = [], []
        for block in self.spv_enc:
            pts_feat, voxel_feat, sparse = block(sparse, voxels)
            layers.append((pts_feat, block.last_scale))
            enc_feats.append((voxel_feat, voxels[block.scale].coors_inv))
        return {"logits": self.classify(enc_feats), "voxels": voxels, "layers": layers}

    def classify(self, enc_feats):
        """``classifier(concat_i(feat_i[inv_i]))`` of the original, computed per voxel.

        The first Linear of the classifier is split into one block per scale,
        ``W [sum C_i, 128] = [W_1; ...; W_n]``, so that ``concat(f_i) @ W = sum_i f_i @ W_i``
        is evaluated on the voxels of each scale (far fewer rows than points) and gathered.

        Args:
            enc_feats: per scale (voxel features [V_i, C], point -> voxel rows [N]).

        Returns:
            logits [N, num_classes].
        """
        first, rest = self.classifier[0], list(self.classifier.children())[1:]
        hidden, start = None, 0
        for feat, inv in enc_feats:
            width = feat.shape[1]
            part = paddle.gather(paddle.matmul(feat, first.weight[start:start + width]), inv)
            hidden = part if hidden is None else hidden + part                # [N, 128]
            start += width
        x = hidden + first.bias
        for layer in rest:
            x = layer(x)
        return x                                                             # [N, classes]
