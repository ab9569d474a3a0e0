"""Tiny registered components for engine tests (a 2-class pixel classifier)."""
from dataclasses import dataclass

import numpy as np
import paddle

from paddlexseg.metrics.base import Metric
from paddlexseg.registry import DATASETS, LOSSES, METRICS, MODELS
from paddlexseg.structures import Batch, to_tensor


@dataclass
class ToyBatch(Batch):
    image: paddle.Tensor
    labels: paddle.Tensor
    INPUTS = ("image",)


class ToyDataset(paddle.io.Dataset):
    def __init__(self, num_samples=12, size=8, seed=0, augment=False):
        self.num_samples, self.size, self.seed, self.augment = num_samples, size, seed, augment
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.num_samples

    def __getitem__(self, idx):
        rng = np.random.default_rng([self.seed, idx])
        img = rng.normal(size=(3, self.size, self.size)).astype("float32")
        labels = (img[0] + 0.5 * img[1] > 0).astype("int64")
        if self.augment:  # per-(epoch, index) randomness: resumable
            noise = np.random.default_rng([self.seed, self.epoch, idx]).normal(size=img.shape)
            img = img + 0.1 * noise.astype("float32")
        return {"image": img, "labels": labels}

    @staticmethod
    def collate(samples):
        return ToyBatch(image=to_tensor(np.stack([s["image"] for s in samples])),
                        labels=to_tensor(np.stack([s["labels"] for s in samples])))


class ToyNet(paddle.nn.Layer):
    def __init__(self, num_classes=2, dropout=0.1):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 8, 3, padding=1)
        self.bn = paddle.nn.BatchNorm2D(8)
        self.drop = paddle.nn.Dropout(dropout)
        self.head = paddle.nn.Conv2D(8, num_classes, 1)

    def forward(self, image):
        return {"logits": self.head(self.drop(paddle.nn.functional.relu(self.bn(self.conv(image)))))}


class ToyCE(paddle.nn.Layer):
    def forward(self, logits, labels):
        return paddle.nn.functional.cross_entropy(logits, labels, axis=1).mean()


class ToyAcc(Metric):
    main = "acc"

    def reset(self):
        self.correct = self.total = 0

    def update(self, outputs, batch):
        pred = outputs["logits"].argmax(1).numpy()
        self.correct += int((pred == batch.labels.numpy()).sum())
        self.total += pred.size

    def compute(self):
        return {"acc": self.correct / max(self.total, 1), "IoU/dummy": 0.5}

    def images(self):
        return {"val/toy": np.zeros((4, 6, 3), np.uint8)}


for reg, obj in ((DATASETS, ToyDataset), (MODELS, ToyNet), (LOSSES, ToyCE), (METRICS, ToyAcc)):
    if obj.__name__ not in reg:
        reg.register(obj)

TOY_CFG = {
    "batch_size": 4,
    "iters": 6,
    "train_dataset": {"type": "ToyDataset", "num_samples": 12, "augment": True},
    "val_dataset": {"type": "ToyDataset", "num_samples": 4},
    "model": {"type": "ToyNet"},
    "losses": [{"type": "ToyCE", "input": "logits", "target": "labels"}],
    "optimizer": {"type": "SGD", "momentum": 0.9, "weight_decay": 0.0001},
    "lr_scheduler": {"type": "WarmupPoly", "learning_rate": 0.05, "warmup_iters": 2},
    "metric": {"type": "ToyAcc"},
    "train": {"log_iters": 1, "save_interval": 3, "keep_checkpoint_max": 2},
}
