"""Fine-tuning: partial loading of a checkpoint with another head, and a frozen backbone."""
import os

import numpy as np
import paddle
import pytest

from paddlexseg.config import load_config
from paddlexseg.engine.builder import build_model
from paddlexseg.engine.finetune import BackboneFreezer, load_pretrained
from paddlexseg.engine.trainer import Trainer
from paddlexseg.registry import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "rangenet", "rangenet_darknet21_synthetic_quick.yml")
HEAD = ("head.1.weight", "head.1.bias")


def _opts(root, label_config="semantic-kitti", num_classes=20):
    size = "{H: 32, W: 256}"
    return [f"train_dataset.root={root}", f"val_dataset.root={root}",
            "train_dataset.sequences=[0]", "val_dataset.sequences=[8]",
            f"train_dataset.projection={size}", f"val_dataset.projection={size}",
            f"train_dataset.label_config={label_config}",
            f"val_dataset.label_config={label_config}", f"metric.label_config={label_config}",
            f"model.num_classes={num_classes}", "model.backbone.width_mult=0.0625",
            "batch_size=1", "train.log_iters=1", "train.keep_checkpoint_max=10"]


def _coarse_cfg(root, extra=()):
    cfg = load_config(CFG, _opts(root, "semantic-kitti-coarse", 6) + list(extra))
    cfg["losses"] = [{"type": "LovaszSoftmaxLoss", "ignore_index": 0, "weight": 1.0,
                      "input": "logits", "target": "labels"}]
    return cfg


def _params(path):
    return {k: v.numpy() for k, v in paddle.load(os.path.join(path, "model.pdparams")).items()}


def test_load_pretrained_skips_head_with_other_classes(tmp_path):
    cfg20 = load_config(CFG, _opts("/unused"))
    src = build_model(cfg20)
    path = str(tmp_path / "src.pdparams")
    state = src.state_dict()
    state["extra.weight"] = paddle.zeros([2])
    paddle.save(state, path)
    dst = build_model(_coarse_cfg("/unused"))
    head_before = {k: dst.state_dict()[k].numpy().copy() for k in HEAD}
    report = load_pretrained(dst, path)
    reasons = dict(report.skipped)
    assert reasons["head.1.weight"].startswith("shape mismatch: checkpoint [20,")
    assert reasons["head.1.bias"] == "shape mismatch: checkpoint [20] vs model [6]"
    assert reasons["extra.weight"] == "unexpected"
    assert len(report.skipped) == 3
    assert len(report.loaded) == len(dst.state_dict()) - 2
    for k in report.loaded:
        np.testing.assert_array_equal(dst.state_dict()[k].numpy(), src.state_dict()[k].numpy())
    for k in HEAD:  # left as initialised
        np.testing.assert_array_equal(dst.state_dict()[k].numpy(), head_before[k])
    assert "loaded" in report.summary() and "head.1.bias: shape mismatch" in report.summary()
    # a model key the checkpoint lacks is reported as missing
    del state["backbone.conv1.weight"]
    paddle.save(state, path)
    assert ("backbone.conv1.weight", "missing") in load_pretrained(dst, path).skipped


def test_load_pretrained_errors(tmp_path):
    model = build_model(_coarse_cfg("/unused"))
    with pytest.raises(ConfigError, match="not found"):
        load_pretrained(model, str(tmp_path / "nope.pdparams"))
    paddle.save({"other.weight": paddle.zeros([3])}, str(tmp_path / "w.pdparams"))
    with pytest.raises(ConfigError, match="no tensor"):
        load_pretrained(model, str(tmp_path / "w.pdparams"))
    with pytest.raises(ConfigError, match="no 'backbone'"):
        BackboneFreezer(paddle.nn.Linear(2, 2), 3)


def test_finetune_on_merged_classes_freezes_then_trains_backbone(synthetic_kitti, tmp_path):
    pre = str(tmp_path / "pre")
    Trainer(load_config(CFG, _opts(synthetic_kitti) + ["iters=1"]), pre, progress=False).train()
    ft = str(tmp_path / "ft")
    cfg = _coarse_cfg(synthetic_kitti, ["iters=3", "train.save_interval=1",
                                        "train.freeze_backbone_iters=2",
                                        "lr_scheduler.warmup_iters=0",
                                        f"model.pretrained={pre}/iter_1"])
    trainer = Trainer(cfg, ft, progress=False)
    trainer.train()
    report = trainer.pretrained_report
    assert sorted(k for k, _ in report.skipped) == sorted(HEAD)
    p0, p1, p2, p3 = (_params(os.path.join(pre, "iter_1")), _params(os.path.join(ft, "iter_1")),
                      _params(os.path.join(ft, "iter_2")), _params(os.path.join(ft, "iter_3")))
    weights = [k for k in p1 if k.startswith("backbone.") and k.endswith(".weight")
               and "bn" not in k and p1[k].ndim == 4]
    assert weights
    for k in weights:  # frozen during iterations 1-2: equal to the pretrained weights
        np.testing.assert_array_equal(p1[k], p0[k], err_msg=k)
        np.testing.assert_array_equal(p2[k], p0[k], err_msg=k)
    assert any(not np.array_equal(p3[k], p2[k]) for k in weights)  # trained in iteration 3
    assert p1["head.1.weight"].shape[0] == 6
    assert not np.array_equal(p1["head.1.weight"], p2["head.1.weight"])  # the head trains
    assert not np.array_equal(p2["head.1.weight"], p3["head.1.weight"])
    decoder = [k for k in p1 if k.startswith("decoder.") and k.endswith(".weight")]
    assert any(not np.array_equal(p1[k], p0[k]) for k in decoder)  # not frozen
    assert all(not p.stop_gradient for p in trainer.model.backbone.parameters()
               if p.trainable)


def test_pretrained_flag_sets_model_pretrained():
    from paddlexseg.engine.cli import config_from_args, train_parser
    args = train_parser().parse_args(["--config", CFG, "--pretrained", "runs/pre/best_model"])
    assert config_from_args(args)["model"]["pretrained"] == "runs/pre/best_model"
