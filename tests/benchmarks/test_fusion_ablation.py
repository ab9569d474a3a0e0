"""benchmarks/fusion_ablation.py: the table is produced, and the shuffled-image pass really
feeds every frame another frame's pixels with its own calib."""
import importlib.util
import json
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load():
    spec = importlib.util.spec_from_file_location(
        "fusion_ablation", os.path.join(REPO, "benchmarks", "fusion_ablation.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_variants_two_iters(synthetic_kitti3d, tmp_path, monkeypatch):
    bench = _load()
    from paddlexseg.engine import image_dependence
    seen = []                                      # (pass, frame id, image, P2) per frame
    original = image_dependence.evaluate

    def recording(model, loader, metric, **kwargs):
        name = "shuffled" if isinstance(loader.dataset, image_dependence.ShuffledImages) \
            else "right"
        for batch in loader:
            for k, meta in enumerate(batch.metas):
                seen.append((name, meta["frame_id"], batch.images[k].numpy(),
                             np.asarray(meta["calib"]["P2"])))
        return original(model, loader, metric, **kwargs)

    monkeypatch.setattr(image_dependence, "evaluate", recording)
    out = tmp_path / "abl"
    rows = bench.main(["--data", synthetic_kitti3d, "--out", str(out), "--iters", "2",
                       "--variants", "lidar-only", "pointfusion",
                       "--opts", "val_dataset.image_size=[96,32]",
                       "train_dataset.image_size=[96,32]"])
    assert [r["variant"] for r in rows] == ["lidar-only", "pointfusion"]
    assert rows[0]["shuffled"] is None and set(rows[1]["shuffled"]) == {"Car", "Pedestrian",
                                                                         "Cyclist"}
    assert rows[1]["params"] > rows[0]["params"] > 0
    assert rows[1]["train_step_s"] > 0 and rows[1]["infer_s"] > 0
    table = (out / "ablation.md").read_text()
    assert "| lidar-only |" in table and "| pointfusion |" in table and "shuffled" in table
    assert json.loads((out / "ablation.json").read_text())["rows"][1]["variant"] == "pointfusion"
    right = {fid: (img, p2) for name, fid, img, p2 in seen if name == "right"}
    wrong = {fid: (img, p2) for name, fid, img, p2 in seen if name == "shuffled"}
    assert sorted(right) == sorted(wrong) and len(right) == 2
    for fid in right:
        np.testing.assert_array_equal(right[fid][1], wrong[fid][1])      # own calib
        assert np.abs(right[fid][0] - wrong[fid][0]).mean() > 1.0        # other pixels
    others = {fid: img for fid, (img, _) in right.items()}
    for fid, (img, _) in wrong.items():                                  # a swap of the two
        other = [f for f in others if f != fid][0]
        np.testing.assert_array_equal(img, others[other])
