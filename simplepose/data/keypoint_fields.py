"""Which annotation fields hold a person's keypoints, and reading them: ``keypoints`` alone, or COCO-WholeBody's parts.

COCO-WholeBody keeps 133 keypoints in five fields of each annotation, in this order: ``keypoints`` (the 17 body
points, the only ones its ``categories`` name), ``foot_kpts`` (6), ``face_kpts`` (68), ``lefthand_kpts`` (21) and
``righthand_kpts`` (21), each part but the body with a ``*_valid`` flag (an invalid part is all zeros). They are
read concatenated in that order (``meta.WHOLEBODY_PARTS``), as mmpose's CocoWholeBodyDataset trains them: by
default every part the file has; ``--keypoint-fields body,foot`` (part or field names) chooses, and the parts
present but not chosen are named in one warning.

Quirks of the real files, fixed and counted (``quirks.Fixes``): hand keypoints whose visibility is the labelling
tool's confidence (a fraction such as 0.19, not 0, 1 or 2) are read as labelled (v 1), as COCO-WholeBody's
evaluation and mmpose do (v > 0); a part flagged invalid but holding labelled keypoints is read as unlabelled,
as its flag says. A part field of the wrong length, with NaN or a visibility outside [0, 2], or an invalid flag
is a bad record.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord
from simplepose.meta import WHOLEBODY_PARTS, KeypointMeta
from simplepose.data.quirks import BadRecord, Fixes, flat_keypoints

log = logging.getLogger(__name__)

#: Part name -> (annotation field, number of keypoints; None for the body: the category's K).
PART_FIELDS: dict[str, tuple[str, int | None]] = {
    part: (field, None if part == "body" else len(names)) for part, field, names in WHOLEBODY_PARTS}
BODY = "body"
SCORE_VISIBILITY = ("part keypoint visibility is a confidence between 0 and 2, not 0, 1 or 2 (COCO-WholeBody's "
                    "hands): read as labelled (v 1), as its evaluation and mmpose do (v > 0)")
INVALID_PART = "part flagged invalid ('*_valid' false) but with labelled keypoints: read as unlabelled"


def parse_keypoint_fields(value: str | None) -> tuple[str, ...] | None:
    """``--keypoint-fields`` as given (``"body,foot"`` or ``"keypoints,foot_kpts"``) -> the parts, in COCO-WholeBody's
    order; None for the default (what the file, or the model, has)."""
    if value is None:
        return None
    by_field = {field: part for part, (field, _) in PART_FIELDS.items()}
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in PART_FIELDS and v not in by_field]
    if unknown or not items:
        raise SimplePoseError(f"--keypoint-fields {value!r}: {unknown[0] + ' is ' if unknown else ''}not a part; "
                              f"give parts among {','.join(PART_FIELDS)} (or their fields "
                              f"{','.join(f for f, _ in PART_FIELDS.values())}), e.g. body,foot")
    chosen = {by_field.get(v, v) for v in items}
    return tuple(part for part in PART_FIELDS if part in chosen)


def _present(annotations: list[Any]) -> Counter:
    """Part -> how many annotations carry its field (the parts other than the body)."""
    counts: Counter = Counter()
    for ann in annotations:
        if isinstance(ann, dict):
            counts.update(part for part, (field, n) in PART_FIELDS.items() if n and ann.get(field) is not None)
    return counts


def choose_parts(annotations: list[Any], path: Path, value: str | None, meta: KeypointMeta | None) -> tuple[str, ...]:
    """The parts to read, in order: ``value`` (``--keypoint-fields``), else the model's (``meta.parts``; a model
    without parts read ``keypoints`` alone), else every part the file has. A chosen part the file lacks raises one
    line; parts the file has but not chosen are named in one warning, with how many annotations carry them."""
    present = _present(annotations)
    wanted = parse_keypoint_fields(value)
    if wanted is None and meta is not None:
        wanted = tuple(p for p, _ in meta.parts) or (BODY,)
    elif wanted is None:
        wanted = (BODY, *(p for p in PART_FIELDS if p in present))
    missing = [p for p in wanted if p != BODY and p not in present]
    if missing:
        has = ", ".join(PART_FIELDS[p][0] for p in PART_FIELDS if p == BODY or p in present)
        raise SimplePoseError(f"{path}: no annotation has the field '{PART_FIELDS[missing[0]][0]}' of part "
                              f"{missing[0]} ({'--keypoint-fields ' + value if value else 'the model reads it'}); "
                              f"its keypoint fields are {has}: choose among them with --keypoint-fields")
    ignored = [p for p in PART_FIELDS if p in present and p not in wanted]
    if ignored:
        why = f"--keypoint-fields {value}; the default reads every part the file has" if value else \
            f"the model's parts are {','.join(wanted)}"
        log.warning("%s: %d keypoint field%s not read: %s; %d keypoints per person ignored (%s)", path, len(ignored),
                    "" if len(ignored) == 1 else "s", ", ".join(f"{PART_FIELDS[p][0]} ({PART_FIELDS[p][1]} keypoints, "
                                                              f"in {present[p]} annotations)" for p in ignored),
                    sum(PART_FIELDS[p][1] for p in ignored), why)
    return wanted


class KeypointFields:
    """Reads one annotation's keypoints from the fields of ``parts`` (``body_count``: K of the ``keypoints`` field,
    the category's), concatenated: (K, 3) float32 (x, y, v), image pixels, COCO visibility."""

    def __init__(self, parts: tuple[str, ...], body_count: int):
        self.parts = parts
        self.counts = [body_count if p == BODY else PART_FIELDS[p][1] for p in parts]
        self.num_joints = sum(self.counts)
        # Where the body's joints are, to check the file's num_keypoints (COCO-WholeBody's counts the body only).
        self.body = slice(0, body_count) if parts[0] == BODY else None

    def read(self, ann: JsonRecord, fixes: Fixes) -> np.ndarray:
        """(K, 3) float32 joints of ``ann``; raise BadRecord naming the field for a wrong count or value. Each kind
        of part quirk is counted once per annotation, with the first field it was found in."""
        found: dict[str, str] = {}
        joints = np.concatenate([_body(ann, n, fixes) if p == BODY else _part(ann, p, n, found)
                                 for p, n in zip(self.parts, self.counts)])
        for fix, field in found.items():
            fixes.add(fix, f"{ann.record}: {field}")
        return joints


