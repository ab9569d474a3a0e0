"""The 2D branch of 2DPASS: a ResNet-34 FCN giving per-scale features at the image points.

``network/basic_block.py`` ``ResNetFCN`` of yanx27/2DPASS: torchvision's ResNet-34 with its
first conv replaced by a 7x7 **stride-1** conv (so the four stages sit at 1/2 .. 1/16 of the
image), and four decoder heads ``deconv_layer1..4`` (7x7 conv, transposed convs, nearest
upsampling) bringing each stage back to full resolution with ``hidden_size`` channels. The
features are only read at the image points, so each head's last (nearest-upsampling) layer is
folded into the gather: reading pixel ``(r, c)`` of the upsampled map equals reading
``(r // f, c // f)`` of the map before it, without materialising four full-resolution maps.
Sublayer names are the original's (``conv1``, ``bn1``, ``layer1..4``, ``deconv_layer1..4``).
"""
import paddle
from paddle import nn

from ..backbones.resnet import ResNet

__all__ = ["ResNetFCN"]


class ResNetFCN(nn.Layer):
    """ResNet-34 encoder + 4 upsampling heads; features of scales 2, 4, 8, 16 at image points.

    Args:
        hidden_size: channels of every head's output (the 3D hidden size).
        backbone: only "resnet34" (as the original).
        pretrained: optional path of a Paddle ResNet-34 state dict for the encoder (the
            original's ``pretrained2d``; no download happens here).
    """

    SCALES = (2, 4, 8, 16)
    _UPSAMPLE = (2, 4, 4, 4)            # factor of each head's final nearest upsampling

    def __init__(self, hidden_size=64, backbone="resnet34", pretrained=None):
        super().__init__()
        if backbone != "resnet34":
            raise ValueError(f"ResNetFCN.backbone: only 'resnet34' is supported (as in 2DPASS), "
                             f"got {backbone!r}")
        net = ResNet(depth=34, stem_stride=1, pretrained=pretrained)
        self.hidden_size = int(hidden_size)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (net.layer1, net.layer2,
                                                              net.layer3, net.layer4)
        h = self.hidden_size

        def conv7(cin, cout):
            return nn.Conv2D(cin, cout, 7, stride=1, padding=3, bias_attr=False)

        def up2(cin, cout):
            return nn.Conv2DTranspose(cin, cout, 3, stride=2, padding=1, output_padding=1)

        self.deconv_layer1 = nn.Sequential(conv7(64, h), nn.ReLU(), nn.UpsamplingNearest2D(
            scale_factor=2))
        self.deconv_layer2 = nn.Sequential(conv7(128, h), nn.ReLU(), nn.UpsamplingNearest2D(
            scale_factor=4))
        self.deconv_layer3 = nn.Sequential(conv7(256, 64), nn.ReLU(), up2(64, h), nn.ReLU(),
                                           nn.UpsamplingNearest2D(scale_factor=4))
        self.deconv_layer4 = nn.Sequential(conv7(512, 64), nn.ReLU(), up2(64, 64), nn.ReLU(),
                                           up2(64, h), nn.ReLU(),
                                           nn.UpsamplingNearest2D(scale_factor=4))

    @staticmethod
    def _gather(fmap, img_batch, rows, cols):
        """fmap [B, C, h, w] read at integer (batch, row, col) -> [M, C]."""
        b, c, h, w = fmap.shape
        flat = fmap.transpose([0, 2, 3, 1]).reshape([b * h * w, c])          # [B*h*w, C]
        return paddle.gather(flat, (img_batch * h + rows) * w + cols)

    def forward(self, img, img_indices, img_batch):
        """Args:
            img: float [B, 3, H, W], H and W multiples of 16.
            img_indices: int64 [M, 2] (row, col) of the image points.
            img_batch: int64 [M] image of each point.

        Returns:
            {scale: float [M, hidden_size]} for scales 2, 4, 8, 16.
        """
        height, width = img.shape[2], img.shape[3]
        if height % 16 or width % 16:
            raise ValueError(f"ResNetFCN: image size {height} x {width} must be a multiple of "
                             f"16 (crop or resize the images)")
        conv1_out = self.relu(self.bn1(self.conv1(img)))                    # [B, 64, H, W]
        layer1_out = self.layer1(self.maxpool(conv1_out))                   # [B, 64, H/2, W/2]
        layer2_out = self.layer2(layer1_out)                                # [B, 128, H/4, W/4]
        layer3_out = self.layer3(layer2_out)                                # [B, 256, H/8, W/8]
        layer4_out = self.layer4(layer3_out)                                # [B, 512, H/16, ..]
        rows, cols = img_indices[:, 0], img_indices[:, 1]
        out = {}
        for scale, head, stage, factor in zip(
                self.SCALES, (self.deconv_layer1, self.deconv_layer2, self.deconv_layer3,
                              self.deconv_layer4),
                (layer1_out, layer2_out, layer3_out, layer4_out), self._UPSAMPLE):
            x = stage
            for layer in list(head.children())[:-1]:                          # all but upsample
                x = layer(x)                                                  # [B, h, H/f, W/f]
            out[scale] = self._gather(x, img_batch, rows // factor, cols // factor)
        return out
