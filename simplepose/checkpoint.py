"""Self-describing, atomically written checkpoints.

A checkpoint ``PREFIX`` is three files:

- ``PREFIX.params``: the network parameters (MXNet format; GluonCV's models of
  the same name load it with ``load_parameters``),
- ``PREFIX.states``: the trainer state (Adam moments, update count, LR schedule),
- ``PREFIX.json``: the manifest: epoch, full config, keypoint metadata, and the
  two file names.

Each file is written to a temporary name and renamed; the manifest goes last,
so a checkpoint exists exactly when its manifest does, and a kill at any moment
leaves the previous checkpoint loadable.

A checkpoint written when training stops inside an epoch (Ctrl-C, a bad image)
has ``"epoch"`` = the epochs completed and ``"batch"`` = the batches done in the
next one (regular checkpoints: 0), plus the running sums of that epoch; its
position is ``(epoch, batch)``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import MissingFileError, SimplePoseError
from .io import atomic_write, atomic_write_text

FORMAT = "simplepose-checkpoint-1"
def save_checkpoint(prefix: str | os.PathLike, net, trainer, epoch: int, config: dict[str, Any],
                    meta: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write ``prefix.{params,states,json}``; returns the manifest path."""
    prefix = Path(prefix)
    params, states, manifest = (prefix.with_name(prefix.name + ext) for ext in (".params", ".states", ".json"))
    # Overwriting a checkpoint of the same name: withdraw its manifest first, so a kill between the
    # files never leaves a manifest over a mix of old and new files.
    manifest.unlink(missing_ok=True)
    atomic_write(params, net.save_parameters)
    atomic_write(states, trainer.save_states)
    doc = {"format": FORMAT, "epoch": epoch, "params": params.name, "states": states.name,
           "config": config, "meta": meta, **(extra or {})}
    atomic_write_text(manifest, json.dumps(doc, indent=1))
    return manifest


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint manifest given its ``.json``, its ``.params`` or its prefix.

    Returns the manifest with ``params`` and ``states`` turned into full paths.
    """
    path = Path(path)
    manifest = path if path.suffix == ".json" else path.with_name(
        (path.stem if path.suffix in (".params", ".states") else path.name) + ".json")
    if not manifest.is_file():
        raise MissingFileError(f"{manifest}: checkpoint manifest not found (checkpoint {path})")
    try:
        doc = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimplePoseError(f"{manifest}: corrupt checkpoint manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SimplePoseError(f"{manifest}: not a simplepose checkpoint manifest")
    for key in ("params", "states"):
        full = manifest.parent / doc[key]
        if not full.is_file():
            raise MissingFileError(f"{full}: file of checkpoint {manifest} is missing")
        doc[key] = str(full)
    return doc


def checkpoints_in(save_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(epoch, manifest) of every readable checkpoint manifest in ``save_dir``, by position (epoch, batch)."""
    found = []
    for m in Path(save_dir).glob("*.json"):
        try:
            doc = json.loads(m.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and doc.get("format") == FORMAT and isinstance(doc.get("epoch"), int):
            found.append((position(doc), m))
    return [(pos[0], m) for pos, m in sorted(found)]


def position(doc: dict[str, Any]) -> tuple[int, int]:
    """(epochs completed, batches done in the next epoch) of a manifest."""
    return int(doc["epoch"]), int(doc.get("batch", 0))


def remove_checkpoint(manifest: str | os.PathLike) -> None:
    """Delete a checkpoint: its manifest first (so it stops existing at once), then its files."""
    manifest = Path(manifest)
    try:
        doc = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return
    manifest.unlink(missing_ok=True)
    for key in ("params", "states"):
        if isinstance(doc.get(key), str):
            (manifest.parent / doc[key]).unlink(missing_ok=True)


def latest_checkpoint(save_dir: str | os.PathLike) -> Path | None:
    """The manifest of the highest-epoch checkpoint in ``save_dir``, or None."""
    found = checkpoints_in(save_dir)
    return found[-1][1] if found else None
