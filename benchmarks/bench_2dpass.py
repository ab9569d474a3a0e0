"""Time 2DPASS (4 scales, 64 channels) on CPU: LiDAR-only inference and one training step.

A synthetic SemanticKITTI scan (HDL-64E, 64 x 2048 rays, about 120k points inside the
[-50, 50]^2 x [-4, 2] m volume) and its camera image are generated in a temporary folder. Reported:

* inference: the eval-mode forward of the 3D network on one scan (LiDAR only, no image),
  best of ``--repeats``, against the target of 3.3-4.0 s per scan;
* training: one step with images (480 x 320 crops): 3D + 2D + fusion forward, the configured
  losses, backward and an SGD update, with the time split into phases.

Wall time and the process CPU time (summed over threads) are shown; when other jobs share
the machine the CPU time divided by the threads used is the better guide.

    python benchmarks/bench_2dpass.py                # full size (a few minutes on 2 cores)
    python benchmarks/bench_2dpass.py --tiny         # 2k points, seconds
    python benchmarks/bench_2dpass.py --threads 2    # Paddle uses 1 CPU thread by default
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "twodpass",
                      "twodpass_4scale64_semantickitti.yml")
TARGET = (3.3, 4.0)                     # s per scan, LiDAR-only forward


def _clock(fn):
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - start_cpu, out


def bench_inference(model, batch, repeats):
    import paddle
    model.eval()
    with paddle.no_grad():
        model(batch.points, batch.batch_idx)                              # warm-up
        runs = [_clock(lambda: model(batch.points, batch.batch_idx)) for _ in range(repeats)]
    wall, cpu, out = min(runs, key=lambda r: r[0])
    return wall, cpu, out["logits"].shape


def bench_train_step(model, losses, batch, repeats):
    import paddle
    model.train()
    opt = paddle.optimizer.Momentum(learning_rate=0.01, momentum=0.9, use_nesterov=True,
                                    parameters=model.parameters(), weight_decay=1e-4)
    best = None
    for _ in range(repeats):
        phases = {}
        start, start_cpu = time.perf_counter(), time.process_time()
        t = time.perf_counter()
        out3d = model.model_3d(batch.points, batch.batch_idx, batch.batch_size)
        phases["3d forward"] = time.perf_counter() - t
        t = time.perf_counter()
        img_batch = paddle.gather(batch.batch_idx, batch.point2img_index)
        feats = model.model_2d(batch.img, batch.img_indices, img_batch)
        phases["2d forward"] = time.perf_counter() - t
        t = time.perf_counter()
        outputs = {"logits": out3d["logits"]}
        outputs.update(model.fusion(feats, out3d["layers"], out3d["voxels"],
                                    batch.point2img_index))
        total, _ = losses(outputs, batch)
        phases["fusion + losses"] = time.perf_counter() - t
        t = time.perf_counter()
        total.backward()
        phases["backward"] = time.perf_counter() - t
        t = time.perf_counter()
        opt.step()
        opt.clear_grad()
        phases["optimizer"] = time.perf_counter() - t
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if best is None or wall < best[0]:
            best = (wall, cpu, phases, total.item())
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="2k points, 256 x 128 crop")
    p.add_argument("--repeats", type=int, default=2, help="timed runs (best is shown)")
    p.add_argument("--batch_size", type=int, default=1, help="scans per training step")
    p.add_argument("--data", default=None, help="reuse a folder made by a previous run")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS for Paddle's CPU kernels (Paddle's default: 1)")
    args = p.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)    # read when paddle is imported
    import paddle
    import paddlexseg
    from paddlexseg.config import load_config
    from paddlexseg.datasets.semantickitti_fusion import SemanticKITTIFusion
    from paddlexseg.datasets.synthetic.camera import generate_semantickitti_fusion
    from paddlexseg.engine import builder
    paddlexseg.load_all()
    paddle.seed(0)
    root = args.data or tempfile.mkdtemp(prefix="bench_2dpass_")
    if not os.path.isdir(os.path.join(root, "sequences", "08", "image_2")):
        t = time.perf_counter()
        generate_semantickitti_fusion(root, sequences=(8,), scans_per_sequence=max(
            2, args.batch_size), azimuth_steps=2048, scale=0.5)
        print(f"synthetic data in {root} ({time.perf_counter() - t:.1f} s)")
    max_points = 2000 if args.tiny else None
    crop = [256, 128] if args.tiny else [480, 320]
    cfg = load_config(CONFIG)
    model = builder.build_model(cfg)
    losses = builder.build_losses(cfg)
    print(f"model: {model.num_parameters()} parameters, threads: "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}, cpus: {os.cpu_count()}")

    val = SemanticKITTIFusion(root, [8], mode="val", use_image=False, max_points=max_points)
    batch = val.collate([val[0]])
    wall, cpu, shape = bench_inference(model, batch, args.repeats)
    print(f"inference (LiDAR only), {batch.points.shape[0]} points -> logits {list(shape)}: "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU per scan; target {TARGET[0]}-{TARGET[1]} s "
          f"(ratio to {TARGET[1]} s: {wall / TARGET[1]:.2f})")

    train = SemanticKITTIFusion(root, [8], mode="train", max_points=max_points, seed=0,
                                augment={"rotate": True, "flip": True, "scale": [0.95, 1.05],
                                         "translate_std": 0.1, "max_dropout": 0.2},
                                image={"bottom_crop": crop})
    batch = train.collate([train[i] for i in range(args.batch_size)])
    wall, cpu, phases, loss = bench_train_step(model, losses, batch, args.repeats)
    print(f"training step, {args.batch_size} scan(s), {batch.points.shape[0]} points, "
          f"{batch.point2img_index.shape[0]} image points, images {list(batch.img.shape)}: "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU (loss {loss:.3f})")
    for name, seconds in phases.items():
        print(f"  {name:<16} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
