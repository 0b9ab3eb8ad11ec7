"""Instance scores, object keypoint similarity (OKS), OKS-NMS and the COCO results format.

The steps follow Simple Baselines' COCO evaluation: instance score = box score x mean of the
keypoint scores above ``kpt_thresh``; OKS-NMS per image with the dataset's sigmas and the padded
crop's area.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from simplepose.data.boxes import PersonBoxes

KPT_THRESH = 0.2   # keypoint scores that count towards the instance score (Simple Baselines' IN_VIS_THRE)
OKS_NMS = 0.9      # OKS above which the lower-scored of two poses in an image is dropped


def rescore(keypoints: np.ndarray, box_scores: np.ndarray, kpt_thresh: float = KPT_THRESH) -> np.ndarray:
    """Instance scores: box score x mean of the keypoint scores above ``kpt_thresh`` (0 when none is).

    Args:
        keypoints: (N, K, 3), third column the keypoint score.
        box_scores: (N,).
    Returns:
        (N,) float32.
    """
    s = keypoints[..., 2]
    above = s > kpt_thresh
    mean = np.where(above.any(axis=1), (s * above).sum(axis=1) / np.maximum(above.sum(axis=1), 1), 0.0)
    return (mean * box_scores).astype(np.float32)


def oks(pose: np.ndarray, others: np.ndarray, area: float, other_areas: np.ndarray, sigmas: np.ndarray,
        vis_thresh: float | None = None) -> np.ndarray:
    """Object keypoint similarity between one pose and M others, as COCO defines it.

    Args:
        pose: (K, 3) image pixels + score; others: (M, K, 3).
        area, other_areas: scale of the poses, image pixels squared ((M,) for the others).
        sigmas: (K,) OKS sigmas.
        vis_thresh: when given, only keypoints scored above it in both poses count.
    Returns:
        (M,) float64 in [0, 1].
    """
    variances = (2 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((others[..., :2] - pose[None, :, :2]) ** 2).sum(axis=-1)
    e = d2 / variances[None, :] / ((area + other_areas)[:, None] / 2 + np.spacing(1)) / 2
    if vis_thresh is None:
        return np.exp(-e).mean(axis=1)
    both = (pose[None, :, 2] > vis_thresh) & (others[..., 2] > vis_thresh)
    return np.where(both.any(axis=1), (np.exp(-e) * both).sum(axis=1) / np.maximum(both.sum(axis=1), 1), 0.0)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, sigmas: np.ndarray,
            thresh: float = OKS_NMS, vis_thresh: float | None = KPT_THRESH) -> np.ndarray:
    """Greedy non-maximum suppression of the poses of one image by OKS.

    Args:
        keypoints: (N, K, 3); scores: (N,); areas: (N,) image pixels squared.
    Returns:
        indices kept, by decreasing score.
    """
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        sim = oks(keypoints[i], keypoints[order[1:]], areas[i], areas[order[1:]], sigmas, vis_thresh)
        order = order[1:][sim <= thresh]
    return np.array(keep, np.int64)


def coco_results(keypoints: np.ndarray, boxes: PersonBoxes, areas: np.ndarray, category_id: int,
                 sigmas: np.ndarray | None, kpt_thresh: float = KPT_THRESH, oks_nms_thresh: float = OKS_NMS
                 ) -> list[dict[str, Any]]:
    """Rescored, OKS-NMSed predictions in COCO keypoint results format.

    Args:
        keypoints: (N, K, 3) image pixels + score, one per box.
        areas: (N,) float64 image pixels squared, the area of each box's padded crop (as Simple Baselines).
        sigmas: (K,) OKS sigmas for OKS-NMS; None (unknown) only with ``oks_nms_thresh`` 1 or more.
        oks_nms_thresh: 1 or more keeps every pose.
    """
    scores = rescore(keypoints, boxes.scores, kpt_thresh)
    results = []
    # Boxes grouped by image in one sort (images ascending, each image's boxes in file order): linear in the
    # number of boxes, where a scan of all boxes per image grew with images x boxes.
    order = np.argsort(boxes.image_ids, kind="stable")
    starts = np.flatnonzero(np.diff(boxes.image_ids[order])) + 1
    for idx in np.split(order, starts) if len(order) else []:
        image_id = boxes.image_ids[idx[0]]
        if oks_nms_thresh < 1:
            idx = idx[oks_nms(keypoints[idx], scores[idx], areas[idx], sigmas, oks_nms_thresh, kpt_thresh)]
        for i in idx:
            results.append({"image_id": int(image_id), "category_id": int(category_id),
                            "keypoints": [round(float(v), 3) for v in keypoints[i].ravel()],
                            "score": float(scores[i])})
    return results
