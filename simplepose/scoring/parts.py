"""Per-part AP of keypoints read from several annotation fields (COCO-WholeBody's body, foot, face and hands).

Scored as COCO-WholeBody's evaluation (jin-s13/COCO-WholeBody, evaluation/myeval_{body,foot,face,lefthand,
righthand,wholebody}.py; mmpose's CocoWholeBodyMetric runs the same through xtcocotools) does:

- a part's OKS is over that part's keypoints only, with that part's sigmas;
- a person counts for a part (is not ignored) when one of its keypoints in that part is labelled, so people whose
  hands are not labelled neither help nor hurt the hand AP; crowd regions are ignored as in COCO;
- the predictions are the whole-body ones: one score per pose (rescored over all keypoints) and one OKS-NMS;
- a prediction's area, which decides whether an unmatched one counts in APm/APl, is that of its body keypoints
  (the results' ``keypoints`` field there holds the body);
- "wholebody" is the OKS over all the keypoints read.

Everything runs through pycocotools' COCOeval on sliced copies of the ground truth and the results.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from pycocotools.coco import COCO

from simplepose.meta import KeypointMeta
from simplepose.scoring.report import STAT_NAMES

WHOLE = "wholebody"


def body_areas(results: list[dict[str, Any]], meta: KeypointMeta) -> np.ndarray | None:
    """(N,) float64 areas of the results' body keypoint extents (image pixels squared), as COCOeval's loadRes
    computes a prediction's area from its ``keypoints``; None when no body part is read."""
    body = meta.part_indices.get("body")
    if body is None or not results:
        return None
    kps = np.asarray([r["keypoints"] for r in results], np.float64).reshape(len(results), -1, 3)[:, body]
    return np.prod(kps[..., :2].max(axis=1) - kps[..., :2].min(axis=1), axis=1)


def _sliced_gt(gt: COCO, index: np.ndarray, category_id: int, indexed: Callable[[dict], COCO]) -> COCO:
    """A copy of ``gt`` whose annotations of ``category_id`` keep only the keypoints ``index``, ``num_keypoints``
    recounted over them (0: ignored by COCOeval, as COCO-WholeBody ignores a person without that part)."""
    anns = []
    for ann in gt.dataset["annotations"]:
        ann = dict(ann)
        if ann.get("category_id") == category_id:
            kps = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)[index]
            ann["keypoints"] = kps.ravel().tolist()
            ann["num_keypoints"] = int(np.count_nonzero(kps[:, 2] > 0))
        anns.append(ann)
    return indexed({**gt.dataset, "annotations": anns})


def part_stats(gt: COCO, results: list[dict[str, Any]], meta: KeypointMeta, whole: np.ndarray,
               evaluate: Callable[..., np.ndarray], indexed: Callable[[dict], COCO], category_id: int
               ) -> dict[str, dict[str, float]]:
    """Part name -> its ten COCOeval statistics by name, for each part of ``meta.parts``, then "wholebody"
    (``whole``: the statistics of all keypoints, already computed).

    Args:
        results: the whole-body predictions in COCO results format (rescored, after OKS-NMS).
        evaluate: ``(gt, results, sigmas, dt_areas) -> (10,) statistics`` (COCOeval over the images evaluated).
        indexed: an annotation dict -> an indexed pycocotools COCO.
    """
    sigmas = np.asarray(meta.sigmas, np.float64)
    areas = body_areas(results, meta)
    stats = {}
    for part, index in meta.part_indices.items():
        sliced = [{**r, "keypoints": np.asarray(r["keypoints"]).reshape(-1, 3)[index].ravel().tolist()}
                  for r in results]
        values = evaluate(_sliced_gt(gt, index, category_id, indexed), sliced, sigmas[index], areas)
        stats[part] = dict(zip(STAT_NAMES, map(float, values)))
    stats[WHOLE] = dict(zip(STAT_NAMES, map(float, whole)))
    return stats
