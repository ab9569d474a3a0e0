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

