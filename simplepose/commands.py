"""The command lines: each console script, the module it runs and the function that builds its parser.

``pyproject.toml`` points every console script at one of the entry points below; each runs its module's
``main`` through :func:`simplepose.cli.run_command`, exactly as ``python -m MODULE`` does. Every command
module builds its parser in one function taking the program name to show in the usage line
(:meth:`Command.build_parser`), so a CLI reference can be generated from the parsers themselves.
"""
from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass

from .cli import run_command


@dataclass(frozen=True)
class Command:
    """One command line: the console script ``script`` runs ``module``'s ``main``; the function ``parser``
    (``"module:function"``) builds its ``argparse`` parser."""
    script: str
    module: str
    parser: str

    @property
    def python_m(self) -> str:
        """The module to give ``python -m``."""
        return self.module.removesuffix(".__main__")

    def build_parser(self, prog: str | None = None) -> argparse.ArgumentParser:
        """The command's parser, showing ``prog`` (default: the console script's name) in its usage."""
        module, function = self.parser.split(":")
        return getattr(importlib.import_module(module), function)(prog=prog or self.script)

    def run(self) -> int:
        """The console script: ``main`` of ``module`` through ``cli.run_command`` (which imports the module
        inside its error handling: Ctrl-C during the imports is one line); returns the exit status."""
        return run_command(self.module)


COMMANDS = (
    Command("simplepose-train", "simplepose.train", "simplepose.options:train_parser"),
    Command("simplepose-eval", "simplepose.evaluate", "simplepose.evaluate:eval_parser"),
    Command("simplepose-export", "simplepose.export", "simplepose.export:build_parser"),
    Command("simplepose-predict", "simplepose.predict", "simplepose.predict:build_parser"),
    Command("simplepose-plot", "simplepose.plot", "simplepose.plot:build_parser"),
    Command("simplepose-synthetic", "simplepose.synthetic.__main__", "simplepose.synthetic.__main__:build_parser"),
    Command("simplepose-launch", "simplepose.launch", "simplepose.launch:build_parser"),
    Command("simplepose-pack", "simplepose.data.pack", "simplepose.data.pack:build_parser"),
)

# The entry points of pyproject.toml's [project.scripts], in the order of COMMANDS.
train, evaluate, export, predict, plot, synthetic, launch, pack = (command.run for command in COMMANDS)
