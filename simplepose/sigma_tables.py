"""Published OKS sigmas, found by canonical keypoint name; the ``--sigmas`` option.

Each table is copied, value for value and in its published order, from where its dataset's evaluation
takes it (cited above each). A keypoint set gets sigmas when every one of its names, in canonical form
(:func:`simplepose.keypoint_names.canonical_name`), is in the tables; the report then says which tables
they came from. ``--sigmas FILE`` or ``--sigmas uniform:VALUE`` gives them explicitly instead.
"""
from __future__ import annotations

import itertools
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import read_json, read_text
from simplepose.keypoint_names import FACE_NAMES, FOOT_NAMES, canonical_name, hand_names

log = logging.getLogger(__name__)

# cocoapi, PythonAPI/pycocotools/cocoeval.py (Params.setKpParams), in COCO's keypoint order.
COCO_SIGMAS: dict[str, float] = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035,
    "right_ear": 0.035, "left_shoulder": 0.079, "right_shoulder": 0.079,
    "left_elbow": 0.072, "right_elbow": 0.072, "left_wrist": 0.062,
    "right_wrist": 0.062, "left_hip": 0.107, "right_hip": 0.107,
    "left_knee": 0.087, "right_knee": 0.087, "left_ankle": 0.089,
    "right_ankle": 0.089,
}

#: COCO-WholeBody's published OKS sigmas (jin-s13/COCO-WholeBody, evaluation/myeval_wholebody.py,
#: ``computeOks``; the same values as mmpose's configs/_base_/datasets/coco_wholebody.py), per part in the
#: order of keypoint_names' FOOT_NAMES, FACE_NAMES and hand_names; its body sigmas are COCO's.
FOOT_SIGMAS: tuple[float, ...] = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)
FACE_SIGMAS: tuple[float, ...] = (
    0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020, 0.023, 0.029, 0.032, 0.037, 0.038, 0.043, 0.041,
    0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011, 0.013, 0.015, 0.009, 0.007, 0.007, 0.007, 0.012,
    0.009, 0.008, 0.016, 0.010, 0.017, 0.011, 0.009, 0.011, 0.009, 0.007, 0.013, 0.008, 0.011, 0.012, 0.010, 0.034,
    0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008, 0.009, 0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008,
    0.008, 0.008, 0.010, 0.008)
HAND_SIGMAS: tuple[float, ...] = (0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024,
                                  0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.020, 0.019, 0.022, 0.031)
_HANDS = hand_names("left") + hand_names("right")

# Each table: the name the report prints, the dataset's own keypoint names (as its annotation files spell
# them), and the published sigmas in that order.
_PUBLISHED: tuple[tuple[str, Sequence[str], Sequence[float]], ...] = (
    ("COCO (cocoapi)", tuple(COCO_SIGMAS), tuple(COCO_SIGMAS.values())),
    # CrowdPose (Jeff-sjtu/CrowdPose crowdpose-api), as mmpose configs/_base_/datasets/crowdpose.py copies
    # it; the annotation files name the last two "head" and "neck" (mmpose renames head "top_head").
    ("CrowdPose", ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                   "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"),
     (0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079)),
    # AI Challenger 2017, Evaluation/keypoint_eval/keypoint_eval.py (its delta is 2 x sigma), as mmpose
    # configs/_base_/datasets/aic.py gives them.
    ("AI Challenger", ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
                       "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top",
                       "neck"),
     (0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642, 0.03686941,
      0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173)),
    # MPII, mmpose configs/_base_/datasets/mpii.py ("adapted from COCO"); MPII's own names (r_ankle, ...).
    ("MPII", ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
              "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"),
     (0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179,
      0.072, 0.062)),
    ("COCO-WholeBody feet", FOOT_NAMES, FOOT_SIGMAS),
    ("COCO-WholeBody", tuple(COCO_SIGMAS) + FOOT_NAMES + FACE_NAMES + _HANDS,
     tuple(COCO_SIGMAS.values()) + FOOT_SIGMAS + FACE_SIGMAS + HAND_SIGMAS + HAND_SIGMAS),
    # Halpe-FullBody, HalpeCOCOAPI/PythonAPI/halpecocotools/cocoeval.py, as mmpose
    # configs/_base_/datasets/halpe.py gives them: the body and feet, then 0.015 for each of its 68 face and 42
    # hand points (named as COCO-WholeBody's, whose own face and hand sigmas differ).
    ("Halpe", tuple(COCO_SIGMAS) + ("head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
                                    "right_small_toe", "left_heel", "right_heel") + FACE_NAMES + _HANDS,
     tuple(COCO_SIGMAS.values()) + (0.08, 0.08, 0.08, 0.089, 0.089, 0.089, 0.089, 0.089, 0.089) + (0.015,) * 110),
    # AP-10K, mmpose configs/_base_/datasets/ap10k.py (modified from COCO's by its authors), under the names
    # of AP-10K's annotation files (mmpose's L_F_Paw is the same joint: f/b read as front/back below).
    ("AP-10K", ("left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow",
                "left_front_paw", "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee",
                "left_back_paw", "right_hip", "right_knee", "right_back_paw"),
     (0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
      0.087, 0.089, 0.089)),
    # Animal-Pose, mmpose configs/_base_/datasets/animalpose.py (modified from COCO's).
    ("Animal-Pose", ("L_Eye", "R_Eye", "L_EarBase", "R_EarBase", "Nose", "Throat", "TailBase", "Withers",
                     "L_F_Elbow", "R_F_Elbow", "L_B_Elbow", "R_B_Elbow", "L_F_Knee", "R_F_Knee", "L_B_Knee",
                     "R_B_Knee", "L_F_Paw", "R_F_Paw", "L_B_Paw", "R_B_Paw"),
     (0.025, 0.025, 0.026, 0.035, 0.035, 0.10, 0.10, 0.10, 0.107, 0.107, 0.107, 0.107, 0.087, 0.087, 0.087,
      0.087, 0.089, 0.089, 0.089, 0.089)),
)

