"""mmdet3d ``SparseEncoder`` (SECOND's middle encoder) on :mod:`paddlexseg.sparse`.

Yan et al., "SECOND: Sparsely Embedded Convolutional Detection", Sensors 2018. Layer and
parameter names follow ``mmdet3d/models/middle_encoders/sparse_encoder.py`` (``conv_input``,
``encoder_layers.encoder_layer{i}.{j}.{0 conv, 1 norm}``, ``conv_out``) with
``order=('conv', 'norm', 'act')``, so an mmdet3d checkpoint maps key by key (spconv weights
through :func:`paddlexseg.sparse.weight_from_spconv`).
"""
from paddle import nn

from paddlexseg.sparse import SparseConv3d, SparseSequential, SparseTensor, SubMConv3d

__all__ = ["SparseEncoder", "sparse_conv_module"]


def sparse_conv_module(in_channels, out_channels, kernel_size, conv_type, indice_key,
                       stride=1, padding=0, bn_momentum=0.01):
    """mmdet3d ``make_sparse_convmodule``: conv (no bias), BN1d (eps 1e-3, torch momentum
    ``bn_momentum``, mmdet3d 0.01), ReLU."""
    if conv_type == "SubMConv3d":
        conv = SubMConv3d(in_channels, out_channels, kernel_size, bias=False,
                          indice_key=indice_key)
    else:
        conv = SparseConv3d(in_channels, out_channels, kernel_size, stride=stride,
                            padding=padding, bias=False, indice_key=indice_key)
    return SparseSequential(conv, nn.BatchNorm1D(out_channels, momentum=1.0 - bn_momentum,
                                                 epsilon=1e-3), nn.ReLU())


class SparseEncoder(nn.Layer):
    """Sparse 3-D convolutions from voxel features to a dense BEV map.

    Args:
        in_channels: voxel feature channels (4 for the mean VFE).
        sparse_shape: (Z, Y, X) voxel grid, e.g. [41, 1600, 1408] for KITTI at 0.05/0.1 m
            (mmdet3d adds one z cell to the 40-cell grid).
        base_channels: ``conv_input`` channels (16).
        output_channels: ``conv_out`` channels (128).
        encoder_channels: channels of each block, stage by stage.
        encoder_paddings: padding of each block; the first block of stages 2.. is a strided
            (stride 2) ``SparseConv3d``, the others submanifold.
        bn_momentum: BN running-statistics momentum, torch convention (mmdet3d ``norm_cfg``
            momentum 0.01; Paddle's is ``1 - bn_momentum``).

    Input ``coors`` [M, 4] int (batch, z, y, x); output [B, output_channels * D', Y/8, X/8]
    (256 x 200 x 176 for KITTI).
    """

    def __init__(self, in_channels=4, sparse_shape=(41, 1600, 1408), base_channels=16,
                 output_channels=128,
                 encoder_channels=((16,), (32, 32, 32), (64, 64, 64), (64, 64, 64)),
                 encoder_paddings=((1,), (1, 1, 1), (1, 1, 1), ((0, 1, 1), 1, 1)),
                 bn_momentum=0.01):
        super().__init__()
        self.sparse_shape = [int(s) for s in sparse_shape]
        self.in_channels = int(in_channels)
        self.conv_input = sparse_conv_module(in_channels, base_channels, 3, "SubMConv3d",
                                             "subm1", padding=1,
                                             bn_momentum=bn_momentum)
        self.encoder_layers = SparseSequential()
        cin = base_channels
        for i, blocks in enumerate(encoder_channels):
            stage = SparseSequential()
            for j, cout in enumerate(tuple(blocks)):
                padding = tuple(encoder_paddings[i])[j]
                if i != 0 and j == 0:
                    block = sparse_conv_module(cin, cout, 3, "SparseConv3d", f"spconv{i + 1}",
                                               stride=2, padding=padding,
                                               bn_momentum=bn_momentum)
                else:
                    block = sparse_conv_module(cin, cout, 3, "SubMConv3d", f"subm{i + 1}",
                                               padding=padding, bn_momentum=bn_momentum)
                stage.add_sublayer(str(j), block)
                cin = cout
            self.encoder_layers.add_sublayer(f"encoder_layer{i + 1}", stage)
        self.conv_out = sparse_conv_module(cin, output_channels, (3, 1, 1), "SparseConv3d",
                                           "spconv_down2", stride=(2, 1, 1), padding=0,
                                           bn_momentum=bn_momentum)

    def forward(self, voxel_features, coors, batch_size):
        """voxel_features [M, C], coors [M, 4] (batch, z, y, x) -> [B, C' * D', H', W']."""
        x = SparseTensor(voxel_features, coors, self.sparse_shape, int(batch_size))
        x = self.conv_input(x)
        x = self.encoder_layers(x)
        out = self.conv_out(x)
        dense = out.dense()  # [B, C, D, H, W]
        b, c, d, h, w = dense.shape
        return dense.reshape([b, c * d, h, w])
