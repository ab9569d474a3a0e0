"""Argument checks and NumPy/Paddle conversions shared by the ops (not auto-imported)."""
import numpy as np
import paddle

INT_DTYPES = (paddle.int32, paddle.int64)
TENSOR_TYPES = (paddle.Tensor, paddle.pir.Value)  # eager tensors and to_static values


def normalize_dim(dim, ndim, op):
    """Return ``dim`` as a non-negative axis of an ``ndim``-D tensor or raise naming ``op``."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{op}: dim {dim} is out of range for a {ndim}-D tensor")
    return int(dim) % max(ndim, 1)


def check_index_tensor(index, op, name="index"):
    """Raise unless ``index`` is an int32/int64 paddle Tensor."""
    if not isinstance(index, TENSOR_TYPES):
        raise TypeError(f"{op}: {name} must be a paddle.Tensor, got {type(index).__name__}")
    if index.dtype not in INT_DTYPES:
        raise TypeError(f"{op}: {name} must be int32 or int64, got {index.dtype}")


def index_range(index):
    """(min, max) of a non-empty integer tensor as Python ints (one device sync)."""
    bounds = paddle.stack([index.min(), index.max()]).numpy()
    return int(bounds[0]), int(bounds[1])


def check_index_values(index, size, op, dim):
    """Raise unless every value of ``index`` lies in ``[0, size)``.

    Paddle wraps negative indices in some kernels (``put_along_axis``, ``index_select``) and
    then gets the backward wrong or corrupts the heap, so negative values are refused here as
    torch refuses them. Skipped while tracing with ``paddle.jit.to_static`` (values unknown).
    """
    if not paddle.in_dynamic_mode() or is_empty(index):
        return
    low, high = index_range(index)
    if low < 0 or high >= size:
        raise ValueError(f"{op}: index values must lie in [0, {size}) along dim {dim}, "
                         f"got values in [{low}, {high}]")


def exceeds(a, b):
    """``a > b`` for two dim sizes, False when either is unknown while tracing (-1 or a Value)."""
    known = all(isinstance(n, (int, np.integer)) and n >= 0 for n in (a, b))
    return known and a > b


def is_empty(tensor):
    """True when a dim is known to be 0 (traced shapes may hold -1 or Values)."""
    return any(isinstance(n, (int, np.integer)) and n == 0 for n in tensor.shape)


def is_paddle(x):
    return isinstance(x, paddle.Tensor)


def to_numpy(x, name, op):
    """NumPy view of a paddle Tensor or array-like input; raises naming ``name``."""
    if isinstance(x, paddle.Tensor):
        return x.numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{op}: {name} must be a paddle.Tensor or NumPy array ({err})") from None


def on_cpu(x):
    """True when ``x`` is a NumPy array or a paddle Tensor placed on the CPU."""
    return not isinstance(x, paddle.Tensor) or x.place.is_cpu_place()


def like(array, reference):
    """Return ``array`` (NumPy) as a paddle Tensor when ``reference`` is one, else unchanged."""
    if isinstance(reference, paddle.Tensor):
        return paddle.to_tensor(np.ascontiguousarray(array), place=reference.place)
    return array
