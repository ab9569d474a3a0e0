"""``FusionAuxLoss``: the extra loss terms a fusion module returns (e.g. CEN's L1 on BN gammas,
:class:`paddlexseg.models.fusion.channel_exchange.ChannelExchange`), which MVX-Net puts in its
``fusion_aux_loss`` output (a scalar, 0 when the module has none)."""
from paddle import nn

from ..registry import LOSSES

__all__ = ["FusionAuxLoss"]


@LOSSES.register()
class FusionAuxLoss(nn.Layer):
    """``input: fusion_aux_loss``, ``target: null``; returns the term as is (use the composer's
    ``weight`` to scale it)."""

    def forward(self, aux):
        return aux
