"""Event-camera transforms: validation, the fixed voxel grid and the learnable EST quantization.

Events are NumPy arrays [N, 4] in the column order ``(t, x, y, p)``: t in seconds (float64),
x in [0, width), y in [0, height) integer pixel coordinates, polarity p in {0, 1} or {-1, +1}
(0 is read as -1). This is the layout of the preprocessed MVSEC samples
(:mod:`paddlexseg.datasets.mvsec`).

Bad input (:func:`check_events`): an empty sample or a wrong shape raises ``DataError``;
events outside the sensor are dropped with a warning (``on_outside="drop"``, default) or raise
(``"error"``); unsorted timestamps are stably sorted with a warning (``on_unsorted="sort"``,
default) or raise (``"error"``).

References:
    Zhu et al., "Unsupervised Event-based Learning of Optical Flow, Depth, and Egomotion",
    CVPR 2019 (voxel grid with bilinear interpolation in time).
    Gehrig et al., "End-to-End Learning of Representations for Asynchronous Event-Based Data",
    ICCV 2019 (EST: QuantizationLayer / ValueLayer).
"""
import warnings

import numpy as np
import paddle
import paddle.nn as nn

from ..datasets.errors import DataError
from ..registry import TRANSFORMS

__all__ = ["check_events", "events_to_voxel_grid", "EventVoxelGrid", "ValueLayer",
           "QuantizationLayer"]

_CHOICES = {"on_outside": ("drop", "error"), "on_unsorted": ("sort", "error")}


def check_events(events, sensor_size=(260, 346), path="<array>", on_outside="drop",
                 on_unsorted="sort"):
    """Validate one sample's events and repair what can be repaired.

    Args:
        events: array [N, 4] (t, x, y, p).
        sensor_size: (height, width) of the sensor in pixels.
        path: file the events came from, named in errors and warnings.
        on_outside: "drop" (warn and drop events outside the sensor) or "error".
        on_unsorted: "sort" (warn and stably sort by t) or "error".

    Returns:
        float64 [N', 4] (t, x, y, p) with integral x, y inside the sensor, p in {-1, +1},
        sorted by t.

    Raises:
        DataError: empty sample, wrong shape, non-finite values, bad polarity, or (with
            "error") events outside the sensor / unsorted timestamps.
    """
    for key, value in (("on_outside", on_outside), ("on_unsorted", on_unsorted)):
        if value not in _CHOICES[key]:
            raise ValueError(f"{key} must be one of {_CHOICES[key]}, got {value!r}")
    events = np.asarray(events)
    if events.ndim != 2 or events.shape[1] != 4:
        raise DataError(f"{path}: expected events of shape [N, 4] (t, x, y, p), "
                        f"got shape {list(events.shape)}")
    if events.shape[0] == 0:
        raise DataError(f"{path}: the sample has no events; expected at least one")
    events = events.astype(np.float64, copy=True)
    if not np.isfinite(events).all():
        raise DataError(f"{path}: events contain NaN or infinite values")
    pol = events[:, 3]
    if not np.isin(pol, (-1.0, 0.0, 1.0)).all():
        bad = np.unique(pol[~np.isin(pol, (-1.0, 0.0, 1.0))])[:5]
        raise DataError(f"{path}: polarity (column 3) must be 0/1 or -1/+1, found {bad.tolist()}")
    events[pol == 0, 3] = -1.0
    height, width = int(sensor_size[0]), int(sensor_size[1])
    x, y = events[:, 1], events[:, 2]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height) & (x == np.floor(x)) & \
        (y == np.floor(y))
    if not inside.all():
        n_out = int((~inside).sum())
        msg = (f"{path}: {n_out} of {len(events)} events lie outside the {width}x{height} sensor "
               f"or have non-integer pixel coordinates")
        if on_outside == "error":
            raise DataError(msg)
        warnings.warn(msg + "; dropping them", stacklevel=2)
        events = events[inside]
        if events.shape[0] == 0:
            raise DataError(f"{path}: no event lies inside the {width}x{height} sensor")
    t = events[:, 0]
    if np.any(t[1:] < t[:-1]):
        msg = f"{path}: event timestamps are not sorted"
        if on_unsorted == "error":
            raise DataError(msg)
        warnings.warn(msg + "; sorting them", stacklevel=2)
        events = events[np.argsort(t, kind="stable")]
    return events


