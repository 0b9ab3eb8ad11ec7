"""Shared plumbing of the command lines: logging set-up and one-line errors."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

from .errors import SimplePoseError


def setup_logging(log_file: str | Path | None = None) -> None:
    """INFO to stderr and, when given, to ``log_file`` (appending, so a resumed run keeps its history)."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)


def run_main(main: Callable[[], int]) -> int:
    """Run a command's main; bad input becomes one line on stderr and exit status 2, Ctrl-C status 130
    (SIGTERM during training 143)."""
    try:
        return main()
    except SimplePoseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # The training loop has written a checkpoint of the state it stopped in (see its log); it marks
        # a stop asked by SIGTERM with exit status 143 (128 + 15), Ctrl-C's is 130 (128 + 2).
        print("error: interrupted", file=sys.stderr)
        return getattr(exc, "exit_status", 130)
