"""A training run from its config: epochs of training, validation, metrics and checkpoints.

``Training(cfg, build_parts(cfg, resume, workers), resume, rundir).fit()`` trains on the built parts
(``build``), writing through ``rundir`` (a claimed ``simplepose.rundir.directory.RunDirectory``) into ``cfg.save_dir``:

- ``config.json``, and the log file (``--logging-file``, opened by the command line),
- ``metrics.jsonl``: one JSON object per epoch (epoch 0 is the untrained model):
  epoch, train_loss, lr, train_acc, val_loss, val_acc, val_ap (null without OKS sigmas), val_pck_0.2,
  val_auc, val_epe (image pixels) (all null between ``--val-interval`` epochs), best_by (the score that
  picks the best checkpoint: "val_ap" when OKS sigmas are known, else "val_pck_0.2"), samples_per_sec,
  seconds, nan_skipped (every row has every key),
- ``tensorboard/``: TensorBoard event files of the same figures (``--no-tensorboard``: none),
- checkpoints every ``--save-frequency`` epochs and at the end, one of the state a stop inside an
  epoch left (Ctrl-C, SIGTERM, a bad image), and ``best.json``: the highest validation ``best_by`` so far.

Reliability: a NaN/infinite loss stops (``--nan-policy stop``) before the update, or skips that
update (``skip``); bad records stop or are skipped (``--on-bad-record``). With ``--kvstore
dist_sync[_device]`` each worker trains on its shard of the data and only rank 0 validates and
writes files.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon

from simplepose.errors import SimplePoseError
from simplepose.rundir.directory import RunDirectory
from simplepose.training.build import Built
from simplepose.config import TrainConfig
from simplepose.training import report
from simplepose.training.eta import RunClock
from simplepose.training.guards import NanPolicy, StopRequested
from simplepose.training.loop import NOT_TRAINED, EpochLoop
from simplepose.training.state import EpochProgress, ResumePoint, RunState
from simplepose.training.tensorboard import TensorBoardLog
from simplepose.training.validation import NOT_VALIDATED

log = logging.getLogger(__name__)


class Training:
    """Epochs of one run over built parts; see the module docstring for what it writes."""

    def __init__(self, cfg: TrainConfig, built: Built, resume: ResumePoint | None = None,
                 rundir: RunDirectory | None = None):
        self.cfg, self.built, self.resume, self.rundir = cfg, built, resume, rundir
        parts = built.parts
        self.state = resume.run_state() if resume else RunState()
        self.save_dir = Path(cfg.save_dir)
        self.writer = parts.workers.writer
        self.steps = parts.iters_per_epoch   # TensorBoard's step: the global batch number
        at = (resume.epoch * self.steps + resume.batch + 1) if resume else None
        self.tensorboard = TensorBoardLog(self.save_dir, cfg.tensorboard and self.writer, purge_step=at)
        self.clock = RunClock(cfg.num_epochs, lambda epoch: built.validates and self._due(epoch))
        self.loop = EpochLoop(parts, self.state, NanPolicy(cfg.nan_policy, parts.workers, self.save_dir),
                              cfg.log_interval, cfg.num_epochs, self.tensorboard, self.clock)
        self._lap = time.time()   # the end of the last validation (or the start): an epoch's time runs from there

    def fit(self) -> dict[str, Any]:
        """Train to ``num_epochs``; returns the last metrics row.

        A first Ctrl-C stops at the next batch boundary and writes a checkpoint of that exact state
        (``MODEL-epochNNNN-batchBBBBB``); so does a bad image with ``--on-bad-record error``.
        """
        # The event file closes however the run ends: an open file keeps a full disk's mount busy.
        with contextlib.closing(self.tensorboard):
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        cfg, parts = self.cfg, self.built.parts
        start, began = self.resume.epoch if self.resume else 0, time.time()
        if self.writer:
            self.rundir.start(cfg.to_dict())
        row: dict[str, Any] = {}
        if not self.resume and self.writer:
            tic = time.time()
            row = {"epoch": 0, **NOT_TRAINED, **self.built.validate(parts.net)}
            self.clock.validation_done(time.time() - tic if self.built.validates else None)
            self._record(row)
            if self.built.validates:
                log.info("Epoch[0] (untrained) %s", report.scores(row))
        self._lap = time.time()
        completed = start
        with self.loop.interrupt:
            try:
                for epoch in range(start + 1, cfg.num_epochs + 1):
                    row = self._epoch(epoch)
                    completed, self.state.progress = epoch, None
                    if self.loop.stop_requested():
                        raise StopRequested
            except StopRequested:
                # Between two batches the state is consistent: keep it. (Not after a second Ctrl-C.)
                self._save_on_stop(completed)
                if parts.workers.kv:
                    # All workers stopped together; the others leave the job after rank 0 has written.
                    parts.workers.sum(0.0)
                raise
            except SimplePoseError:
                # Also consistent: a bad image stops before its batch starts (a NaN loss stops before
                # the update, but is not saved: the last good checkpoint is the one to resume from).
                self._save_on_stop(completed)
                raise
        data = self.built.data
        # Validation on the training file reads the same dataset (build.load_datasets): its skips count once.
        what = report.skipped([("train", data.train), ("val", data.val if data.val is not data.train else None)],
                              self.state, parts.samples.describe)
        if what:
            log.info("skipped: %s", what)
        log.info("final parameters sha256 %s", parameter_digest(parts.net))
        if self.writer:
            log.info("%s", report.ending(self.save_dir, cfg.num_epochs, completed - start, time.time() - began,
                                         self.built.validates))
        return row

    def _epoch(self, epoch: int) -> dict[str, Any]:
        """Train, validate when due, record and checkpoint one epoch; returns its metrics row."""
        cfg, parts = self.cfg, self.built.parts
        resumed = self.resume is not None and epoch == self.resume.epoch + 1
        partial = resumed and self.resume.progress is not None
        stats = self.loop.train_epoch(epoch, self.resume.progress if resumed else None)
        tic = time.time()
        val = self.built.validate(parts.net) if self._due(epoch) else dict(NOT_VALIDATED)
        now = time.time()
        validated = now - tic if val["best_by"] else None
        if not partial:   # an epoch partly trained before the resume is no measure of one
            self.clock.epoch_done(now - self._lap, validated)
        self._lap = now
        row = {"epoch": epoch, **stats, **val}
        log.info("%s", report.epoch_line(row, cfg.num_epochs, validated, self.clock.describe(epoch)))
        if not self.writer:
            return row
        # The row, then the best, then the epoch checkpoint: every checkpoint (best.json included) has
        # its epoch's row before it, and best.json covers every epoch a checkpoint holds. A kill in
        # between leaves rows past the latest checkpoint: the resumed run moves them to superseded/.
        self._record(row)
        best_by = val["best_by"]
        if best_by and self.rundir.improves(val[best_by]):
            path = self._save(epoch, row, best=True)
            log.info("new best validation %s %.4f at epoch %d: saved %s", report.NAMES[best_by], val[best_by], epoch, path)
        freq = cfg.save_frequency
        if epoch == cfg.num_epochs or (freq and epoch % freq == 0):
            log.info("saved checkpoint %s", self._save(epoch, row))
        return row

    def _due(self, epoch: int) -> bool:
        """Whether ``epoch`` ends with a validation (every --val-interval-th epoch, and the last)."""
        return epoch % self.cfg.val_interval == 0 or epoch == self.cfg.num_epochs

    def _record(self, row: dict[str, Any]) -> None:
        """An epoch's metrics row into metrics.jsonl and TensorBoard (with validation pictures when validated)."""
        self.rundir.append_metrics(row)
        step = row["epoch"] * self.steps
        self.tensorboard.epoch(row, step)
        if row["val_loss"] is not None:
            self.tensorboard.images("val/predictions", self.built.val_pictures(self.built.parts.net), step)

    def _save(self, epoch: int, row: dict[str, Any] | None, progress: EpochProgress | None = None,
              best: bool = False) -> Path:
        """Checkpoint after ``epoch`` epochs (as the best when asked), or ``progress.batches`` into the next one."""
        parts = self.built.parts
        extra: dict[str, Any] = {"metrics": row, "bad_samples": sorted(self.state.bad_samples),
                                 "nan_skipped": self.state.nan_skipped,
                                 "batch_size_total": parts.batch_size * parts.workers.num_workers}
        if progress is not None and progress.batches:
            extra.update(batch=progress.batches, progress=asdict(progress), interrupted=True)
        # A hybridized (static_alloc) network's BatchNorm running statistics can be read before the last
        # forward pass has written them (seen with MXNet 1.9.1 on CPU, mid-epoch): finish all work first.
        mx.nd.waitall()
        return self.rundir.save(parts.net, parts.trainer, epoch, self.cfg.to_dict(),
                                self.built.data.meta.to_dict(), extra, best=best)

    def _save_on_stop(self, completed: int) -> None:
        """Ctrl-C, SIGTERM or a bad image between two batches: keep the state so that --resume continues exactly."""
        p = self.state.progress
        if not self.writer or not self.state.clean:
            return
        if p is not None and p.epoch == completed + 1 and p.batches:
            path = self._save(completed, None, p)
            log.warning("saved checkpoint %s (epoch %d stopped after batch %d of %d); --resume %s continues "
                        "exactly", path, p.epoch, p.batches, self.built.parts.iters_per_epoch, self.save_dir)
        elif completed and not self.rundir.has_checkpoint(completed):
            log.warning("saved checkpoint %s", self._save(completed, None))


def parameter_digest(net: gluon.Block) -> str:
    """SHA-256 of all parameter values (structural order, first device): equal digests, equal parameters."""
    mx.nd.waitall()   # see Training._save
    digest = hashlib.sha256()
    for name, param in net._collect_params_with_prefix().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(param.data(param.list_ctx()[0]).asnumpy()).tobytes())
    return digest.hexdigest()
