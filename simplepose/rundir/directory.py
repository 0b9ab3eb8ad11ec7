"""The run directory (``--save-dir``): one object owns everything a training run keeps there.

- ``run.lock``: locked while a run writes the directory; names its PID and host (see ``rundir.lock``).
- ``run-files.json``: what the run directory's code wrote there (see ``rundir.files``).
- ``config.json``: the full configuration of the latest start (JSON, reusable).
- ``metrics.jsonl``: one JSON object per epoch (see ``simplepose.training.fit``).
- ``MODEL-epochNNNN.{json,params,states}`` and ``MODEL-epochNNNN-batchBBBBB.*`` (see ``checkpoint``).
- ``best.json``, naming ``best-epochNNNN.{params,states}``: the epoch with the highest validation score
  (its metrics row's ``best_by``: AP when OKS sigmas are known, else PCK@0.2). The epoch checkpoint of
  that epoch, written next, shares those files (hard links, see ``checkpoint``): one copy on disk.
- ``superseded/DATE-TIME/``: the checkpoints and metrics rows after the position a run was resumed
  from (and the rows of a predecessor that never wrote a checkpoint).
- ``previous-DATE-TIME/``: an earlier run moved aside by ``--overwrite`` (what it owned, nothing else).
- the log file (``--logging-file``), ``plots/training_curves.png`` and ``tensorboard/``.

It owns only what it wrote: it removes or moves a file only when a checkpoint manifest or
``run-files.json`` names it, or when it is a temporary file carrying simplepose's marker left by a
process that has ended; everything else in the directory (a user's ``notes.txt``, ``previous-mine/``,
``mymodel-epoch0100.params``...) is left byte for byte, and a user's file where a run writes (their
``config.json``, ``train.log``...) is refused in one line before anything changes (:meth:`RunDirectory.check`).
Nothing a later start could want is deleted: files are moved aside, or replaced through the switch
of a manifest (see ``checkpoint``); the only files removed at start are what killed writes left (logged).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from simplepose.rundir.checkpoint import (BEST, checkpoint_files, checkpoints_in, data_files, latest_checkpoint, load_manifest,
                         position, remove_checkpoint, save_checkpoint)
from simplepose.errors import MissingFileError, OutputError, SimplePoseError
from simplepose.io import JsonRecord, atomic_write_text, read_jsonl, writing
from simplepose.rundir.files import (CONFIG_FILE, CURVES, LOCK_FILE, METRICS_FILE, PLOTS, PREVIOUS,
                                     TENSORBOARD_DIR, RunFiles)
from simplepose.rundir.lock import RunLock, is_lock_file
from simplepose.rundir.tidy import supersede, tidy, write_rows

log = logging.getLogger(__name__)


class RunDirectory:
    """The ``--save-dir`` of one training run: :meth:`claim` it, :meth:`start` it, then save into it.

    Args:
        path: the directory (created by :meth:`claim` when missing).
        model: the model name, the stem of checkpoint names.
        log_file: the log file the run will write: owned (and moved aside by ``--overwrite``) when inside ``path``.
        tensorboard: whether the run writes ``tensorboard/``.
    """

    def __init__(self, path: str | os.PathLike, model: str, log_file: str | os.PathLike | None = None,
                 tensorboard: bool = False):
        self.path = Path(path)
        self.model = model
        self.log_file = Path(log_file) if log_file is not None else None
        self.outputs = run_outputs(self.path, self.log_file, tensorboard)   # what it writes under fixed names
        self._lock = RunLock(self.path / LOCK_FILE)
        self._files = RunFiles(self.path)
        self._resume_at: tuple[int, int] | None = None
        self._rows: list[dict[str, Any]] = []
        self._best: float | None = None
        self._best_epoch: int | None = None   # of the best checkpoint this process wrote (its state, unchanged)
        self._notes: list[str] = []
        self._failure: str | None = None

    def check(self, resume_at: tuple[int, int] | None = None, overwrite: bool = False, room: int = 0) -> RunFiles:
        """The refusals of :meth:`claim`, changing nothing: ``--resume`` with ``--overwrite``, a fresh run into
        a directory holding checkpoints without ``overwrite``, a user's file where the run writes, a bad
        metrics.jsonl or best.json, less than ``room`` bytes free. Returns the directory's run files."""
        if not self._lock.held:
            self._lock.refuse_if_held_elsewhere()
        return _refusals(self.path, self.model, self.outputs, resume_at, overwrite, room, self._lock.held)

    def claim(self, resume_at: tuple[int, int] | None = None, overwrite: bool = False,
              history: str | os.PathLike | None = None, room: int = 0) -> "RunDirectory":
        """Lock the directory for a fresh run (``resume_at`` None) or one resumed from the checkpoint at
        position ``resume_at`` = (epochs completed, batches into the next).

        ``history``: the resumed checkpoint's run directory. Resumed into another, empty directory, the
        run's metrics.jsonl starts with that directory's rows up to ``resume_at``, so that it (and the
        training curves) hold the run's whole history.

        First :meth:`check` (``room``: the bytes of one checkpoint): a refusal leaves the directory as it was
        (a missing one is not made). Then makes, locks and tidies it (``rundir.tidy.tidy``; ``overwrite`` moves
        the earlier run into ``previous-DATE-TIME/``). Use as a context manager, or call :meth:`release`.
        """
        self.check(resume_at, overwrite, room)
        made = not self.path.exists()
        with writing(self.path, "--save-dir directory"):
            self.path.mkdir(parents=True, exist_ok=True)
            note = self._lock.acquire()
        try:
            self._notes += [note] if note else []
            self._files = files = self.check(resume_at, overwrite)   # again, locked: no other run changes it now
            self._notes += self._write(lambda: tidy(self.path, files, overwrite, self.outputs), "run directory")
            self._resume_at, self._rows = resume_at, read_metrics(self.path, missing_ok=True)
            if resume_at is not None and history is not None and not self._rows \
                    and Path(history).resolve() != self.path.resolve():
                self._rows = [r for r in read_metrics(history, missing_ok=True) if r["epoch"] <= resume_at[0]]
                self._notes += [f"metrics.jsonl starts with the {len(self._rows)} rows of {history} up to epoch "
                                f"{resume_at[0]}, the resumed checkpoint's history"] if self._rows else []
            self._best = _best_score(self.path, resume_at, self._notes)
        except BaseException:
            self.release()
            if made:
                with contextlib.suppress(OSError):
                    self.path.rmdir()   # only when empty: what the refused start made, nothing else
            raise
        return self

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        """Unlock the directory (at the end of the run, however it ends)."""
        self._lock.release()

    def start(self, config: dict[str, Any]) -> None:
        """Before the first batch: move aside what the resumed position supersedes, log what claim did,
        write ``config.json``."""
        after = self._resume_at or (-1, 0)
        self._rows = self._write(lambda: supersede(self.path, after, self._rows, self._notes, self._files), "metrics")
        for note in self._notes:
            log.warning("%s", note)
        self._notes = []
        self._write(lambda: atomic_write_text(self.path / CONFIG_FILE, json.dumps(config, indent=1), "configuration"),
                    "configuration")
        log.info("configuration: %s", self.path / CONFIG_FILE)

    def save(self, net, trainer, epoch: int, config: dict[str, Any], meta: dict[str, Any], extra: dict[str, Any],
             best: bool = False) -> Path:
        """Checkpoint after ``epoch`` epochs, ``extra["batch"]`` batches into the next one when set, or as
        ``best.json`` (its score: :func:`chosen_score` of ``extra["metrics"]``). Returns the manifest path.

        An epoch checkpoint supersedes the mid-epoch checkpoints before it: they are removed. The epoch
        checkpoint of the epoch whose best checkpoint this process wrote shares its files: training moves
        forward, so in one process the state after epoch E is the same at both saves.
        """
        batch = extra.get("batch", 0)
        prefix, stem, same_as = _checkpoint_place(self.path, self.model, epoch, batch, best, self._best_epoch)

        def write() -> Path:
            doomed = [m for pos, m in (checkpoints_in(self.path) if not (best or batch) else ())
                      if pos[1] and pos < (epoch, 0) and m.stem != BEST]
            # The journal first: the new files, those they replace and those removed after, so that a kill
            # at any instant leaves no file of ours that the next start cannot tell from a user's.
            new = [p.name for p in checkpoint_files(prefix, stem)]
            self._files.journal([*new, *data_files(prefix.with_name(prefix.name + ".json")),
                           *(name for m in doomed for name in data_files(m))])
            path = save_checkpoint(prefix, net, trainer, epoch, config, meta, extra, stem, same_as)
            for manifest in doomed:
                remove_checkpoint(manifest)
            return path
        path = self._write(write, "checkpoint")
        if best:
            self._best = chosen_score(JsonRecord(extra["metrics"], prefix, "metrics"))
            self._best_epoch = epoch
        return path

    def improves(self, score: float | None) -> bool:
        """Whether a validation score (the field ``best_by`` names) beats the best checkpoint's (None never does)."""
        return score is not None and (self._best is None or score > self._best)

    def has_checkpoint(self, epoch: int) -> bool:
        """Whether the epoch checkpoint after ``epoch`` epochs exists."""
        return (self.path / f"{_name(self.model, epoch)}.json").is_file()

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Add one epoch's row to metrics.jsonl (non-finite numbers become null, as strict JSON needs)."""
        self._rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
        self._write(lambda: write_rows(self.path / METRICS_FILE, self._rows), "metrics")

    def _write(self, write, what: str):
        """``write()``, with a full disk or a read-only directory turned into one line (io.writing).

        After a failed write every later one fails with the same line: the run is ending, and the
        checkpoint it would write on its way out must not replace the first error with a second.
        """
        if self._failure is None:
            try:
                with writing(self.path, what):   # renames and removals; atomic writes name their own file
                    return write()
            except OutputError as exc:
                self._failure = f"{exc}; what {self.path} holds is intact: --resume {self.path} once it is fixed"
        raise OutputError(self._failure)


