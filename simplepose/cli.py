"""Shared plumbing of the command lines: logging set-up, output-path checks and one-line errors.

Every command runs its ``main`` through :func:`run_main`, which ends it in one of three ways:

- bad input (a :class:`~simplepose.errors.SimplePoseError`, failed writes to user paths included):
  one line ``error: ...`` on stderr and in the log file when one is open, exit status 2; so does a command
  (or a feature of one) that needs MXNet where it is not installed (``pip install "simplepose[deploy]"``):
  ``error: simplepose-train needs MXNet and GluonCV, which are not installed here ...``;
- Ctrl-C, at any instant from the start of the command on (``commands.run_command``): ``error:
  interrupted``, exit status 130 (143 when training stopped for a SIGTERM);
- any other exception is a bug: its traceback, then the line :data:`INTERNAL_ERROR`, exit status 1
  (what Python itself returns for an uncaught exception).

Output paths are checked before the work starts (:func:`check_output_file`, :func:`check_output_dir`),
so a command never fails on its output after hours of work.

Every command's parser is made by :func:`command_parser`: one help layout (:class:`HelpFormatter`, which
states each default and each numeric flag's range) and the program name the user typed. A command line
that does not parse (an unknown flag, a value out of its range: see :mod:`simplepose.flags`) is bad input
like any other: one line naming the flag (a mistyped one with the nearest flags), exit status 2. Its
``--help`` shows descriptions (docstrings' first lines, reStructuredText) as plain words (:func:`plain_text`).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import logging
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable, Iterator

from simplepose.errors import OutputError, SimplePoseError, missing_mxnet, printable
from simplepose.flags import Bound
from simplepose.io import file_in_the_way, output_error, writing
from simplepose.tempfiles import temporary_file

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
INTERNAL_ERROR = "internal error (a bug in simplepose; please report it with the traceback above)"

log = logging.getLogger(__name__)
_installed: list[logging.Handler] = []   # the handlers of the last setup_logging


class _Formatter(logging.Formatter):
    """``time LEVEL message``; when ``bare``, a command's closing line (``extra={"bare": True}``) alone,
    so the terminal shows ``error: ...`` as the last line while the log file keeps the time."""

    def __init__(self, bare: bool):
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.bare = bare

    def format(self, record: logging.LogRecord) -> str:
        if self.bare and getattr(record, "bare", False):
            return record.getMessage()
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Warnings quote user text too (a skipped record's file name): escaped as error lines are (those,
        # closing lines, are escaped by run_main; a bug's traceback keeps its lines).
        text = super().formatMessage(record)
        return text if getattr(record, "bare", False) else printable(text)


class _Stderr(logging.StreamHandler):
    """To the ``sys.stderr`` of the moment, not of the handler's creation (as logging's last resort does):
    a command run in-process after another, under a test's capture say, still reaches its own stderr."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _LogFile(logging.FileHandler):
    """A log file whose failure (say, a disk the run filled) is one warning on stderr, not a traceback per
    message; later messages are still tried, so the closing error line lands once space is freed."""

    warned = False

    def handleError(self, record: logging.LogRecord) -> None:
        if not self.warned:
            self.warned = True
            print(f"warning: cannot write the log file {self.baseFilename} ({sys.exc_info()[1]})", file=sys.stderr)

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            pass   # the tail that could not be flushed is lost, as the warning said


class LogRecords(logging.Handler):
    """Keeps what is logged until the log file can open (training opens it once the checks have passed and
    the run directory is claimed), for :func:`setup_logging` to write there first."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def setup_logging(log_file: str | os.PathLike | None = None, earlier: LogRecords | None = None) -> None:
    """INFO to stderr and, when given, to ``log_file`` (appending, so a resumed run keeps its history),
    where the records ``earlier`` kept (already shown on stderr) go first."""
    stream = _Stderr()
    stream.setFormatter(_Formatter(bare=True))
    handlers: list[logging.Handler] = [stream]
    if log_file is not None:
        with writing(log_file, "log file"):
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(_LogFile(log_file))
        handlers[-1].setFormatter(_Formatter(bare=False))
        for record in earlier.records if earlier is not None else ():
            handlers[-1].handle(record)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    _installed[:] = handlers


def _closing_line(text: str) -> None:
    """Log ``text`` as the command's last word: to stderr, and to the log file when one is open."""
    if not _installed or any(h not in logging.getLogger().handlers for h in _installed):
        setup_logging()   # the command failed before setting up logging (or someone replaced it)
    log.error(text, extra={"bare": True})


