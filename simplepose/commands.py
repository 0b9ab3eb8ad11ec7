"""The command lines: each console script, the module it runs and the function that builds its parser.

``pyproject.toml`` points every console script at one of the entry points below; each runs its module's
``main`` through :func:`run_command`, exactly as ``python -m MODULE`` and the ``*_simple_pose.py`` shims do.
Every command module builds its parser in one function taking the program name to show in the usage line
(:meth:`Command.build_parser`), so a CLI reference can be generated from the parsers themselves.

This module is the first simplepose code a command runs, so it imports nothing but what Python has loaded
at start-up: a Ctrl-C is one line from its first instant (about 0.1 ms after Python's own start-up) on.
"""
from __future__ import annotations

import importlib
import signal
import sys

EXIT_INTERRUPTED = 130


def run_command(module: str) -> int:
    """The command line ``module`` (``simplepose.train``...): its ``main`` through ``cli.run_main``; the exit
    status. Every way a command starts comes here, and ``cli`` and ``module`` are imported inside it: a
    Ctrl-C while they (MXNet, OpenCV...) load is one line ``error: interrupted``, exit status 130, like one
    at any later instant. Once the command's last line is written, a Ctrl-C during the interpreter's exit
    ends the process at once (the default action: status 130 in a shell), rather than as a traceback of
    whatever exit handler it interrupted."""
    try:
        from simplepose.cli import prog_name, run_main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")   # no log file is open yet: stderr is where the line goes
        return EXIT_INTERRUPTED
    # The import is inside run_main too: a command that needs MXNet, started where it is not installed (a
    # deploy install), says so in one line.
    status = run_main(lambda: importlib.import_module(module).main(), prog_name(python_m(module)))
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return status


def python_m(module: str) -> str:
    """The module to give ``python -m`` for a command's module (a package's ``command`` module runs as the
    package)."""
    return module.removesuffix(".__main__").removesuffix(".command")


class Command:
    """One command line: the console script ``script`` runs ``module``'s ``main``; the function ``parser``
    (``"module:function"``) builds its ``argparse`` parser. (A plain class: ``dataclasses`` would take 6 ms
    of the instant in which a Ctrl-C is not yet one line.)"""

    __slots__ = ("script", "module", "parser")

    def __init__(self, script: str, module: str, parser: str):
        self.script, self.module, self.parser = script, module, parser

    def __repr__(self) -> str:
        return f"Command({self.script!r}, {self.module!r}, {self.parser!r})"

    @property
    def python_m(self) -> str:
        """The module to give ``python -m``."""
        return python_m(self.module)

    def build_parser(self, prog: str | None = None) -> "argparse.ArgumentParser":  # noqa: F821
        """The command's parser, showing ``prog`` (default: the console script's name) in its usage."""
        module, function = self.parser.split(":")
        return getattr(importlib.import_module(module), function)(prog=prog or self.script)

    def run(self) -> int:
        """The console script: ``main`` of ``module`` through :func:`run_command` (which imports the module
        inside its error handling: Ctrl-C during the imports is one line); returns the exit status."""
        return run_command(self.module)


COMMANDS = (
    Command("simplepose-train", "simplepose.train", "simplepose.options:train_parser"),
    Command("simplepose-eval", "simplepose.evaluate", "simplepose.evaluate:eval_parser"),
    Command("simplepose-export", "simplepose.export.command", "simplepose.export.command:build_parser"),
    Command("simplepose-predict", "simplepose.predict.command", "simplepose.predict.command:build_parser"),
    Command("simplepose-plot", "simplepose.plot", "simplepose.plot:build_parser"),
    Command("simplepose-synthetic", "simplepose.synthetic.__main__", "simplepose.synthetic.__main__:build_parser"),
    Command("simplepose-launch", "simplepose.launch", "simplepose.launch:build_parser"),
    Command("simplepose-pack", "simplepose.pack", "simplepose.pack:build_parser"),
)

# The entry points of pyproject.toml's [project.scripts], in the order of COMMANDS.
train, evaluate, export, predict, plot, synthetic, launch, pack = (command.run for command in COMMANDS)
