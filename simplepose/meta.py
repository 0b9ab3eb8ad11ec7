"""Keypoint metadata: the one home of every per-dataset keypoint fact.

Names, skeleton, left/right flip pairs, upper/lower body split and OKS sigmas
are derived from a COCO ``categories`` entry (or given by the user) and carried
by a :class:`KeypointMeta`. Nothing else in the package knows how many joints a
dataset has. Names are compared in canonical form (:mod:`simplepose.keypoint_names`):
that pairs the sides and finds published sigmas (:mod:`simplepose.sigma_tables`).
"""
from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord
from simplepose.keypoint_names import FACE_NAMES, FOOT_NAMES, canonical_name, hand_names, pair_sides, side
from simplepose.sigma_tables import COCO_SIGMAS, lookup_sigmas, parse_sigmas_option

log = logging.getLogger(__name__)

#: COCO's 17 keypoint names in annotation order (the order of cocoapi's sigma table).
COCO_KEYPOINT_NAMES: tuple[str, ...] = tuple(COCO_SIGMAS)

#: COCO's 19 skeleton links, 1-based exactly as in person_keypoints_*.json.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7),
    (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5),
    (4, 6), (5, 7),
)

#: COCO-WholeBody's six foot keypoints, which follow COCO's 17 in its 23 body-and-feet keypoints
#: (their published sigmas: sigma_tables.FOOT_SIGMAS, found by name like COCO's).
FOOT_KEYPOINT_NAMES: tuple[str, ...] = FOOT_NAMES

#: Foot links, 1-based in the 23-keypoint list: ankle-heel, heel-big toe, heel-small toe, big-small toe.
FOOT_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 20), (20, 18), (20, 19), (18, 19), (17, 23), (23, 21), (23, 22), (21, 22),
)

#: COCO-WholeBody's five parts in its keypoint order (133 in all): part name, the annotation field holding its
#: keypoints, and the names of those keypoints (the body's come from the file's category).
WHOLEBODY_PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("body", "keypoints", COCO_KEYPOINT_NAMES), ("foot", "foot_kpts", FOOT_NAMES), ("face", "face_kpts", FACE_NAMES),
    ("lefthand", "lefthand_kpts", hand_names("left")), ("righthand", "righthand_kpts", hand_names("right")),
)


def _chain(names: Sequence[str], closed: bool = False) -> list[tuple[str, str]]:
    links = list(zip(names[:-1], names[1:]))
    return links + [(names[-1], names[0])] if closed else links


def _wholebody_links() -> tuple[tuple[str, str], ...]:
    """Links (by name) drawn between COCO-WholeBody's part keypoints, beyond the body skeleton of the file: ankle to
    heel to toes; the 300-W face outline (jaw, brows, nose, closed eyes and lips); each finger from the hand root,
    and the wrist to the hand root."""
    face = FACE_NAMES
    links = [(f"{s}_ankle", f"{s}_heel") for s in ("left", "right")]
    links += [(f"{s}_heel", f"{s}_{toe}") for s in ("left", "right") for toe in ("big_toe", "small_toe")]
    links += [(f"{s}_big_toe", f"{s}_small_toe") for s in ("left", "right")]
    for start, stop, closed in ((0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False), (31, 36, False),
                                (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True)):
        links += _chain(face[start:stop], closed)
    for s in ("left", "right"):
        hand = hand_names(s)
        links.append((f"{s}_wrist", hand[0]))
        for f in range(5):
            links += _chain((hand[0], *hand[1 + 4 * f:5 + 4 * f]))
    return tuple(links)


WHOLEBODY_LINKS = _wholebody_links()

# Words that put a joint in the lower body for half-body augmentation, matched within the words of its
# canonical name (so "right_foreleg_1" is lower through "leg"); every other joint is upper body.
LOWER_BODY_WORDS = ("hip", "knee", "ankle", "heel", "toe", "foot", "feet", "leg", "thigh", "hock")
# Whole words that, in a sided name, mark a four-legged animal's hind limb (L_B_Paw, left_back_paw): lower
# body too. Unsided names with them ("upper_back") are not limbs.
HIND_WORDS = ("b", "back", "hind", "rear")


def is_lower_body(canonical: str) -> bool:
    """Whether the joint of canonical name ``canonical`` is lower body (see LOWER_BODY_WORDS, HIND_WORDS)."""
    words = canonical.split("_")
    if any(w in word for word in words for w in LOWER_BODY_WORDS):
        return True
    return words[0] in ("left", "right") and any(w in HIND_WORDS for w in words[1:])


