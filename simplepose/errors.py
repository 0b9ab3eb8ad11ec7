"""Errors raised on bad user input.

Each message names the file, the record and what to do about it; the command
lines turn these into one line on stderr and exit status 2.
"""


class SimplePoseError(ValueError):
    """Bad input: a malformed file, record, checkpoint or option value."""


class MissingFileError(SimplePoseError, FileNotFoundError):
    """A file or directory the run needs does not exist."""
