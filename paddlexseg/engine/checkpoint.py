"""Atomic checkpoints that resume training exactly.

A checkpoint is a folder ``<save_dir>/iter_<N>/`` holding ``model.pdparams``, ``model.pdopt``
(optimizer + LR scheduler) and ``train_state.pkl`` (iteration, epoch, best metric, RNG states).
It is written into a temporary sibling folder and renamed into place, so a crash never leaves a
half-written checkpoint under the final name. Only the newest ``keep`` ``iter_*`` folders are
kept; ``best_model/`` is written the same way.

Optimizer state is stored under *structured* parameter names (``backbone.conv1.weight``) instead
of Paddle's generated ones (``conv2d_3.w_0``), which differ between processes and model instances.
"""
import glob
import os
import pickle
import random
import re
import shutil

import numpy as np
import paddle

from ..datasets.errors import DataError
from ..tool_errors import RunError

__all__ = ["save_checkpoint", "load_checkpoint", "load_model_weights", "weights_for_export",
           "latest_checkpoint",
           "rng_state", "set_rng_state"]


def rng_state():
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "paddle": paddle.get_rng_state()}


def set_rng_state(state):
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    paddle.set_rng_state(state["paddle"])


def _param_name_map(model):
    """{generated name: structured name} for every parameter of ``model``."""
    return {p.name: n for n, p in model.named_parameters()}


def _rename_opt_state(state, name_map):
    """Rename optimizer-state keys whose prefix is a parameter name, longest match first."""
    names = sorted(name_map, key=len, reverse=True)
    out = {}
    for key, value in state.items():
        if key == "master_weights" and isinstance(value, dict):
            out[key] = {name_map.get(k, k): v for k, v in value.items()}
            continue
        new_key = key
        for name in names:
            if key == name or key.startswith(name + "_"):
                new_key = name_map[name] + key[len(name):]
                break
        out[new_key] = value
    return out


def _unwrap(model):
    return getattr(model, "_layers", model)


def _write_folder(final_dir, files):
    """Write ``{filename: writer(path)}`` into a temp folder, then rename it to ``final_dir``.

    A failed write (full disk, no permission) removes the temp folder and raises RunError
    naming the file; the previous ``final_dir`` stays untouched.
    """
    parent = os.path.dirname(os.path.abspath(final_dir))
    tmp = f"{final_dir}.tmp{os.getpid()}"
    target = tmp
    try:
        os.makedirs(parent, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for name, writer in files.items():
            target = os.path.join(tmp, name)
            writer(target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"cannot save checkpoint {final_dir}: {e.strerror or e} while writing "
                       f"{target}; the unfinished copy was removed and earlier checkpoints are "
                       f"intact (free space on {parent} or pass another --save_dir)") from e
    old = None
    if os.path.exists(final_dir):
        old = f"{final_dir}.old{os.getpid()}"
        os.replace(final_dir, old)
    os.replace(tmp, final_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(save_dir, name, model, optimizer=None, train_state=None, keep=None,
                    scaler=None, run_id=None):
    """Save a checkpoint folder ``save_dir/name`` atomically; prune old ``iter_*`` folders.

    Args:
        save_dir: output folder.
        name: folder name, e.g. ``iter_1000`` or ``best_model``.
        model: the (possibly DataParallel-wrapped) model.
        optimizer: optimizer whose state (and LR scheduler) is saved, or None.
        train_state: picklable dict (iteration, epoch, best metric, ...); RNG states are added.
        keep: keep only the newest ``keep`` ``iter_*`` folders (None or <= 0: keep all).
        scaler: AMP GradScaler, saved when given.
        run_id: id of the training run (kept across resumes). Pruning then removes only
            ``iter_*`` folders of this run, never another run's in the same ``save_dir``.
    Returns:
        the checkpoint folder path.
    """
    model = _unwrap(model)
    final_dir = os.path.join(save_dir, name)
    files = {"model.pdparams": lambda p: paddle.save(model.state_dict(), p)}
    if optimizer is not None:
        opt_state = _rename_opt_state(optimizer.state_dict(), _param_name_map(model))
        files["model.pdopt"] = lambda p: paddle.save(opt_state, p)
    state = dict(train_state or {})
    state["rng"] = rng_state()
    if scaler is not None:
        state["scaler"] = scaler.state_dict()

    def _pickle(p):
        with open(p, "wb") as f:
            pickle.dump(state, f)
    files["train_state.pkl"] = _pickle
    if run_id is not None:
        state["run_id"] = run_id

        def _run_file(p):
            with open(p, "w", encoding="utf-8") as f:
                f.write(str(run_id))
        files[RUN_ID_FILE] = _run_file
    _write_folder(final_dir, files)
    if keep and keep > 0 and name.startswith("iter_"):
        for old in [d for d in _iter_dirs(save_dir) if run_of(d) == run_id][:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final_dir


RUN_ID_FILE = "run_id"


def run_of(ckpt_dir):
    """The run id stored in a checkpoint folder, or None (older checkpoints have none)."""
    try:
        with open(os.path.join(ckpt_dir, RUN_ID_FILE), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _iter_dirs(save_dir):
    dirs = [d for d in glob.glob(os.path.join(save_dir, "iter_*"))
            if re.fullmatch(r"iter_\d+", os.path.basename(d)) and os.path.isdir(d)]
    return sorted(dirs, key=lambda d: int(os.path.basename(d)[5:]))


def latest_checkpoint(save_dir):
    """The newest ``iter_*`` folder in ``save_dir``, or None."""
    dirs = _iter_dirs(save_dir)
    return dirs[-1] if dirs else None


def _check_state_dict(model, state, path, strict):
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k}: checkpoint {list(state[k].shape)} vs model {list(own[k].shape)}"
                  for k in own if k in state and list(state[k].shape) != list(own[k].shape)]
    if mismatched or (strict and (missing or unexpected)):
        msg = [f"{path} does not fit the model:"]
        if missing:
            msg.append(f"missing keys ({len(missing)}): {', '.join(missing[:8])}")
        if unexpected:
            msg.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}")
        if mismatched:
            msg.append(f"shape mismatches: {'; '.join(mismatched[:8])}")
        raise DataError(" ".join(msg))
    return missing, unexpected


def _load_file(path, what):
    """``paddle.load`` (or unpickle) a checkpoint file; a truncated, empty or foreign file
    raises DataError naming it instead of Paddle's chained tracebacks."""
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: the {what} file is empty (0 bytes); the checkpoint is "
                        f"damaged: use another one")
    try:
        if path.endswith(".pkl"):
            with open(path, "rb") as f:
                state = pickle.load(f)
        else:
            state = paddle.load(path)
    except Exception as e:  # any parse failure of the file: Paddle raises many kinds
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        detail = f"{type(e).__name__}: {first}" if first else type(e).__name__
        raise DataError(f"{path}: cannot read the {what} ({detail}); the file is truncated or "
                        f"not a Paddle checkpoint") from None
    if not isinstance(state, dict):
        raise DataError(f"{path}: the {what} holds a {type(state).__name__}, expected a dict; "
                        f"not a paddlexseg checkpoint file")
    return state


