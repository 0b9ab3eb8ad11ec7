"""Keypoint names in one canonical spelling, and the left/right pairs they give.

Public keypoint files spell the same joint many ways: ``right_shoulder`` (COCO), ``Right Shoulder``,
``Right-ankle``, ``r_ankle`` (MPII), ``R_Eye`` and ``L_F_Elbow`` (Animal-Pose), ``eyeL`` and
``forelegR1`` (fly, locust, zebra), ``lEye``. :func:`canonical_name` maps them all to one form, used to
pair the sides (flip pairs), to find published OKS sigmas (:mod:`simplepose.sigma_tables`) and to
match joints between two keypoint sets (transfer learning).
"""
from __future__ import annotations

import logging
from typing import Sequence

from simplepose.errors import SimplePoseError

log = logging.getLogger(__name__)

#: Whole words that name a side, after case folding: ``L_Eye``, ``eyeL``, ``left_eye``, ``lEye``.
SIDE_WORDS = {"left": "left", "l": "left", "right": "right", "r": "right"}
OTHER_SIDE = {"left": "right", "right": "left"}

#: The 68 face landmarks of the iBUG 300-W layout, as COCO-WholeBody and Halpe name them (``face-0`` ..
#: ``face-67``, canonical ``face_0`` ..): their names carry no side, so their mirror pairs (0-based landmark
#: numbers) are written out: jaw, eyebrows, lower nose, eyes, outer and inner lips; the rest lie on the midline.
FACE_LANDMARKS = 68
FACE_MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)), *((17 + i, 26 - i) for i in range(5)), (31, 35), (32, 34),
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67),
)


def _words(name: str) -> list[str]:
    """The words of ``name``, case folded.

    Any character that is neither a letter nor a digit separates words (space, ``-``, ``_``, ``.``,
    ``/``...). Within a run of letters and digits a word also ends where a lower-case letter meets an
    upper-case one (``eyeL``, ``lEye``), before the last capital of a capital run followed by a lower-case
    letter (``LEye`` -> ``L``, ``Eye``) and between letters and digits (``forelegR1`` -> ``foreleg``,
    ``R``, ``1``).
    """
    words, current = [], ""
    for i, c in enumerate(name):
        if not c.isalnum():
            words.append(current)
            current = ""
            continue
        prev = current[-1] if current else ""
        nxt = name[i + 1] if i + 1 < len(name) else ""
        if prev and (prev.isdigit() != c.isdigit()
                     or (prev.islower() and c.isupper())
                     or (prev.isupper() and c.isupper() and nxt.islower())):
            words.append(current)
            current = ""
        current += c
    words.append(current)
    return [w.casefold() for w in words if w]


def _split_side(name: str) -> tuple[str | None, list[str]]:
    """(side or None, the other words) of ``name``: the side only when exactly one word names one."""
    words = _words(name)
    sided = [i for i, w in enumerate(words) if w in SIDE_WORDS]
    if len(sided) != 1:
        # No side word, or several (``l_r``): no side is read rather than one guessed.
        return None, words
    i = sided[0]
    return SIDE_WORDS[words[i]], words[:i] + words[i + 1:]


def canonical_name(name: str) -> str:
    """One canonical form of a keypoint name: lower-case words joined by ``_``, the side first.

    Rules, in order:

    1. words: split at every character that is not a letter or a digit (space, ``-``, ``_``, ``.``),
       at camelCase boundaries (``EarBase`` -> ear, base; ``LEye`` -> l, eye; ``eyeL`` -> eye, l) and
       between letters and digits (``thumb1`` -> thumb, 1); then case folded;
    2. side: a word ``left``/``l`` or ``right``/``r`` (a whole word only: ``lower_lip``, ``rump``,
       ``lear`` and ``leftish`` name no side) is removed and written as a leading ``left_``/``right_``
       word, wherever it stood (prefix, suffix or middle). A name with two side words reads as unsided;
    3. the words are joined by ``_``.

    So ``Right Shoulder``, ``right-shoulder``, ``R_Shoulder``, ``RShoulder`` and ``shoulderR`` are all
    ``right_shoulder``; ``L_F_Elbow`` -> ``left_f_elbow``; ``forelegR1`` -> ``right_foreleg_1``;
    ``Root of tail`` -> ``root_of_tail``; ``head``, ``neck``, ``kpt_0`` stay. A name with no letter or
    digit at all is its stripped, case-folded self.
    """
    side_word, words = _split_side(name)
    if not words and side_word is None:
        return name.strip().casefold()
    return "_".join(([side_word] if side_word else []) + words)


