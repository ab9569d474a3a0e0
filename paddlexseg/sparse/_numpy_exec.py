"""NumPy execution of a rulebook (the CPU backend of ``execute.py``).

Two things make it fast on CPU:

* Key order. Rows are permuted once into (batch, z, y, x) key order, where every offset's
  input and output rows are (nearly) increasing, so the per-offset gathers and scatter-adds
  stream through memory instead of jumping; results are permuted back at the end. Measured
  at 60k voxels x 64 channels: the 26 scatter-adds take 0.030 s instead of 0.056 s.
* Threads. Offsets are split into ``workers`` balanced lists run on a thread pool, each
  thread with its own output accumulator (summed at the end) and single-threaded OpenBLAS;
  NumPy releases the GIL in ``take``, ``matmul``, ufuncs and fancy assignment.
* Reused buffers. Gathers, products and scatter-adds write into two preallocated
  [max pairs, C] buffers (``out=``); fresh multi-MB temporaries per offset cost page faults
  that doubled the forward time.

Within one offset the input and the output rows are duplicate-free, so ``take`` / add /
fancy-assign accumulates exactly. ``take(..., mode="clip")`` writes straight into ``out``
(``mode="raise"`` buffers); the indices come from the rulebook and are in range.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ._blas import blas_threads

__all__ = ["HostPlan", "host_plan", "numpy_forward", "numpy_backward"]


@dataclass
class HostPlan:
    """Pairs of a rulebook in key order, with the permutations to get there and back.

    Attributes:
        perm_in, perm_out: int64 [N] row of each key-ordered position (None: already ordered).
        rank_in, rank_out: inverse permutations (position of each row).
        pairs: (offset, in positions, out positions) in key order.
        max_pairs: largest pair count of one offset.
        tasks: per worker count, the entries split into balanced lists (see ``_tasks``).
    """
    perm_in: Optional[np.ndarray]
    perm_out: Optional[np.ndarray]
    rank_in: Optional[np.ndarray]
    rank_out: Optional[np.ndarray]
    pairs: List[Tuple[int, np.ndarray, np.ndarray]]
    max_pairs: int
    tasks: Dict[int, list] = field(default_factory=dict)


def _key_order(coords, shape):
    """(perm, rank) sorting rows [N, 4] by (batch, z, y, x), or (None, None) if sorted."""
    c = coords.numpy().astype(np.int64)
    keys = ((c[:, 0] * shape[0] + c[:, 1]) * shape[1] + c[:, 2]) * shape[2] + c[:, 3]
    if keys.size < 2 or np.all(keys[1:] >= keys[:-1]):
        return None, None
    perm = np.argsort(keys, kind="stable")
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    return perm, rank


def host_plan(rulebook):
    """The rulebook's HostPlan, built on first use and kept on the rulebook."""
    if rulebook.host_pairs is None:
        perm_in, rank_in = _key_order(rulebook.in_coords, rulebook.in_shape)
        if rulebook.out_coords_id == rulebook.in_coords_id:
            perm_out, rank_out = perm_in, rank_in
        else:
            perm_out, rank_out = _key_order(rulebook.out_coords, rulebook.out_shape)
        pairs = []
        for k, i, o in zip(rulebook.offsets, rulebook.in_idx, rulebook.out_idx):
            i, o = i.numpy(), o.numpy()
            pairs.append((k, i if rank_in is None else rank_in[i],
                          o if rank_out is None else rank_out[o]))
        rulebook.host_pairs = HostPlan(perm_in, perm_out, rank_in, rank_out, pairs,
                                       max((p[1].size for p in pairs), default=0))
    return rulebook.host_pairs


def _permute(a, perm):
    return a if perm is None else np.take(a, perm, axis=0)


def _scatter_add(target, rows, values, buf):
    """target[rows] += values for duplicate-free rows, through buffer ``buf``."""
    acc = np.take(target, rows, axis=0, out=buf[:rows.size], mode="clip")
    acc += values
    target[rows] = acc