def load_model_weights(model, path, strict=True):
    """Load weights from a ``.pdparams`` file or a checkpoint folder into ``model``.

    Raises DataError (a ValueError) naming the file and the missing/unexpected/mismatched
    keys, or saying that the file cannot be read.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "model.pdparams")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model weights not found: {path} (expected a .pdparams file or a "
                                f"checkpoint folder containing model.pdparams)")
    state = _load_file(path, "model weights")
    model = _unwrap(model)
    _check_state_dict(model, state, path, strict)
    model.set_state_dict(state)
    return path


def weights_for_export(model, path, logger):
    """Load ``path`` into ``model`` (or warn that random weights are exported when ``path`` is
    empty) and switch it to eval mode: the common start of every exporter."""
    if path:
        load_model_weights(model, path)
    else:
        logger.warning("no --model_path given: exporting randomly initialized weights")
    model.eval()
    return model


def load_checkpoint(ckpt_dir, model, optimizer=None, scaler=None):
    """Restore model, optimizer (+ LR scheduler), scaler and RNG state. Returns the train state."""
    if not os.path.isdir(ckpt_dir):
        raise FileNotFoundError(f"--resume_model {ckpt_dir}: not a checkpoint folder")
    for name in ("model.pdparams", "train_state.pkl"):
        if not os.path.isfile(os.path.join(ckpt_dir, name)):
            raise FileNotFoundError(f"--resume_model {ckpt_dir}: {name} is missing")
    state = _load_file(os.path.join(ckpt_dir, "train_state.pkl"), "training state")
    if not isinstance(state.get("iter"), int) or "rng" not in state:
        raise DataError(f"{os.path.join(ckpt_dir, 'train_state.pkl')}: not a paddlexseg "
                        f"training state (no 'iter' / 'rng' entries)")
    load_model_weights(model, ckpt_dir, strict=True)
    opt_path = os.path.join(ckpt_dir, "model.pdopt")
    if optimizer is not None and os.path.isfile(opt_path):
        inverse = {v: k for k, v in _param_name_map(_unwrap(model)).items()}
        opt_state = _load_file(opt_path, "optimizer state")
        try:
            optimizer.set_state_dict(_rename_opt_state(opt_state, inverse))
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(f"{opt_path}: the optimizer state does not fit this optimizer "
                            f"({type(e).__name__}: {e})") from None
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state
