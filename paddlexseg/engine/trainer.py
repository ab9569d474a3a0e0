"""The training loop: a plain ``Trainer.train()``, a free ``train_step()`` and a small
``Cadence`` that answers "log? eval? save?"."""
import contextlib
import itertools
import json
import math
import os
import time

import numpy as np
import paddle
import paddle.distributed as dist
from tqdm import tqdm

from ..config import save_config
from . import builder
from .checkpoint import latest_checkpoint, load_checkpoint, run_of, save_checkpoint
from .evaluate import evaluate
from .finetune import BackboneFreezer, load_pretrained
from .logging import VisualDLWriter, get_logger, show_progress
from .run_lock import SaveDirLock, sweep_stale_temp
from .sampler import ResumableBatchSampler

__all__ = ["Trainer", "train_step", "Cadence", "amp_context"]


class Cadence:
    """Which periodic actions fall on (1-based) iteration ``it``."""

    def __init__(self, total, log_iters, save_interval, eval_interval, do_eval):
        self.total = total
        self.log_iters = max(int(log_iters), 1)
        self.save_interval = max(int(save_interval), 1)
        self.eval_interval = max(int(eval_interval or save_interval), 1)
        self.do_eval = do_eval

    def log(self, it):
        return it % self.log_iters == 0 or it == self.total

    def save(self, it):
        return it % self.save_interval == 0 or it == self.total

    def eval(self, it):
        return self.do_eval and (it % self.eval_interval == 0 or it == self.total)


def amp_context(precision):
    """A zero-argument callable giving the autocast context for ``fp32``/``fp16``/``bf16``."""
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = {"fp16": "float16", "bf16": "bfloat16"}[precision]
    return lambda: paddle.amp.auto_cast(enable=True, level="O1", dtype=dtype)


def train_step(model, losses, optimizer, batch, amp_ctx, scaler=None, loss_scale=1.0):
    """Forward + backward on one (micro-)batch; the caller steps the optimizer.

    Returns:
        (total loss float, {term: float}) before ``loss_scale`` (gradient accumulation) is applied.
    """
    with amp_ctx():
        outputs = model(**batch.inputs())
    outputs = {k: (v.astype("float32") if isinstance(v, paddle.Tensor)
                   and v.dtype in (paddle.float16, paddle.bfloat16) else v)
               for k, v in outputs.items()}
    total, terms = losses(outputs, batch)
    scaled = total * loss_scale
    if scaler is not None:
        scaler.scale(scaled).backward()
    else:
        scaled.backward()
    return total.item(), {k: v.item() for k, v in terms.items()}