def _tasks(rulebook, plan, workers):
    """Split the work into ``workers`` lists of (offset, in, out) of about equal size.

    The subm centre is an entry (centre, None, None): the identity map over all rows.
    """
    if workers not in plan.tasks:
        entries = list(plan.pairs)
        if rulebook.center is not None:
            entries.append((rulebook.center, None, None))
        loads, groups = [0] * workers, [[] for _ in range(workers)]
        for entry in sorted(entries, key=lambda e: -(rulebook.num_in if e[1] is None
                                                     else e[1].size)):
            j = loads.index(min(loads))
            groups[j].append(entry)
            loads[j] += rulebook.num_in if entry[1] is None else entry[1].size
        plan.tasks[workers] = [g for g in groups if g]
    return plan.tasks[workers]


def _run(tasks, fn, workers, blas):
    """fn(task) for every task, on ``workers`` threads with ``blas`` OpenBLAS threads each."""
    def call(task):
        with blas_threads(blas):
            return fn(task)
    if len(tasks) == 1:
        return [call(tasks[0])]
    return list(_pool(workers).map(call, tasks))


def _pool(workers):
    if _POOL.get("workers") != workers:
        if _POOL.get("pool") is not None:
            _POOL["pool"].shutdown()
        _POOL.update(workers=workers, pool=ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="paddlexseg-sparse"))
    return _POOL["pool"]


_POOL = {}


def numpy_forward(x, w, rulebook, workers=1, blas=1):
    """x [N_in, Cin], w [K3, Cin, Cout] -> out [N_out, Cout] (NumPy arrays)."""
    plan = host_plan(rulebook)
    xs = _permute(x, plan.perm_in)                                    # key order
    cin, cout = w.shape[1], w.shape[2]

    def part(entries):
        out = np.zeros((rulebook.num_out, cout), dtype=x.dtype)
        gathered = np.empty((plan.max_pairs, cin), dtype=x.dtype)
        product = np.empty((plan.max_pairs, cout), dtype=x.dtype)
        scratch = np.empty((plan.max_pairs, cout), dtype=x.dtype)
        for k, i, o in entries:
            if i is None:                                             # subm centre
                out += xs @ w[k]
                continue
            n = i.size
            np.take(xs, i, axis=0, out=gathered[:n], mode="clip")
            np.matmul(gathered[:n], w[k], out=product[:n])
            _scatter_add(out, o, product[:n], scratch)
        return out

    parts = _run(_tasks(rulebook, plan, workers), part, workers, blas)
    out = parts[0] if parts else np.zeros((rulebook.num_out, cout), dtype=x.dtype)
    for extra in parts[1:]:
        out += extra
    return _permute(out, plan.rank_out)                               # back to row order


def numpy_backward(x, w, g, rulebook, need_x, need_w, workers=1, blas=1):
    """Gradients (dx [N_in, Cin] or None, dw [K3, Cin, Cout] or None) for ``g`` [N_out, Cout]."""
    plan = host_plan(rulebook)
    xs, gs = _permute(x, plan.perm_in), _permute(g, plan.perm_out)
    cin, cout = w.shape[1], w.shape[2]
    dw = np.zeros_like(w) if need_w else None                         # offsets write disjointly

    def part(entries):
        dxs = np.zeros((rulebook.num_in, cin), dtype=x.dtype) if need_x else None
        g_rows = np.empty((plan.max_pairs, cout), dtype=x.dtype)
        x_rows = np.empty((plan.max_pairs, cin), dtype=x.dtype)
        scratch = np.empty((plan.max_pairs, cin), dtype=x.dtype)
        for k, i, o in entries:
            if i is None:                                             # subm centre
                if need_x:
                    dxs += gs @ w[k].T
                if need_w:
                    np.matmul(xs.T, gs, out=dw[k])
                continue
            n = i.size
            np.take(gs, o, axis=0, out=g_rows[:n], mode="clip")
            if need_x:
                np.matmul(g_rows[:n], w[k].T, out=x_rows[:n])
                _scatter_add(dxs, i, x_rows[:n], scratch)
            if need_w:
                np.take(xs, i, axis=0, out=x_rows[:n], mode="clip")
                np.matmul(x_rows[:n].T, g_rows[:n], out=dw[k])
        return dxs

    parts = _run(_tasks(rulebook, plan, workers), part, workers, blas)
    dxs = None
    if need_x:
        dxs = parts[0] if parts else np.zeros((rulebook.num_in, cin), dtype=x.dtype)
        for extra in parts[1:]:
            dxs += extra
        dxs = _permute(dxs, plan.rank_in)
    return dxs, dw
