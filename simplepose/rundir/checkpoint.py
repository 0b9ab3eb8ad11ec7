"""Self-describing, atomically written checkpoints.

A checkpoint is a manifest ``PREFIX.json`` and the two files it names:

- ``STEM.params``: the network parameters (MXNet format; GluonCV's models of the same name load it
  with ``load_parameters``),
- ``STEM.states``: the optimizer's state arrays (Adam's moments, float32 master copies), MXNet's
  ``nd.save`` format, which holds arrays and nothing that runs,

where ``STEM`` is ``PREFIX`` itself, or another name when the caller asks (``best.json`` names
``best-epochNNNN.*``) or when files of that name exist (the ones being replaced, or a user's: an
existing file is never written over; see :func:`checkpoint_files`). The manifest holds the epoch, the
full config, the keypoint metadata, the two file names and, as ``"optimizer"``, the rest of the
optimizer's state in JSON (update counts, hyper-parameters, which array is which: see
``simplepose.training.optimizer_state``). A manifest without ``"optimizer"`` names an old ``.states``
file (MXNet's pickle, as GluonCV and earlier simplepose wrote it), which is only read through a
restricted unpickler that refuses any code in it.

A checkpoint of the same state as another (the epoch checkpoint of the epoch ``best.json`` was just
written for) shares that one's files: its ``.params`` and ``.states`` are hard links to them (copies where
the file system has no hard links, noted once), so the two names take the room of one. Removing or
moving one name leaves the other's file whole; no file of a checkpoint is ever written in place (every
write makes a new file and renames it), so nothing written through one name changes the other's.

Each file is written to a temporary name and renamed; the manifest goes last and is the commit
marker: a checkpoint exists exactly when its manifest does. Replacing a checkpoint writes the new
files under names the current manifest does not use, switches the manifest in one rename, then
removes the old files, so a kill, a full disk or a second Ctrl-C at any instant leaves either the
old checkpoint or the new one loadable.

A checkpoint written when training stops inside an epoch (Ctrl-C, SIGTERM, a bad image) has
``"epoch"`` = the epochs completed and ``"batch"`` = the batches done in the next one (regular
checkpoints: 0), plus the running sums of that epoch; its position is ``(epoch, batch)``.
"""
from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.io import JsonRecord, atomic_write, atomic_write_text, peek_json, read_json
from simplepose.config import TrainConfig

FORMAT = "simplepose-checkpoint-1"
BEST = "best"   # best.json: the run's best checkpoint (see RunDirectory)
WHAT = "checkpoint manifest"
# Errors of os.link that a copy would meet as well: they are reported, not worked around.
_NOT_A_LINK_PROBLEM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)

log = logging.getLogger(__name__)
_copying_in: set[str] = set()   # directories where hard links failed (noted once each)


def save_checkpoint(prefix: str | os.PathLike, net, trainer, epoch: int, config: dict[str, Any],
                    meta: dict[str, Any], extra: dict[str, Any] | None = None, stem: str | None = None,
                    same_as: str | os.PathLike | None = None) -> Path:
    """Write ``STEM.params``, ``STEM.states`` (:func:`checkpoint_files`), then ``PREFIX.json`` naming them;
    returns the manifest path. ``stem`` defaults to the prefix's name.

    ``same_as``: the manifest of a checkpoint of this very state (``net`` and ``trainer`` unchanged since it
    was written, which the caller vouches for): its files are shared (:func:`share_file`) instead of written
    anew, and its optimizer JSON reused. The files are written as usual when it names no files of its own.

    ``trainer.save_states(path)`` writes the state arrays and returns the JSON rest (``optimizer_state.Trainer``).
    A ``PREFIX.json`` that is not a checkpoint manifest (a user's file) is refused before anything is written.
    """
    prefix = Path(prefix)
    manifest = prefix.with_name(prefix.name + ".json")
    if os.path.lexists(manifest) and not _is_manifest(manifest):
        raise SimplePoseError(f"{manifest}: not a simplepose checkpoint manifest, and a checkpoint of this name "
                              "would be written over it: move the file, or choose another --save-dir")
    old = set(data_files(manifest))
    params, states = checkpoint_files(prefix, stem)
    twin = _twin(same_as) if same_as is not None else None
    try:
        optimizer: dict[str, Any] = {}
        if twin is not None:
            for path, source in zip((params, states), twin[:2]):
                atomic_write(path, lambda tmp, source=source: share_file(source, tmp), "checkpoint")
            optimizer.update(twin[2])
        else:
            atomic_write(params, net.save_parameters, "checkpoint")

            def write_states(tmp: str) -> None:
                rest = trainer.save_states(tmp)
                if not isinstance(rest, dict):   # gluon.Trainer's own save_states writes a pickle
                    raise TypeError("save_checkpoint needs a trainer whose save_states returns the JSON rest")
                optimizer.update(rest)
            atomic_write(states, write_states, "checkpoint")
        doc = {"format": FORMAT, "epoch": epoch, "params": params.name, "states": states.name,
               "optimizer": optimizer, "config": config, "meta": meta, **(extra or {})}
        atomic_write_text(manifest, json.dumps(doc, indent=1), "checkpoint")
    except BaseException:
        # The old checkpoint is untouched; new files that no manifest names would only take room.
        for new in {params.name, states.name} - set(data_files(manifest)):
            (manifest.parent / new).unlink(missing_ok=True)
        raise
    for name in old - {params.name, states.name}:
        try:
            (manifest.parent / name).unlink(missing_ok=True)
        except OSError:
            pass   # the new checkpoint is committed; a run directory's journal names them (see rundir.files)
    return manifest


