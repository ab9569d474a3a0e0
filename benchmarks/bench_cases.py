"""The models ``bench_models.py`` times: name -> config, input, paper / small input shapes and the
torch twin (``torch_twins.TWINS`` key) or why there is none; :class:`Case` holds one model at
one input size (Paddle model, inputs, lazily its export and its torch twin)."""
import os
import sys

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# name -> config, input name, paper input shape, small shape, torch twin (torch_twins.TWINS
# key) or why there is none
_SPCONV = "no torch twin (the original needs spconv / CUDA-only ops, not installable here)"
MODELS = {
    "rangenet-dn21": ("rangenet/rangenet_darknet21_semantickitti_150e.yml", "range_img",
                      [1, 5, 64, 2048], [1, 5, 16, 128], "rangenet"),
    "rangenet-dn53": ("rangenet/rangenet_darknet53_semantickitti_150e.yml", "range_img",
                      [1, 5, 64, 2048], [1, 5, 16, 128], "rangenet"),
    "squeezesegv3-21": ("squeezesegv3/squeezesegv3_sac21_semantickitti_150e.yml", "range_img",
                        [1, 5, 64, 2048], [1, 5, 16, 128], "squeezesegv3"),
    "squeezesegv3-53": ("squeezesegv3/squeezesegv3_sac53_semantickitti_150e.yml", "range_img",
                        [1, 5, 64, 2048], [1, 5, 16, 128], "squeezesegv3"),
    "2dpass-4scale64": ("twodpass/twodpass_4scale64_semantickitti.yml", "points",
                        [120000, 4], [2000, 4], _SPCONV),
    "pointrend-r50": ("pointrend/pointrend_resnet50_cityscapes_80k.yml", "image",
                      [1, 3, 512, 1024], [1, 3, 64, 128], "pointrend"),
    "pointrend-r101": ("pointrend/pointrend_resnet101_cityscapes_80k.yml", "image",
                       [1, 3, 512, 1024], [1, 3, 64, 128], "pointrend"),
    "event-vpr": ("event_vpr/event_vpr_resnet34_mvsec.yml", "voxels", [1, 5, 260, 346],
                  [1, 5, 65, 87], "event_vpr"),
    "second": ("second/second_hv_secfpn_kitti-3d-3class.yml", "scan", ["64-beam"],
               ["16-beam, tiny grid"], _SPCONV),
}
NOT_EXPORTABLE = "not exportable (variable-length point cloud, sparse convolutions)"


class Case:
    """One model at one input size: the Paddle model, its inputs, lazily its export / twin."""

    def __init__(self, name, quick, onednn, workdir, width=None):
        import numpy as np
        import paddle
        from paddlexseg.config import load_config
        from paddlexseg.engine import builder
        config, self.input_name, paper, tiny, self.twin = MODELS[name]
        self.name, self.onednn, self.workdir = name, onednn, workdir
        self.shape = list(tiny if quick else paper)
        if width and self.input_name not in ("points", "scan"):
            self.shape[-1] = width
        cfg = load_config(os.path.join(REPO, "configs", config))
        rng = np.random.default_rng(0)
        if self.input_name == "scan":
            import bench_second
            cfg = bench_second.tiny_config(cfg) if quick else cfg
            scan = bench_second.simulated_scan(beams=16 if quick else 64)[0]
            self.inputs = {"points": scan}
            self.shape = [scan.shape[0], 4]
        elif self.input_name == "points":
            self.inputs = _scan(self.shape[0], rng)
        else:
            self.inputs = {self.input_name: rng.standard_normal(self.shape).astype("float32")}
        paddle.seed(0)
        self.model = builder.build_model(cfg)
        self.model.eval()
        self._torch = None
        self.notes = []

    def paddle_inputs(self):
        import paddle
        if self.input_name == "scan":  # SECOND takes a list of frames
            return {"points": [paddle.to_tensor(self.inputs["points"])]}
        return {k: paddle.to_tensor(v) for k, v in self.inputs.items()}

    def exported(self):
        """Export folder prefix of the eval program (logits / descriptor out)."""
        prefix = os.path.join(self.workdir, self.name, "model")
        if not os.path.exists(prefix + ".pdiparams"):
            import paddle
            from paddlexseg.apis.export import _save_static_layer
            from paddlexseg.apis.inference import _tensors_wrapper
            names = list(self.inputs)
            with paddle.no_grad():
                keys = [k for k, v in self.model(**self.paddle_inputs()).items()
                        if isinstance(v, paddle.Tensor)][:1]
            specs = [paddle.static.InputSpec([None] + list(v.shape[1:]), "float32", name=n)
                     for n, v in self.inputs.items()]
            _save_static_layer(lambda: _tensors_wrapper(self.model, names, keys), prefix, specs)
        return prefix

    def torch_model(self):
        """The torch twin (same weights; the output check is added to the notes)."""
        if self._torch is None:
            import torch_twins
            self._torch, note = torch_twins.build_twin(self.twin, self)
            self.notes.append(note)
        return self._torch


def _scan(n, rng):
    """A LiDAR-like scan of ``n`` points (x, y, z, remission) inside 2DPASS's volume."""
    import numpy as np
    r = rng.uniform(2, 45, n)
    a = rng.uniform(-np.pi, np.pi, n)
    z = rng.uniform(-3, 1.5, n)
    pts = np.stack([r * np.cos(a), r * np.sin(a), z, rng.uniform(0, 1, n)], 1)
    return {"points": pts.astype("float32"), "batch_idx": np.zeros(n, dtype="int64")}
