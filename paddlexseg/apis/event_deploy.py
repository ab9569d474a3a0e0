"""Event-VPR deployment: event sample files -> place descriptors, for ``deploy/python/infer.py``.

Each input is one sample file of the MVSEC layout (``docs/event_vpr.md``): a ``.npy`` array
``[N, 4]`` of events in ``Deploy.events.column_order`` (``txyp``). It is read and checked
like the datasets do (:func:`paddlexseg.datasets.mvsec.read_events`), turned into the voxel
grid of ``Deploy.events`` (:class:`~paddlexseg.transforms.events.EventVoxelGrid`), run
through the exported model, and its descriptor (float32 ``[K * D]``, L2-normalized) is saved
as ``save_dir/descriptors/<relative path>.npy``. Retrieval (nearest database descriptor) is
left to the application.
"""
import os

import numpy as np
from tqdm import tqdm

from ..datasets.errors import DataError
from ..datasets.mvsec import read_events
from ..registry import ConfigError
from ..transforms.events import EventVoxelGrid

__all__ = ["resolve_event_files", "voxelize_file", "infer_event"]


def resolve_event_files(path):
    """A ``.npy`` file or a folder searched recursively -> sorted [(path, relative path)]."""
    if os.path.isfile(path):
        if not path.endswith(".npy"):
            raise DataError(f"{path}: expected an events .npy file")
        return [(path, os.path.basename(path))]
    if not os.path.isdir(path):
        raise DataError(f"{path}: no such file or folder")
    items = []
    for root, _, files in os.walk(path):
        for name in sorted(files):
            if name.endswith(".npy"):
                full = os.path.join(root, name)
                items.append((full, os.path.relpath(full, path)))
    if not items:
        raise DataError(f"{path}: no .npy event files found (searched recursively)")
    return sorted(items, key=lambda item: item[1])


def voxelize_file(path, events_cfg):
    """One sample file -> float32 voxel grid [num_bins, H, W] as stored in ``Deploy.events``."""
    sensor = tuple(int(v) for v in events_cfg["sensor_size"])
    events = read_events(path, column_order=events_cfg.get("column_order", "txyp"),
                         sensor_size=sensor, on_outside=events_cfg.get("on_outside", "drop"),
                         on_unsorted=events_cfg.get("on_unsorted", "sort"))
    grid = EventVoxelGrid(int(events_cfg["num_bins"]), sensor,
                          bool(events_cfg.get("normalize_voxel", False)))
    return grid(events)


def infer_event(predictor, info, args):
    """Write one descriptor ``.npy`` per event file named by ``args.input``; returns the
    written paths (dicts with ``descriptor``)."""
    if args.knn or args.bev or args.sequence is not None:
        raise ConfigError("--knn, --bev and --sequence apply to range (LiDAR) models only")
    _, channels, h, w = info["input_shape"]
    events_cfg = info["events"]
    if [int(channels), int(h), int(w)] != [int(events_cfg["num_bins"]),
                                           *(int(v) for v in events_cfg["sensor_size"])]:
        raise ConfigError(f"deploy.yaml: Deploy.events {events_cfg} does not match the exported "
                          f"input {info['input_shape']}; re-export the model")
    outputs = []
    for path, rel in tqdm(resolve_event_files(args.input), desc="infer",
                          disable=args.no_progress, mininterval=2):
        voxels = voxelize_file(path, events_cfg)                  # [C, H, W]
        descriptor = predictor.raw(voxels[None])[0]               # [K * D]
        out = os.path.join(args.save_dir, "descriptors", os.path.splitext(rel)[0] + ".npy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        np.save(out, descriptor.astype(np.float32))
        outputs.append({"descriptor": out})
    return outputs
