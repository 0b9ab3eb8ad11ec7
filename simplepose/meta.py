"""Keypoint metadata: the one home of every per-dataset keypoint fact.

Names, skeleton, left/right flip pairs, upper/lower body split and OKS sigmas
are derived from a COCO ``categories`` entry (or given by the user) and carried
by a :class:`KeypointMeta`. Nothing else in the package knows how many joints a
dataset has.
"""
from __future__ import annotations

import logging
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import SimplePoseError
from .io import JsonRecord, read_json, read_text

log = logging.getLogger(__name__)

# COCO's published per-keypoint OKS sigmas (cocoapi), keyed by name so that any
# dataset naming its joints the COCO way gets them, whatever its order.
COCO_SIGMAS: dict[str, float] = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035,
    "right_ear": 0.035, "left_shoulder": 0.079, "right_shoulder": 0.079,
    "left_elbow": 0.072, "right_elbow": 0.072, "left_wrist": 0.062,
    "right_wrist": 0.062, "left_hip": 0.107, "right_hip": 0.107,
    "left_knee": 0.087, "right_knee": 0.087, "left_ankle": 0.089,
    "right_ankle": 0.089,
}

#: COCO's 17 keypoint names in annotation order (the order of the sigma table above).
COCO_KEYPOINT_NAMES: tuple[str, ...] = tuple(COCO_SIGMAS)

#: COCO's 19 skeleton links, 1-based exactly as in person_keypoints_*.json.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7),
    (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5),
    (4, 6), (5, 7),
)

#: COCO-WholeBody's six foot keypoints, which follow COCO's 17 in its 23 body-and-feet keypoints.
FOOT_KEYPOINT_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)

#: COCO-WholeBody's published OKS sigmas of the foot keypoints, in FOOT_KEYPOINT_NAMES order. Not merged
#: into COCO_SIGMAS: a dataset with these names gives its sigmas explicitly (``--sigmas``).
FOOT_SIGMAS: tuple[float, ...] = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)

#: Foot links, 1-based in the 23-keypoint list: ankle-heel, heel-big toe, heel-small toe, big-small toe.
FOOT_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 20), (20, 18), (20, 19), (18, 19), (17, 23), (23, 21), (23, 22), (21, 22),
)

# Words that put a joint in the lower body for half-body augmentation; every
# other joint is upper body.
LOWER_BODY_WORDS = ("hip", "knee", "ankle", "heel", "toe", "foot", "feet", "leg", "thigh", "paw_back")

_SIDE = re.compile(r"(left|right)", re.IGNORECASE)


def _mirror_name(name: str) -> str | None:
    """The name of the joint on the other side, or None for a central joint."""
    if not _SIDE.search(name):
        return None

    def swap(m: re.Match) -> str:
        word = m.group(0)
        other = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return other.upper()
        if word[0].isupper():
            return other.capitalize()
        return other

    return _SIDE.sub(swap, name)


def derive_flip_pairs(names: Sequence[str], source: str = "<metadata>") -> list[tuple[int, int]]:
    """Left/right pairs ``(i, j)``, ``i < j``, 0-based, found by swapping left<->right in names.

    Raises SimplePoseError when a sided name has no counterpart: flipping such a
    dataset would silently teach the wrong side, so the user must give pairs.
    """
    index = {n: i for i, n in enumerate(names)}
    pairs = set()
    for i, name in enumerate(names):
        other = _mirror_name(name)
        if other is None:
            continue
        j = index.get(other)
        if j is None:
            raise SimplePoseError(
                f"{source}: keypoint {name!r} has no mirrored counterpart {other!r}; "
                "give the flip pairs explicitly (--flip-pairs a:b,c:d)")
        pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def parse_pairs(text: str, names: Sequence[str], source: str = "--flip-pairs") -> list[tuple[int, int]]:
    """Parse ``"a:b,c:d"`` where each item is a keypoint name or a 0-based index."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.split(":")
        if len(parts) != 2:
            raise SimplePoseError(f"{source}: {item!r} is not a pair 'a:b'")
        ids = []
        for p in parts:
            if p in index:
                ids.append(index[p])
            elif p.isdigit() and int(p) < len(names):
                ids.append(int(p))
            else:
                raise SimplePoseError(f"{source}: {p!r} is neither a keypoint name nor an index < {len(names)}")
        pairs.append((min(ids), max(ids)))
    return pairs


def _number_or_token(token: str) -> float | str:
    """A token of a text sigmas file as a number, or the token itself (refused, by name, by the caller)."""
    try:
        return float(token)
    except ValueError:
        return token


def load_sigmas(path: str | Path, num_keypoints: int) -> np.ndarray:
    """Read (K,) float64 OKS sigmas from a JSON list or a whitespace/comma separated text file."""
    text = read_text(path, "sigmas file")
    if text.lstrip().startswith("["):
        values = read_json(path, "sigmas file")   # a syntax error is named by line and column
    else:
        values = [_number_or_token(v) for v in re.split(r"[\s,]+", text) if v]
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise SimplePoseError(f"{path}: sigma {i + 1} is {v!r}, expected a positive number (one per keypoint, "
                                  "in the keypoint order)")
    if len(values) != num_keypoints:
        raise SimplePoseError(f"{path}: {len(values)} sigmas given for {num_keypoints} keypoints")
    return np.asarray(values, dtype=np.float64)


def _is_index(value: Any) -> bool:
    """An integer, or a float with an integral value as some writers store indices (not a boolean)."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or \
        (isinstance(value, float) and value.is_integer())


