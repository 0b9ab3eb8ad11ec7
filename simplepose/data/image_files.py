"""Opening an image or video file: only a regular file (or a symbolic link to one), and never in a way that waits.

What is named as an image but is no regular file is refused, in words that say what it is, before it is
opened: opening a FIFO waits for a writer for ever, reading a character device (``/dev/zero``) never ends,
and "not found" would send the user looking for a file that is there. A broken symbolic link and a loop of
them are told apart from a missing file too.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

# What a path is, by its file type, when it is not a regular file.
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class NotAFileError(OSError):
    """``path`` names no regular file; the message says what it is. ``missing``: nothing is there (not
    found, or a symbolic link to nothing)."""

    def __init__(self, problem: str, missing: bool = False):
        super().__init__(problem)
        self.missing = missing

    def __str__(self) -> str:
        return str(self.args[0])


def file_problem(path: str | os.PathLike) -> NotAFileError | None:
    """None when ``path`` is a regular file or a symbolic link to one, else what it is instead (not opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return NotAFileError("is a symbolic link loop (a link that leads back to itself), not a file")
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            if os.path.islink(path):
                return NotAFileError(f"is a broken symbolic link (to {os.readlink(path)}, which does not exist)",
                                     missing=True)
            return NotAFileError("not found", missing=True)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return NotAFileError("cannot be reached (permission denied on its folder)")
        return NotAFileError(f"cannot be read ({exc.strerror})")
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return NotAFileError(f"is {kind}, not a file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for binary reading. Raises NotAFileError (see ``file_problem``) without opening
    anything that is not a regular file, or OSError (e.g. permission denied)."""
    problem = file_problem(path)
    if problem is not None:
        raise problem
    # O_NONBLOCK: should a FIFO take the file's place after the check, opening it does not wait.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotAFileError("is no longer a regular file (it was replaced while being opened)")
    return open(fd, "rb")
