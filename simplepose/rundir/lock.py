"""``run.lock``: one training run at a time in a run directory (see ``rundir``)."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from pathlib import Path

from simplepose.errors import SimplePoseError


class RunLock:
    """A POSIX (fcntl) lock on a file that names the process holding it (``{"pid": ..., "host": ...}``).

    The kernel drops a POSIX lock when its process ends, however it ends, and the data loader's
    forked worker processes do not inherit it (a flock would live on in them after a kill); it also
    works over NFS. A POSIX lock does not exclude its own process, hence the set of this process's
    locks. The file is removed on release; one left behind names a process that ended holding it.
    """

    _held: set[str] = set()

    def __init__(self, path: Path):
        self.path = path
        self._key = str(path.resolve())
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock (then no other descriptor of the file may be opened and closed)."""
        return self._fd is not None

    def acquire(self) -> str | None:
        """Take the lock or raise SimplePoseError naming the holder's PID; returns a note to log, if any.

        OSError (a read-only directory) is left to the caller.
        """
        if self._key in RunLock._held:
            raise self._refusal({"pid": os.getpid(), "host": socket.gethostname()})
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno in (errno.EACCES, errno.EAGAIN):
                    raise self._refusal(holder) from None
                return f"{self.path}: cannot lock ({exc.strerror}); make sure no other run writes this directory"
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)   # the holder removed the file while we waited for it: lock the new one
        stale = _holder(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
        self._fd = fd
        RunLock._held.add(self._key)
        if stale:
            return (f"{self.path}: took over the lock of PID {stale.get('pid')} on {stale.get('host')}, which ended "
                    "without releasing it")
        return None

    def refuse_if_held_elsewhere(self) -> None:
        """Raise :meth:`acquire`'s refusal when another process holds the lock now, creating and changing
        nothing: checked before a start changes the directory, so that a second run is told about the
        first, not about the files the first is writing. (Not to be asked while this object holds the lock.)"""
        if self._key in RunLock._held:
            raise self._refusal({"pid": os.getpid(), "host": socket.gethostname()})
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)   # a FIFO must not block
        except OSError:
            return   # no lock file (or none we can read): acquire() decides
        try:
            # A shared lock conflicts with the holder's exclusive one; ours is dropped by the close below.
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise self._refusal(_holder(fd)) from None
            # Any other failure (a user's directory or FIFO of that name): the checks after this one say it.
        finally:
            os.close(fd)

    def _refusal(self, holder: dict | None) -> SimplePoseError:
        who = f"PID {holder.get('pid')} on {holder.get('host')}" if holder else "PID not yet recorded"
        return SimplePoseError(f"{self.path.parent}: another training run ({who}) is writing this directory "
                               f"({self.path.name}); wait for it to end or stop it, or choose another --save-dir")

    def release(self) -> None:
        """Remove the file (while still locked: a process waiting on it sees a new file and retries) and unlock."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
            RunLock._held.discard(self._key)


def is_lock_file(path: Path) -> bool:
    """Whether ``path`` looks like a lock file :class:`RunLock` wrote (empty, or naming a PID): one that does not
    is a user's file, which taking the lock would overwrite and releasing it remove. Not to be asked while
    this process holds the lock: closing the descriptor read here would drop it."""
    try:
        with open(path, "rb") as f:
            text = f.read(4097)
        doc = json.loads(text or b"{}") if len(text) <= 4096 else None
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and (not text or "pid" in doc)


def _holder(fd: int) -> dict | None:
    """The holder recorded in the lock file (read through the lock's own descriptor: closing another
    descriptor of the file would drop this process's POSIX lock)."""
    try:
        doc = json.loads(os.pread(fd, 4096, 0) or b"null")
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
