"""Errors raised on bad user input.

Each message names the file, the record and what to do about it; the command
lines turn these into one line on stderr (and in the log file) and exit status 2.
"""
from __future__ import annotations


class SimplePoseError(ValueError):
    """Bad input: a malformed file, record, checkpoint or option value."""


class MissingFileError(SimplePoseError, FileNotFoundError):
    """A file or directory the run needs does not exist."""


class OutputError(SimplePoseError, OSError):
    """An output path the user chose cannot be written: a full disk, a read-only or foreign directory, a
    path of the wrong kind. Also an ``OSError`` (``errno`` kept), so code that handles failed writes still does."""

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno

    def __str__(self) -> str:
        return str(self.args[0])


def one_line(exc: BaseException) -> str:
    """``Type: reason`` of an exception, the reason being its message's first line, or the last of a C++
    traceback (MXNet's messages start "Traceback (most recent call last):" and end with the reason)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    name = type(exc).__name__
    if not lines:
        return name
    reason = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return (reason if reason.startswith(f"{name}: ") else f"{name}: {reason}")[:200]


def printable(text: str) -> str:
    """``text`` with every character that is not printable shown as its Python escape (``\\x1b``, ``\\n``,
    ``\\u202e``): a file name or field value quoted in a message cannot move the terminal's cursor, change
    its colours, reverse the text, or break the message into lines that look like other messages."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# The packages of the MXNet side (training, evaluation, export, checkpoints, GluonCV's detectors). An ONNX export
# runs without them: ``pip install "simplepose[deploy]"`` installs neither.
MXNET_PACKAGES = ("mxnet", "gluoncv")
INSTALL_MXNET = "install simplepose[cpu] (or simplepose[gpu], CUDA 11.2) in an environment of its own"


def missing_mxnet(exc: ImportError, purpose: str, alternative: str = "") -> SimplePoseError | None:
    """The one line for an import that failed because MXNet or GluonCV is not installed (a deploy install):
    ``purpose`` (``--detector yolo3_mobilenet1.0_coco``, ``simplepose-train``) needs them, and how to get them,
    or ``alternative``. None when ``exc`` is about any other module: that is a bug, not the environment."""
    if not isinstance(exc, ModuleNotFoundError) or exc.name not in MXNET_PACKAGES:
        return None
    instead = f", or {alternative}" if alternative else ""
    return SimplePoseError(f"{purpose} needs MXNet and GluonCV, which are not installed here ({exc.name} is "
                           f"missing): {INSTALL_MXNET}{instead}")
