"""Two CPU processes through paddle.distributed.launch (GLOO): DataParallel keeps ranks in sync."""
import os
import subprocess
import sys

import numpy as np
import paddle


def test_two_process_cpu_training(tmp_path):
    out = str(tmp_path / "dist")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
           "--log_dir", str(tmp_path / "log"),
           os.path.join(os.path.dirname(__file__), "dist_toy_train.py"), out]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    logs = ""
    for name in sorted(os.listdir(tmp_path / "log")) if (tmp_path / "log").exists() else []:
        with open(tmp_path / "log" / name, errors="replace") as f:
            logs += f"--- {name}\n" + f.read()[-3000:]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:] + logs
    a = paddle.load(os.path.join(out, "rank0.pdparams"))
    b = paddle.load(os.path.join(out, "rank1.pdparams"))
    for k in a:
        if "_mean" in k or "_variance" in k:  # BN statistics are per rank without SyncBatchNorm
            continue
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), atol=1e-6, err_msg=k)
    assert os.path.isdir(os.path.join(out, "iter_6"))  # rank 0 saved
    assert os.path.isfile(os.path.join(out, "best_model", "model.pdparams"))
