"""Where a training iteration's time goes: data, forward, loss, backward, host syncs, optimizer.

Builds the model, losses, dataset, loader, scheduler and optimizer of a config the way
``paddlexseg.engine.trainer.Trainer`` does and runs ``--iters`` steps of the trainer's loop body
(one optimizer step per batch), timing each phase with both wall time (``time.perf_counter``)
and process CPU time (``time.process_time``, all threads). On a shared machine wall time is
inflated by other jobs; with ``--threads 1`` (the default here) CPU time is the work done. The
first ``--warmup`` steps are not counted; the table gives per-phase medians (ms) and the load
average. ``--profile`` also prints ``paddle.profiler``'s op summary of the counted steps.

Phases:
    data      ``next(loader)``: reading, augmentation, projection / voxelisation, collate
              (``SafeLoader``; ``num_workers`` as in the config unless ``--num_workers``)
    read      of which ``dataset[i]`` for the batch (measured apart, on the same indices)
    forward   ``model(**batch.inputs())``
    loss      ``losses(outputs, batch)``
    backward  ``total.backward()``
    sync      ``total.item()`` and one ``.item()`` per loss term (what the loop logs)
    optimizer ``optimizer.step(); clear_grad(); scheduler.step()``

Usage::

    python benchmarks/bench_train_step.py \
        --config configs/rangenet/rangenet_darknet21_synthetic_quick.yml
    python benchmarks/bench_train_step.py --config CFG --iters 8 --profile
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paddlexseg.runtime import setup_runtime  # noqa: E402  (imports no Paddle)

PHASES = ("data", "read", "forward", "loss", "backward", "sync", "optimizer", "total")


class Clock:
    """Accumulates wall and CPU seconds per phase of the current step."""

    def __init__(self):
        self.wall, self.cpu = {}, {}

    def start(self):
        return time.perf_counter(), time.process_time()

    def stop(self, phase, t0):
        w, c = time.perf_counter() - t0[0], time.process_time() - t0[1]
        self.wall[phase] = self.wall.get(phase, 0.0) + w
        self.cpu[phase] = self.cpu.get(phase, 0.0) + c


def build(cfg, num_workers):
    import numpy as np
    import paddle

    from paddlexseg.engine import builder
    from paddlexseg.engine.sampler import ResumableBatchSampler
    t = cfg["train"]
    paddle.seed(int(t["seed"]))
    np.random.seed(int(t["seed"]))
    model = builder.build_model(cfg)
    losses = builder.build_losses(cfg)
    dataset = builder.build_dataset(cfg, "train_dataset")
    sampler = ResumableBatchSampler(len(dataset), int(cfg["batch_size"]), shuffle=True,
                                    drop_last=bool(t["drop_last"]), seed=int(t["seed"]))
    workers = t["num_workers"] if num_workers is None else num_workers
    loader = builder.build_loader(dataset, sampler, num_workers=workers)
    total = int(cfg.get("iters") or 1000)
    scheduler = builder.build_scheduler(cfg, total, max(len(sampler), 1))
    optimizer = builder.build_optimizer(cfg, model.parameters(), scheduler)
    if int(t.get("data_init_batches") or 0) > 0:
        sampler.set_epoch(0)
        import itertools
        model.init_from_data(itertools.islice(iter(loader), int(t["data_init_batches"])))
    return model, losses, dataset, sampler, loader, scheduler, optimizer


def run(cfg, iters, warmup, num_workers, profile):
    import numpy as np
    import paddle
    model, losses, dataset, sampler, loader, scheduler, optimizer = build(cfg, num_workers)
    model.train()
    steps, epoch, it = [], 0, 0
    prof = None
    while it < warmup + iters:
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        batches = iter(loader)
        index_lists = iter(sampler)
        while it < warmup + iters:
            if it == warmup and profile:
                prof = paddle.profiler.Profiler(targets=[paddle.profiler.ProfilerTarget.CPU],
                                                on_trace_ready=lambda p: None)  # no trace file
                prof.start()
            clock = Clock()
            t_all = clock.start()
            t0 = clock.start()
            batch = next(batches, None)
            clock.stop("data", t0)
            if batch is None:
                break
            indices = next(index_lists)
            t0 = clock.start()
            for i in indices:  # re-read apart: the share of data time spent in dataset[i]
                dataset[i]
            clock.stop("read", t0)
            t0 = clock.start()
            outputs = model(**batch.inputs())
            clock.stop("forward", t0)
            t0 = clock.start()
            total, terms = losses(outputs, batch)
            clock.stop("loss", t0)
            t0 = clock.start()
            total.backward()
            clock.stop("backward", t0)
            t0 = clock.start()
            total.item(), {k: v.item() for k, v in terms.items()}
            clock.stop("sync", t0)
            t0 = clock.start()
            optimizer.step()
            optimizer.clear_grad()
            scheduler.step()
            clock.stop("optimizer", t0)
            clock.stop("total", t_all)
            clock.wall["total"] -= clock.wall["read"]
            clock.cpu["total"] -= clock.cpu["read"]
            if it >= warmup:
                steps.append(clock)
                if prof is not None:
                    prof.step()
            it += 1
        epoch += 1
    loader.close()
    if prof is not None:
        prof.stop()
        prof.summary(op_detail=True, thread_sep=False, time_unit="ms")
    return {kind: {p: float(np.median([getattr(s, kind).get(p, 0.0) for s in steps])) * 1e3
                   for p in PHASES} for kind in ("wall", "cpu")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--iters", type=int, default=10, help="counted steps")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--num_workers", type=int, default=None)
    p.add_argument("--profile", action="store_true", help="print paddle.profiler's summary")
    p.add_argument("--opts", nargs="+", default=[])
    args = p.parse_args(argv)
    setup_runtime(args.threads, import_paddle=True)
    from paddlexseg.config import load_config
    cfg = load_config(args.config, args.opts)
    load0 = os.getloadavg()[0]
    res = run(cfg, args.iters, args.warmup, args.num_workers, args.profile)
    load1 = os.getloadavg()[0]
    print(f"{os.path.basename(args.config)}: median ms per step over {args.iters} steps "
          f"({args.threads} thread(s); load average {load0:.2f} -> {load1:.2f})")
    print(f"{'':6s} " + " ".join(f"{ph:>9s}" for ph in PHASES))
    for kind in ("wall", "cpu"):
        print(f"{kind:6s} " + " ".join(f"{res[kind][ph]:9.1f}" for ph in PHASES))
    return res


if __name__ == "__main__":
    main()
