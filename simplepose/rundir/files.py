"""``run-files.json``: what a run directory's code wrote there, so that it removes or moves nothing else.

A ``--save-dir`` may hold a user's own files, of any name. The run directory (``rundir``) removes or
moves only what one of these says is its own:

- a checkpoint manifest (``checkpoint``): the manifest and the files it names;
- ``run-files.json`` ``"paths"``: the paths it wrote under fixed names (``config.json``, ``metrics.jsonl``,
  the log file when it is inside the directory, ``plots/training_curves.png``, ``tensorboard/``) and the
  folders it made (``superseded/DATE-TIME/``, ``previous-DATE-TIME/``). Each is recorded before it is
  made, so a kill never leaves one of ours unrecorded; a folder the run made is its own whole, in a folder
  of the same name that it did not make (a user's ``plots/``) it owns only what it wrote. Entries whose
  path no longer exists are dropped at the next start;
- ``run-files.json`` ``"writing"``: the journal of checkpoint files (``.params``, ``.states``) whose
  ownership is changing: the files of a checkpoint being written and those it replaces or removes,
  recorded before the first rename. One that no manifest names at the next start was left by a kill
  (between renaming ``X.params`` into place and committing ``X.json``, say) and is removed;
- a temporary file carrying simplepose's marker whose process has ended (``tempfiles.leftovers``).

A file a run would write over that none of these names (a user's ``config.json``, ``train.log``...) is
refused in one line before anything changes. ``run-files.json`` is written with the one atomic write.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Iterable

from simplepose.rundir.checkpoint import FORMAT as CHECKPOINT_FORMAT
from simplepose.rundir.checkpoint import checkpoints_in, data_files
from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord, atomic_write_text, peek_json, read_json

RUN_FILES = "run-files.json"
FORMAT = "simplepose-run-files-1"
# The names a run directory's code writes under (see rundir).
LOCK_FILE = "run.lock"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUPERSEDED = "superseded"
PREVIOUS = "previous-"
PLOTS = "plots"   # simplepose.plot.write_training_curves writes CURVES there
CURVES = "training_curves.png"
TENSORBOARD_DIR = "tensorboard"   # simplepose.training.tensorboard writes its event files there
# The folder names an earlier version gave superseded/ and previous-*/ folders (adopted, see RunFiles.adopt).
_DATED = r"\d{8}-\d{6}(-\d+)?"


class RunFiles:
    """The paths (relative, ``/``-separated) a run directory's code owns; see the module docstring.

    Attributes:
        run_dir: the run directory.
        paths: owned files and folders (a folder with everything in it).
        writing: the journal: checkpoint file names (in ``run_dir`` itself) whose ownership is changing.
        found: whether ``run-files.json`` exists (False: a new directory, or one of an earlier version).
        adopted: what :meth:`adopt` took as owned.
    """

    def __init__(self, run_dir: str | os.PathLike, paths: Iterable[str] = (), writing: Iterable[str] = (),
                 found: bool = False):
        self.run_dir = Path(run_dir)
        self.paths, self.writing, self.found = set(paths), set(writing), found
        self.adopted: list[str] = []

    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> "RunFiles":
        """The run files of ``run_dir`` (none when it has no ``run-files.json``); one line for a file of
        that name that is not ours or is damaged."""
        path = Path(run_dir) / RUN_FILES
        if not os.path.lexists(path):
            return cls(run_dir)
        doc = read_json(path, "list of a run directory's files")
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise SimplePoseError(f"{path}: not simplepose's list of its run files (no \"format\": \"{FORMAT}\"), "
                                  "and a run would write over it: move the file, or choose another --save-dir")
        record = JsonRecord(doc, path)
        return cls(run_dir, _relative(record, "paths", nested=True), _relative(record, "writing", nested=False),
                   found=True)

    def owns(self, rel: str) -> bool:
        """Whether the path ``rel`` (relative to the run directory) is owned: listed, or inside a listed folder."""
        parts = PurePosixPath(rel).parts
        return any("/".join(parts[:n]) in self.paths for n in range(1, len(parts) + 1))

    def owned_in(self, folder: str, pattern: str = ".*") -> list[Path]:
        """The owned folders directly in ``folder`` ("" for the run directory) whose names match ``pattern``."""
        parent = self.run_dir / folder
        if not parent.is_dir():
            return []
        return sorted(d for d in parent.iterdir() if re.fullmatch(pattern, d.name) and d.is_dir()
                      and not d.is_symlink() and self.owns(d.relative_to(self.run_dir).as_posix()))

    def add(self, rel: str) -> None:
        """Own ``rel`` before it is made: its topmost missing folder (made with it, so all ours), else itself."""
        if self.owns(rel):
            return
        parts = PurePosixPath(rel).parts
        for n in range(1, len(parts) + 1):
            head = "/".join(parts[:n])
            if not os.path.lexists(self.run_dir / head):
                self.paths.add(head)
                return
        self.paths.add(rel)

    def adopt(self, outputs: Iterable[str]) -> list[str]:
        """Own what a run directory of an earlier version (checkpoints, no ``run-files.json``) wrote under
        our names: ``outputs`` that exist, its ``superseded/DATE-TIME`` and ``previous-DATE-TIME`` folders.
        Returns what was adopted."""
        found = [rel for rel in outputs if os.path.lexists(self.run_dir / rel)]
        found += [d.relative_to(self.run_dir).as_posix()
                  for d in [*self.run_dir.glob("previous-*"), *self.run_dir.glob("superseded/*")]
                  if d.is_dir() and re.fullmatch(_DATED, d.name.removeprefix("previous-"))]
        self.paths.update(found)
        self.adopted = found
        return found

    def prune(self) -> None:
        """Forget owned paths that no longer exist (moved aside, or never made by a run that was killed)."""
        self.paths = {p for p in self.paths if os.path.lexists(self.run_dir / p)}

    def journal(self, names: Iterable[str]) -> None:
        """Record checkpoint file ``names`` (about to be written, replaced or removed) as the journal, with
        the earlier entries that are still files no manifest names (an old file whose removal failed), and save."""
        named = {name for _, m in checkpoints_in(self.run_dir) for name in data_files(m)}
        self.writing = {n for n in self.writing if n not in named and (self.run_dir / n).is_file()} | set(names)
        self.save()

    def save(self) -> None:
        """Write ``run-files.json`` (atomically)."""
        doc = {"format": FORMAT, "paths": sorted(self.paths), "writing": sorted(self.writing)}
        atomic_write_text(self.run_dir / RUN_FILES, json.dumps(doc, indent=1), "list of the run directory's files")

    def refuse_foreign(self, outputs: Iterable[str], reserved: Iterable[Path]) -> None:
        """Raise one line naming the first of ``outputs`` (paths a run writes) that exists and is not owned,
        or the first of ``reserved`` (names a run writes checkpoint manifests under) that is not a manifest."""
        for rel in outputs:
            if os.path.lexists(self.run_dir / rel) and not self.owns(rel):
                raise self.foreign(rel)
        for path in reserved:
            doc = peek_json(path)
            if os.path.lexists(path) and not (isinstance(doc, dict) and doc.get("format") == CHECKPOINT_FORMAT):
                raise self.foreign(path.name)

    def foreign(self, rel: str) -> SimplePoseError:
        """The refusal of a user's file ``rel`` where a run writes."""
        return SimplePoseError(f"--save-dir {self.run_dir}: {rel} was not written by simplepose in this run "
                               f"directory ({RUN_FILES} does not list it), and a run would write over it: move it "
                               "out of the directory, or choose another --save-dir")


def _relative(record: JsonRecord, key: str, nested: bool) -> list[str]:
    """A list of paths inside the run directory (``nested``: sub-folders allowed, else plain names)."""
    values = record.list(key)
    for value in values:
        parts = PurePosixPath(value).parts if isinstance(value, str) else ()
        if not parts or value.startswith("/") or ".." in parts or "\\" in value or (len(parts) > 1 and not nested):
            raise record.error(key, f"holds {value!r}, expected {'relative paths' if nested else 'file names'} "
                                    "inside the run directory; delete the file if you did not change it on purpose")
    return values
