"""An export folder's files, their digests, and how a new export replaces the old one with no gap.

Layout of ``--out DIR``::

    DIR/deploy.json               the description (simplepose.runtime.describe): the one file switched by rename
    DIR/NAME-TAG-symbol.json      MXNet graph     \\  TAG: 12 hex digits of the three files' SHA-256, so a new
    DIR/NAME-TAG-0000.params      MXNet weights    > export's files never take the names of the files the
    DIR/NAME-TAG.onnx             ONNX (optional) /  current deploy.json names (the same TAG: the same bytes)
    DIR/NAME-TAG-int8.onnx        ONNX INT8 (optional, --int8; its digest is in TAG too)
    DIR/anything else             the user's: never read, moved or removed

``deploy.json`` names its files by bare name and carries their SHA-256 (``sha256``), its own fields'
(``description_sha256``) and the source checkpoint's (``checkpoint_sha256``): the folder checks itself wherever
it is moved or copied (``runtime.check``). What an export owns in DIR is what ``deploy.json`` names: its files,
and under ``unused`` the files an export wrote that the description does not use (being moved in, or replaced);
plus the temporary files and folders carrying simplepose's marker (``tempfiles.temporary_dir``).

Replacing an export (:func:`switch_in`; every step one rename or removal, so a kill at any instant leaves the old
export or the new one whole):

1. the new files are made in a marked temporary folder ``DIR/.simplepose-tmp-PID-export.XXXX/``;
2. the old deploy.json is rewritten with the new files under ``unused`` (a first export writes a deploy.json that
   holds only that list: an export interrupted before its first switch, which loading refuses in one line);
3. the new files are renamed into DIR (the old ones are untouched: the old export still loads);
4. the new deploy.json is renamed over the old one (the switch), naming the old files under ``unused``;
5. the old files are removed, then deploy.json is rewritten without ``unused``; the temporary folder goes.

A kill leaves files named by ``unused`` or marked ones; the next export removes them first
(:func:`clean_leftovers`), with one log line, and nothing else.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from simplepose.runtime.describe import DEPLOY_FILE, FORMAT, FORMATS, file_sha256, is_unfinished
from simplepose.errors import SimplePoseError
from simplepose.io import atomic_write_text, read_json
from simplepose.tempfiles import remove_leftovers

log = logging.getLogger(__name__)

FILE_ROLES = ("symbol", "params", "onnx", "int8")
TAG_DIGITS = 12


def tagged_names(stem: str, staged: dict[str, Path]) -> dict[str, str]:
    """Role -> final file name (``STEM-TAG-symbol.json`` ...) of the ``staged`` files (role -> path), TAG
    from their digests: MXNet's ``load_checkpoint(DIR/STEM-TAG, 0)`` still finds the pair."""
    digests = {role: file_sha256(path) for role, path in staged.items()}
    tag = hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:TAG_DIGITS]
    pattern = {"symbol": "{}-symbol.json", "params": "{}-0000.params", "onnx": "{}.onnx", "int8": "{}-int8.onnx"}
    return {role: pattern[role].format(f"{stem}-{tag}") for role in staged}


def _bare_name(value: Any, where: Path, field: str) -> str:
    """``value`` when it names a file of the export folder itself (no folder part, not hidden), else one line."""
    if not (isinstance(value, str) and value == Path(value).name and not value.startswith(".")
            and value != DEPLOY_FILE):
        raise SimplePoseError(f"{where}: field '{field}' is {value!r}, expected a file name in the export folder; "
                              "restore deploy.json, or export to another folder")
    return value


