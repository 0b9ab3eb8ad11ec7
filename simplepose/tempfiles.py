"""simplepose's temporary files and folders, and the leftovers of killed processes.

Every temporary file or folder simplepose makes (the atomic write's, an export's build folder, a video
being encoded) carries its marker: ``.simplepose-tmp-PID-NAME.XXXX``, the PID of the process that made it.
Clean-up goes by that marker alone: :func:`leftovers` are marked names whose process has ended (a kill, a
power cut), and nothing else is ever removed by name, so a user's ``.x.tmp`` or ``model-epoch0001.params``
is never taken for ours.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

TMP_SUFFIX = ".tmp"
# The marker of every temporary file and folder simplepose makes: TMP_PREFIX, the maker's PID, "-".
TMP_PREFIX = ".simplepose-tmp-"


def temporary_file(directory: str | os.PathLike, name: str, suffix: str = TMP_SUFFIX) -> Path:
    """A new empty file ``.simplepose-tmp-PID-NAME.XXXX<suffix>`` in ``directory`` (which must exist), marked
    as this process's temporary file: :func:`remove_leftovers` removes it once this process has ended."""
    fd, tmp = tempfile.mkstemp(prefix=_marked(name), suffix=suffix, dir=directory)
    os.close(fd)
    return Path(tmp)


def temporary_dir(directory: str | os.PathLike, name: str) -> Path:
    """A new empty folder ``.simplepose-tmp-PID-NAME.XXXX`` in ``directory``, marked as :func:`temporary_file`."""
    return Path(tempfile.mkdtemp(prefix=_marked(name), dir=directory))


def _marked(name: str) -> str:
    # Long names are cut: the marker and mkstemp's letters must fit a file name's 255 bytes.
    return f"{TMP_PREFIX}{os.getpid()}-{name[:100]}."


def leftovers(directory: str | os.PathLike) -> list[Path]:
    """The temporary files and folders in ``directory`` that simplepose made in a process that has ended
    (a killed write): names carrying the marker and the PID of no running process. Sorted by name."""
    found = []
    for path in Path(directory).glob(TMP_PREFIX + "*"):
        pid = path.name[len(TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            found.append(path)
    return sorted(found)


def remove_leftovers(directory: str | os.PathLike) -> list[Path]:
    """Remove :func:`leftovers` of ``directory`` (folders with what they hold); returns what was removed."""
    gone = leftovers(directory)
    for path in gone:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return gone


def _running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (a PID reused since only keeps a leftover longer)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True   # another user's process; OverflowError: no such PID fits, treated as "cannot tell"
    return True
