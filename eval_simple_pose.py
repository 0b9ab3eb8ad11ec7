#!/usr/bin/env python
"""Evaluate a simplepose model: a thin shim over ``simplepose.evaluate`` (``python eval_simple_pose.py --help``)."""
import sys

from simplepose.cli import run_main
from simplepose.evaluate import main, eval_parser  # noqa: F401  (eval_parser: for callers that build the parser)

if __name__ == "__main__":
    sys.exit(run_main(main))
