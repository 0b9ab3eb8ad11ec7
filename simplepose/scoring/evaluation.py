"""All the figures of one evaluation in one call: COCO AP when OKS sigmas are known, and always
PCK/AUC/EPE/NME (which need none). Evaluation (``simplepose.evaluate``) and validation during
training both score through ``evaluate_poses``."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from simplepose.data.boxes import PersonBoxes
from simplepose.meta import KeypointMeta
from simplepose.scoring.coco import evaluate_keypoints
from simplepose.scoring.matching import GroundTruthPeople, match_predictions
from simplepose.scoring.oks import KPT_THRESH, OKS_NMS, coco_results
from simplepose.scoring.pck import distance_metrics, eye_pair
from simplepose.scoring.report import EvalReport


def evaluate_poses(keypoints: np.ndarray, boxes: PersonBoxes, areas: np.ndarray, meta: KeypointMeta,
                   people: GroundTruthPeople, category_id: int, gt: COCO | None = None,
                   kpt_thresh: float = KPT_THRESH, oks_nms_thresh: float = OKS_NMS, per_keypoint: bool = True,
                   analysis: bool = False) -> tuple[EvalReport, list[dict[str, Any]]]:
    """COCO keypoint AP (``scoring.coco``) when ``meta.sigmas`` is known, and PCK/AUC/EPE/NME (``scoring.pck``).

    Args:
        keypoints: (N, K, 3) image pixels + score, one per box of ``boxes``.
        areas: (N,) image pixels squared, the area of each box's padded crop (for OKS-NMS).
        people: the ground-truth people the predictions are matched to (``scoring.matching``).
        gt: the annotation file for COCOeval (``coco.load_coco_gt``); needed only when ``meta.sigmas`` is known.
        per_keypoint: also the per-keypoint AP (one COCOeval per keypoint: the slow part).
        analysis: the report also carries COCOeval's error analysis (with AP only).
    Returns:
        the report and the predictions in COCO results format (without sigmas: rescored, without OKS-NMS).
    """
    if meta.sigmas is not None:
        report, results = evaluate_keypoints(gt, keypoints, boxes, areas, meta, category_id, kpt_thresh,
                                             oks_nms_thresh, per_keypoint, analysis)
    else:
        results = coco_results(keypoints, boxes, areas, category_id, None, kpt_thresh, oks_nms_thresh=1.0)
        report = EvalReport(None, None, boxes.source, len(boxes), len(boxes.image_set), len(results))
    sigmas = None if meta.sigmas is None else np.asarray(meta.sigmas, np.float64)
    matched, how = match_predictions(people, keypoints, boxes, sigmas)
    # The eyes by canonical name: "L_Eye", "eyeL" and "left_eye" are the same keypoint.
    distances = distance_metrics(matched, people.joints, people.boxes, meta.names, eye_pair(meta.canonical_names),
                                 how)
    return dataclasses.replace(report, distances=distances,
                               sigmas_source=meta.sigmas_source if meta.sigmas is not None else None), results
