"""Metrics that need no OKS sigmas: PCK, the AUC of the PCK curve, EPE and NME (NumPy only).

They are computed on pairs of a ground-truth person and the prediction matched to it
(``scoring.matching``), over the labelled keypoints only (v > 0), with mmpose's conventions
(``keypoint_pck_accuracy``, ``keypoint_auc``, ``keypoint_epe``, ``keypoint_nme``):

- PCK@t: the share of labelled keypoints predicted strictly closer than t x the longer side of the
  person's ground-truth box (t = 0.05, 0.1, 0.2). Per keypoint; overall, the mean of the per-keypoint
  PCKs (keypoints never labelled left out), as mmpose's ``avg_acc``.
- AUC: the mean overall PCK at the 20 thresholds 0.01, 0.02, ..., 0.20 of the box's longer side: the
  area under the PCK curve on [0, 0.2] divided by 0.2 (a Riemann sum at the right ends of 20 steps of
  0.01). mmpose's ``keypoint_auc`` (``num_thrs=20``) takes a fixed number of pixels instead of the box
  and sums at the left ends, from threshold 0 where PCK is always 0, so that an exact prediction scores
  0.95 there and 1 here.
- EPE: the mean distance between prediction and ground truth in image pixels, pooled over every labelled
  keypoint of every matched person.
- NME: the same distances each divided by its person's normaliser, pooled: the inter-ocular distance
  (the ground truth's two eyes, both labelled; people without both eyes are left out) when the keypoint
  set has both eyes (by canonical name), else the box diagonal.

A ground-truth person with no matched prediction (possible with detector boxes) is a miss at every
PCK threshold and is left out of EPE and NME.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

PCK_THRESHOLDS = (0.05, 0.1, 0.2)       # fractions of the ground-truth box's longer side
AUC_THRESHOLDS = np.round(np.arange(1, 21) * 0.01, 2)   # 0.01, ..., 0.20: the PCK curve on [0, 0.2], step 0.01
EYES = ("left_eye", "right_eye")

Figures = dict[str, float | None]       # metric name ("PCK@0.05", ..., "AUC", "EPE", "NME") -> value


def pck_name(t: float) -> str:
    """The name of PCK at threshold ``t``: ``"PCK@0.2"``."""
    return f"PCK@{t:g}"


def eye_pair(names: Sequence[str]) -> tuple[int, int] | None:
    """Indices of ``left_eye`` and ``right_eye`` in ``names``; None unless both are there.

    ``names``: the K keypoint names in canonical form (``KeypointMeta.canonical_names``: ``L_Eye``, ``eyeL``
    and ``left_eye`` are all ``left_eye``).
    """
    if all(eye in names for eye in EYES):
        return tuple(list(names).index(eye) for eye in EYES)
    return None


@dataclass
class DistanceMetrics:
    """PCK, AUC, EPE and NME of one evaluation, overall and per keypoint (see the module docstring).

    overall: metric name -> value (None where no keypoint is labelled); EPE in image pixels, the others
    fractions. per_keypoint: keypoint name -> the same figures for that keypoint alone, plus
    ``labelled``, its count of labelled keypoints. nme_normaliser: what NME divides by.
    people: ground-truth people; matched: those with a matched prediction; matching: how they were matched.
    """

    overall: Figures
    per_keypoint: dict[str, dict[str, Any]]
    nme_normaliser: str
    people: int
    matched: int
    matching: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.overall, "pck_normaliser": "longer side of the ground-truth box",
                "auc_thresholds": AUC_THRESHOLDS.tolist(), "nme_normaliser": self.nme_normaliser,
                "matched_people": self.matched, "matching": self.matching, "per_keypoint_metrics": self.per_keypoint}

    def lines(self) -> list[str]:
        """The figures as the command line prints them."""
        names = list(self.overall)
        out = [f"PCK, AUC, EPE, NME on {self.matched} of {self.people} people ({self.matching}):",
               f"  PCK at fractions of the ground-truth box's longer side; AUC of PCK over 0..{AUC_THRESHOLDS[-1]:g} "
               f"in steps of 0.01;", f"  EPE in image pixels; NME by {self.nme_normaliser}"]
        out += [f"  {name:<8} {_fmt(v)}" for name, v in self.overall.items()]
        out.append(f"  per keypoint: {'':<12}" + "".join(f"{n:>9}" for n in names))
        out += [f"    {kpt:<24}" + "".join(f"{_fmt(fig[n]):>9}" for n in names)
                for kpt, fig in self.per_keypoint.items()]
        return out


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def distance_metrics(pred: np.ndarray, gt: np.ndarray, gt_boxes: np.ndarray, names: Sequence[str],
                     eyes: tuple[int, int] | None = None, matching: str = "") -> DistanceMetrics:
    """PCK, AUC, EPE and NME of predictions matched to ground-truth people.

    Args:
        pred: (N, K, 2 or more) image pixels; row n is the prediction matched to person n, NaN when none was.
        gt: (N, K, 3) image pixels + COCO visibility; only v > 0 counts.
        gt_boxes: (N, 4) (x0, y0, x1, y1) image pixels, the people's boxes as loaded (``PersonRecord.bbox``:
            inclusive pixel bounds clipped to the image), so the box is x1 - x0 + 1 pixels wide.
        names: the K keypoint names (per-keypoint figures are keyed by them).
        eyes: indices of the left and right eye (``eye_pair``): NME by the inter-ocular distance; None: by
            the box diagonal.
        matching: how the pairs were made, for the report.
    """
    pred = np.asarray(pred, np.float64)[..., :2]
    gt = np.asarray(gt, np.float64)
    gt_boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    labelled = gt[..., 2] > 0                                        # (N, K)
    found = np.isfinite(pred).all(axis=-1)                           # (N, K)
    dist = np.linalg.norm(pred - gt[..., :2], axis=-1)               # (N, K) image pixels; NaN without a match
    w, h = gt_boxes[:, 2] - gt_boxes[:, 0] + 1, gt_boxes[:, 3] - gt_boxes[:, 1] + 1
    # Distances as fractions of the box's longer side; a person without a match is beyond every threshold.
    rel = np.where(found, dist / np.maximum(w, h)[:, None], np.inf)
    if eyes is None:
        norm, normaliser = np.hypot(w, h), "the ground-truth box diagonal"
    else:
        left, right = eyes
        both = labelled[:, left] & labelled[:, right]
        span = np.linalg.norm(gt[:, left, :2] - gt[:, right, :2], axis=-1)
        norm = np.where(both & (span > 0), span, np.nan)
        normaliser = f"the inter-ocular distance ({names[left]} to {names[right]})"
    measured = labelled & found                                      # pairs with a distance
    nme_counted = measured & np.isfinite(norm)[:, None]
    thresholds = [*PCK_THRESHOLDS, *AUC_THRESHOLDS]
    # (T, K) PCK of each keypoint at each threshold; NaN for a keypoint never labelled.
    hits = np.stack([((rel < t) & labelled).sum(axis=0) for t in thresholds]).astype(np.float64)
    counts = labelled.sum(axis=0)
    pck = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    has_label = counts > 0

    def figures(keep: np.ndarray, k: slice) -> Figures:
        """The figures over keypoint columns ``k``; ``keep`` says which of them the PCK mean takes."""
        per_t = [_mean(pck[i, k][keep]) for i in range(len(thresholds))]
        out: Figures = {pck_name(t): per_t[i] for i, t in enumerate(PCK_THRESHOLDS)}
        auc = per_t[len(PCK_THRESHOLDS):]
        out["AUC"] = None if auc[0] is None else float(np.mean(auc))
        out["EPE"] = _mean(dist[:, k][measured[:, k]])
        out["NME"] = _mean((dist / norm[:, None])[:, k][nme_counted[:, k]])
        return out

    overall = figures(has_label, slice(None))
    per_keypoint = {name: {**figures(has_label[k:k + 1], slice(k, k + 1)), "labelled": int(counts[k])}
                    for k, name in enumerate(names)}
    return DistanceMetrics(overall, per_keypoint, normaliser, len(gt), int(found.any(axis=1).sum()), matching)