def _body(ann: JsonRecord, k: int, fixes: Fixes) -> np.ndarray:
    """The ``keypoints`` field: (k, 3) float32, visibility 0, 1 or 2."""
    where = f"{ann.source}: {ann.record}"
    kps = flat_keypoints(ann, fixes)
    if len(kps) != 3 * k:
        raise BadRecord(f"{where}: {len(kps)} keypoint values, expected 3 x {k} for {k} keypoints",
                        "wrong keypoint count")
    joints = _numbers(ann, "keypoints", kps).reshape(k, 3)
    if not np.all(np.isin(joints[:, 2], (0, 1, 2))):
        raise BadRecord(f"{where}: keypoint visibility must be 0, 1 or 2", "bad keypoint visibility")
    return joints


def _numbers(ann: JsonRecord, field: str, values: list, hint: str = "") -> np.ndarray:
    """``values`` of ``field`` as float32; raise BadRecord for a non-number, NaN or infinity (``hint``: the fix)."""
    if not set(map(type, values)) <= {int, float}:   # (NumPy would take "12" for 12; bool is a type of its own)
        bad = next(i for i, v in enumerate(values) if type(v) not in (int, float))
        raise BadRecord(str(ann.error(field, f"value {bad} is {values[bad]!r}, expected a number{hint}")),
                        "non-numeric keypoints")
    out = np.asarray(values, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        bad = int(np.flatnonzero(~np.isfinite(out))[0])
        message = f"{ann.source}: {ann.record}: keypoints contain NaN or infinity" if field == "keypoints" else \
            str(ann.error(field, f"value {bad} is {values[bad]}: keypoints contain NaN or infinity{hint}"))
        raise BadRecord(message, "NaN/infinite keypoints")
    return out


def _part(ann: JsonRecord, part: str, k: int, found: dict[str, str]) -> np.ndarray:
    """A COCO-WholeBody part field (``face_kpts``...): (k, 3) float32; the quirks fixed (see the module docstring)
    are added to ``found`` (quirk -> first field)."""
    field, flag = PART_FIELDS[part][0], f"{part}_valid"
    hint = f"(or leave the {part} out with --keypoint-fields)"   # BadRecords adds: fix the record, or skip it
    values = ann.data.get(field)
    if not isinstance(values, list) or len(values) != 3 * k:
        got = "is missing" if values is None else \
            f"has {len(values)} values" if isinstance(values, list) else f"is {type(values).__name__}"
        raise BadRecord(str(ann.error(field, f"{got}, expected 3 x {k} for COCO-WholeBody's {k} {part} keypoints "
                                             f"{hint}")), f"wrong {part} keypoint count")
    joints = _numbers(ann, field, values, f" {hint}").reshape(k, 3)
    v = joints[:, 2]
    if np.any((v < 0) | (v > 2)):
        raise BadRecord(str(ann.error(field, f"keypoint visibility {float(v[(v < 0) | (v > 2)][0]):g} is outside "
                                             f"0..2 {hint}")), "bad keypoint visibility")
    valid = ann.data.get(flag, True)
    if valid not in (True, False) or isinstance(valid, float):   # true/false, or 1/0 as some converters write
        raise BadRecord(str(ann.error(flag, f"is {valid!r}, expected true or false {hint}")), f"bad {flag}")
    scored = (v > 0) & (v != np.round(v))
    if scored.any():
        found.setdefault(SCORE_VISIBILITY, field)
        v[scored] = 1
    if not valid and np.any(v > 0):
        found.setdefault(INVALID_PART, field)
        v[:] = 0
    return joints