def side(name: str) -> str | None:
    """``"left"``, ``"right"`` or None (a central joint) as :func:`canonical_name` reads ``name``."""
    return _split_side(name)[0]


def mirrored(canonical: str) -> str | None:
    """The canonical name of the other side's joint (``left_eye`` -> ``right_eye``), None when unsided."""
    first, _, rest = canonical.partition("_")
    if first not in OTHER_SIDE:
        return None
    return f"{OTHER_SIDE[first]}_{rest}" if rest else OTHER_SIDE[first]


#: COCO-WholeBody's part keypoints after COCO's 17 body keypoints, as mmpose's ``coco_wholebody.py`` dataset info
#: names them (COCO-WholeBody's files list only the 17 body names): six foot points, the 68 face landmarks,
#: then each hand's root and four joints per finger, thumb to little finger.
FOOT_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
FACE_NAMES: tuple[str, ...] = tuple(f"face-{i}" for i in range(FACE_LANDMARKS))
FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def hand_names(side_word: str) -> tuple[str, ...]:
    """One hand's 21 COCO-WholeBody names: ``left_hand_root``, ``left_thumb1`` .. ``left_pinky_finger4``."""
    return (f"{side_word}_hand_root", *(f"{side_word}_{finger}{j}" for finger in FINGERS for j in range(1, 5)))


def _face_pairs(index: dict[str, int]) -> set[tuple[int, int]]:
    """The mirror pairs of the 68 face landmarks (FACE_MIRROR_PAIRS) when all 68 are among the canonical names of
    ``index`` (name -> position); none otherwise: a lone ``face_3`` may follow another layout."""
    face = [index.get(f"face_{i}") for i in range(FACE_LANDMARKS)]
    if None in face:
        return set()
    return {(min(face[a], face[b]), max(face[a], face[b])) for a, b in FACE_MIRROR_PAIRS}


def pair_sides(names: Sequence[str], source: str = "<metadata>") -> list[tuple[int, int]]:
    """Left/right pairs ``(i, j)``, ``i < j``, 0-based, sorted: ``left_X`` with ``right_X`` by canonical name,
    and the face landmarks' mirror pairs when all 68 of the 300-W layout are named (FACE_MIRROR_PAIRS).

    Refuses (SimplePoseError, naming the names) an ambiguous pairing rather than guessing: two names with
    the same canonical form, or a sided name whose other side is missing. Logs the pairs found, by name,
    in one INFO line.
    """
    canon = [canonical_name(n) for n in names]
    index: dict[str, int] = {}
    for i, c in enumerate(canon):
        if c in index:
            raise SimplePoseError(
                f"{source}: keypoints {names[index[c]]!r} and {names[i]!r} are both {c!r} once spelled the same "
                "way, so their sides cannot be paired; give the flip pairs explicitly (--flip-pairs a:b,c:d by "
                "name or 0-based index, or --flip-pairs none)")
        index[c] = i
    pairs = set()
    for i, c in enumerate(canon):
        other = mirrored(c)
        if other is None:
            continue
        j = index.get(other)
        if j is None:
            raise SimplePoseError(
                f"{source}: keypoint {names[i]!r} reads as {c!r} but no keypoint reads as {other!r}, so its "
                "mirror image is unknown; give the flip pairs explicitly (--flip-pairs a:b,c:d by name or "
                "0-based index, or --flip-pairs none)")
        pairs.add((min(i, j), max(i, j)))
    pairs |= _face_pairs(index)
    pairs = sorted(pairs)
    if pairs:
        log.info("%s: left/right pairs from the names: %s", source,
                 ", ".join(f"{names[i]}/{names[j]}" for i, j in pairs))
    return pairs