def _name(model: str, epoch: int, batch: int = 0) -> str:
    """``MODEL-epochNNNN`` (an epoch checkpoint's name) or ``MODEL-epochNNNN-batchBBBBB`` (a mid-epoch one's)."""
    return f"{model}-epoch{epoch:04d}" + (f"-batch{batch:05d}" if batch else "")


def _checkpoint_place(path: Path, model: str, epoch: int, batch: int, best: bool, best_epoch: int | None
                      ) -> tuple[Path, str | None, Path | None]:
    """(prefix, file stem or None for the prefix's own, manifest whose files it shares or None) of the checkpoint
    ``RunDirectory.save`` writes: ``best-epochNNNN`` files under ``best.json``, else the epoch's (or mid-epoch's)
    own name, sharing best's files when it is the epoch whose best checkpoint this process wrote."""
    if best:
        return path / BEST, f"{BEST}-epoch{epoch:04d}", None
    shared = path / f"{BEST}.json" if not batch and epoch == best_epoch else None
    return path / _name(model, epoch + 1 if batch else epoch, batch), None, shared


def run_outputs(run_dir: Path, log_file: Path | None, tensorboard: bool) -> list[str]:
    """The paths (relative to ``run_dir``) a run writes under fixed names: config, metrics, curves,
    ``tensorboard/`` when ``tensorboard``, and ``log_file`` when it is inside ``run_dir``."""
    found = [CONFIG_FILE, METRICS_FILE, f"{PLOTS}/{CURVES}"] + ([TENSORBOARD_DIR] if tensorboard else [])
    if log_file is not None:
        log_file, run_dir = Path(os.path.abspath(log_file)), Path(os.path.abspath(run_dir))
        if run_dir in log_file.parents:
            found.append(log_file.relative_to(run_dir).as_posix())
    return found


