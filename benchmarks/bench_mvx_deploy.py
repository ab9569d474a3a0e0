"""MVX-Net per-frame inference: dygraph ``model(points, images, metas)`` vs the export run by
Paddle Inference (``FusionRunner``: front program, host sparse encoder, dense program, NMS).

The config (default the quick PointFusion one) is exported with random weights to a temporary
folder; frames come from a synthetic KITTI 3-D root (``tools/generate_synthetic.py --kind
kitti3d``). Runs are interleaved (dygraph, export, dygraph, ...) after one warm-up each; the
script prints per-run medians, the largest box-score difference between the two, and
``os.getloadavg()`` (the machine is shared).

Usage::

    python benchmarks/bench_mvx_deploy.py --root data/synthetic_kitti3d [--config CFG]
        [--frames 3] [--repeats 3]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")  # AMD CPUs: MKL's fast path (see bench_second)

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paddlexseg.apis.det_predict import (image_settings, model_inputs, read_frame,  # noqa: E402
                                         resolve_frames)
from paddlexseg.apis.mvx_deploy import FusionRunner  # noqa: E402
from paddlexseg.apis.mvx_export import export_fusion_detector  # noqa: E402
from paddlexseg.config import load_config  # noqa: E402
from paddlexseg.engine.builder import build_model  # noqa: E402

QUICK = "configs/mvxnet/mvxnet_pointfusion_synthetic-kitti3d_quick.yml"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="synthetic KITTI 3-D root")
    p.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / QUICK))
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cfg = load_config(args.config)
    paddle.seed(0)
    model = build_model(cfg)
    head = model.pts_bbox_head                    # random weights, but boxes to compare
    head.conv_cls.bias.set_value(paddle.zeros(head.conv_cls.bias.shape))
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "w.pdparams")
        paddle.save(model.state_dict(), weights)
        start = time.perf_counter()
        export_fusion_detector(cfg, weights, os.path.join(tmp, "export"))
        print(f"export: {time.perf_counter() - start:.1f} s")
        with open(os.path.join(tmp, "export", "deploy.yaml")) as f:
            runner = FusionRunner(os.path.join(tmp, "export"), yaml.safe_load(f)["Deploy"],
                                  threads=1)
        split, ids = resolve_frames(args.root)
        frames = [read_frame(split, i) for i in ids[:args.frames]]
        settings = image_settings(cfg)

        def dygraph(points, calib, image):
            with paddle.no_grad():
                return model(**model_inputs(model, points, calib, image, settings))[
                    "detections"][0]

        times = {"dygraph": [], "export": []}
        diff, compared = 0.0, 0
        for rep in range(args.repeats + 1):                   # rep 0 = warm-up
            for name, run in (("dygraph", dygraph), ("export", runner)):
                for points, calib, image in frames:
                    t0 = time.perf_counter()
                    det = run(points, calib, image)
                    if rep:
                        times[name].append(time.perf_counter() - t0)
                    if name == "export" and rep == 1:
                        ref = dygraph(points, calib, image)
                        if len(ref["scores_3d"]) == len(det["scores_3d"]):
                            compared += len(det["scores_3d"])
                            diff = max(diff, float(np.abs(np.sort(ref["scores_3d"]) -
                                                          np.sort(det["scores_3d"])).max()))
        for name, vals in times.items():
            print(f"{name}: median {np.median(vals):.3f} s per frame ({len(vals)} runs)")
        print(f"largest score difference: {diff:.2e} over {compared} boxes; load average "
              f"{os.getloadavg()}")


if __name__ == "__main__":
    main()
