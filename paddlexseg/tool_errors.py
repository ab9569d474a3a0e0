"""Run a tool's ``main`` so that user errors print one clear line instead of a traceback."""
import os
import sys

from .registry import ConfigError

__all__ = ["run_tool", "USER_ERRORS", "RunError", "is_user_error"]


class RunError(RuntimeError):
    """A run cannot go on for a reason outside the code: its save_dir is in use by another
    run, the disk is full, a folder is not writable. The message names the path."""


# DataError (paddlexseg.datasets.errors) is matched in is_user_error without importing the
# datasets package, which imports Paddle: tools must answer --help without it.
USER_ERRORS = (ConfigError, FileNotFoundError, FileExistsError, RunError)


def is_user_error(error):
    """A ConfigError, DataError, RunError, FileNotFoundError or FileExistsError."""
    if isinstance(error, USER_ERRORS):
        return True
    errors = sys.modules.get("paddlexseg.datasets.errors")
    return errors is not None and isinstance(error, errors.DataError)


def run_tool(main, argv=None):
    """Call ``main(argv)``; a user error exits with status 2 and its message on stderr.

    Set ``PADDLEXSEG_DEBUG=1`` to see the full traceback instead.
    """
    try:
        main(argv)
    except Exception as e:
        if not is_user_error(e) or os.environ.get("PADDLEXSEG_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
