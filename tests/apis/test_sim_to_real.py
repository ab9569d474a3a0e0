"""paddlexseg.apis.sim_to_real: the present-class mean, the table, the run config."""
import numpy as np
import pytest

from paddlexseg.apis import sim_to_real as s2r
from paddlexseg.metrics.iou import RangeIoU, iou_from_confusion
from paddlexseg.registry import ConfigError


def _metric():
    metric = RangeIoU(label_config="semantic-kitti", knn=None)
    conf = np.zeros((20, 20), np.int64)       # rows = prediction, columns = ground truth
    conf[1, 1], conf[9, 1] = 6, 2             # car: 6 right, 2 called road
    conf[9, 9], conf[11, 9] = 10, 10          # road: half called sidewalk
    conf[0, 11] = 5                           # sidewalk: all predicted unlabeled (misses)
    conf[4, 0] = 7                            # unlabeled ground truth: not counted
    metric.conf_noknn[...] = conf
    return metric, conf


def test_present_classes_and_both_means():
    metric, conf = _metric()
    res = s2r.present_class_results(metric)
    assert res["present"] == ["car", "road", "sidewalk"] and "knn" not in res
    assert res["gt_points"]["car"] == 8 and res["gt_points"]["truck"] == 0
    iou = res["pixel"]["iou"]
    assert iou["car"] == pytest.approx(6 / 8)
    assert iou["road"] == pytest.approx(10 / 22)            # tp 10, fp 2, fn 10
    assert iou["sidewalk"] == pytest.approx(0.0)
    assert res["pixel"]["mIoU_present"] == pytest.approx((6 / 8 + 10 / 22) / 3)
    official = iou_from_confusion(conf, metric.ignore)
    assert res["pixel"]["mIoU_official"] == pytest.approx(official[1])
    assert res["pixel"]["acc"] == pytest.approx(official[2])
    assert "| this run (pixel) |" in s2r.format_table(res)
    table = s2r.format_table(res, before=[res])
    assert "| road | 20 | 0.455 | 0.455 |" in table and "truck" not in table
    assert "mIoU, 3 present classes" in table and "before (pixel)" in table
    table = s2r.format_table(res, before=[res, res], titles=["a", "b", "c"])
    assert "| c (pixel) |" in table and table.count("0.455") == 3
    with pytest.raises(ConfigError, match="titles"):
        s2r.format_table(res, before=[res], titles=["only one"])


def test_config_uses_synthetic_weights_and_budget(synthetic_kitti):
    cfg = s2r.sim_to_real_config(s2r.__file__.replace("paddlexseg/apis/sim_to_real.py", "")
                                 + "configs/rangenet/rangenet_darknet21_synthetic_quick.yml",
                                 synthetic_kitti, [0], synthetic_kitti, [8], iters=7, width=96,
                                 augment={"beam_dropout": 0.2})
    assert cfg["iters"] == 7 and cfg["train_dataset"]["projection"]["W"] == 96
    assert cfg["train_dataset"]["augment"]["beam_dropout"] == 0.2
    assert cfg["val_dataset"]["sequences"] == [8] and cfg["val_dataset"]["mode"] == "val"
    weights = cfg["losses"][0]["class_weights"]
    assert weights[0] == 0 and weights == [round(w, 3) for w in s2r.synthetic_class_weights(cfg)]
    with pytest.raises(ConfigError, match="multiple of 32"):
        s2r.sim_to_real_config("x.yml", synthetic_kitti, [0], synthetic_kitti, [8], 1, width=100)


def test_checkpoint_config_reads_the_run_config(tmp_path):
    import glob
    import os
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    quick = os.path.join(repo, "configs", "rangenet", "rangenet_darknet21_synthetic_quick.yml")
    ckpt = tmp_path / "iter_5"
    ckpt.mkdir()
    cfg = s2r.checkpoint_config(str(ckpt), quick, knn=False)   # no config.yml: the default
    assert cfg["metric"]["knn"] is None and cfg["val_dataset"]["mode"] == "val"
    assert s2r.checkpoint_config(str(ckpt), quick)["metric"]["knn"] == s2r.KNN
    point_cfg = sorted(glob.glob(os.path.join(repo, "configs", "twodpass", "*.yml")))[0]
    with pytest.raises(ConfigError, match="RangeIoU"):
        s2r.checkpoint_config(str(ckpt), point_cfg)
