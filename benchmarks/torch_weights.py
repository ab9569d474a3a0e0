"""Copy a Paddle model's weights into its torch twin by name (benchmark-only; imports torch).

The twins in ``benchmarks/torch_<family>.py`` use the Paddle model's sublayer names, which are
the originals' (the converters in ``paddlexseg/convert`` only rename prefixes), so a torch key
maps to a Paddle key by the batch-norm buffer renames alone (``running_mean`` -> ``_mean``,
``running_var`` -> ``_variance``; ``num_batches_tracked`` has no counterpart). Conv, transposed
conv, Conv1d, GroupNorm and parameter tensors share their layout in both frameworks.
"""
import numpy as np
import torch

_RENAMES = {"running_mean": "_mean", "running_var": "_variance"}


def paddle_key(torch_key):
    head, _, last = torch_key.rpartition(".")
    return f"{head}.{_RENAMES.get(last, last)}" if head else _RENAMES.get(last, last)


def copy_from_paddle(twin, paddle_model):
    """Load every tensor of ``twin.state_dict()`` from ``paddle_model``; raise on a missing key,
    a shape mismatch or a Paddle tensor left unused (so the architectures must match)."""
    source = {k: v.numpy() for k, v in paddle_model.state_dict().items()}
    state, used = {}, set()
    for key, value in twin.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = value
            continue
        pkey = paddle_key(key)
        if pkey not in source:
            raise KeyError(f"torch twin key {key} ({pkey}) is not in the Paddle model")
        array = source[pkey]
        if list(array.shape) != list(value.shape):
            raise ValueError(f"{key}: torch {list(value.shape)} vs Paddle {list(array.shape)}")
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
        used.add(pkey)
    unused = sorted(set(source) - used)
    if unused:
        raise KeyError(f"Paddle tensors without a torch counterpart: {unused[:5]}")
    twin.load_state_dict(state)
    return twin
