"""A batch sampler whose order depends only on (seed, epoch, rank), so training can resume
mid-epoch exactly; it also shards batches over ranks like ``DistributedBatchSampler``."""
import math

import numpy as np
from paddle.io import BatchSampler

__all__ = ["ResumableBatchSampler"]


class ResumableBatchSampler(BatchSampler):
    """Yields lists of dataset indices.

    Args:
        num_samples: dataset length.
        batch_size: samples per batch per rank.
        shuffle: reshuffle every epoch with ``np.random.default_rng([seed, epoch])``.
        drop_last: drop the last incomplete batch.
        seed: base seed.
        rank, world_size: shard for distributed training (each rank gets a disjoint slice).
    """

    def __init__(self, num_samples, batch_size, shuffle=True, drop_last=True, seed=0, rank=0,
                 world_size=1):
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip_batches = 0
        per_rank = math.ceil(self.num_samples / world_size)
        self.per_rank = per_rank
        if drop_last and per_rank < batch_size:
            raise ValueError(f"dataset has {self.num_samples} samples, fewer than batch_size "
                             f"{batch_size} x {world_size} card(s); lower batch_size or set "
                             f"train.drop_last: false")

    def set_epoch(self, epoch, skip_batches=0):
        """Select the epoch's order; skip its first ``skip_batches`` batches (on resume)."""
        self.epoch = int(epoch)
        self.skip_batches = int(skip_batches)

    def _order(self):
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples)
        total = self.per_rank * self.world_size
        if total > len(order):  # pad by wrapping so every rank gets the same count
            order = np.concatenate([order, order[: total - len(order)]])
        return order[self.rank:total:self.world_size]

    def __iter__(self):
        order = self._order()
        n = len(self)
        for b in range(self.skip_batches, n):
            yield order[b * self.batch_size:(b + 1) * self.batch_size].tolist()
        self.skip_batches = 0

    def __len__(self):
        if self.drop_last:
            return self.per_rank // self.batch_size
        return math.ceil(self.per_rank / self.batch_size)