# Single-letter words that abbreviate a limb's position in animal sets (L_F_Paw = left front paw).
_ABBREVIATIONS = {"f": "front", "b": "back"}


def sigma_key(name: str) -> str:
    """The key a name is looked up by: its canonical form with ``f``/``b`` words read as front/back."""
    return "_".join(_ABBREVIATIONS.get(w, w) for w in canonical_name(name).split("_"))


@dataclass(frozen=True)
class SigmaTable:
    """One dataset's published sigmas: ``source`` as reports print it, ``sigmas`` by :func:`sigma_key`."""

    source: str
    sigmas: dict[str, float]


TABLES: tuple[SigmaTable, ...] = tuple(
    SigmaTable(source, {sigma_key(n): float(s) for n, s in zip(names, values, strict=True)})
    for source, names, values in _PUBLISHED)


def _cost(tables: Sequence[SigmaTable], keys: set[str]) -> tuple[int, int] | None:
    """(entries of ``tables`` left unused, number of tables), or None when they miss a key or one adds nothing."""
    covered: set[str] = set()
    for table in tables:
        adds = (keys & table.sigmas.keys()) - covered
        if not adds:
            return None
        covered |= adds
    if covered != keys:
        return None
    return sum(len(t.sigmas.keys() - keys) for t in tables), len(tables)


def lookup_sigmas(names: Sequence[str], where: str = "<metadata>"
                  ) -> tuple[tuple[float, ...] | None, str | None]:
    """Published OKS sigmas of ``names`` by canonical name: ((K,) sigmas in ``names`` order, source) or
    (None, None) when some name is in no table (a warning names them).

    The tables chosen are those that fit closest: the fewest table entries left unused, then the fewest
    tables, then the earlier tables of TABLES. So COCO's 17 names get COCO's table (not Halpe's, which also
    holds them), CrowdPose's 14 CrowdPose's, COCO's 17 plus the six COCO-WholeBody feet
    "COCO (cocoapi) + COCO-WholeBody feet" (Halpe's own foot sigmas differ), COCO-WholeBody's 133 (or any
    set with its face or hand points) COCO-WholeBody's, Halpe's 136 Halpe's. A name in two chosen tables
    takes the earlier table's value.
    """
    keys = [sigma_key(n) for n in names]
    known = set().union(*(t.sigmas for t in TABLES))
    unknown = [n for n, k in zip(names, keys) if k not in known]
    if unknown or not keys:
        log.warning("%s: no published OKS sigmas for keypoints %s (looked up by canonical name); COCO AP needs "
                    "--sigmas FILE or --sigmas uniform:VALUE", where, unknown)
        return None, None
    wanted = set(keys)
    best = None
    for n in range(1, len(TABLES) + 1):
        for combo in itertools.combinations(range(len(TABLES)), n):
            cost = _cost([TABLES[i] for i in combo], wanted)
            if cost is not None and (best is None or (cost, combo) < best):
                best = (cost, combo)
    chosen = [TABLES[i] for i in best[1]]
    sigmas = tuple(next(t.sigmas[k] for t in chosen if k in t.sigmas) for k in keys)
    source = " + ".join(t.source for t in chosen)
    log.info("%s: OKS sigmas of %s", where, source)
    return sigmas, source


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


UNIFORM = "uniform:"


def parse_sigmas_option(spec: str, num_keypoints: int, flag: str = "--sigmas") -> tuple[tuple[float, ...], str]:
    """``--sigmas`` of training and evaluation: ((K,) sigmas, source as reports print it).

    ``spec`` is a file of K sigmas (JSON list or numbers; source ``"file PATH"``) or ``uniform:VALUE``, the
    same VALUE > 0 for every keypoint (source ``"uniform:VALUE"``): an explicit fallback for keypoints with no
    published sigmas.
    """
    if spec.startswith(UNIFORM):
        text = spec[len(UNIFORM):]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise SimplePoseError(f"{flag} {spec}: {text!r} is not a positive number; write uniform:VALUE "
                                  "with VALUE > 0 (e.g. uniform:0.05), or give a file of K sigmas")
        return (value,) * num_keypoints, f"{UNIFORM}{text}"
    return tuple(float(s) for s in load_sigmas(spec, num_keypoints)), f"file {spec}"