def parse_pairs(text: str, names: Sequence[str], source: str = "--flip-pairs") -> list[tuple[int, int]]:
    """Parse ``"a:b,c:d"`` where each item is a keypoint name or a 0-based index; ``"none"``: no pairs."""
    if text.strip().casefold() == "none":
        return []
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


def _skeleton_links(skeleton: Sequence[Any], k: int, one_based: bool, source: str) -> tuple[tuple[int, int], ...]:
    """Skeleton links as 0-based index pairs. The skeleton only draws, so its quirks are never refused:
    a link that is not a pair of integers, or that refers to a keypoint outside 1..K (0..K-1 when not
    ``one_based``), is dropped and counted in a warning; a skeleton declared 1-based that uses index 0
    with every index within 0..K-1 is read as 0-based, with a warning."""
    links = [tuple(int(x) for x in link) for link in skeleton
             if isinstance(link, (list, tuple)) and len(link) == 2 and all(_is_index(x) for x in link)]
    total = len(skeleton)
    if len(links) < total:
        log.warning("%s: %d of %d skeleton links are not a pair of keypoint numbers [a, b]: dropped; the skeleton "
                    "only draws", source, total - len(links), total)
    flat = [x for link in links for x in link]
    offset = 1 if one_based else 0
    if one_based and 0 in flat and all(0 <= x < k for x in flat):
        log.warning("%s: the skeleton uses keypoint 0 and stays within 0..%d: read as 0-based (COCO's is "
                    "1-based)", source, k - 1)
        offset = 0
    kept = tuple((a - offset, b - offset) for a, b in links if 0 <= a - offset < k and 0 <= b - offset < k)
    if len(kept) < len(links):
        log.warning("%s: %d of %d skeleton links refer to keypoints outside %d..%d: dropped; the skeleton only "
                    "draws", source, len(links) - len(kept), total, offset, k - 1 + offset)
    return kept


