"""The console logger writes to the current ``sys.stdout``, not the one of its first use."""
import contextlib
import io

from paddlexseg.engine.logging import get_logger


def test_log_lines_follow_a_redirected_stdout():
    logger = get_logger()
    logger.info("first line")                        # the handler exists from here on
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        get_logger().info("second line")
    assert "second line" in buf.getvalue()
    assert "first line" not in buf.getvalue()