def _refusals(run_dir: Path, model: str, outputs: list[str], resume_at: tuple[int, int] | None, overwrite: bool,
              room: int, locked: bool) -> RunFiles:
    """:meth:`RunDirectory.check` (``locked``: this process holds the directory's lock)."""
    if resume_at is not None and overwrite:
        raise SimplePoseError("--overwrite starts the run over and --resume continues it: give one of them")
    if room:
        on = next(p for p in (run_dir.absolute(), *run_dir.absolute().parents) if p.is_dir())
        free = shutil.disk_usage(on).free   # of the file system it will be made on, when missing
        if free < room:
            raise SimplePoseError(f"--save-dir {run_dir}: {free / 1e6:.0f} MB free, a checkpoint of {model} "
                                  f"takes about {room / 1e6:.0f} MB; free space or choose another --save-dir")
    if not run_dir.is_dir():
        return RunFiles(run_dir)
    files, found = RunFiles.read(run_dir), checkpoints_in(run_dir)
    if resume_at is None and found and not overwrite:
        raise SimplePoseError(
            f"--save-dir {run_dir}: holds the checkpoints of an earlier run (latest {found[-1][1].name}); "
            f"--resume {run_dir} continues it, --overwrite starts over (moving its files into "
            f"{PREVIOUS}DATE-TIME/), or choose another --save-dir")
    if found and not files.found:
        files.adopt(outputs)
    pattern = re.compile(rf"({re.escape(model)}-epoch\d{{4}}(-batch\d{{5}})?|{BEST})\.json")
    files.refuse_foreign(outputs, [p for p in run_dir.iterdir() if pattern.fullmatch(p.name)])
    lock = run_dir / LOCK_FILE
    if not locked and os.path.lexists(lock) and not is_lock_file(lock):
        raise files.foreign(lock.name)
    read_metrics(run_dir, missing_ok=True)
    _best_score(run_dir, resume_at, [])
    return files