def read_previous(out: Path) -> dict[str, Any] | None:
    """The current deploy.json of ``out`` (None when there is none), refused in one line when it is not one an
    export wrote, or names a file outside the folder: what it names is removed when it is replaced."""
    path = out / DEPLOY_FILE
    if not os.path.lexists(path):
        return None
    fix = "move it away, or export to another folder"
    if not path.is_file():
        raise SimplePoseError(f"{path}: not a file, and an export would replace it; {fix}")
    doc = read_json(path, "export description")
    if not isinstance(doc, dict) or doc.get("format") not in FORMATS:
        raise SimplePoseError(f"{path}: not a simplepose export description (no 'format': '{FORMAT}'), and an "
                              f"export would replace it; {fix}")
    for role in FILE_ROLES:
        if doc.get(role) is not None:
            _bare_name(doc[role], path, role)
    unused = doc.get("unused", [])
    if not isinstance(unused, list):
        raise SimplePoseError(f"{path}: field 'unused' is not a list of file names; restore deploy.json, or "
                              "export to another folder")
    for name in unused:
        _bare_name(name, path, "unused")
    return doc


def live_files(doc: dict[str, Any] | None) -> list[str]:
    """The files a deploy.json uses (none for a missing or unfinished one)."""
    if doc is None or is_unfinished(doc):
        return []
    return [doc[role] for role in FILE_ROLES if doc.get(role)]


def clean_leftovers(out: Path, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """Remove what killed exports left in ``out``: marked temporaries of ended processes, the files
    ``previous`` (its deploy.json, :func:`read_previous`) names under ``unused``, and an unfinished deploy.json;
    one log line. Returns the deploy.json now in place (None when none)."""
    gone = [p.name for p in remove_leftovers(out)]
    unused = [n for n in (previous or {}).get("unused", []) if n not in live_files(previous)]
    for name in unused:
        if os.path.lexists(out / name):
            (out / name).unlink()
            gone.append(name)
    if previous is not None and is_unfinished(previous):
        (out / DEPLOY_FILE).unlink()
        gone.append(f"{DEPLOY_FILE} (of an export that never finished)")
        previous = None
    elif previous is not None and "unused" in previous:
        previous = {k: v for k, v in previous.items() if k != "unused"}
        write_description(out, previous)
    if gone:
        log.info("removed what interrupted exports left in %s: %s", out, ", ".join(gone))
    return previous


def _holds(path: Path, digest: str) -> bool:
    """Whether ``path`` is a file of SHA-256 ``digest``."""
    return path.is_file() and file_sha256(path) == digest


def write_description(out: Path, doc: dict[str, Any]) -> None:
    """deploy.json of ``out``, atomically (``io.atomic_write``)."""
    atomic_write_text(out / DEPLOY_FILE, json.dumps(doc, indent=1), "export description")


def switch_in(out: Path, staged: dict[str, Path], doc: dict[str, Any], previous: dict[str, Any] | None) -> None:
    """Replace the export in ``out`` (described by ``previous``, see :func:`clean_leftovers`) by ``doc``, whose
    files are ``staged`` (final name -> file in a temporary folder of ``out``), as the module docstring says.

    A file of a new name already in ``out`` that no deploy.json names is the user's: refused in one line before
    anything moves. A file of the same name as one of the old export holds the same bytes (the names carry their
    digest) and stays, unless it was damaged or removed since: then the new one is renamed into its place.
    """
    old = live_files(previous)
    for name in staged:
        if name not in old and os.path.lexists(out / name):
            raise SimplePoseError(f"{out / name}: a file of this name is in the export folder, and its deploy.json "
                                  "does not name it; move it away, or export to another folder")
    incoming = [n for n in staged if n not in old]
    repaired = [n for n in staged if n in old and not _holds(out / n, doc["sha256"][n])]
    if incoming:
        write_description(out, {**(previous or {"format": FORMAT}), "unused": incoming})
    for name in incoming + repaired:
        os.replace(staged[name], out / name)
    outgoing = [n for n in old if n not in staged]
    write_description(out, {**doc, "unused": outgoing} if outgoing else doc)
    if outgoing:
        for name in outgoing:
            (out / name).unlink(missing_ok=True)
        write_description(out, doc)