def _twin(manifest: str | os.PathLike) -> tuple[Path, Path, dict[str, Any]] | None:
    """(params, states, optimizer JSON) of the checkpoint ``manifest`` to share files with; None when it is
    missing, is of the old format (no optimizer JSON) or does not name two files beside it."""
    manifest = Path(manifest)
    doc, names = peek_json(manifest), data_files(manifest)
    if not (isinstance(doc, dict) and isinstance(doc.get("optimizer"), dict) and len(names) == 2):
        return None
    files = [manifest.parent / name for name in names]
    return (files[0], files[1], doc["optimizer"]) if all(f.is_file() for f in files) else None


def share_file(source: Path, tmp: str | os.PathLike) -> None:
    """Make ``tmp`` (the fresh temporary file of an :func:`~simplepose.io.atomic_write`) another name of
    ``source``'s file: a hard link, else (a file system without them, a link count at its limit...) a copy,
    noted once per directory. The atomic write then renames it into place."""
    os.unlink(tmp)
    try:
        os.link(source, tmp)
        return
    except OSError as exc:
        if exc.errno in _NOT_A_LINK_PROBLEM:
            raise
        if str(source.parent) not in _copying_in:
            _copying_in.add(str(source.parent))
            log.warning("%s: no hard links here (%s): the best checkpoint and the epoch checkpoint of its epoch "
                        "are written as copies, taking the room of two", source.parent, exc.strerror or exc)
    shutil.copyfile(source, tmp)


def checkpoint_files(prefix: str | os.PathLike, stem: str | None = None) -> tuple[Path, Path]:
    """The ``.params`` and ``.states`` paths :func:`save_checkpoint` writes for ``prefix``: ``STEM.*``, else
    ``STEM-1.*``, ``STEM-2.*``, ...: the first two names that ``PREFIX.json`` does not name and no file has
    (a file no manifest names may be a user's: it is never written over). ``stem``: default the prefix's name."""
    prefix = Path(prefix)
    taken = set(data_files(prefix.with_name(prefix.name + ".json")))
    stem = stem or prefix.name
    n = 0
    while True:
        params, states = (prefix.with_name(f"{stem}-{n}{ext}" if n else stem + ext) for ext in (".params", ".states"))
        if not any(p.name in taken or os.path.lexists(p) for p in (params, states)):
            return params, states
        n += 1


def _is_manifest(path: Path) -> bool:
    doc = peek_json(path)
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def manifest_of(path: str | os.PathLike) -> Path:
    """The manifest of a checkpoint given as its ``.json``, its ``.params``/``.states``, its prefix,
    or a run directory (its best checkpoint, else its latest)."""
    path = Path(path)
    if path.is_dir():
        found = path / f"{BEST}.json" if (path / f"{BEST}.json").is_file() else latest_checkpoint(path)
        if found is None:
            raise MissingFileError(f"{path}: no checkpoint in this directory (no {BEST}.json, no "
                                   "MODEL-epochNNNN.json); give a checkpoint file or the --save-dir of a training run")
        return found
    if path.suffix == ".json":
        return path
    stem = path.stem if path.suffix in (".params", ".states") else path.name
    manifest = path.with_name(stem + ".json")
    if not manifest.is_file() and path.suffix in (".params", ".states") and path.parent.is_dir():
        # best-epochNNNN.params and the like are named by a manifest of another name (best.json).
        return next((m for _, m in checkpoints_in(path.parent) if path.name in data_files(m)), manifest)
    return manifest


