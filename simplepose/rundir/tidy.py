"""Tidying a run directory (see ``rundir``): what a kill left, and a run's files moved aside.

Every removal and move here is of a file a manifest names (a checkpoint's, or ``run-files.json``), or of a
temporary file carrying simplepose's marker whose process has ended (see ``rundir.files``):

- :func:`finish_moves`: files a kill left behind while their checkpoint moved into ``superseded/`` or
  ``previous-*/`` follow their manifest;
- :func:`_remove_leftovers`: marked temporary files of ended processes, and checkpoint files the journal
  names that no manifest names, are removed (the kill tests recognise this step by its name);
- :func:`supersede`: the checkpoints and metrics rows after a resumed position into ``superseded/DATE-TIME/``;
- :func:`move_run_aside`: ``--overwrite``'s move of the earlier run into ``previous-DATE-TIME/``.

A folder is recorded in ``run-files.json`` before it is made, and a checkpoint is moved manifest first:
a kill at any instant leaves every file of ours recognisable, and the next start finishes the move.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from simplepose.rundir.checkpoint import BEST, checkpoints_in, data_files
from simplepose.io import atomic_write_text
from simplepose.tempfiles import remove_leftovers
from simplepose.rundir.files import METRICS_FILE, PLOTS, PREVIOUS, RUN_FILES, SUPERSEDED, RunFiles


def tidy(run_dir: Path, files: RunFiles, overwrite: bool, outputs: list[str]) -> list[str]:
    """A claimed directory made ready for a run: an earlier version's files adopted, moves a kill interrupted
    finished, what killed writes left removed, with ``overwrite`` the earlier run moved into ``previous-*/``, and
    ``outputs`` (the paths the run writes) recorded in run-files.json with an empty journal. Returns notes."""
    notes = [f"{run_dir}: a run directory of an earlier version (no {RUN_FILES}): took its "
             f"{', '.join(files.adopted)} as its own"] if files.adopted else []
    finish_moves(run_dir, files)
    notes += _remove_leftovers(run_dir, files)
    if overwrite:
        notes += move_run_aside(run_dir, files, [m for _, m in checkpoints_in(run_dir)])
    files.prune()
    for rel in outputs:
        files.add(rel)
    files.writing = set()
    files.save()
    return notes


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows), "metrics file")


def supersede(run_dir: Path, after: tuple[int, int], rows: list[dict[str, Any]], notes: list[str],
               files: RunFiles) -> list[dict[str, Any]]:
    """Move the checkpoints (best.json aside) and metrics rows after position ``after`` into
    superseded/DATE-TIME/; returns the rows kept."""
    later = [m for pos, m in checkpoints_in(run_dir) if pos > after and m.stem != BEST]
    moved = [r for r in rows if r["epoch"] > after[0]]
    if not later and not moved:
        return rows
    aside = unused(run_dir / SUPERSEDED / time.strftime("%Y%m%d-%H%M%S"))
    files.add(aside.relative_to(run_dir).as_posix())
    files.save()   # owned before it is made
    kept = [r for r in rows if r["epoch"] <= after[0]]
    if moved:   # the copy first, then the shortened file: a kill in between duplicates rows, never loses them
        write_rows(aside / METRICS_FILE, moved)
        write_rows(run_dir / METRICS_FILE, kept)
    for manifest in later:
        move_checkpoint(manifest, aside)
    notes.append(f"moved {len(later)} checkpoint(s) and {len(moved)} metrics row(s) after epoch {after[0]}"
                 f"{f' batch {after[1]}' if after[1] else ''} (the position this run starts from) into {aside}")
    return kept


def move_run_aside(run_dir: Path, files: RunFiles, manifests: list[Path]) -> list[str]:
    """--overwrite: the earlier run's checkpoints and what run-files.json lists (config, metrics, log, plots,
    tensorboard/, superseded/ folders; not earlier ``previous-*/``) into a new ``previous-*/``; returns a note (none
    when there was nothing to move)."""
    owned = sorted(p for p in files.paths if os.path.lexists(run_dir / p) and not p.startswith(PREVIOUS))
    if not manifests and not owned:
        return []
    aside = unused(run_dir / (PREVIOUS + time.strftime("%Y%m%d-%H%M%S")))
    files.add(aside.name)
    files.save()   # owned before it is made: a kill from here on leaves it ours
    for manifest in manifests:
        move_checkpoint(manifest, aside)
    for rel in owned:
        (aside / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(run_dir / rel, aside / rel)
    return [f"--overwrite: moved the earlier run ({len(manifests)} checkpoint(s), {', '.join(owned) or 'no other file'})"
            f" into {aside}"]


def unused(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3``, ... when it exists."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def move_checkpoint(manifest: Path, dest: Path) -> None:
    """Move a checkpoint into ``dest``: the manifest first (it leaves the run directory at once), then
    its files; a kill in between is finished by :func:`finish_moves` at the next start."""
    names = data_files(manifest)
    dest.mkdir(parents=True, exist_ok=True)
    os.replace(manifest, dest / manifest.name)
    for name in names:
        if (manifest.parent / name).is_file():
            os.replace(manifest.parent / name, dest / name)


def finish_moves(run_dir: Path, files: RunFiles) -> None:
    """Bring files left behind by an interrupted :func:`move_checkpoint` to their moved manifest (in a
    ``superseded/`` or ``previous-*/`` folder this directory made)."""
    named_here = {name for _, m in checkpoints_in(run_dir) for name in data_files(m)}
    for aside in [*files.owned_in("", re.escape(PREVIOUS) + ".*"), *files.owned_in(SUPERSEDED)]:
        for _, manifest in checkpoints_in(aside):
            for name in data_files(manifest):
                if not (aside / name).exists() and (run_dir / name).is_file() and name not in named_here:
                    os.replace(run_dir / name, aside / name)


def _remove_leftovers(run_dir: Path, files: RunFiles) -> list[str]:
    """Remove what killed writes left: simplepose's marked temporary files of ended processes (in the
    directory, plots/ and ``superseded/*/``), and the journal's checkpoint files that no manifest names.
    Returns a note naming them (none when there were none)."""
    named = {name for _, m in checkpoints_in(run_dir) for name in data_files(m)}
    gone = [run_dir / n for n in sorted(files.writing) if n not in named and (run_dir / n).is_file()]
    for path in gone:
        path.unlink()
    folders = [run_dir, run_dir / PLOTS, *(d for d in (run_dir / SUPERSEDED).glob("*") if d.is_dir())]
    gone += [p for folder in folders if folder.is_dir() for p in remove_leftovers(folder)]
    return [f"removed {len(gone)} file(s) left by a killed run: {', '.join(p.name for p in gone)}"] if gone else []
