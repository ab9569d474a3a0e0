import numpy as np

from paddlexseg.datasets.semantickitti import SemanticKITTI, read_label
from paddlexseg.datasets.stats import class_content, class_weights_report


def test_class_content_counts_learning_classes(synthetic_kitti, label_config):
    ds = SemanticKITTI(synthetic_kitti, [0], projection={"H": 64, "W": 512})
    content = class_content(ds)
    assert content.shape == (label_config.num_classes,)
    assert abs(content.sum() - 1) < 1e-9
    counts = np.zeros(label_config.num_classes)
    for scan, label in ds.files:
        sem, _ = read_label(label, np.fromfile(scan, np.float32).size // 4)
        counts += np.bincount(label_config.learning_map[sem], minlength=label_config.num_classes)
    np.testing.assert_allclose(content, counts / counts.sum())
    _, weights, text = class_weights_report(ds, epsilon=0.001)
    assert weights[0] == 0  # ignored class
    np.testing.assert_allclose(weights[1:], 1 / (content[1:] + 0.001))
    assert text.splitlines()[-1].startswith("class_weights: [")