def run_main(main: Callable[[], int], command: str = "this command") -> int:
    """Run a command's ``main`` and turn how it ended into an exit status (see the module docstring);
    ``command``: its name, for the line saying that it needs MXNet where MXNet is not installed.

    A Ctrl-C while the closing line of another ending is written still ends as an interrupt; while the
    line ``error: interrupted`` itself is written, further Ctrl-C are ignored (it takes milliseconds)."""
    try:
        try:
            try:
                return main()
            except ModuleNotFoundError as exc:
                # The one place for every command: MXNet or GluonCV imported, at start or later, where they
                # are not installed. Any other missing module is a bug and keeps its traceback.
                raise missing_mxnet(exc, command) or exc
        except SimplePoseError as exc:
            # Every error line passes here: user text quoted in it (file names, field values) is escaped once.
            _closing_line("error: " + printable(str(exc)))
            return EXIT_BAD_INPUT
        except Exception:
            _closing_line(traceback.format_exc().rstrip())
            _closing_line(INTERNAL_ERROR)
            return EXIT_BUG
    except KeyboardInterrupt as exc:
        # The training loop has written a checkpoint of the state it stopped in (see its log); it marks
        # a stop asked by SIGTERM with exit status 143 (128 + SIGTERM), Ctrl-C's being 130.
        with _uninterrupted():
            _closing_line("error: interrupted")
        return getattr(exc, "exit_status", EXIT_INTERRUPTED)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C ignored inside (in the main thread; signal handlers can be set nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` of every command: a numeric flag's range (its :class:`~simplepose.flags.Bound`) and each
    option's default appended as ``; a finite number in [0, 1] (default: X)``, except where there is no
    default to state (None, an empty value, a switch: the help says what happens without the option), and
    a remainder of the command line (``simplepose.launch``'s worker command) shown as ``-- COMMAND ...``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if isinstance(action.type, Bound) and text:
            text = f"{text}; {action.type.describe().removeprefix('must be ')}"
        default = action.default
        if action.nargs == 0 or default is None or default is False or default in ("", [], ()):
            return text
        shown = action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
        if text and "%(default)" not in text and default is not argparse.SUPPRESS and shown:
            text += " (default: %(default)s)"
        return text

    def _format_text(self, text: str) -> str:
        # A description is a docstring's first line (reStructuredText, rendered as such in docs/cli.rst):
        # plain words on a terminal.
        return super()._format_text(plain_text(text))

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.nargs == argparse.REMAINDER and action.metavar:
            return f"-- {action.metavar} ..."   # argparse itself shows a remainder as a bare "..."
        return super()._format_args(action, default_metavar)


# :role:`text <target>`, :role:`~a.b.name`, :role:`name`; ``literal``.
_RST_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(?:([^`<]*?)\s*<[^`>]*>|~(?:[^`]*\.)?([^`.]*)|([^`]*))`")
_RST_LITERAL = re.compile(r"``(.+?)``")


def plain_text(text: str) -> str:
    """reStructuredText inline markup -> the words it shows: ``simplepose-plot RUN`` and
    :func:`~simplepose.cli.run_main` read ``simplepose-plot RUN`` and ``run_main``."""
    text = _RST_ROLE.sub(lambda m: next(g for g in m.groups() if g is not None), text)
    return _RST_LITERAL.sub(r"\1", text)


def prog_name(module: str) -> str:
    """The command's name as the user started it: the console script or shim (``simplepose-train``,
    ``train_simple_pose.py``), else ``python -m MODULE``."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if script.startswith("simplepose-") or script.endswith("_simple_pose.py"):
        return script.removesuffix(".exe")
    return f"python -m {module}"


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are bad input (:class:`~simplepose.errors.SimplePoseError`), so
    :func:`run_main` prints them as one line and exits with status 2 (argparse's own status for them), and
    logs them once logging is set up: ``--seed -1: must be an integer in [0, 4294967295] (see PROG --help)``.

    A mistyped flag or choice names the nearest ones instead of argparse's bare refusal:
    ``unknown flag --lr-rate: did you mean --lr? (see PROG --help)``; an unknown
    flag is named before the required flags it leaves missing (``--parms`` for ``--params``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, exit_on_error=False, **kwargs)
        self._argv: list[str] = []

    def parse_known_args(self, args=None, namespace=None):
        argv = self._argv = list(sys.argv[1:] if args is None else args)
        try:
            return super().parse_known_args(argv, namespace)
        except argparse.ArgumentError as exc:
            flag = _flag_typed(exc.argument_name or "", argv)
            message = exc.message
            if message.startswith("invalid choice:") and exc.argument_name:
                message = self._choice_hint(exc.argument_name, message)
            # A value refused by a flags.Bound reads "--seed -1: must be ..."; argparse's own messages
            # ("invalid choice: ...", "expected one argument") follow a colon.
            joint = " " if isinstance(exc.__context__, argparse.ArgumentTypeError) else ": "
            self.error(f"{flag}{joint}{message}" if flag else message)

    def error(self, message: str):
        if message.startswith(("unrecognized arguments:", "the following arguments are required:")):
            message = self._unknown_flags_line() or message
        raise SimplePoseError(f"{message} (see {self.prog} --help)")

    def _unknown_flags_line(self) -> str | None:
        """``unknown flag --epochs: did you mean --num-epochs?`` for the flags of the
        command line this parser does not know (several: ``; ``-separated), else None."""
        known = [s for a in self._actions if a.help != argparse.SUPPRESS for s in a.option_strings]
        parts = []
        for flag in _unknown_flags(self._argv, set(self._option_string_actions), self.allow_abbrev):
            near = _nearest(flag, known)
            parts.append(f"unknown flag {flag}" + (f": did you mean {_either(near)}?" if near else ""))
        return "; ".join(parts) or None

    def _choice_hint(self, names: str, message: str) -> str:
        """argparse's ``invalid choice: 'drak' (choose from ...)`` with ``; did you mean 'dark'?`` before the
        list when a choice is close."""
        action = next((a for a in self._actions if "/".join(a.option_strings) == names), None)
        typed, _, listed = message.removeprefix("invalid choice: ").partition(" (choose from ")
        if action is None or action.choices is None or not listed:
            return message
        near = _nearest(typed.strip("'"), [str(c) for c in action.choices])
        hint = f"; did you mean {_either([repr(c) for c in near])}?" if near else ""
        return f"invalid choice: {typed}{hint} (choose from {listed}"


def _unknown_flags(argv: list[str], options: set[str], abbrev: bool) -> list[str]:
    """The flags of ``argv`` (up to a ``--``) that are none of ``options``, as argparse reads them: the
    name before an ``=``, a short option with its value attached (``-j0``) known, a unique or ambiguous
    prefix of a long option known when ``abbrev`` (argparse names an ambiguous one itself), negative
    numbers (``-1``, ``-.5,0``) values."""
    unknown = []
    for arg in argv:
        if arg == "--":
            break
        if len(arg) < 2 or arg[0] != "-" or arg[1].isdigit() or arg[1] == ".":
            continue
        name = arg.split("=", 1)[0]
        if name in options or (arg[1] != "-" and arg[:2] in options):
            continue
        if abbrev and name.startswith("--") and any(o.startswith(name) for o in options):
            continue
        unknown.append(name)
    return unknown


def _nearest(word: str, candidates: list[str], most: int = 3) -> list[str]:
    """Up to ``most`` of ``candidates`` nearest to the mistyped ``word``: those it extends (``--lr`` for
    ``--lr-rate``, ``--out`` for ``--outdir``) first, then difflib's close matches (case aside, ratio 0.7 or
    more) within 0.15 of the closest: a far second would pad the line (``--gpus`` for ``--parms``)."""
    extended = [c for c in candidates if len(c) >= 4 and word.startswith(c)]
    scored = sorted(((difflib.SequenceMatcher(None, word.lower(), c.lower()).ratio(), c) for c in candidates),
                    key=lambda rc: -rc[0])
    best = scored[0][0] if scored else 0.0
    close = [c for ratio, c in scored if ratio >= max(0.7, best - 0.15)]
    return list(dict.fromkeys(extended + close))[:most]


def _either(words: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _flag_typed(names: str, argv: list[str]) -> str:
    """Of an option's names (argparse's ``"-j/--num-data-workers"``), the one in ``argv``, else its first
    long name: the line names the flag as the user typed it (``--score-threshold``, not ``--kpt-thresh``)."""
    options = names.split("/")
    typed = [n for n in options if any(a == n or a.startswith(n + "=") for a in argv)]
    return (typed or [n for n in options if n.startswith("--")] or options)[0]


def command_parser(module: str, description: str, prog: str | None = None, **kwargs) -> argparse.ArgumentParser:
    """The parser of the command ``python -m module`` (a :class:`CommandParser`) with the shared
    :class:`HelpFormatter`; ``prog`` (the name in its usage line) defaults to :func:`prog_name`.
    ``kwargs`` go to ``ArgumentParser``."""
    return CommandParser(prog=prog or prog_name(module), description=description,
                         formatter_class=HelpFormatter, **kwargs)


def _check_writable(path: Path, directory: Path, what: str) -> None:
    """``path`` can be made in ``directory``: no file among its parents, and the nearest existing directory
    writable. A file is created and removed there, which names the exact problem (a read-only file system,
    no room for a new file...); ``os.access`` is asked too, as it judges by the real user id."""
    if file_in_the_way(path) is not None:
        raise output_error(path, NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)), what)
    directory = next(p for p in (directory, *directory.parents) if p.exists())
    with writing(path, what):
        temporary_file(directory, "probe").unlink()
    if not os.access(directory, os.W_OK | os.X_OK):
        raise output_error(path, PermissionError(errno.EACCES, os.strerror(errno.EACCES)), what)


def check_output_dir(path: str | os.PathLike, flag: str) -> None:
    """Refuse, in one line naming ``flag`` and ``path``, a directory that could not be written into:
    an existing non-directory, a file among its parents, no permission, a read-only file system.
    Nothing is left behind (the probe file is removed; missing directories are not made)."""
    path = Path(os.path.abspath(path))
    what = f"{flag} directory"
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: cannot write the {what}: it exists and is not a directory; give a directory")
    _check_writable(path, path, what)


def check_output_file(path: str | os.PathLike, flag: str) -> None:
    """Refuse, in one line naming ``flag`` and ``path``, a file that could not be written (atomically, so
    its directory must be writable): a directory or a device of that name, or a directory as for
    :func:`check_output_dir`."""
    path = Path(os.path.abspath(path))
    what = f"{flag} file"
    if path.is_dir():
        raise output_error(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), what)
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: cannot write the {what}: it exists and is not a regular file; give a file name")
    _check_writable(path, path.parent, what)
