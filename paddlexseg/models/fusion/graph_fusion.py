"""The graph, fusion and neck stages of the seed's BEV fusion pipeline, and ``GraphBEVFusion``
that chains pre-fusion -> graph -> fusion -> neck (each stage chosen by ``type:``).

* ``GetGraphPearson``: A = ReLU(Pearson correlation between the channels of X over the BEV
  positions), zero diagonal; [B, C, C].
* ``FusionNN``: Y = ReLU(BN(Conv1x1(X))) (ignores A).
* ``FusionSummation``: Y = [X; (A + I) X / mean(A)] (channel mixing by the graph; mean(A) over
  all entries of the frame's A, clipped below at ``eps`` so an empty graph cannot blow up).
* ``FusionGNN``: ``num_layers`` (3) rounds X_{k+1} = A phi_k(X_k), phi_k = ReLU(BN(Conv1x1)),
  Y = [X_1; X_2; X_3].
* ``FusionNeck``: a 1x1 conv to the channels the BEV backbone expects.
"""
import paddle
from paddle import nn

from .base import FUSION_LAYERS, BEVFusionLayer, build_fusion_layer
from .pre_fusion import conv_bn_relu

__all__ = ["GetGraphPearson", "FusionNN", "FusionSummation", "FusionGNN", "FusionNeck",
           "GraphBEVFusion", "apply_graph"]


def apply_graph(adj, x):
    """adj [B, C, C] times x [B, C, H, W] over channels -> [B, C, H, W]."""
    b, c, h, w = x.shape
    return paddle.bmm(adj, x.reshape([b, c, h * w])).reshape([b, c, h, w])


@FUSION_LAYERS.register()
class GetGraphPearson(nn.Layer):
    """Channel-correlation graph. eps guards constant channels (correlation 0)."""

    level = "bev_stage"

    def __init__(self, eps=1e-6):
        super().__init__()
        self.eps = float(eps)

    def forward(self, x):
        b, c = x.shape[:2]
        flat = x.reshape([b, c, -1])
        flat = flat - flat.mean(axis=2, keepdim=True)
        cov = paddle.bmm(flat, flat.transpose([0, 2, 1]))                     # [B, C, C]
        std = paddle.sqrt(paddle.diagonal(cov, axis1=1, axis2=2).clip(min=0))  # [B, C]
        corr = cov / (std.unsqueeze(2) * std.unsqueeze(1) + self.eps)
        return nn.functional.relu(corr) * (1.0 - paddle.eye(c, dtype=x.dtype))


@FUSION_LAYERS.register()
class FusionNN(nn.Layer):
    level = "bev_stage"

    def __init__(self, in_channels, out_channels=None):
        super().__init__()
        self.out_channels = int(out_channels or in_channels)
        self.block = conv_bn_relu(in_channels, self.out_channels)

    def forward(self, x, adj=None):
        return self.block(x)


@FUSION_LAYERS.register()
class FusionSummation(nn.Layer):
    level = "bev_stage"

    def __init__(self, in_channels, eps=1e-3):
        super().__init__()
        self.out_channels, self.eps = 2 * int(in_channels), float(eps)

    def forward(self, x, adj):
        c = x.shape[1]
        norm = adj.mean(axis=[1, 2]).clip(min=self.eps).reshape([-1, 1, 1, 1])
        mixed = apply_graph(adj + paddle.eye(c, dtype=x.dtype), x) / norm
        return paddle.concat([x, mixed], axis=1)


@FUSION_LAYERS.register()
class FusionGNN(nn.Layer):
    level = "bev_stage"

    def __init__(self, in_channels, num_layers=3):
        super().__init__()
        self.phi = nn.LayerList([conv_bn_relu(in_channels, in_channels)
                                 for _ in range(int(num_layers))])
        self.out_channels = int(num_layers) * int(in_channels)

    def forward(self, x, adj):
        outs = []
        for phi in self.phi:
            x = apply_graph(adj, phi(x))
            outs.append(x)
        return paddle.concat(outs, axis=1)


@FUSION_LAYERS.register()
class FusionNeck(nn.Layer):
    level = "bev_stage"

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.out_channels = int(out_channels)
        self.conv = nn.Conv2D(in_channels, out_channels, 1)

    def forward(self, x):
        return self.conv(x)


@FUSION_LAYERS.register()
class GraphBEVFusion(BEVFusionLayer):
    """pre_fusion (e.g. PreFusionCat) -> graph (GetGraphPearson or None) -> fusion (FusionNN /
    FusionSummation / FusionGNN) -> neck (FusionNeck); ``in_channels`` of fusion and neck are
    filled in from the previous stage."""

    def __init__(self, pre_fusion, fusion, neck, graph=None):
        super().__init__()
        path = "model.bev_fusion"
        self.pre_fusion = build_fusion_layer(pre_fusion, f"{path}.pre_fusion", "bev_stage")
        self.graph = None if graph is None else build_fusion_layer(graph, f"{path}.graph",
                                                                   "bev_stage")
        fusion = dict({"in_channels": self.pre_fusion.out_channels}, **fusion)
        self.fusion = build_fusion_layer(fusion, f"{path}.fusion", "bev_stage")
        if self.graph is None and not isinstance(self.fusion, FusionNN):
            raise ValueError(f"{path}.graph: {fusion['type']} needs a graph (GetGraphPearson)")
        neck = dict({"in_channels": self.fusion.out_channels}, **neck)
        self.neck = build_fusion_layer(neck, f"{path}.neck", "bev_stage")
        self.out_channels = self.neck.out_channels

    def forward(self, bev, img_feats, metas, pad_shape, points):
        x = self.pre_fusion(bev, img_feats, metas, pad_shape, points)
        adj = None if self.graph is None else self.graph(x)
        return self.neck(self.fusion(x, adj))
