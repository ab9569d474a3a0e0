"""Optimizers built from config: SGD (momentum / Nesterov), Adam, AdamW."""
import paddle

from ..registry import OPTIMIZERS

__all__ = ["SGD", "Adam", "AdamW"]


def _clip(clip_grad_norm):
    return paddle.nn.ClipGradByGlobalNorm(float(clip_grad_norm)) if clip_grad_norm else None


@OPTIMIZERS.register()
def SGD(learning_rate, parameters, momentum=0.9, nesterov=False, weight_decay=0.0,
        clip_grad_norm=None):
    """SGD with (Nesterov) momentum and L2 weight decay, as torch.optim.SGD."""
    if momentum:
        return paddle.optimizer.Momentum(learning_rate=learning_rate, momentum=float(momentum),
                                         parameters=parameters, use_nesterov=bool(nesterov),
                                         weight_decay=float(weight_decay) or None,
                                         grad_clip=_clip(clip_grad_norm))
    return paddle.optimizer.SGD(learning_rate=learning_rate, parameters=parameters,
                                weight_decay=float(weight_decay) or None,
                                grad_clip=_clip(clip_grad_norm))


@OPTIMIZERS.register()
def Adam(learning_rate, parameters, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0,
         clip_grad_norm=None):
    """Adam with L2 weight decay added to the gradient (torch.optim.Adam semantics)."""
    return paddle.optimizer.Adam(learning_rate=learning_rate, parameters=parameters,
                                 beta1=beta1, beta2=beta2, epsilon=epsilon,
                                 weight_decay=float(weight_decay) or None,
                                 grad_clip=_clip(clip_grad_norm))


@OPTIMIZERS.register()
def AdamW(learning_rate, parameters, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01,
          clip_grad_norm=None):
    """AdamW with decoupled weight decay (torch.optim.AdamW)."""
    return paddle.optimizer.AdamW(learning_rate=learning_rate, parameters=parameters,
                                  beta1=beta1, beta2=beta2, epsilon=epsilon,
                                  weight_decay=float(weight_decay),
                                  grad_clip=_clip(clip_grad_norm))
