"""Which categories of a COCO-format file are read as the one keypoint set.

Public keypoint files name their keypoints in ``categories``: one entry (COCO, CrowdPose), one per
species with the same keypoint list (AP-10K's 54, Animal Kingdom-like files), or an entry with an empty
list whose K only the annotations tell (face landmarks). Categories that share a keypoint list are
trained together; categories with different lists are refused unless ``--category-id`` picks some.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeypointCategories:
    """The keypoint categories read, as one keypoint set.

    Attributes:
        ids: the category ids read together; ``ids[0]`` is the id COCOeval scores them under.
        category: the ``categories`` entry of ``ids[0]`` (keypoint names, skeleton).
        known_ids: every category id of the file (keypoint categories or not).
        use_unknown: annotations whose ``category_id`` is missing from ``categories`` are read too (every
            keypoint category of the file shares one keypoint list, so they cannot mean another set).
        num_keypoints: K from the annotations when the categories list no keypoint names, else None.
    """

    ids: tuple[int, ...]
    category: JsonRecord
    known_ids: frozenset[int]
    use_unknown: bool
    num_keypoints: int | None


def parse_category_ids(value: int | str | Sequence[int] | None) -> tuple[int, ...] | None:
    """``--category-id`` as given: an id (``3``), several (``"1,3"``, ``[1, 3]``), or None for all."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    try:
        ids = tuple(int(str(v).strip()) for v in items if str(v).strip())
    except ValueError:
        ids = ()
    if not ids:
        raise SimplePoseError(f"--category-id {value!r}: expected category ids, e.g. 1 or 1,3")
    return ids


def _names(cat: JsonRecord) -> tuple[str, ...]:
    return tuple(str(n) for n in cat.list("keypoints"))


def _describe(cats: list[JsonRecord]) -> str:
    return ", ".join(f"{c.raw('id')} {c.raw('name', '?')!r} ({len(c.list('keypoints'))} keypoints)" for c in cats)


def keypoint_categories(data: dict[str, Any], path: Path, category_id: int | str | Sequence[int] | None
                        ) -> KeypointCategories:
    """The categories of ``data`` read as one keypoint set; see the module docstring.

    A category is a keypoint category when it carries a ``keypoints`` list (an empty list counts only when
    no category names any keypoint). Raises SimplePoseError (one line) when there is none, when
    ``category_id`` names none of them, or when the chosen categories list different keypoints.
    """
    cats = [JsonRecord(c, path, f"categories[{i}]") for i, c in enumerate(data["categories"])]
    known = frozenset(c.int("id") for c in cats)
    with_list = [c for c in cats if c.list("keypoints", None) is not None]
    named = [c for c in with_list if c.list("keypoints")]
    keypoint_cats = named or with_list
    if not keypoint_cats:
        raise SimplePoseError(f"{path}: no keypoint category (a 'categories' entry with a 'keypoints' list) "
                              f"among {len(cats)} categories; is this a keypoint file?")
    wanted = parse_category_ids(category_id)
    chosen = keypoint_cats if wanted is None else [c for c in keypoint_cats if c.int("id") in wanted]
    if wanted is not None and len(chosen) != len(set(wanted)):
        raise SimplePoseError(f"{path}: --category-id {','.join(map(str, wanted))}: the keypoint categories are "
                              f"{_describe(keypoint_cats)}")
    lists = {_names(c) for c in chosen}
    if len(lists) > 1:
        raise SimplePoseError(f"{path}: categories with different keypoint lists: {_describe(chosen)}; "
                              "pick categories that share one with --category-id")
    all_share = len({_names(c) for c in keypoint_cats}) == 1
    if len(chosen) > 1:
        log.warning("%s: %d categories share one keypoint list of %d keypoints and are read as one keypoint set "
                    "(scored as category %s), e.g. %s; --category-id narrows", path, len(chosen),
                    len(chosen[0].list("keypoints")), chosen[0].raw("id"), _describe(chosen[1:2]))
    num_keypoints = None if chosen[0].list("keypoints") else _annotation_keypoint_count(data, path, chosen)
    return KeypointCategories(tuple(c.int("id") for c in chosen), chosen[0], known,
                              all_share and len(chosen) == len(keypoint_cats), num_keypoints)


def _value_count(keypoints: Any) -> int | None:
    """How many numbers an annotation's ``keypoints`` holds (flat, or nested ``[[x, y, v], ...]``); None if neither."""
    if not isinstance(keypoints, list):
        return None
    if keypoints and all(isinstance(p, list) for p in keypoints):
        return sum(len(p) for p in keypoints)
    return len(keypoints)


def _annotation_keypoint_count(data: dict[str, Any], path: Path, chosen: list[JsonRecord]) -> int:
    """K of categories that list no keypoint names: the most common keypoint count of their annotations
    (annotations of another length are then bad records, named one by one)."""
    ids = {c.int("id") for c in chosen}
    counts = Counter(_value_count(a.get("keypoints")) for a in data["annotations"]
                     if isinstance(a, dict) and a.get("category_id") in ids)
    counts.pop(None, None)
    counts.pop(0, None)
    if not counts:
        raise SimplePoseError(f"{path}: {chosen[0].record}: field 'keypoints' is empty and no annotation of "
                              "the category has keypoints to count; list the keypoint names")
    values, seen = counts.most_common(1)[0]
    if values % 3:
        raise SimplePoseError(f"{path}: {chosen[0].record}: lists no keypoint names and its annotations hold "
                              f"{values} keypoint values, not [x, y, v] triples")
    log.warning("%s: %s lists no keypoint names: K = %d, the most common keypoint count of its annotations "
                "(%d of %d have %d values; the others are bad records)", path, chosen[0].record, values // 3, seen,
                sum(counts.values()), values)
    return values // 3
