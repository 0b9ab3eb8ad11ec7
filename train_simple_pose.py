#!/usr/bin/env python
"""Train a Simple Baselines pose model: `python train_simple_pose.py --help`."""
from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Sequence

from simplepose.cli import run_main, setup_logging
from simplepose.errors import SimplePoseError
from simplepose.options import DATA_FLAGS, check_train_config, explicit_flags, resolve_data, train_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = train_parser()
    args = parser.parse_args(argv)
    cfg = vars(args)
    resume = None
    if args.resume:
        from simplepose.rundir import find_resume
        resume = find_resume(args.resume)
        given = explicit_flags(parser, argv if argv is not None else sys.argv[1:])
        fixed = given & {"flip_pairs", "sigmas", "dtype"}
        if fixed:
            raise SimplePoseError(f"--resume {args.resume}: {', '.join(sorted(fixed))} cannot change when "
                                  "resuming (they are part of the checkpoint)")
        # The checkpoint's config, with what this command line says explicitly on top. New data flags
        # replace the checkpoint's data files; the run directory stays the checkpoint's unless given.
        cfg = {**vars(parser.parse_args([])), **resume["config"], **{k: cfg[k] for k in given}}
        if given & set(DATA_FLAGS):
            cfg.update({k: getattr(args, k) for k in DATA_FLAGS})
        if "save_dir" not in given:
            cfg["save_dir"] = str(Path(resume["manifest"]).parent)
    check_train_config(resolve_data(cfg, train=True))
    kv = None
    if cfg["kvstore"].startswith("dist"):
        # Join the parameter-server job now: only worker rank 0 writes the log file (and checkpoints).
        import mxnet as mx
        kv = mx.kv.create(cfg["kvstore"])
    save_dir = Path(cfg["save_dir"])
    log_file = save_dir / cfg["logging_file"] if not Path(cfg["logging_file"]).is_absolute() else cfg["logging_file"]
    writer = kv is None or kv.rank == 0   # only rank 0 writes the log, metrics and checkpoints
    from simplepose.rundir import RunDirectory
    # Claimed (locked, checked, made ready) before the log file opens: a refused run writes nothing there.
    rundir = RunDirectory(save_dir, cfg["model"], log_file).claim(resume, args.overwrite) if writer else None
    with rundir or contextlib.nullcontext():
        setup_logging(log_file if writer else None)
        from simplepose.train import Run
        row = Run(cfg, resume, kv=kv, rundir=rundir).fit()
        logging.getLogger(__name__).info("finished: %s", row)
        if writer:   # the worker that writes metrics.jsonl draws them
            from simplepose.plot import write_training_curves
            logging.getLogger(__name__).info("training curves: %s", write_training_curves(save_dir))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
