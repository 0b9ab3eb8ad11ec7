"""The run directory as training writes it today: checkpoint names, metrics.jsonl, best, resume lookup.

Moved together, logic unchanged, from ``simplepose/train.py`` (``Run._prefix``, ``Run._save``,
``Run._save_on_stop``, ``Run._append_metrics`` became the methods of ``LegacyRunFiles``; the
module functions are as they were). ``simplepose.rundir.RunDirectory`` replaces this module;
its callers are ``training.fit`` (every save, metrics row, best and pruning) and
``training.config.build_config`` (``find_resume``).

Files in ``save_dir``:

- ``metrics.jsonl``: one JSON object per epoch (see ``training.fit``),
- checkpoints ``MODEL-epochNNNN.{params,states,json}`` (see ``checkpoint``), and
  ``MODEL-epochNNNN-batchBBBBB.*`` when training stops inside epoch NNNN (Ctrl-C, a bad
  image): the state after BBBBB batches, from which ``--resume`` continues exactly,
- ``best.{params,states,json}``: the checkpoint with the highest validation COCO AP so far.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mxnet as mx
import numpy as np

from ..checkpoint import (checkpoints_in, latest_checkpoint, load_manifest, position, remove_checkpoint,
                          save_checkpoint)
from ..errors import MissingFileError
from ..io import atomic_write_text
from .state import EpochProgress, RunState

if TYPE_CHECKING:   # the loop's parts hold MXNet objects; this module only passes them on
    from .loop import Parts

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
BEST = "best"


class LegacyRunFiles:
    """Checkpoints and metrics of one run in ``save_dir``.

    Args:
        config: the run's config as stored in checkpoints (``TrainConfig.to_dict()``).
        meta: ``KeypointMeta.to_dict()`` of the run.
        batch_size_total: samples per update over all devices and workers.
        writer: this process writes the run's files (rank 0 of a distributed job).
    """

    def __init__(self, save_dir: Path, model: str, config: dict[str, Any], meta: dict[str, Any],
                 batch_size_total: int, writer: bool):
        self.save_dir = save_dir
        self.writer = writer
        self.model = model
        self.config = config
        self.meta = meta
        self.batch_size_total = batch_size_total

    def prefix(self, epoch: int, batch: int = 0) -> Path:
        name = f"{self.model}-epoch{epoch:04d}" + (f"-batch{batch:05d}" if batch else "")
        return self.save_dir / name

    def save(self, epoch: int, row: dict[str, Any] | None, parts: Parts, state: RunState,
             progress: EpochProgress | None = None, best: bool = False) -> Path:
        """Checkpoint after ``epoch`` epochs (as ``best`` when asked), or ``progress.batches`` into the next one."""
        extra: dict[str, Any] = {"metrics": row, "bad_samples": sorted(state.bad_samples),
                                 "nan_skipped": state.nan_skipped,
                                 "batch_size_total": self.batch_size_total}
        prefix = self.save_dir / BEST if best else self.prefix(epoch)
        if progress is not None and progress.batches:
            extra.update(batch=progress.batches, progress=asdict(progress), interrupted=True)
            prefix = self.prefix(progress.epoch, progress.batches)
        # A hybridized (static_alloc) network's BatchNorm running statistics can be read before the last
        # forward pass has written them (seen with MXNet 1.9.1 on CPU, mid-epoch): finish all work first.
        mx.nd.waitall()
        path = save_checkpoint(prefix, parts.net, parts.trainer, epoch, self.config, self.meta, extra)
        if progress is None:
            # Checkpoints written inside earlier epochs are superseded by this one.
            for _, manifest in checkpoints_in(self.save_dir):
                doc = json.loads(manifest.read_text())
                if doc.get("batch") and position(doc) < (epoch, 0):
                    remove_checkpoint(manifest)
        return path

    def save_on_stop(self, completed: int, parts: Parts, state: RunState) -> None:
        """Ctrl-C or a bad image between two batches: keep the state so that --resume continues exactly."""
        p = state.progress
        if not self.writer or not state.clean:
            return
        if p is not None and p.epoch == completed + 1 and p.batches:
            path = self.save(completed, None, parts, state, p)
            log.warning("saved checkpoint %s (epoch %d stopped after batch %d of %d); --resume %s continues "
                        "exactly", path, p.epoch, p.batches, parts.iters_per_epoch, self.save_dir)
        elif completed and not self.prefix(completed).with_suffix(".json").exists():
            log.warning("saved checkpoint %s", self.save(completed, None, parts, state))

    def append_metrics(self, row: dict[str, Any]) -> None:
        # Strict JSON: NaN (e.g. an accuracy with no counted joint) becomes null.
        row = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        path = self.save_dir / METRICS_FILE
        rows = []
        if path.exists():
            # Keep rows of epochs before this one: a resumed run replaces what came after its checkpoint.
            rows = [line for line in path.read_text().splitlines()
                    if line.strip() and json.loads(line)["epoch"] < row["epoch"]]
        rows.append(json.dumps(row))
        atomic_write_text(path, "\n".join(rows) + "\n")


def best_val_ap(save_dir: Path) -> float | None:
    """Validation AP of the run's best checkpoint so far (None when there is none)."""
    manifest = save_dir / f"{BEST}.json"
    if not manifest.is_file():
        return None
    return load_manifest(manifest).get("metrics", {}).get("val_ap")


def drop_later_checkpoints(save_dir: Path, epoch: int, batch: int = 0) -> None:
    """Remove checkpoints after position (``epoch``, ``batch``): a resumed run replaces that abandoned future."""
    for later, manifest in checkpoints_in(save_dir):
        doc = json.loads(manifest.read_text())
        if position(doc) > (epoch, batch):
            log.info("removing checkpoint %s (epoch %d, after the resumed epoch %d)", manifest, later, epoch)
            if doc.get("batch"):
                remove_checkpoint(manifest)
            else:
                manifest.unlink()


def find_resume(spec: str) -> dict[str, Any]:
    """Manifest (with full paths) of ``--resume``: a checkpoint or a run directory (its latest)."""
    path = Path(spec)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise MissingFileError(f"{path}: no checkpoint to resume from in this directory")
        path = found
    doc = load_manifest(path)
    doc["manifest"] = str(path)
    return doc