def events_to_voxel_grid(events, num_bins=5, height=260, width=346):
    """Accumulate events into a voxel grid with bilinear interpolation in time.

    Each event's timestamp is scaled to [0, num_bins - 1]; its polarity (+-1) is split
    between the two neighbouring bins by the linear weights (1 - dt, dt).

    Args:
        events: [N, 4] (t, x, y, p) as returned by :func:`check_events` (sorted by t,
            integral in-sensor x, y, p in {-1, +1}; p = 0 is read as -1).
        num_bins: number of temporal bins B.
        height, width: sensor size.

    Returns:
        float32 [num_bins, height, width].
    """
    voxel = np.zeros(num_bins * height * width, np.float64)
    events = np.asarray(events, np.float64)
    if events.shape[0] == 0:
        return voxel.reshape(num_bins, height, width).astype(np.float32)
    t = events[:, 0]
    span = t[-1] - t[0]
    if span <= 0:
        span = 1.0
    ts = (num_bins - 1) * (t - t[0]) / span          # [N] in [0, B-1]
    xs = events[:, 1].astype(np.int64)
    ys = events[:, 2].astype(np.int64)
    pols = np.where(events[:, 3] > 0, 1.0, -1.0)
    tis = np.floor(ts).astype(np.int64)
    dts = ts - tis
    base = xs + ys * width
    left = tis < num_bins
    np.add.at(voxel, base[left] + tis[left] * width * height, pols[left] * (1.0 - dts[left]))
    right = tis + 1 < num_bins
    np.add.at(voxel, base[right] + (tis[right] + 1) * width * height, pols[right] * dts[right])
    return voxel.reshape(num_bins, height, width).astype(np.float32)


@TRANSFORMS.register()
class EventVoxelGrid:
    """Callable transform: events [N, 4] (t, x, y, p) -> float32 voxel grid [B, H, W].

    Args:
        num_bins: temporal bins.
        sensor_size: (height, width).
        normalize: if True, non-zero cells are standardized to zero mean / unit std
            (as E2VID does); the Event-VPR reproduction feeds the raw grid (False).
    """

    def __init__(self, num_bins=5, sensor_size=(260, 346), normalize=False):
        self.num_bins = int(num_bins)
        self.height, self.width = int(sensor_size[0]), int(sensor_size[1])
        self.normalize = bool(normalize)

    def __call__(self, events):
        voxel = events_to_voxel_grid(events, self.num_bins, self.height, self.width)
        if self.normalize:
            nonzero = voxel != 0
            if nonzero.sum() > 1:
                values = voxel[nonzero]
                std = values.std()
                voxel[nonzero] = (values - values.mean()) / (std if std > 0 else 1.0)
        return voxel


