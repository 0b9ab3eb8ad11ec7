"""The one atomic write and the one JSON reader.

Every file simplepose writes goes through :func:`atomic_write`: a temporary file in the same directory,
flushed to disk, given the usual permissions, then renamed over the target, so a reader sees the old file
or the new one and never half of either; its temporary file carries simplepose's marker
(:mod:`simplepose.tempfiles`). Every JSON file it reads (annotations, box files, manifests,
deploy.json, metrics.jsonl, sigmas) goes through :func:`read_json` or :func:`read_jsonl`, and its fields
through :class:`JsonRecord`, whose errors name the file, the record and the field in one line.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterator

from simplepose.errors import MissingFileError, OutputError, SimplePoseError
from simplepose.tempfiles import TMP_SUFFIX, temporary_file
from simplepose.json_numbers import (INT64_MAX, INT64_MIN, MAX_DEPTH, BadNumber, locate, parse_float, parse_int,
                           shown)

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_REQUIRED = object()

# What a failed write means and what to do about it, by errno; the message names the path.
_WRITE_PROBLEMS = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.EACCES: "permission denied; choose a writable location or change its permissions",
    errno.EPERM: "operation not permitted; choose a writable location or change its permissions",
    errno.EISDIR: "it is a directory; give a file name",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
}
_SHORT_WRITE = "FileStream.Write incomplete"   # dmlc-core's message for a failed fwrite


def file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a directory (so ``path`` cannot be made)."""
    for parent in Path(os.path.abspath(path)).parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def output_error(path: str | os.PathLike, exc: OSError, what: str = "output") -> OutputError:
    """A one-line error for ``exc``, raised while writing ``what`` to ``path``: the path, the reason, the fix."""
    in_the_way = file_in_the_way(path)
    if in_the_way is not None:
        problem = f"{in_the_way} is a file, not a directory; choose another path"
    else:
        problem = _WRITE_PROBLEMS.get(exc.errno, f"{exc.strerror or exc}; check the path")
    return OutputError(f"{path}: cannot write the {what}: {problem}", exc.errno)


