"""A 2DPASS checkpoint written by spconv 2.x converts to a model that reproduces it (issue 19).

The fixture is the tiny LiDAR-only 2DPASS saved the way the original stores it: Linear weights
``[out, in]``, BatchNorm ``running_*``, 3x3x3 sparse weights ``[Cout, 3, 3, 3, Cin]`` (KRSC) and
the 1x1x1 ``layers_in`` weights as spconv 2.x reads them (``weight.view(Cin, Cout)`` of the
stored ``[Cout, 1, 1, 1, Cin]``), with Cin == Cout so that the old transpose reading loads
without a shape error and gives different outputs.
"""
import numpy as np
import paddle

from paddlexseg.convert import convert_checkpoint, load_into_model
from paddlexseg.convert.archs import get_arch, target_spec
from paddlexseg.convert.core import convert_state_dict
from paddlexseg.models.twodpass.model import TwoDPASS
from paddlexseg.sparse import SubMConv3d, weight_to_spconv

TINY = dict(num_classes=20, hidden_size=8, scale_list=[2, 4], spatial_shape=[40, 40, 8],
            min_volume=[-10, -10, -2], max_volume=[10, 10, 1], baseline_only=True)


def _official_state(model):
    """The model's weights in the original 2DPASS / spconv 2.x checkpoint format."""
    layers = dict(model.named_sublayers())
    out = {}
    for key, value in model.state_dict().items():
        owner, _, param = key.rpartition(".")
        array = value.numpy()
        layer = layers.get(owner)
        if param == "weight" and isinstance(layer, paddle.nn.Linear):
            array = array.T
        elif param == "weight" and isinstance(layer, SubMConv3d):
            array = weight_to_spconv(array, "KRSC", conv1x1_mm=True)
        param = {"_mean": "running_mean", "_variance": "running_var"}.get(param, param)
        out[f"{owner}.{param}"] = np.ascontiguousarray(array)
    return out


def _logits(model, points, batch_idx):
    model.eval()
    with paddle.no_grad():
        return model(points, batch_idx)["logits"].numpy()


def test_spconv2_checkpoint_reproduces_the_original_outputs(tmp_path):
    paddle.seed(0)
    original = TwoDPASS(**TINY)
    rng = np.random.default_rng(0)
    for key, p in original.state_dict().items():          # non-trivial BN statistics too
        if key.endswith("_variance"):
            p.set_value(rng.uniform(0.5, 1.5, p.shape).astype(np.float32))
        elif key.endswith("_mean") or key.endswith("bias"):
            p.set_value(rng.normal(0, 0.1, p.shape).astype(np.float32))
    state = _official_state(original)
    one = [k for k, v in state.items() if v.ndim == 5 and v.shape[1:4] == (1, 1, 1)]
    assert len(one) == 4 and all(state[k].shape[0] == state[k].shape[4] for k in one)
    path = str(tmp_path / "ckpt.npz")
    np.savez(path, **state)
    xyz = rng.uniform([-10, -10, -2], [10, 10, 1], (300, 3))
    points = paddle.to_tensor(np.concatenate([xyz, rng.uniform(0, 1, (300, 1))], 1)
                              .astype(np.float32))
    batch_idx = paddle.to_tensor(np.repeat([0, 1], 150))
    expected = _logits(original, points, batch_idx)
    assert expected.std(axis=0).max() > 1e-2                # the points get different logits

    converted_model = TwoDPASS(**TINY)
    out, report, _ = convert_checkpoint("2dpass-small-3d", [path], model=converted_model,
                                        spconv_version="2.1.16")
    assert report.ok(), report.errors()
    assert any("raw memory" in n for n in report.notes)
    load_into_model(out, converted_model)
    np.testing.assert_allclose(_logits(converted_model, points, batch_idx), expected, atol=1e-5)

    # the old reading (transpose of every 1x1x1 weight) loads but computes something else
    old_model = TwoDPASS(**TINY)
    old, old_report = convert_state_dict(state, get_arch("2dpass-small-3d").mapper("KRSC", False),
                                         target_spec(old_model))
    assert old_report.ok()
    load_into_model(old, old_model)
    assert np.abs(_logits(old_model, points, batch_idx) - expected).max() > 1e-2
