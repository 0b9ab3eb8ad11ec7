"""Which prediction belongs to which ground-truth person, for the metrics that need pairs (``pck``).

- On the people's own boxes (``data.boxes.gt_boxes``: the dataset's records, in order) prediction i was
  made from person i's box: it is person i's.
- On other boxes (a detector's), per image, greedily: the most similar remaining (person, prediction)
  pair is matched first, each person and each prediction at most once. Similarity is the OKS of the
  prediction to the person (COCOeval's formula: the dataset's sigmas, the person's area, labelled
  keypoints) when sigmas are known, else the IoU of the prediction's box with the person's box. Only
  pairs whose boxes overlap are matched; a person left without a prediction counts as missed.
  Every pose is matched, before OKS-NMS (which needs sigmas); duplicates lose to the best pose.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simplepose.data.boxes import PersonBoxes
from simplepose.data.coco import PersonRecord
from simplepose.geometry import box_iou
from simplepose.scoring.oks import oks

OWN_BOXES = "each pose from its own ground-truth box"


@dataclass
class GroundTruthPeople:
    """The labelled people of an evaluation, as arrays.

    image_ids: (P,) int64; boxes: (P, 4) (x0, y0, x1, y1) image pixels as loaded (``PersonRecord.bbox``);
    joints: (P, K, 3) image pixels + COCO visibility; areas: (P,) image pixels squared (COCO ``area``).
    """

    image_ids: np.ndarray
    boxes: np.ndarray
    joints: np.ndarray
    areas: np.ndarray

    @classmethod
    def from_records(cls, records: list[PersonRecord], num_joints: int) -> "GroundTruthPeople":
        return cls(np.array([r.image_id for r in records], np.int64),
                   np.array([r.bbox for r in records], np.float64).reshape(-1, 4),
                   np.array([r.joints for r in records], np.float64).reshape(-1, num_joints, 3),
                   np.array([r.area for r in records], np.float64))

    def __len__(self) -> int:
        return len(self.image_ids)


def match_predictions(people: GroundTruthPeople, keypoints: np.ndarray, boxes: PersonBoxes,
                      sigmas: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The prediction of each ground-truth person (see the module docstring).

    Args:
        keypoints: (N, K, 3) image pixels + score, one per box of ``boxes``.
        sigmas: (K,) OKS sigmas, or None (match by box IoU).
    Returns:
        (P, K, 3) float64, row p the prediction matched to person p (NaN when none was), and how they
        were matched.
    """
    keypoints = np.asarray(keypoints, np.float64)
    own = (len(boxes) == len(people) and np.array_equal(boxes.image_ids, people.image_ids)
           and np.array_equal(np.asarray(boxes.boxes, np.float64), people.boxes))
    if own:
        return keypoints.copy(), OWN_BOXES
    matched = np.full(people.joints.shape, np.nan)
    for image_id in np.unique(people.image_ids):
        g = np.flatnonzero(people.image_ids == image_id)
        d = np.flatnonzero(boxes.image_ids == image_id)
        if not len(d):
            continue
        overlap = box_iou(people.boxes[g], np.asarray(boxes.boxes[d], np.float64))
        sim = overlap if sigmas is None else _oks_matrix(people, g, keypoints[d], sigmas)
        sim = np.where(overlap > 0, sim, -1.0)
        while sim.size and sim.max() >= 0:
            i, j = np.unravel_index(np.argmax(sim), sim.shape)
            matched[g[i]] = keypoints[d[j]]
            sim[i, :], sim[:, j] = -1.0, -1.0
    how = "by box IoU" if sigmas is None else "by OKS"
    return matched, f"detections matched to ground-truth people {how}, greedily per image"


def _oks_matrix(people: GroundTruthPeople, g: np.ndarray, preds: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """(G, D) OKS of D predictions to the people ``g`` as COCOeval computes it: the person's area,
    averaged over the person's labelled keypoints (scores set to 1 so that only labels decide)."""
    scored = preds.copy()
    scored[..., 2] = 1.0
    return np.stack([oks(people.joints[p], scored, people.areas[p], np.full(len(preds), people.areas[p]), sigmas,
                         vis_thresh=0.0) for p in g])