class Trainer:
    """Trains ``cfg`` (a resolved config dict) and writes checkpoints to ``save_dir``.

    Args:
        cfg: config from :func:`paddlexseg.config.load_config` with CLI overrides applied.
        save_dir: output folder (checkpoints, ``config.yml``, ``vdl_log``).
        do_eval: evaluate on ``val_dataset`` every ``train.eval_interval`` iterations.
        use_vdl: write VisualDL logs to ``save_dir/vdl_log``.
        resume_model: checkpoint folder to resume from (``"auto"``: newest in ``save_dir``).
        precision: ``fp32``, ``fp16`` (GPU) or ``bf16``.
        progress: show tqdm progress bars (only drawn on a terminal).
        stop_after: stop (after saving) at this iteration although the schedule runs to the
            configured total, as an interrupted run would; used to test exact resumption.
    """

    def __init__(self, cfg, save_dir, do_eval=False, use_vdl=False, resume_model=None,
                 precision="fp32", progress=True, stop_after=None):
        self.cfg = cfg
        self.tcfg = cfg["train"]
        self.save_dir = save_dir
        self.do_eval = do_eval
        self.use_vdl = use_vdl
        self.resume_model = resume_model
        self.precision = "fp16" if self.tcfg.get("amp") and precision == "fp32" else precision
        self.progress = show_progress(progress)  # no bars unless stdout/stderr are terminals
        self.stop_after = stop_after
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.logger = get_logger(rank=self.rank)
        self.lock = None
        self.run_id = None

    def _claim_save_dir(self):
        """Rank 0 locks ``save_dir`` (refusing a live run), sweeps temp folders of dead runs
        and picks the checkpoint to resume."""
        if self.rank == 0:
            self.lock = SaveDirLock(self.save_dir, self.logger).acquire()
            sweep_stale_temp(self.save_dir, self.logger)
        resume = self.resume_model
        if resume == "auto":
            resume = latest_checkpoint(self.save_dir)
            if resume is None:
                self.logger.info(f"--resume_model auto: no checkpoint in {self.save_dir}; "
                                 f"starting from scratch")
        elif latest_checkpoint(self.save_dir) and not resume:
            self.logger.warning(
                f"{self.save_dir} already holds checkpoints of another run (newest "
                f"{os.path.basename(latest_checkpoint(self.save_dir))}); they are kept, but this "
                f"run writes its own best_model and config.yml there. Use --resume_model auto "
                f"to continue that run, or another --save_dir")
        return resume

    def _setup(self):
        cfg, t = self.cfg, self.tcfg
        resume = self._claim_save_dir()
        seed = int(t["seed"]) + self.rank
        paddle.seed(seed)
        np.random.seed(seed)
        if self.world_size > 1:
            dist.init_parallel_env()
        self.model = builder.build_model(cfg)
        if self.world_size > 1 and paddle.get_device().startswith("gpu"):
            self.model = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.losses = builder.build_losses(cfg)
        self.train_set = builder.build_dataset(cfg, "train_dataset")
        batch_size = int(builder.require(cfg, "batch_size"))
        self.sampler = ResumableBatchSampler(len(self.train_set), batch_size, shuffle=True,
                                             drop_last=bool(t["drop_last"]), seed=int(t["seed"]),
                                             rank=self.rank, world_size=self.world_size)
        self.loader = builder.build_loader(self.train_set, self.sampler,
                                           num_workers=t["num_workers"],
                                           on_bad_sample=t["on_bad_sample"])
        self.accumulate = max(int(t["accumulate_steps"]), 1)
        self.iters_per_epoch = max(len(self.sampler) // self.accumulate, 1)
        if cfg.get("iters") is not None:
            self.total_iters = int(cfg["iters"])
        elif cfg.get("epochs") is not None:
            self.total_iters = int(cfg["epochs"]) * self.iters_per_epoch
        else:
            raise builder.ConfigError("config: give 'iters' or 'epochs'")
        self.scheduler = builder.build_scheduler(cfg, self.total_iters, self.iters_per_epoch)
        self.optimizer = builder.build_optimizer(cfg, self.model.parameters(), self.scheduler)
        self.scaler = (paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15)
                       if self.precision == "fp16" else None)
        self.amp_ctx = amp_context(self.precision)
        if self.precision != "fp32" and paddle.get_device() == "cpu":
            self.logger.warning(f"--precision {self.precision}: Paddle's CPU kernels run in "
                                f"float32, so AMP changes nothing on CPU; use --device gpu")
        if self.do_eval:
            self.val_set = builder.build_dataset(cfg, "val_dataset")
            self.val_loader = builder.build_loader(self.val_set, batch_size=1,
                                                   num_workers=t["num_workers"],
                                                   on_bad_sample=t["on_bad_sample"])
            self.metric = builder.build_metric(cfg)
        self.start_iter, self.best, self.best_iter = 0, -math.inf, -1
        self.run_id = f"{int(time.time() * 1e3):x}-{os.getpid()}"
        self.pretrained_report = None
        pretrained = (cfg.get("model") or {}).get("pretrained")
        if pretrained and not resume:
            self.pretrained_report = load_pretrained(self.model, pretrained)
            self.logger.info(self.pretrained_report.summary())
        if int(t["freeze_backbone_iters"]) > 0 and self.world_size > 1:
            raise builder.ConfigError("train.freeze_backbone_iters: supported in single-process "
                                      "training only (DataParallel fixes its trainable set)")
        self.freezer = BackboneFreezer(self.model, t["freeze_backbone_iters"])
        if int(t["data_init_batches"]) > 0 and not resume:
            self._data_init(int(t["data_init_batches"]))
        if resume:
            state = load_checkpoint(resume, self.model, self.optimizer, self.scaler)
            self.start_iter = int(state["iter"])
            self.best = state.get("best", -math.inf)
            self.best_iter = state.get("best_iter", -1)
            self.run_id = state.get("run_id") or run_of(resume) or self.run_id
            self.scheduler.last_lr = self.scheduler.get_lr()  # the schedule may have changed
            self.logger.info(f"resumed from {resume} at iteration {self.start_iter}")
        self.train_model = paddle.DataParallel(self.model) if self.world_size > 1 else self.model
        if self.rank == 0:
            save_config(self.cfg, os.path.join(self.save_dir, "config.yml"))
        self.vdl = VisualDLWriter(os.path.join(self.save_dir, "vdl_log"), self.use_vdl, self.rank)

    def _data_init(self, n_batches):
        """Data-dependent initialisation (e.g. NetVLAD's k-means) from the first batches of
        epoch 0; runs before DataParallel, which then broadcasts rank 0's parameters."""
        init = getattr(self.model, "init_from_data", None)
        if init is None:
            raise builder.ConfigError(f"train.data_init_batches: {type(self.model).__name__} has "
                                      f"no init_from_data(batches) method")
        self.sampler.set_epoch(0)
        init(itertools.islice(iter(self.loader), n_batches))
        self.logger.info(f"initialised {type(self.model).__name__} from {n_batches} batches")

    def _save(self, name, it, keep=None):
        if self.rank != 0:
            return
        state = {"iter": it, "best": self.best, "best_iter": self.best_iter}
        save_checkpoint(self.save_dir, name, self.model, self.optimizer, state, keep=keep,
                        scaler=self.scaler, run_id=self.run_id)

    def _evaluate(self, it, n_evals):
        if self.rank == 0:
            results = evaluate(self.model, self.val_loader, self.metric, self.amp_ctx,
                               progress=self.progress)
            key = self.tcfg["best_metric"] or self.metric.main
            if key not in results:
                raise KeyError(f"train.best_metric '{key}' is not among the metric's results "
                               f"{sorted(results)}")
            self.logger.info(f"[EVAL] iter {it}: " + ", ".join(
                f"{k}={v:.4f}" for k, v in results.items() if "/" not in k))
            if getattr(self.metric, "print_report", False):  # e.g. the KITTI AP table
                self.logger.info("[EVAL] metric report\n" + self.metric.report())
            self.vdl.scalars(results, it, prefix="val/")
            if n_evals % max(int(self.tcfg["vis_interval"]), 1) == 0:
                for tag, img in self.metric.images().items():
                    self.vdl.image(tag, img, it)
            if results[key] > self.best:
                self.best, self.best_iter = float(results[key]), it
                self._save("best_model", it)
                with open(os.path.join(self.save_dir, "best_model", "metrics.json"), "w") as f:
                    json.dump({"iter": it, **results}, f, indent=1)
            self.logger.info(f"[EVAL] best {key}={self.best:.4f} at iter {self.best_iter}")
        if self.world_size > 1:
            dist.barrier()

    def train(self):
        """Run the loop; returns the path of the last checkpoint."""
        try:
            return self._train()
        finally:
            for loader in (getattr(self, "loader", None), getattr(self, "val_loader", None)):
                if loader is not None:
                    loader.close()
            if self.lock is not None:
                self.lock.release()

    def _train(self):
        self._setup()
        t = self.tcfg
        cadence = Cadence(self.total_iters, t["log_iters"], t["save_interval"],
                          t["eval_interval"], self.do_eval)
        it = self.start_iter
        last_ckpt = None
        self.train_model.train()
        bar = tqdm(total=self.total_iters, initial=it, disable=not self.progress or self.rank,
                   desc="train", mininterval=2, dynamic_ncols=True)
        window, window_terms, tic, n_evals = [], {}, time.time(), 0
        # the epoch advances per pass (not from ``it``): with on_bad_sample: skip a pass may
        # give fewer steps than iters_per_epoch, and must not repeat its samples
        epoch, within = divmod(it, self.iters_per_epoch)
        try:
            while it < self.total_iters:
                self.sampler.set_epoch(epoch, skip_batches=within * self.accumulate)
                if hasattr(self.train_set, "set_epoch"):
                    self.train_set.set_epoch(epoch)
                micro = 0
                budget = (self.iters_per_epoch - within) * self.accumulate  # whole steps only
                for batch in self.loader:
                    if micro >= budget:
                        break
                    change = self.freezer.update(it)
                    if change:
                        self.logger.info(f"backbone {change} at iteration {it}")
                    loss, terms = train_step(self.train_model, self.losses, self.optimizer, batch,
                                             self.amp_ctx, self.scaler, 1.0 / self.accumulate)
                    if not math.isfinite(loss):
                        raise FloatingPointError(
                            f"loss is {loss} at iteration {it + 1} (terms {terms}); the last "
                            f"checkpoint in {self.save_dir} is intact: lower the learning rate or "
                            f"check the data")
                    window.append(loss)
                    for k, v in terms.items():
                        window_terms.setdefault(k, []).append(v)
                    micro += 1
                    if micro % self.accumulate:
                        continue
                    if self.scaler is not None:
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
                    else:
                        self.optimizer.step()
                    self.optimizer.clear_grad()
                    lr = self.optimizer.get_lr()
                    self.scheduler.step()
                    it += 1
                    bar.update(1)
                    if cadence.log(it):
                        avg = float(np.mean(window))
                        avg_terms = {k: float(np.mean(v)) for k, v in window_terms.items()}
                        elapsed = (time.time() - tic) / max(len(window) / self.accumulate, 1)
                        eta = elapsed * (self.total_iters - it)
                        self.logger.info(
                            f"[TRAIN] epoch {epoch + 1} iter {it}/{self.total_iters} loss "
                            f"{avg:.4f} " + " ".join(f"{k} {v:.4f}" for k, v in avg_terms.items())
                            + f" lr {lr:.6f} {elapsed:.3f} s/it ETA {_fmt(eta)}")
                        self.vdl.scalars({"loss": avg, "lr": lr, **avg_terms}, it, "train/")
                        window, window_terms, tic = [], {}, time.time()
                    if cadence.save(it):
                        self._save(f"iter_{it}", it, keep=int(t["keep_checkpoint_max"]))
                        last_ckpt = os.path.join(self.save_dir, f"iter_{it}")
                    if cadence.eval(it):
                        n_evals += 1
                        self._evaluate(it, n_evals)
                        tic = time.time()
                    if it >= self.total_iters or it == self.stop_after:
                        break
                if it == self.stop_after:
                    if not cadence.save(it):
                        self._save(f"iter_{it}", it, keep=int(t["keep_checkpoint_max"]))
                    break
                self.optimizer.clear_grad()
                epoch, within = epoch + 1, 0
        except KeyboardInterrupt:
            self.logger.warning(f"interrupted at iteration {it}; saving a checkpoint first")
            self._save(f"iter_{it}", it, keep=int(t["keep_checkpoint_max"]))
            raise
        finally:
            bar.close()
            self.vdl.close()
        if self.loader.skipped_total:
            self.logger.warning(f"on_bad_sample: skip: {self.loader.skipped_total} bad training "
                                f"sample(s) were skipped in this run (see the warnings above)")
        return last_ckpt


def _fmt(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
