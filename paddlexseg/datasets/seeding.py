"""Per-sample randomness that depends only on (seed, epoch, index).

A resumed run, and any number of loader workers, then draws exactly the augmentation an
uninterrupted single-process run would: the trainer calls ``set_epoch`` before every pass.
"""
import numpy as np

__all__ = ["EpochSeeded"]


class EpochSeeded:
    """Mixin for datasets with ``seed`` and ``mode`` attributes."""

    seed = 0
    epoch = 0

    def set_epoch(self, epoch):
        """Make the augmentation of the next pass depend on ``epoch`` (the trainer calls it)."""
        self.epoch = int(epoch)

    def _rng(self, index):
        """Training: a stream per (seed, epoch, index). Evaluation: fixed per index, so that
        subsampling and crops of a sample are the same in every pass."""
        if getattr(self, "mode", "train") != "train":
            return np.random.default_rng([self.seed, int(index)])
        return np.random.default_rng([self.seed, self.epoch, int(index)])
