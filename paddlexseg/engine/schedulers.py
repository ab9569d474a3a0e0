"""Learning-rate schedules stepped once per optimizer step.

All are ``paddle.optimizer.lr.LRScheduler`` subclasses, so their state is saved with the
optimizer and restored on resume. Each takes ``total_iters`` and ``iters_per_epoch`` from the
trainer (not from the user).
"""
import math

from paddle.optimizer.lr import LRScheduler

from ..registry import SCHEDULERS

__all__ = ["WarmupPoly", "WarmupCosine", "WarmupExponential", "StepDecay", "Constant"]


class _Warmup(LRScheduler):
    """Linear warm-up from ``warmup_start_lr`` to ``learning_rate`` over ``warmup_iters`` steps.

    Steps count from 1: step ``k`` of the warm-up uses
    ``warmup_start_lr + (learning_rate - warmup_start_lr) * k / warmup_iters``, so the first
    optimizer step already learns (PaddleSeg's ``LinearWarmup`` gives step 1 exactly
    ``warmup_start_lr``, i.e. a wasted step at the default 0) and step ``warmup_iters`` uses the
    full rate.
    """

    def __init__(self, learning_rate, warmup_iters=0, warmup_start_lr=0.0, total_iters=1,
                 iters_per_epoch=1):
        self.base = float(learning_rate)
        self.warmup_iters = int(warmup_iters)
        self.warmup_start_lr = float(warmup_start_lr)
        self.total_iters = max(int(total_iters), 1)
        self.iters_per_epoch = max(int(iters_per_epoch), 1)
        super().__init__(learning_rate=float(learning_rate))

    def get_lr(self):
        step = self.last_epoch
        if step < self.warmup_iters:  # step is 0-based: the first step uses 1 / warmup_iters
            frac = (step + 1) / self.warmup_iters
            return self.warmup_start_lr + (self.base - self.warmup_start_lr) * frac
        return self.after_warmup(step - self.warmup_iters)

    def after_warmup(self, step):
        return self.base


@SCHEDULERS.register()
class Constant(_Warmup):
    """Constant learning rate (after an optional warm-up)."""


@SCHEDULERS.register()
class WarmupPoly(_Warmup):
    """Warm-up then polynomial decay ``(1 - t/T)^power`` to ``end_lr`` (PaddleSeg's PolynomialDecay)."""

    def __init__(self, learning_rate, warmup_iters=0, warmup_start_lr=0.0, power=0.9, end_lr=0.0,
                 total_iters=1, iters_per_epoch=1):
        self.power = float(power)
        self.end_lr = float(end_lr)
        super().__init__(learning_rate, warmup_iters, warmup_start_lr, total_iters, iters_per_epoch)

    def after_warmup(self, step):
        span = max(self.total_iters - self.warmup_iters, 1)
        frac = min(step, span) / span
        return (self.base - self.end_lr) * (1 - frac) ** self.power + self.end_lr


@SCHEDULERS.register()
class WarmupCosine(_Warmup):
    """Warm-up then cosine annealing to ``end_lr``."""

    def __init__(self, learning_rate, warmup_iters=0, warmup_start_lr=0.0, end_lr=0.0,
                 total_iters=1, iters_per_epoch=1):
        self.end_lr = float(end_lr)
        super().__init__(learning_rate, warmup_iters, warmup_start_lr, total_iters, iters_per_epoch)

    def after_warmup(self, step):
        span = max(self.total_iters - self.warmup_iters, 1)
        frac = min(step, span) / span
        return self.end_lr + 0.5 * (self.base - self.end_lr) * (1 + math.cos(math.pi * frac))


@SCHEDULERS.register()
class WarmupExponential(_Warmup):
    """RangeNet++ / SqueezeSegV3 ``warmupLR``: linear warm-up over ``warmup_epochs`` epochs, then
    the rate is multiplied by ``gamma`` (``lr_decay`` in their arch YAMLs, e.g. 0.99) once per epoch.

    ``warmup_iters`` overrides ``warmup_epochs`` when given. The originals also cycle SGD momentum
    during warm-up (OneCycle-style); we keep momentum fixed, which their released configs make
    irrelevant after the first epoch.
    """

    def __init__(self, learning_rate, gamma=0.99, warmup_epochs=1.0, warmup_iters=None,
                 warmup_start_lr=0.0, total_iters=1, iters_per_epoch=1):
        self.gamma = float(gamma)
        if warmup_iters is None:
            warmup_iters = int(round(float(warmup_epochs) * max(int(iters_per_epoch), 1)))
        super().__init__(learning_rate, warmup_iters, warmup_start_lr, total_iters, iters_per_epoch)

    def after_warmup(self, step):
        return self.base * self.gamma ** (step // self.iters_per_epoch)


@SCHEDULERS.register()
class StepDecay(_Warmup):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs (torch ``StepLR``), or every
    ``step_iters`` steps when that is given."""

    def __init__(self, learning_rate, step_size=10, gamma=0.1, step_iters=None, warmup_iters=0,
                 warmup_start_lr=0.0, total_iters=1, iters_per_epoch=1):
        self.gamma = float(gamma)
        self.step_iters = int(step_iters) if step_iters else int(step_size) * max(int(iters_per_epoch), 1)
        super().__init__(learning_rate, warmup_iters, warmup_start_lr, total_iters, iters_per_epoch)

    def after_warmup(self, step):
        return self.base * self.gamma ** (step // max(self.step_iters, 1))


@SCHEDULERS.register()
class CyclicCosine(LRScheduler):
    """mmdet3d's KITTI ``cyclic`` schedule (0.x ``lr_config = dict(policy='cyclic',
    target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4)``; 1.x two
    ``CosineAnnealingLR`` phases): over the first ``step_ratio_up`` of training the rate rises
    from ``learning_rate`` to ``learning_rate * target_ratio[0]`` along a half cosine, then falls
    to ``learning_rate * target_ratio[1]`` the same way. mmdet3d also cycles AdamW's beta1
    (0.95 -> 0.85 -> 0.95); that is not done here (beta1 stays fixed)."""

    def __init__(self, learning_rate, target_ratio=(10.0, 1e-4), step_ratio_up=0.4,
                 total_iters=1, iters_per_epoch=1):
        self.base = float(learning_rate)
        self.peak = self.base * float(target_ratio[0])
        self.end = self.base * float(target_ratio[1])
        self.total_iters = max(int(total_iters), 1)
        self.up_iters = max(int(round(self.total_iters * float(step_ratio_up))), 1)
        super().__init__(learning_rate=float(learning_rate))

    def get_lr(self):
        step = self.last_epoch
        if step < self.up_iters:
            start, end, frac = self.base, self.peak, step / self.up_iters
        else:
            span = max(self.total_iters - self.up_iters, 1)
            start, end, frac = self.peak, self.end, min(step - self.up_iters, span) / span
        return end + (start - end) / 2 * (math.cos(math.pi * frac) + 1)
