"""Only Paddle's known harmless notices are silenced; everything else still prints."""
import os
import warnings

from paddlexseg._quiet import native_output_filtered, quiet_known_warnings


def test_known_python_warnings_are_dropped_others_kept():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_warnings()
        warnings.warn("No ccache found. Please be aware ...", UserWarning)
        warnings.warn("When training, we now always track global mean and variance.",
                      UserWarning)
        warnings.warn("a real problem", UserWarning)
    assert [str(w.message) for w in caught] == ["a real problem"]


def test_native_notice_is_dropped_other_native_output_kept(capfd):
    with native_output_filtered():
        os.write(2, b"W1130 eager_utils.cc:3584] Paddle static graph(PIR) not support input out "
                    b"tensor for now!!!!!\n")
        os.write(2, b"W1130 some real native warning\n")
        os.write(1, b"native stdout line\n")
    out, err = capfd.readouterr()
    assert "not support input out tensor" not in err
    assert "some real native warning" in err and "native stdout line" in out



def test_import_noise_is_dropped_other_import_output_kept(monkeypatch, capsys):
    import sys
    from paddlexseg import _quiet
    fake = type(sys)("paddle")
    monkeypatch.delitem(sys.modules, "paddle", raising=False)

    class Finder:  # a stand-in "import paddle" that prints like paddle.base.__bootstrap__
        def find_spec(self, name, path=None, target=None):
            import importlib.util
            return importlib.util.spec_from_loader(name, self) if name == "paddle" else None

        def create_module(self, spec):
            return fake

        def exec_module(self, module):
            print("WARNING: OMP_NUM_THREADS set to 2, not 1. The computation speed will not be "
                  "optimized if you use data parallel.", file=sys.stderr)
            print("PLEASE USE OMP_NUM_THREADS WISELY.", file=sys.stderr)
            print("some other import message", file=sys.stderr)

    monkeypatch.setattr(sys, "meta_path", [Finder()] + sys.meta_path)
    monkeypatch.delenv("PADDLEXSEG_VERBOSE", raising=False)
    assert _quiet.import_paddle_quietly() is fake
    err = capsys.readouterr().err
    assert "OMP_NUM_THREADS" not in err and "some other import message" in err
