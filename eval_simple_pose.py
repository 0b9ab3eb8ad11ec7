#!/usr/bin/env python
"""Evaluate a simplepose model: a thin shim over ``simplepose.evaluate`` (``python eval_simple_pose.py --help``)."""
if __name__ == "__main__":   # the command: simplepose.evaluate imported inside commands.run_command (Ctrl-C is one line)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.evaluate"))

from simplepose.evaluate import eval_parser, main  # noqa: E402,F401  (for callers that build the parser or run it)
