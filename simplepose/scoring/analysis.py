"""What lies behind the AP: COCOeval's precision-recall curves and the OKS of every person."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pycocotools.cocoeval import COCOeval


@dataclass
class InstanceOKS:
    """One ground-truth person and the prediction of its image that matches it best.

    bbox: (x, y, w, h) image pixels; gt: (K, 3) image pixels + COCO visibility;
    pred: (K, 3) image pixels + keypoint score, or None when the image has no prediction;
    oks: the OKS between them as COCOeval computes it (dataset sigmas, the annotation's area).
    """

    image_id: int
    ann_id: int
    bbox: tuple[float, float, float, float]
    gt: np.ndarray
    pred: np.ndarray | None
    oks: float


@dataclass
class ErrorAnalysis:
    """What lies behind the AP: precision-recall curves and the per-person OKS.

    oks_thresholds: (T,) the OKS thresholds of COCO's AP (0.50, 0.55, ..., 0.95).
    recall: (R,) COCO's 101 recall points 0, 0.01, ..., 1.
    precision: (T, R) interpolated precision at each recall (all areas, up to 20 poses per image);
    -1 where the recall is never reached.
    instances: every non-ignored ground-truth person (labelled keypoints, not crowd), lowest OKS first.
    """

    oks_thresholds: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    instances: list[InstanceOKS]


def error_analysis(ev: COCOeval, category_id: int) -> ErrorAnalysis:
    """The analysis of a COCOeval after ``evaluate``, ``accumulate`` and ``summarize``."""
    p = ev.params
    # eval["precision"] is (T, R, categories, areas, maxDets); area "all" is 0, the last maxDets is 20.
    precision = np.asarray(ev.eval["precision"][:, :, 0, 0, -1], np.float64)
    instances = []
    for (image_id, cat), gts in sorted(ev._gts.items()):
        if cat != category_id:
            continue
        # COCOeval's OKS matrix is (detections by decreasing score, truncated to maxDets) x ground truths.
        dts = sorted(ev._dts.get((image_id, cat), []), key=lambda d: -d["score"])[:p.maxDets[-1]]
        ious = ev.ious.get((image_id, cat), [])
        for j, g in enumerate(gts):
            if g["ignore"]:
                continue
            best = int(np.argmax(ious[:, j])) if len(ious) else None
            instances.append(InstanceOKS(
                int(image_id), int(g["id"]), tuple(float(v) for v in g["bbox"]),
                np.asarray(g["keypoints"], np.float32).reshape(-1, 3),
                None if best is None else np.asarray(dts[best]["keypoints"], np.float32).reshape(-1, 3),
                0.0 if best is None else float(ious[best, j])))
    instances.sort(key=lambda i: (i.oks, i.image_id, i.ann_id))
    return ErrorAnalysis(np.asarray(p.iouThrs, np.float64), np.asarray(p.recThrs, np.float64), precision,
                         instances)