def _stored_indices(rec: JsonRecord, key: str, k: int, pairs: bool) -> tuple:
    """Field ``key`` of stored metadata: 0-based keypoint indices (``pairs``: [i, j] pairs of them)."""
    found = []
    for n, item in enumerate(rec.list(key)):
        values = item if pairs else [item]
        if not (isinstance(values, list) and len(values) == (2 if pairs else 1)
                and all(_is_index(v) and 0 <= v < k for v in values)):
            expected = "a pair of keypoint indices" if pairs else "a keypoint index"
            raise rec.error(key, f"value {n} is {item!r}, expected {expected} in 0..{k - 1}; regenerate the file")
        found.append(tuple(int(v) for v in values) if pairs else int(item))
    return tuple(found)


@dataclass(frozen=True)
class KeypointMeta:
    """Per-dataset keypoint facts.

    Attributes:
        names: K keypoint names, in annotation order.
        skeleton: links as 0-based index pairs (for drawing).
        flip_pairs: left/right 0-based index pairs swapped by a horizontal flip.
        upper_body, lower_body: 0-based indices for half-body augmentation.
        sigmas: (K,) float64 OKS sigmas, or None when unknown (evaluation then needs --sigmas).
    """

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    upper_body: tuple[int, ...]
    lower_body: tuple[int, ...]
    sigmas: tuple[float, ...] | None

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def flip_index(self) -> np.ndarray:
        """(K,) int64 permutation: joint k of a flipped image is joint flip_index[k] of the original."""
        perm = np.arange(self.num_joints)
        for i, j in self.flip_pairs:
            perm[i], perm[j] = j, i
        return perm

    @property
    def sides(self) -> tuple[str, ...]:
        """Per joint "left", "right" or "centre": from its name, else from its flip pair (first = left)."""
        sides = []
        for i, name in enumerate(self.names):
            m = _SIDE.search(name)
            side = m.group(0).lower() if m else "centre"
            for a, b in self.flip_pairs:
                if side == "centre" and i in (a, b):
                    side = "left" if i == a else "right"
            sides.append(side)
        return tuple(sides)

    @classmethod
    def build(cls, names: Sequence[str], skeleton: Iterable[Sequence[int]] = (),
              flip_pairs: Iterable[Sequence[int]] | None = None,
              sigmas: Sequence[float] | None = None, source: str = "<metadata>",
              skeleton_one_based: bool = False) -> "KeypointMeta":
        """Validate and derive everything not given from the names."""
        names = tuple(str(n) for n in names)
        k = len(names)
        if k == 0:
            raise SimplePoseError(f"{source}: the keypoint category lists no keypoint names")
        if len(set(names)) != k:
            raise SimplePoseError(f"{source}: keypoint names are not unique: {list(names)}")
        off = 1 if skeleton_one_based else 0
        links = []
        for n, link in enumerate(skeleton):
            if not (isinstance(link, (list, tuple)) and len(link) == 2 and all(_is_index(x) for x in link)):
                raise SimplePoseError(f"{source}: skeleton link {n} is {link!r}, expected a pair of keypoint "
                                      f"numbers [a, b] in {off}..{k - 1 + off}")
            a, b = (int(x) - off for x in link)
            if not (0 <= a < k and 0 <= b < k):
                raise SimplePoseError(f"{source}: skeleton link {list(link)} refers to a keypoint outside "
                                      f"{off}..{k - 1 + off}")
            links.append((a, b))
        pairs = derive_flip_pairs(names, source) if flip_pairs is None else [tuple(map(int, p)) for p in flip_pairs]
        seen: set[int] = set()
        for i, j in pairs:
            if not (0 <= i < k and 0 <= j < k) or i == j or i in seen or j in seen:
                raise SimplePoseError(f"{source}: invalid flip pair ({i}, {j}) for {k} keypoints")
            seen.update((i, j))
        if sigmas is None and all(n in COCO_SIGMAS for n in names):
            sigmas = [COCO_SIGMAS[n] for n in names]
        if sigmas is not None:
            sigmas = tuple(float(s) for s in sigmas)
            if len(sigmas) != k:
                raise SimplePoseError(f"{source}: {len(sigmas)} OKS sigmas for {k} keypoints")
        else:
            log.warning("%s: no OKS sigmas known for keypoints %s; COCO AP evaluation needs --sigmas FILE",
                        source, [n for n in names if n not in COCO_SIGMAS])
        lower = tuple(i for i, n in enumerate(names) if any(w in n.lower() for w in LOWER_BODY_WORDS))
        upper = tuple(i for i in range(k) if i not in lower)
        return cls(names, tuple(links), tuple(sorted((min(p), max(p)) for p in pairs)), upper, lower, sigmas)

    @classmethod
    def from_coco_category(cls, category: dict[str, Any], source: str = "<annotations>",
                           flip_pairs: str | None = None, sigmas_file: str | None = None,
                           record: str = "") -> "KeypointMeta":
        """From a COCO ``categories`` entry (``keypoints`` names, 1-based ``skeleton``).

        ``flip_pairs`` is the user's ``"a:b,..."`` text and ``sigmas_file`` a path; both override derivation.
        ``source`` and ``record`` (e.g. ``"categories[0]"``) name the entry in errors.
        """
        rec = JsonRecord(category, source, record)
        names = rec.list("keypoints")
        bad = next((i for i, n in enumerate(names) if not isinstance(n, str) or not n), None)
        if not names or bad is not None:
            raise rec.error("keypoints", f"value {bad} is {names[bad]!r}, expected a keypoint name" if names
                            else "is empty, expected the keypoint names")
        skeleton = rec.list("skeleton", ())
        where = f"{source}: {record}" if record else source
        pairs = parse_pairs(flip_pairs, names) if flip_pairs else None
        sigmas = load_sigmas(sigmas_file, len(names)) if sigmas_file else None
        return cls.build(names, skeleton, pairs, sigmas, where, skeleton_one_based=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored in checkpoints and exports."""
        return {"names": list(self.names), "skeleton": [list(p) for p in self.skeleton],
                "flip_pairs": [list(p) for p in self.flip_pairs], "upper_body": list(self.upper_body),
                "lower_body": list(self.lower_body), "sigmas": None if self.sigmas is None else list(self.sigmas)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<metadata>", record: str = "meta") -> "KeypointMeta":
        """The inverse of :meth:`to_dict`; a field missing or of the wrong type raises one line naming
        ``source`` (the checkpoint manifest or deploy.json), ``record`` and the field."""
        rec = JsonRecord(d, source, record)
        names = rec.list("names")
        if not names or not all(isinstance(n, str) for n in names):
            raise rec.error("names", "expected a list of keypoint names; regenerate the file")
        k = len(names)
        sigmas = rec.numbers("sigmas", None, length=k)
        pairs = {key: _stored_indices(rec, key, k, pairs=True) for key in ("skeleton", "flip_pairs")}
        body = {key: _stored_indices(rec, key, k, pairs=False) for key in ("upper_body", "lower_body")}
        return cls(tuple(names), pairs["skeleton"], pairs["flip_pairs"], body["upper_body"], body["lower_body"],
                   None if sigmas is None else tuple(sigmas))