def is_plain_params(path: str | os.PathLike) -> bool:
    """True for a ``.params`` file no checkpoint manifest names: plain MXNet parameters as GluonCV's
    ``save_parameters`` writes them (the model, input size and keypoints must come from elsewhere)."""
    path = Path(path)
    return path.suffix == ".params" and path.is_file() and not manifest_of(path).is_file()


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint manifest (any form :func:`manifest_of` accepts), checking its fields.

    Returns the manifest with ``params`` and ``states`` turned into full paths. Raises one-line
    SimplePoseError naming the file and the field for a missing, mistyped or dangling entry.
    """
    manifest = manifest_of(path)
    if not os.path.lexists(manifest):   # a FIFO, a link loop or a broken link: read_json says which
        raise MissingFileError(f"{manifest}: checkpoint manifest not found (checkpoint {path}); check the path")
    doc = read_json(manifest, WHAT)
    record = JsonRecord(doc, manifest)
    if doc.get("format") != FORMAT:
        raise record.error("format", f"is {doc.get('format')!r}, expected {FORMAT!r}: not a simplepose checkpoint "
                                     "manifest")
    record.int("epoch", minimum=0)
    record.int("batch", 0, minimum=0)
    config = record.sub("config")
    config.string("model")
    config.numbers("input_size", length=2)
    config.numbers("mean", length=3)
    config.numbers("std", length=3)
    config.number("sigma")
    # Every flag's value, typed and checked; an older run's config gets the newer flags' defaults here,
    # once, so readers index it (config["codec"]) instead of repeating .get() defaults.
    doc["config"] = TrainConfig.from_dict(config.data, str(manifest)).to_dict()
    record.sub("meta")   # an object; KeypointMeta.from_dict checks what it holds
    record.sub("optimizer", None)   # an object when present; the trainer's load_states checks what it holds
    for key in ("params", "states"):
        full = manifest.parent / record.string(key)
        if not full.is_file():
            raise MissingFileError(f"{full}: file of checkpoint {manifest} is missing (field '{key}'); "
                                   "use another checkpoint of the run")
        doc[key] = str(full)
    return doc


def data_files(manifest: str | os.PathLike) -> list[str]:
    """Names of the files a manifest names (``[]`` when it is missing or unreadable): what moves and goes with
    it. Only plain names beside the manifest count (ours are): a path elsewhere is never moved or removed."""
    doc = peek_json(manifest)
    names = [doc.get(k) for k in ("params", "states")] if isinstance(doc, dict) else []
    return [n for n in names if isinstance(n, str) and n not in ("", ".", "..") and os.path.basename(n) == n]


def checkpoints_in(save_dir: str | os.PathLike) -> list[tuple[tuple[int, int], Path]]:
    """(position, manifest) of every readable checkpoint manifest in ``save_dir``, by position (epoch, batch)."""
    found = []
    for m in Path(save_dir).glob("*.json"):
        doc = peek_json(m)
        try:
            pos = position(doc)
        except (TypeError, KeyError, ValueError):   # not a manifest, or not one of ours
            continue
        if doc.get("format") == FORMAT:
            found.append((pos, m))
    return sorted(found)


def position(doc: dict[str, Any]) -> tuple[int, int]:
    """(epochs completed, batches done in the next epoch) of a manifest; TypeError when not integers."""
    epoch, batch = doc["epoch"], doc.get("batch", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, batch)):
        raise TypeError(f"position ({epoch!r}, {batch!r}) is not two integers")
    return epoch, batch


def remove_checkpoint(manifest: str | os.PathLike) -> None:
    """Delete a checkpoint: its manifest first (so it stops existing at once), then its files."""
    manifest = Path(manifest)
    names = data_files(manifest)
    manifest.unlink(missing_ok=True)
    for name in names:
        (manifest.parent / name).unlink(missing_ok=True)


def latest_checkpoint(save_dir: str | os.PathLike) -> Path | None:
    """The manifest of the latest checkpoint (by position) in ``save_dir``, or None."""
    found = checkpoints_in(save_dir)
    return found[-1][1] if found else None


def checkpoint_bytes(net) -> int:
    """About the bytes of one checkpoint of ``net``: its parameters, plus Adam's two float32 moments
    per trained value (and a float32 master copy when the parameters are narrower)."""
    total = 0
    for param in net.collect_params().values():
        size, itemsize = math.prod(param.shape), np.dtype(param.dtype).itemsize
        total += size * itemsize
        if param.grad_req != "null":
            total += size * (8 + (4 if itemsize < 4 else 0))
    return total
