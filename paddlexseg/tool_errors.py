"""Run a tool's ``main`` so that user errors print one clear line instead of a traceback."""
import os
import sys

from .datasets.errors import DataError
from .registry import ConfigError

__all__ = ["run_tool", "USER_ERRORS", "RunError"]


class RunError(RuntimeError):
    """A run cannot go on for a reason outside the code: its save_dir is in use by another
    run, the disk is full, a folder is not writable. The message names the path."""


USER_ERRORS = (ConfigError, DataError, FileNotFoundError, FileExistsError, RunError)


def run_tool(main, argv=None):
    """Call ``main(argv)``; a user error exits with status 2 and its message on stderr.

    Set ``PADDLEXSEG_DEBUG=1`` to see the full traceback instead.
    """
    try:
        main(argv)
    except USER_ERRORS as e:
        if os.environ.get("PADDLEXSEG_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
