"""COCO keypoint AP with pycocotools: ground truth, COCOeval over the images evaluated, per-keypoint AP.

``evaluate_keypoints`` scores one pose per box: rescoring and OKS-NMS (``oks``), then pycocotools'
COCOeval with the dataset's sigmas over exactly the images evaluated (evaluating part of a file
must not count the other images' people as misses).
"""
from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from simplepose.data.boxes import PersonBoxes
from simplepose.data.coco import COCOKeyPoints
from simplepose.errors import SimplePoseError
from simplepose.meta import KeypointMeta
from simplepose.scoring.analysis import error_analysis
from simplepose.scoring.oks import KPT_THRESH, OKS_NMS, coco_results
from simplepose.scoring.parts import body_areas, part_stats
from simplepose.scoring.report import STAT_NAMES, EvalReport


def load_coco_gt(dataset: COCOKeyPoints) -> COCO:
    """The dataset's cleaned ground truth as a pycocotools COCO object, one category: what COCOeval must see.

    Built from ``dataset.ground_truth``, not from the file: annotation ids unique and positive,
    ``num_keypoints`` and invalid or missing ``area`` recomputed, boxes filled in, every keypoint category
    read mapped to ``dataset.category_id``, bad records left out (``data.quirks``). Other categories are
    not included: only ``dataset.category_id`` is scored.
    """
    category = {"id": dataset.category_id, "name": "keypoints", "keypoints": list(dataset.meta.names),
                "skeleton": [[a + 1, b + 1] for a, b in dataset.meta.skeleton]}
    return _indexed({"images": [{"id": i, "file_name": path} for i, path in dataset.image_files.items()],
                     "annotations": [gt.to_coco(dataset.category_id) for gt in dataset.ground_truth],
                     "categories": [category]})


def _indexed(data: dict[str, Any]) -> COCO:
    """A pycocotools COCO object of an annotation dict (without its prints)."""
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _cocoeval(gt: COCO, results: list[dict[str, Any]], sigmas: np.ndarray, image_ids: list[int],
              category_id: int, dt_areas: np.ndarray | None = None) -> COCOeval | None:
    """COCOeval after evaluate, accumulate and summarize; None when there is no prediction at all.
    ``dt_areas``: (N,) the predictions' areas, image pixels squared (default: their keypoints' extent, loadRes's)."""
    if not results:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(results))
        for ann, area in zip(dt.dataset["annotations"], () if dt_areas is None else dt_areas):
            ann["area"] = float(area)   # the index holds these same dicts
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        ev.params.imgIds = sorted(image_ids)
        ev.params.catIds = [category_id]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _stats(ev: COCOeval | None) -> np.ndarray:
    """COCOeval's ten keypoint statistics; zeros when there is no prediction at all.

    COCOeval reports -1 where no ground truth falls in a category (e.g. no medium people).
    """
    return np.zeros(len(STAT_NAMES)) if ev is None else np.asarray(ev.stats, np.float64)


def _one_keypoint_gt(gt: COCO, k: int, category_id: int) -> COCO:
    """A copy of ``gt`` where only keypoint ``k`` is labelled: OKS then measures that keypoint alone."""
    data = dict(gt.dataset)
    anns = []
    for ann in gt.dataset["annotations"]:
        ann = dict(ann)
        if ann.get("category_id") == category_id:
            kps = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
            keep = np.zeros_like(kps)
            keep[k] = kps[k]
            ann["keypoints"] = keep.ravel().tolist()
            ann["num_keypoints"] = int(kps[k, 2] > 0)
        anns.append(ann)
    data["annotations"] = anns
    return _indexed(data)


def evaluate_keypoints(gt: COCO, keypoints: np.ndarray, boxes: PersonBoxes, areas: np.ndarray, meta: KeypointMeta,
                       category_id: int, kpt_thresh: float = KPT_THRESH, oks_nms_thresh: float = OKS_NMS,
                       per_keypoint: bool = True, analysis: bool = False, per_part: bool | None = None
                       ) -> tuple[EvalReport, list[dict[str, Any]]]:
    """COCO OKS evaluation of predicted keypoints, one pose per box.

    Args:
        keypoints: (N, K, 3) image pixels + score, one per box of ``boxes``.
        areas: (N,) image pixels squared, the area of each box's padded crop (for OKS-NMS).
        analysis: the report also carries an :class:`ErrorAnalysis` (PR curves, per-person OKS).
        per_keypoint: also the per-keypoint AP (one COCOeval per keypoint).
        per_part: for keypoints read from several fields (``meta.parts``, COCO-WholeBody), also the per-part AP
            (``scoring.parts``, whose predictions' areas the whole-body AP uses too); None: as ``per_keypoint``.
    Returns:
        the report and the predictions in COCO results format.
    """
    if meta.sigmas is None:
        raise SimplePoseError(f"no OKS sigmas for keypoints {list(meta.names)}: give --sigmas FILE (K numbers)")
    sigmas = np.asarray(meta.sigmas, np.float64)
    results = coco_results(keypoints, boxes, areas, category_id, sigmas, kpt_thresh, oks_nms_thresh)
    areas = body_areas(results, meta)
    ev = _cocoeval(gt, results, sigmas, boxes.image_set, category_id, areas)
    per_kpt = parts = None
    if per_keypoint:
        per_kpt = {name: float(_stats(_cocoeval(_one_keypoint_gt(gt, k, category_id), results, sigmas,
                                                boxes.image_set, category_id, areas))[0])
                   for k, name in enumerate(meta.names)}
    if (per_keypoint if per_part is None else per_part) and meta.parts:
        parts = part_stats(gt, results, meta, _stats(ev), lambda g, r, s, a: _stats(_cocoeval(
            g, r, s, boxes.image_set, category_id, a)), _indexed, category_id)
    report = EvalReport(dict(zip(STAT_NAMES, map(float, _stats(ev)))), per_kpt, boxes.source, len(boxes),
                        len(boxes.image_set), len(results),
                        error_analysis(ev, category_id) if analysis and ev is not None else None, per_part=parts)
    return report, results
