"""Train a Simple Baselines pose model: `python -m simplepose.train --help` (or train_simple_pose.py)."""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.train"))

import contextlib
import logging
from pathlib import Path
from typing import Sequence

from simplepose.cli import LogRecords, check_output_dir, check_output_file, setup_logging
from simplepose.training.config import build_config

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    # Until the run directory is claimed, log lines go to stderr and are kept for the log file: a start
    # that fails its checks writes nothing into --save-dir (see simplepose.rundir.directory).
    setup_logging()
    early = LogRecords()
    logging.getLogger().addHandler(early)
    cfg, resume = build_config(argv)
    from simplepose.rundir.checkpoint import checkpoint_bytes
    from simplepose.rundir.directory import RunDirectory
    from simplepose.training.build import build_parts
    from simplepose.training.distributed import Workers
    from simplepose.training.fit import Training
    # Join the parameter-server job now: only worker rank 0 writes the log file (and checkpoints).
    workers = Workers.connect(cfg.kvstore)
    at = (resume.epoch, resume.batch) if resume else None
    rundir = None
    if workers.writer:   # the refusals that need no data first, changing nothing
        check_output_dir(cfg.save_dir, "--save-dir")
        check_output_file(cfg.log_file, "--logging-file")
        rundir = RunDirectory(cfg.save_dir, cfg.model, cfg.log_file, cfg.tensorboard)
        rundir.check(at, cfg.overwrite)
    built = build_parts(cfg, resume, workers)   # reads the data, the weights, the resumed state: still no change
    if rundir is not None:
        rundir.claim(at, cfg.overwrite, history=Path(resume.manifest).parent if resume else None,
                     room=checkpoint_bytes(built.parts.net))
    with rundir or contextlib.nullcontext():
        setup_logging(cfg.log_file if workers.writer else None, early)
        Training(cfg, built, resume, rundir).fit()   # its last line says which checkpoint to use
        if workers.writer:   # the worker that writes metrics.jsonl draws them
            from simplepose.plot import write_training_curves
            log.info("training curves: %s", write_training_curves(cfg.save_dir))
    return 0
