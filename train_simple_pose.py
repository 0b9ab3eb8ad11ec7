#!/usr/bin/env python
"""Train a simplepose model: a thin shim over ``simplepose.train`` (``python train_simple_pose.py --help``)."""
import sys

from simplepose.cli import run_main
from simplepose.train import main  # noqa: F401  (eval_parser: for callers that build the parser)

if __name__ == "__main__":
    sys.exit(run_main(main))