class ValueLayer(nn.Layer):
    """EST's MLP kernel over normalized time, initialised to the trilinear kernel.

    EST fits the MLP to the trilinear kernel with 1000 Adam steps (or loads
    ``trilinear_init.pth``). Here the initialisation is exact and closed-form: with
    LeakyReLU slope s, ``lrelu(t+a) - 2 lrelu(t) + lrelu(t-a) = (1-s) a tri(t)`` for the
    kernel half-width ``a = 1 / (num_channels - 1)``; three units of the first hidden layer
    compute those terms, one unit per later hidden layer carries ``tri(t) >= 0``; the
    other units keep their random input weights and get zero output weights.

    Args:
        mlp_layers: widths, first and last must be 1, the first hidden width >= 3.
        negative_slope: LeakyReLU slope s in [0, 1).
        num_channels: number of temporal bins C (>= 2).
    """

    def __init__(self, mlp_layers=(1, 30, 30, 1), negative_slope=0.1, num_channels=9):
        super().__init__()
        mlp_layers = [int(m) for m in mlp_layers]
        if len(mlp_layers) < 3 or mlp_layers[0] != 1 or mlp_layers[-1] != 1 or mlp_layers[1] < 3:
            raise ValueError(f"mlp_layers must look like [1, h1 >= 3, ..., 1], got {mlp_layers}")
        if not 0.0 <= negative_slope < 1.0:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope}")
        if num_channels < 2:
            raise ValueError(f"num_channels (temporal bins) must be >= 2, got {num_channels}")
        self.mlp = nn.LayerList([nn.Linear(i, o) for i, o in zip(mlp_layers[:-1], mlp_layers[1:])])
        self.activation = nn.LeakyReLU(negative_slope)
        self._init_trilinear(1.0 / (num_channels - 1), negative_slope)

    def _init_trilinear(self, a, s):
        # paddle Linear weights are [in, out]; unit 0 of every later layer carries the kernel
        w0, b0 = self.mlp[0].weight.numpy(), self.mlp[0].bias.numpy()
        w0[0, :3] = 1.0
        b0[:3] = (a, 0.0, -a)                           # units 0..2: t + a, t, t - a
        self.mlp[0].weight.set_value(w0)
        self.mlp[0].bias.set_value(b0)
        for i, layer in enumerate(self.mlp[1:]):
            w, b = layer.weight.numpy(), layer.bias.numpy()
            w[:, 0] = 0.0
            b[0] = 0.0
            if i == 0:
                w[:3, 0] = np.array([1.0, -2.0, 1.0]) / ((1.0 - s) * a)   # -> tri(t)
            else:
                w[0, 0] = 1.0                           # tri(t) >= 0 passes LeakyReLU unchanged
            layer.weight.set_value(w)
            layer.bias.set_value(b)

    def forward(self, t):
        """t: float32 [N] -> kernel values [N]."""
        x = t.reshape([-1, 1])
        for layer in self.mlp[:-1]:
            x = self.activation(layer(x))
        return self.mlp[-1](x).reshape([-1])


class QuantizationLayer(nn.Layer):
    """EST's learnable event-to-grid quantization (Gehrig et al., ICCV 2019).

    For every temporal bin i the value ``t * k(t - i / (C - 1))`` of each event (k the
    :class:`ValueLayer` kernel, t normalized to [0, 1] per sample) is summed into the pixel
    of the event's polarity; the output stacks negative then positive polarity bins.

    Args:
        dim: (C, H, W) bins and sensor size.
        mlp_layers: widths of the ValueLayer MLP.
        negative_slope: its LeakyReLU slope.
    """

    def __init__(self, dim=(5, 260, 346), mlp_layers=(1, 30, 30, 1), negative_slope=0.1):
        super().__init__()
        self.dim = tuple(int(d) for d in dim)
        self.value_layer = ValueLayer(mlp_layers, negative_slope, num_channels=self.dim[0])

    def forward(self, events, batch_size):
        """Quantize a batch of events.

        Args:
            events: float32 [M, 5] (x, y, t, p, b): t in [0, 1] per sample, p in {-1, +1},
                b the integer sample index in [0, batch_size).
            batch_size: B.

        Returns:
            float32 [B, 2 * C, H, W].
        """
        C, H, W = self.dim
        x, y, t, p, b = [events[:, i] for i in range(5)]
        p01 = (p + 1.0) / 2.0
        # [M] flat index of bin 0 for each event in a [B, 2, C, H, W] grid
        base = (x + W * y + W * H * C * p01 + W * H * C * 2 * b).astype("int64")
        centres = paddle.arange(C, dtype="float32") / (C - 1)                 # [C]
        t_shift = t.unsqueeze(0) - centres.unsqueeze(1)                      # [C, M]
        values = t.unsqueeze(0) * self.value_layer(t_shift).reshape(t_shift.shape)  # [C, M]
        index = base.unsqueeze(0) + (W * H) * paddle.arange(C, dtype="int64").unsqueeze(1)
        vox = paddle.zeros([batch_size * 2 * C * H * W], dtype=values.dtype)
        vox = paddle.index_add(vox, index.reshape([-1]), 0, values.reshape([-1]))
        vox = vox.reshape([batch_size, 2, C, H, W])
        return paddle.concat([vox[:, 0], vox[:, 1]], axis=1)                 # [B, 2C, H, W]
