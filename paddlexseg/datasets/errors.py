"""The one exception type for bad input data."""

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input data: the message names the file and what was expected."""
