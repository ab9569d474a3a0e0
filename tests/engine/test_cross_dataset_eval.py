"""End to end: a 20-class RangeNet++ validated against coarse ground truth via pred_class_map."""
import os

import numpy as np
import paddle

from paddlexseg.config import load_config
from paddlexseg.datasets.label_config import load_label_config
from paddlexseg.engine.builder import build_model
from paddlexseg.engine.validate import validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "configs", "rangenet", "rangenet_darknet21_synthetic_quick.yml")


def test_validate_fine_model_on_coarse_ground_truth(synthetic_kitti, tmp_path, capsys):
    size = "{H: 32, W: 256}"
    common = [f"train_dataset.root={synthetic_kitti}", f"val_dataset.root={synthetic_kitti}",
              "val_dataset.sequences=[8]", f"val_dataset.projection={size}",
              f"train_dataset.projection={size}", "model.backbone.width_mult=0.0625",
              "metric.knn=null"]
    fine_cfg = load_config(CFG, common)
    paddle.seed(0)
    path = str(tmp_path / "fine.pdparams")
    paddle.save(build_model(fine_cfg).state_dict(), path)
    coarse_cfg = load_config(CFG, common + [
        "val_dataset.label_config=semantic-kitti-coarse",
        "metric.label_config=semantic-kitti-coarse",
        "metric.pred_class_map=semantic-kitti_to_coarse"])
    fine = validate(fine_cfg, path, progress=False)
    coarse = validate(coarse_cfg, path, progress=False)
    assert "IoU/vehicle" in coarse and "IoU/car" in fine
    out = capsys.readouterr().out
    assert "nature" in out and "vegetation" in out
    # the coarse confusion matrix is the fine one with rows and columns merged
    from paddlexseg.engine import builder
    fine_metric, coarse_metric = builder.build_metric(fine_cfg), builder.build_metric(coarse_cfg)
    model = build_model(fine_cfg)
    model.set_state_dict(paddle.load(path))
    model.eval()
    from paddlexseg.engine.evaluate import evaluate
    for cfg, metric in ((fine_cfg, fine_metric), (coarse_cfg, coarse_metric)):
        ds = builder.build_dataset(cfg, "val_dataset")
        evaluate(model, builder.build_loader(ds, batch_size=1), metric, progress=False)
    kitti, crs = load_label_config("semantic-kitti"), load_label_config("semantic-kitti-coarse")
    group = crs.learning_map[kitti.learning_map_inv]  # fine learning id -> coarse learning id
    merged = np.zeros((6, 6), np.int64)
    np.add.at(merged, (group[:, None], group[None, :]), fine_metric.conf)
    np.testing.assert_array_equal(merged, coarse_metric.conf)
    assert coarse_metric.compute()["mIoU"] == coarse["mIoU"]
