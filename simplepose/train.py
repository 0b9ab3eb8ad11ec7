"""Train a Simple Baselines pose model: `python -m simplepose.train --help` (or train_simple_pose.py)."""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside cli.run_command (see there)
    from simplepose.cli import run_command
    raise SystemExit(run_command("simplepose.train"))

import contextlib
import logging
from pathlib import Path
from typing import Sequence

from simplepose.cli import check_output_dir, check_output_file, setup_logging
from simplepose.training.config import build_config

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    cfg, resume = build_config(argv)
    from simplepose.rundir import RunDirectory
    from simplepose.training.distributed import Workers
    from simplepose.training.fit import train
    # Join the parameter-server job now: only worker rank 0 writes the log file (and checkpoints).
    workers = Workers.connect(cfg.kvstore)
    rundir = None
    if workers.writer:   # before any work, so that from here every error also lands in the log file
        check_output_dir(cfg.save_dir, "--save-dir")
        check_output_file(cfg.log_file, "--logging-file")
        # Claimed (locked, refusals, clean-up) before the log file opens: a refused run writes nothing there.
        rundir = RunDirectory(cfg.save_dir, cfg.model, cfg.log_file).claim(
            (resume.epoch, resume.batch) if resume else None, cfg.overwrite,
            history=Path(resume.manifest).parent if resume else None)
    with rundir or contextlib.nullcontext():
        setup_logging(cfg.log_file if workers.writer else None)
        row = train(cfg, resume, workers, rundir)
        log.info("finished: %s", row)
        if workers.writer:   # the worker that writes metrics.jsonl draws them
            from simplepose.plot import write_training_curves
            log.info("training curves: %s", write_training_curves(cfg.save_dir))
    return 0