@contextlib.contextmanager
def writing(path: str | os.PathLike, what: str = "output") -> Iterator[None]:
    """Turn an ``OSError`` inside the block (a full disk, a read-only directory...), or MXNet's error for
    a short write, into an :class:`~simplepose.errors.OutputError` naming ``path`` and the fix."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(path, exc, what) from None
    except RuntimeError as exc:
        # MXNet's writers (nd.save, export) report a short write as an MXNetError without an errno.
        if _SHORT_WRITE not in str(exc):
            raise
        raise OutputError(f"{path}: cannot write the {what}: the write was cut short (is the disk full?); "
                          "free some space or write elsewhere", errno.ENOSPC) from None


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], what: str = "output",
                 suffix: str = TMP_SUFFIX) -> None:
    """Call ``write(tmp_path)``, fsync, then rename the temporary file onto ``path``.

    The temporary file is a :func:`~simplepose.tempfiles.temporary_file` beside ``path`` (so the rename never crosses a file
    system) ending in ``suffix`` (a writer that picks the format by the name, as OpenCV's VideoWriter does,
    gets ``.mp4``); on any failure, a full disk included, it is removed and ``path`` is left as it was. An
    ``OSError`` becomes an :class:`~simplepose.errors.OutputError` naming ``path``, ``what`` is written and the fix.
    """
    path = Path(path)
    with writing(path, what):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(temporary_file(path.parent, path.name, suffix))
        try:
            write(tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, what: str = "output") -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(path, write, what)


def atomic_write_text(path: str | os.PathLike, text: str, what: str = "output") -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write_bytes(path, text.encode("utf-8"), what)


def _parse(text: bytes | str, where: str, what: str) -> Any:
    """The JSON value of ``text``; numbers outside int64 or beyond double range, invalid JSON and deep
    nesting raise one line naming ``where`` and the line and column (``json_numbers``)."""
    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float)
    except json.JSONDecodeError as exc:
        raise SimplePoseError(f"{where}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg}); fix or regenerate the file") from None
    except BadNumber as exc:
        found = locate(text, lambda token, depth: token == exc.token)
        place = "" if found is None else f" at {found[0]}" + (f" ({found[1]})" if found[1] else "")
        raise SimplePoseError(f"{where}: {what}: the number {shown(exc.token)}{place} {exc.problem}; write a "
                              "number within range (ids within int64), or regenerate the file") from None
    except RecursionError:
        found = locate(text, lambda token, depth: depth > MAX_DEPTH)
        place = "" if found is None else f" (at {found[0]})"
        raise SimplePoseError(f"{where}: {what} is nested more than {MAX_DEPTH} levels deep{place}, far deeper "
                              "than any file simplepose reads; fix or regenerate the file") from None
    except UnicodeDecodeError:
        raise SimplePoseError(f"{where}: {what} is not a text JSON file (not UTF-8, UTF-16 or UTF-32); fix or "
                              "regenerate the file") from None


# What an input path is, by its file type, when it is not a regular file.
_FILE_KINDS = ((stat.S_ISDIR, "is a directory, not a file"), (stat.S_ISFIFO, "is a FIFO (named pipe)"),
               (stat.S_ISSOCK, "is a socket"), (stat.S_ISCHR, "is a character device"),
               (stat.S_ISBLK, "is a block device"))


def _read_bytes(path: Path, what: str) -> bytes:
    """The bytes of the regular file ``path``; anything else (missing, a directory, a FIFO, a device, a
    broken symbolic link or a loop of them, no permission) raises one line naming ``path`` and ``what``."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below); no effect on files.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _FILE_KINDS if test(mode)), "is not a regular file")
            more = "" if stat.S_ISDIR(mode) else ", not a regular file"
            raise SimplePoseError(f"{path}: {what} {kind}{more}; give a file")
        with open(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError as exc:
        raise SimplePoseError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    finally:
        os.close(fd)


def _unreadable(path: Path, what: str, exc: OSError) -> SimplePoseError:
    """The one-line error of a failed open of the input ``path`` (``exc``)."""
    if exc.errno == errno.ENOENT and path.is_symlink():
        return MissingFileError(f"{path}: {what} is a broken symbolic link to {os.readlink(path)}; check the path")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return MissingFileError(f"{path}: {what} not found; check the path")
    if exc.errno == errno.ELOOP:
        return SimplePoseError(f"{path}: {what} is a symbolic link loop (a link that leads back to itself); "
                               "check the path")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SimplePoseError(f"{path}: cannot read the {what}: permission denied; check its permissions")
    if exc.errno == errno.ENXIO:   # opening a socket
        return SimplePoseError(f"{path}: {what} is a socket, not a regular file; give a file")
    return SimplePoseError(f"{path}: cannot read the {what} ({exc.strerror})")


def read_text(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names the file in errors ("sigmas file", ...)."""
    path = Path(path)
    try:
        return _read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise SimplePoseError(f"{path}: {what} is not a UTF-8 text file; fix or regenerate the file") from None


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the file in errors ("detection file", ...)."""
    path = Path(path)
    return _parse(_read_bytes(path, what), str(path), what)


def peek_json(path: str | os.PathLike) -> Any:
    """The parsed content of ``path``, or None when it is missing, unreadable or not JSON: for scans that
    pass over files that are not theirs (a run directory's other ``*.json``)."""
    try:
        return read_json(path, "file")
    except SimplePoseError:
        return None


def read_jsonl(path: str | os.PathLike, what: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line of a JSON-lines file."""
    path = Path(path)
    for number, line in enumerate(_read_bytes(path, what).splitlines(), start=1):
        if line.strip():
            yield number, _parse(line, f"{path} line {number}", what)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), f"the number {value!r}" if isinstance(value, (int, float))
                                    else type(value).__name__)


def _integral(value: Any) -> bool:
    """An integer, or a float with an integral value (as some writers emit ids); not a boolean."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


# Ids become NumPy int64 (and the COCO tools' arrays): an integer field must fit.
_INT64_RANGE = "within the 64-bit range (-2**63 to 2**63 - 1)"


class JsonRecord:
    """One JSON object of a file, with typed field access.

    Args:
        data: the parsed object (anything else raises one line naming ``source`` and ``record``).
        source: the file, e.g. ``"data/ann.json"``.
        record: where in the file, e.g. ``"annotations[12] (id 5)"``; empty for the top level.
    Every accessor raises :class:`SimplePoseError` naming the file, the record, the field and what it
    should hold; ``default`` (when given) is returned for a missing key or a null value.
    """

    def __init__(self, data: Any, source: str | os.PathLike, record: str = ""):
        self.source, self.record = str(source), record
        if not isinstance(data, dict):
            raise SimplePoseError(f"{self._where()}is {_type_name(data)}, expected a JSON object")
        self.data = data

    def _where(self, key: str | None = None) -> str:
        where = self.source
        for part in ([self.record] if self.record else []) + ([f"field '{key}'"] if key else []):
            # A source that already ends with the record ("x.json: config") must not read "config: config:".
            where += "" if f": {where}".endswith(f": {part}") else f": {part}"
        return where + ": "

    def error(self, key: str | None, problem: str) -> SimplePoseError:
        """An error naming this record's file, record and ``key``."""
        return SimplePoseError(f"{self._where(key)}{problem}")

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self.data.get(key)
        if value is None:
            if default is _REQUIRED:
                raise self.error(key, "is missing")
            return default
        return value

    def _check(self, key: str, ok: bool, value: Any, expected: str) -> None:
        if not ok:
            raise self.error(key, f"is {_type_name(value)}, expected {expected}")

    def int(self, key: str, default: Any = _REQUIRED, minimum: int | None = None) -> int:
        """An integer field within int64 (a float with an integral value, as some writers emit ids, is accepted)."""
        value = self.raw(key, default)
        if value is default and default is not _REQUIRED:
            return value
        self._check(key, _integral(value), value, "an integer")
        self._check(key, INT64_MIN <= value <= INT64_MAX, value, f"an integer {_INT64_RANGE}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"is {value}, expected an integer >= {minimum}")
        return int(value)

    def number(self, key: str, default: Any = _REQUIRED, minimum: float | None = None) -> float:
        """A finite number field."""
        value = self.raw(key, default)
        if value is default and default is not _REQUIRED:
            return value
        self._check(key, isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value), value, "a finite number")
        if minimum is not None and value < minimum:
            raise self.error(key, f"is {value}, expected a number >= {minimum}")
        return float(value)

    def string(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.raw(key, default)
        if value is default and default is not _REQUIRED:
            return value
        self._check(key, isinstance(value, str), value, "a string")
        return value

    def list(self, key: str, default: Any = _REQUIRED, length: int | None = None) -> list:
        value = self.raw(key, default)
        if value is default and default is not _REQUIRED:
            return value
        self._check(key, isinstance(value, list), value, "a list")
        if length is not None and len(value) != length:
            raise self.error(key, f"has {len(value)} values, expected {length}")
        return value

    def numbers(self, key: str, default: Any = _REQUIRED, length: int | None = None) -> list[float]:
        """A list of finite numbers (of ``length`` values when given)."""
        value = self.list(key, default, length)
        if value is default and default is not _REQUIRED:
            return value
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
        if bad:
            raise self.error(key, f"holds {_type_name(bad[0])}, expected finite numbers")
        return [float(v) for v in value]

    def ints(self, key: str, default: Any = _REQUIRED, length: int | None = None,
             minimum: int | None = None) -> list[int]:
        """A list of integers (of ``length`` values when given, each >= ``minimum`` when given)."""
        value = self.list(key, default, length)
        if value is default and default is not _REQUIRED:
            return value
        bad = [v for v in value if not _integral(v) or not INT64_MIN <= v <= INT64_MAX
               or (minimum is not None and v < minimum)]
        if bad:
            raise self.error(key, f"holds {_type_name(bad[0])}, expected integers {_INT64_RANGE}"
                                  + ("" if minimum is None else f" >= {minimum}"))
        return [int(v) for v in value]

    def records(self, key: str, default: Any = _REQUIRED) -> list["JsonRecord"]:
        """A list of objects, each a JsonRecord named ``key[i]``."""
        value = self.list(key, default)
        if value is default and default is not _REQUIRED:
            return value
        prefix = f"{self.record}: " if self.record else ""
        return [JsonRecord(item, self.source, f"{prefix}{key}[{i}]") for i, item in enumerate(value)]

    def sub(self, key: str, default: Any = _REQUIRED) -> "JsonRecord":
        """A nested object field as a JsonRecord."""
        value = self.raw(key, default)
        if value is default and default is not _REQUIRED:
            return value
        prefix = f"{self.record}: " if self.record else ""
        return JsonRecord(value, self.source, f"{prefix}{key}")