def read_metrics(path: str | os.PathLike, missing_ok: bool = False) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl (``path``: the run directory or the file), one dict per epoch.

    A missing file is ``[]`` when ``missing_ok``, else one line; a bad line raises one line naming it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if missing_ok and not path.exists():
        return []
    rows = []
    for number, row in read_jsonl(path, "metrics file"):
        JsonRecord(row, path, f"line {number}").int("epoch", minimum=0)
        rows.append(row)
    return rows


def chosen_score(metrics: JsonRecord) -> float | None:
    """The score of the metrics row of a best checkpoint: the field its ``best_by`` names (rows written
    before ``best_by`` existed were chosen by ``val_ap``)."""
    return metrics.number(metrics.string("best_by", "val_ap"), None)


def _best_score(run_dir: Path, resume_at: tuple[int, int] | None, notes: list[str]) -> float | None:
    """Validation score of best.json (None when there is none); notes a best later than the resumed position."""
    manifest = run_dir / f"{BEST}.json"
    if not manifest.is_file():
        return None
    doc = load_manifest(manifest)
    if resume_at is not None and position(doc) > resume_at:
        notes.append(f"{manifest}: the best checkpoint (epoch {doc['epoch']}) is later than the resumed position; "
                     "it stays the best until an epoch beats its validation score")
    metrics = JsonRecord(doc, manifest).sub("metrics", None)
    return None if metrics is None else chosen_score(metrics)


def find_resume(spec: str | os.PathLike) -> dict[str, Any]:
    """Manifest (with full paths, plus ``"manifest"``) of ``--resume``: a checkpoint, or a run directory's
    latest checkpoint by position (best.json included: after a kill it can be the latest)."""
    path = Path(spec)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise MissingFileError(f"--resume {path}: no checkpoint to resume from in this directory; start a "
                                   "fresh run without --resume")
        path = found
    doc = load_manifest(path)
    doc["manifest"] = str(path)
    return doc
