#!/usr/bin/env python
"""Train a simplepose model: a thin shim over ``simplepose.train`` (``python train_simple_pose.py --help``)."""
if __name__ == "__main__":   # the command: simplepose.train imported inside commands.run_command (Ctrl-C is one line)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.train"))

from simplepose.train import main  # noqa: E402,F401  (for callers that run the command in-process)