@dataclass(frozen=True)
class KeypointMeta:
    """Per-dataset keypoint facts.

    Attributes:
        names: K keypoint names, in annotation order.
        skeleton: links as 0-based index pairs (for drawing).
        flip_pairs: left/right 0-based index pairs swapped by a horizontal flip.
        upper_body, lower_body: 0-based indices for half-body augmentation.
        sigmas: (K,) float64 OKS sigmas, or None when unknown (evaluation then needs --sigmas).
        sigmas_source: where ``sigmas`` came from, as reports print it: published tables
            ("COCO (cocoapi)", "COCO (cocoapi) + COCO-WholeBody feet"), "file PATH", "uniform:0.05", "given"
            (by code), "checkpoint" (stored before sources were recorded); None without sigmas.
        parts: the parts read from annotation fields of their own, in keypoint order, as (part, count):
            COCO-WholeBody's ("body", 17), ("foot", 6), ("face", 68), ("lefthand", 21), ("righthand", 21) or
            some of them; empty when every keypoint comes from ``keypoints``.
    """

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    upper_body: tuple[int, ...]
    lower_body: tuple[int, ...]
    sigmas: tuple[float, ...] | None
    sigmas_source: str | None = None
    parts: tuple[tuple[str, int], ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def canonical_names(self) -> tuple[str, ...]:
        """The K names in canonical form (``R_Eye`` -> ``right_eye``): how names are matched across sets."""
        return tuple(canonical_name(n) for n in self.names)

    @property
    def part_indices(self) -> dict[str, np.ndarray]:
        """Part name -> (K_part,) int64 indices of its keypoints, in ``parts`` order; empty without parts."""
        bounds = np.cumsum([0] + [n for _, n in self.parts])
        return {name: np.arange(bounds[i], bounds[i + 1]) for i, (name, _) in enumerate(self.parts)}

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
        by_pair = {i: "left" for i, _ in self.flip_pairs} | {j: "right" for _, j in self.flip_pairs}
        return tuple(side(name) or by_pair.get(i, "centre") for i, name in enumerate(self.names))

    @classmethod
    def build(cls, names: Sequence[str], skeleton: Iterable[Sequence[int]] = (),
              flip_pairs: Iterable[Sequence[int]] | None = None,
              sigmas: Sequence[float] | None = None, source: str = "<metadata>",
              skeleton_one_based: bool = False, sigmas_source: str | None = None,
              parts: Sequence[tuple[str, int]] = ()) -> "KeypointMeta":
        """Validate and derive everything not given from the names: flip pairs by canonical name
        (:func:`~simplepose.keypoint_names.pair_sides`), sigmas from the published tables
        (:func:`~simplepose.sigma_tables.lookup_sigmas`). ``sigmas_source`` says where given ``sigmas``
        came from (default "given"). The skeleton is cleaned, never refused (see ``_skeleton_links``)."""
        names = tuple(str(n) for n in names)
        k = len(names)
        if k == 0:
            raise SimplePoseError(f"{source}: the keypoint category lists no keypoint names")
        if len(set(names)) != k:
            raise SimplePoseError(f"{source}: keypoint names are not unique: {list(names)}")
        links = _skeleton_links(list(skeleton), k, skeleton_one_based, source)
        pairs = pair_sides(names, source) if flip_pairs is None else [tuple(map(int, p)) for p in flip_pairs]
        seen: set[int] = set()
        for i, j in pairs:
            if not (0 <= i < k and 0 <= j < k) or i == j or i in seen or j in seen:
                raise SimplePoseError(f"{source}: invalid flip pair ({i}, {j}) for {k} keypoints")
            seen.update((i, j))
        if sigmas is None:
            sigmas, sigmas_source = lookup_sigmas(names, source)
        else:
            sigmas, sigmas_source = tuple(float(s) for s in sigmas), sigmas_source or "given"
            if len(sigmas) != k:
                raise SimplePoseError(f"{source}: {len(sigmas)} OKS sigmas for {k} keypoints")
        lower = tuple(i for i, n in enumerate(names) if is_lower_body(canonical_name(n)))
        upper = tuple(i for i in range(k) if i not in lower)
        return cls(names, links, tuple(sorted((min(p), max(p)) for p in pairs)), upper, lower, sigmas, sigmas_source,
                   tuple((str(p), int(n)) for p, n in parts))

    @classmethod
    def from_coco_category(cls, category: dict[str, Any], source: str = "<annotations>",
                           flip_pairs: str | None = None, sigmas_file: str | None = None,
                           record: str = "", num_keypoints: int | None = None,
                           parts: Sequence[str] = ()) -> "KeypointMeta":
        """From a COCO ``categories`` entry (``keypoints`` names, 1-based ``skeleton``).

        ``flip_pairs`` is the user's ``"a:b,..."`` text (or ``"none"``) and ``sigmas_file`` the ``--sigmas``
        value (a file of K sigmas, or ``uniform:VALUE``); both override derivation. ``source`` and ``record``
        (e.g. ``"categories[0]"``) name the entry in errors and warnings. A category whose ``keypoints`` is
        missing or empty (face-landmark sets) gets the names ``kpt_0`` .. ``kpt_{K-1}``, K =
        ``num_keypoints`` (from the annotations), and no flip pairs unless ``flip_pairs`` gives them.
        ``parts`` names the COCO-WholeBody parts read (WHOLEBODY_PARTS; empty: the category's keypoints only):
        the category's keypoints stand for "body", the other parts' names and links are COCO-WholeBody's.
        """
        where = f"{source}: {record}" if record else source
        names, skeleton, derive = _category_keypoints(JsonRecord(category, source, record), where, num_keypoints)
        one_based, counts = True, ()
        if parts:
            names, skeleton, counts = _part_layout(names, skeleton, parts, where)
            one_based = False
        pairs = parse_pairs(flip_pairs, names) if flip_pairs else (None if derive else [])
        sigmas, sigmas_source = parse_sigmas_option(sigmas_file, len(names)) if sigmas_file else (None, None)
        return cls.build(names, skeleton, pairs, sigmas, where, skeleton_one_based=one_based,
                         sigmas_source=sigmas_source, parts=counts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, stored in checkpoints and exports."""
        return {"names": list(self.names), "skeleton": [list(p) for p in self.skeleton],
                "flip_pairs": [list(p) for p in self.flip_pairs], "upper_body": list(self.upper_body),
                "lower_body": list(self.lower_body), "sigmas": None if self.sigmas is None else list(self.sigmas),
                "sigmas_source": self.sigmas_source,
                **({"parts": [list(p) for p in self.parts]} if self.parts else {})}   # absent: older files match

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<metadata>", record: str = "meta") -> "KeypointMeta":
        """The inverse of :meth:`to_dict`; a field missing or of the wrong type raises one line naming
        ``source`` (the checkpoint manifest or deploy.json), ``record`` and the field. Metadata stored
        before ``sigmas_source`` existed loads with the source "checkpoint"."""
        rec = JsonRecord(d, source, record)
        names = rec.list("names")
        if not names or not all(isinstance(n, str) for n in names):
            raise rec.error("names", "expected a list of keypoint names; regenerate the file")
        k = len(names)
        sigmas = rec.numbers("sigmas", None, length=k)
        sigmas_source = rec.string("sigmas_source", None) if sigmas is not None else None
        pairs = {key: _stored_indices(rec, key, k, pairs=True) for key in ("skeleton", "flip_pairs")}
        body = {key: _stored_indices(rec, key, k, pairs=False) for key in ("upper_body", "lower_body")}
        return cls(tuple(names), pairs["skeleton"], pairs["flip_pairs"], body["upper_body"], body["lower_body"],
                   None if sigmas is None else tuple(sigmas), sigmas_source or ("checkpoint" if sigmas else None),
                   _stored_parts(rec, k))


def _category_keypoints(rec: JsonRecord, where: str, num_keypoints: int | None) -> tuple[list[str], list, bool]:
    """(names, raw 1-based skeleton, whether flip pairs may be derived from the names) of a ``categories`` entry;
    see ``KeypointMeta.from_coco_category``."""
    names = rec.list("keypoints", [])
    bad = next((i for i, n in enumerate(names) if not isinstance(n, str) or not n), None)
    if bad is not None:
        raise rec.error("keypoints", f"value {bad} is {names[bad]!r}, expected a keypoint name")
    derive = True
    if not names:
        if num_keypoints is None:
            raise rec.error("keypoints", "lists no keypoint names and no annotation gives a keypoint count; "
                                         "list the names (or give the annotations their keypoints)")
        names, derive = [f"kpt_{i}" for i in range(num_keypoints)], False
        log.warning("%s: the category lists no keypoint names: named kpt_0..kpt_%d after the annotations' "
                    "%d keypoints, with no flip pairs unless --flip-pairs gives them", where,
                    num_keypoints - 1, num_keypoints)
    skeleton = rec.data.get("skeleton") or []
    if not isinstance(skeleton, list):
        log.warning("%s: field 'skeleton' is %s, not a list of links: ignored; the skeleton only draws",
                    where, type(skeleton).__name__)
        skeleton = []
    return names, skeleton, derive


def _part_layout(body_names: Sequence[str], body_skeleton: Sequence[Any], parts: Sequence[str], where: str
                 ) -> tuple[list[str], list[tuple[int, int]], tuple[tuple[str, int], ...]]:
    """(names, 0-based links, (part, count) pairs) of the COCO-WholeBody ``parts`` read, in WHOLEBODY_PARTS order:
    the body is the category's keypoints and 1-based skeleton, the other parts COCO-WholeBody's names and links."""
    names: list[str] = []
    links: list[tuple[int, int]] = []
    counts = []
    for part, _, part_names in WHOLEBODY_PARTS:
        if part not in parts:
            continue
        if part == "body":
            links += [(a + len(names), b + len(names))
                      for a, b in _skeleton_links(list(body_skeleton), len(body_names), True, where)]
            part_names = tuple(body_names)
        names += part_names
        counts.append((part, len(part_names)))
    index = {n: i for i, n in enumerate(names)}
    links += [(index[a], index[b]) for a, b in WHOLEBODY_LINKS if a in index and b in index]
    return names, links, tuple(counts)


def part_names(body_names: Sequence[str], parts: Sequence[str]) -> list[str]:
    """The keypoint names of the COCO-WholeBody ``parts`` read, in order, ``body_names`` standing for the body."""
    return _part_layout(body_names, [], parts, "<names>")[0]


def _stored_parts(rec: JsonRecord, k: int) -> tuple[tuple[str, int], ...]:
    """Field ``parts`` of stored metadata: [part, count] pairs whose counts add up to K (absent: no parts)."""
    stored = rec.list("parts", [])
    ok = all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _is_index(p[1]) and p[1] > 0
             for p in stored)
    if not ok or (stored and sum(int(p[1]) for p in stored) != k):
        raise rec.error("parts", f"is {stored!r}, expected [part, count] pairs adding up to {k}; regenerate the file")
    return tuple((p[0], int(p[1])) for p in stored)
