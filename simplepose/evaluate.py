"""COCO keypoint evaluation: boxes -> crops -> heatmaps -> keypoints -> rescoring -> OKS-NMS -> COCOeval.

Plain NumPy, OpenCV and pycocotools: the network is any callable from a batch of
crops to heatmaps (an MXNet model, a reloaded export, an ONNX Runtime session).

The steps follow Simple Baselines' COCO evaluation:

1. Person boxes: the ground-truth boxes of the annotation file, or a detector's
   boxes in COCO detection results format above a score threshold.
2. Each box is cropped as in training (widened to the input aspect ratio, padded 1.25).
3. Optional flip test: the mirrored crop's heatmaps are flipped back (channels
   swapped, misalignment undone by the codec) and averaged with the plain ones.
4. The codec decodes heatmaps to model-input pixels; the crop is inverted to image pixels.
5. Instance score = box score x mean of the keypoint scores above ``kpt_thresh``.
6. OKS-NMS per image with the dataset's sigmas and the padded box area.
7. pycocotools' COCOeval with the dataset's sigmas over exactly the images evaluated.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .codec import HeatmapCodec
from .data.coco import COCOKeyPoints, box_to_center_scale, read_image
from .data.transforms import ValTransform, crop_to_image
from .errors import SimplePoseError
from .io import read_json
from .meta import KeypointMeta

log = logging.getLogger(__name__)

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
KPT_THRESH = 0.2   # keypoint scores that count towards the instance score (Simple Baselines' IN_VIS_THRE)
OKS_NMS = 0.9      # OKS above which the lower-scored of two poses in an image is dropped


@dataclass
class PersonBoxes:
    """Person boxes to run the pose model on.

    Attributes:
        image_ids: (N,) int64 COCO image ids.
        image_paths: N image files.
        boxes: (N, 4) float32 (x0, y0, x1, y1), image pixels.
        scores: (N,) float32 box scores (1 for ground truth).
        source: what the boxes are, for reports ("ground-truth boxes" or the detection file).
        image_set: the image ids evaluated (images with no box count as images with nothing found).
    """

    image_ids: np.ndarray
    image_paths: list[str]
    boxes: np.ndarray
    scores: np.ndarray
    source: str
    image_set: list[int]

    def __len__(self) -> int:
        return len(self.image_ids)


def gt_boxes(dataset: COCOKeyPoints) -> PersonBoxes:
    """The annotated people's boxes, score 1, over the images that have at least one."""
    recs = dataset.records
    return PersonBoxes(np.array([r.image_id for r in recs], np.int64), [r.image_path for r in recs],
                       np.array([r.bbox for r in recs], np.float32).reshape(-1, 4),
                       np.ones(len(recs), np.float32), "ground-truth boxes", list(dataset.image_ids))


def detection_boxes(det_file: str | os.PathLike, dataset: COCOKeyPoints, thresh: float = 0.0) -> PersonBoxes:
    """Boxes from a COCO detection results file (``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``).

    Keeps the detections of the dataset's keypoint category (all of them when the file carries no
    ``category_id``) with score >= ``thresh``, on images of the annotation file. Every image of the
    annotation file is evaluated, so a person the detector missed counts as missed.
    """
    path = Path(det_file)
    dets = read_json(path, "detection file")
    if not isinstance(dets, list):
        raise SimplePoseError(f"{path}: expected a list of detections in COCO results format")
    ids, paths, boxes, scores = [], [], [], []
    unknown = 0
    for i, det in enumerate(dets):
        if not isinstance(det, dict) or not {"image_id", "bbox", "score"} <= det.keys():
            raise SimplePoseError(f"{path}: detection {i} needs 'image_id', 'bbox' and 'score'")
        if det.get("category_id", dataset.category_id) != dataset.category_id or det["score"] < thresh:
            continue
        if det["image_id"] not in dataset.image_files:
            unknown += 1
            continue
        x, y, w, h = (float(v) for v in det["bbox"])
        if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
            raise SimplePoseError(f"{path}: detection {i} (image {det['image_id']}) has box {det['bbox']}")
        ids.append(det["image_id"])
        paths.append(dataset.image_files[det["image_id"]])
        boxes.append([x, y, x + w, y + h])   # Simple Baselines crops a detection at its full w x h
        scores.append(det["score"])
    if unknown:
        log.warning("%s: %d detections on images not in %s were ignored", path, unknown, dataset.ann_file)
    return PersonBoxes(np.array(ids, np.int64), paths, np.array(boxes, np.float32).reshape(-1, 4),
                       np.array(scores, np.float32), f"detector boxes from {path} (score >= {thresh:g})",
                       sorted(dataset.image_files))


class BoxCrops:
    """Dataset of model inputs, one per box: ``crops[i]`` is (3, h, w) float32, normalised.

    ``centers`` and ``scales`` ((N, 2) float32, image pixels) are the crops, for mapping keypoints back.
    """

    def __init__(self, boxes: PersonBoxes, transform: ValTransform):
        self.paths = boxes.image_paths
        self.transform = transform
        cs = [box_to_center_scale(b, transform.aspect_ratio) for b in boxes.boxes]
        self.centers = np.array([c for c, _ in cs], np.float32).reshape(-1, 2)
        self.scales = np.array([s for _, s in cs], np.float32).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        image = read_image(self.paths[i], f"box {i}")
        no_joints = np.zeros((0, 3), np.float32)
        return self.transform.crop(image, no_joints, self.centers[i], self.scales[i])[0]


class KeypointCollector:
    """Turns batches of heatmaps, in crop order, into image-pixel keypoints.

    Args:
        codec: decodes heatmaps to model-input pixels.
        centers, scales: (N, 2) image pixels, the crops in the order the heatmaps arrive.
    """

    def __init__(self, codec: HeatmapCodec, centers: np.ndarray, scales: np.ndarray):
        self.codec, self.centers, self.scales = codec, centers, scales
        self.parts: list[np.ndarray] = []
        self.count = 0

    def add(self, heatmaps: np.ndarray) -> None:
        """heatmaps: (B, K, h, w) for the next B crops."""
        coords, maxvals = self.codec.decode(heatmaps)
        n = len(coords)
        h, w = self.codec.input_size
        xy = crop_to_image(coords, self.centers[self.count:self.count + n], self.scales[self.count:self.count + n],
                           (w, h))
        self.parts.append(np.concatenate([xy, maxvals[..., None]], axis=-1))
        self.count += n

    @property
    def keypoints(self) -> np.ndarray:
        """(N, K, 3) float32: x, y in image pixels and the heatmap peak as score."""
        if self.count != len(self.centers):
            raise RuntimeError(f"{self.count} crops decoded, {len(self.centers)} expected")
        return np.concatenate(self.parts) if self.parts else np.zeros((0, 0, 3), np.float32)


def predict_keypoints(forward: Callable[[np.ndarray], np.ndarray], batches: Iterable[np.ndarray],
                      crops: BoxCrops, codec: HeatmapCodec, flip_index: np.ndarray | None = None) -> np.ndarray:
    """Run ``forward`` over batches of crops (in ``crops`` order) and decode.

    Args:
        forward: (B, 3, h, w) float32 -> (B, K, h/4, w/4) float32 heatmaps.
        batches: the crops of ``crops``, in order, batched.
        flip_index: (K,) left/right permutation; given, the flip test is used.
    Returns:
        (N, K, 3) float32 keypoints, image pixels, with heatmap scores.
    """
    collector = KeypointCollector(codec, crops.centers, crops.scales)
    for x in batches:
        heatmaps = forward(x)
        if flip_index is not None:
            mirrored = forward(np.ascontiguousarray(x[..., ::-1]))
            heatmaps = 0.5 * (heatmaps + codec.flip_back(mirrored, flip_index))
        collector.add(heatmaps)
    return collector.keypoints


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


def coco_results(keypoints: np.ndarray, boxes: PersonBoxes, crops: BoxCrops, category_id: int, sigmas: np.ndarray,
                 kpt_thresh: float = KPT_THRESH, oks_nms_thresh: float = OKS_NMS) -> list[dict[str, Any]]:
    """Rescored, OKS-NMSed predictions in COCO keypoint results format.

    Args:
        keypoints: (N, K, 3) image pixels + score, one per box.
        oks_nms_thresh: 1 or more keeps every pose.
    """
    scores = rescore(keypoints, boxes.scores, kpt_thresh)
    areas = crops.scales[:, 0].astype(np.float64) * crops.scales[:, 1]   # the padded crop, as Simple Baselines
    results = []
    for image_id in np.unique(boxes.image_ids):
        idx = np.flatnonzero(boxes.image_ids == image_id)
        if oks_nms_thresh < 1:
            idx = idx[oks_nms(keypoints[idx], scores[idx], areas[idx], sigmas, oks_nms_thresh, kpt_thresh)]
        for i in idx:
            results.append({"image_id": int(image_id), "category_id": int(category_id),
                            "keypoints": [round(float(v), 3) for v in keypoints[i].ravel()],
                            "score": float(scores[i])})
    return results


def load_coco_gt(ann_file: str | os.PathLike, category_id: int) -> COCO:
    """The annotation file as a pycocotools COCO object, completed where COCOeval needs more than the file has.

    A missing ``area`` is derived from the box (w x h), a missing ``num_keypoints`` from the
    visibilities and a missing ``iscrowd`` is 0; how many were derived is logged.
    """
    with open(ann_file, "rb") as f:
        data = json.load(f)
    derived = {"area": 0, "num_keypoints": 0}
    for ann in data["annotations"]:
        if ann.get("category_id") != category_id:
            continue
        if "area" not in ann:
            _, _, w, h = ann.get("bbox", (0, 0, 0, 0))
            ann["area"] = float(w) * float(h)
            derived["area"] += 1
        if "num_keypoints" not in ann:
            ann["num_keypoints"] = int(np.count_nonzero(np.asarray(ann.get("keypoints", []))[2::3] > 0))
            derived["num_keypoints"] += 1
        ann.setdefault("iscrowd", 0)
    for key, n in derived.items():
        if n:
            log.info("%s: %d annotations have no '%s'; derived it%s", ann_file, n, key,
                     " from the box (w x h)" if key == "area" else " from the visibilities")
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _run_cocoeval(gt: COCO, results: list[dict[str, Any]], sigmas: np.ndarray, image_ids: list[int],
                  category_id: int) -> np.ndarray:
    """COCOeval's ten keypoint statistics; zeros when there is no prediction at all."""
    ev = _cocoeval(gt, results, sigmas, image_ids, category_id)
    # COCOeval reports -1 where no ground truth falls in a category (e.g. no medium people).
    return np.zeros(len(STAT_NAMES)) if ev is None else np.asarray(ev.stats, np.float64)


def _cocoeval(gt: COCO, results: list[dict[str, Any]], sigmas: np.ndarray, image_ids: list[int],
              category_id: int) -> COCOeval | None:
    """COCOeval after evaluate, accumulate and summarize; None when there is no prediction at all."""
    if not results:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        ev.params.imgIds = sorted(image_ids)
        ev.params.catIds = [category_id]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


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


def _error_analysis(ev: COCOeval, category_id: int) -> ErrorAnalysis:
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
    one = COCO()
    one.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        one.createIndex()
    return one


@dataclass
class EvalReport:
    """COCO keypoint figures of one evaluation.

    stats: the ten COCOeval statistics by name (AP ... ARl), fractions, -1 where undefined.
    per_keypoint_ap: keypoint name -> AP with OKS computed on that keypoint alone (None if not computed).
    analysis: precision-recall curves and per-person OKS (``evaluate_keypoints(..., analysis=True)``
        with at least one prediction; not part of ``to_dict``).
    """

    stats: dict[str, float]
    per_keypoint_ap: dict[str, float] | None
    boxes: str
    people: int
    images: int
    predictions: int
    analysis: ErrorAnalysis | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"boxes": self.boxes, "people": self.people, "images": self.images, "predictions": self.predictions,
                **self.stats, "per_keypoint_ap": self.per_keypoint_ap}

    def lines(self) -> list[str]:
        """The report as printed by the command line."""
        out = [f"COCO keypoint evaluation on {self.boxes}: {self.images} images, {self.people} boxes, "
               f"{self.predictions} poses after OKS-NMS"]
        out += [f"  {name:<5} {v:7.4f}" for name, v in self.stats.items()]
        if self.per_keypoint_ap:
            out.append("  per-keypoint AP (OKS on that keypoint alone):")
            out += [f"    {name:<16} {v:7.4f}" for name, v in self.per_keypoint_ap.items()]
        return out


def evaluate_keypoints(gt: COCO, keypoints: np.ndarray, boxes: PersonBoxes, crops: BoxCrops, meta: KeypointMeta,
                       category_id: int, kpt_thresh: float = KPT_THRESH, oks_nms_thresh: float = OKS_NMS,
                       per_keypoint: bool = True, analysis: bool = False
                       ) -> tuple[EvalReport, list[dict[str, Any]]]:
    """COCO OKS evaluation of predicted keypoints, one pose per box.

    With ``analysis`` the report also carries an :class:`ErrorAnalysis` (PR curves, per-person OKS).

    Returns:
        the report and the predictions in COCO results format.
    """
    if meta.sigmas is None:
        raise SimplePoseError(f"no OKS sigmas for keypoints {list(meta.names)}: give --sigmas FILE (K numbers)")
    sigmas = np.asarray(meta.sigmas, np.float64)
    results = coco_results(keypoints, boxes, crops, category_id, sigmas, kpt_thresh, oks_nms_thresh)
    ev = _cocoeval(gt, results, sigmas, boxes.image_set, category_id)
    # COCOeval reports -1 where no ground truth falls in a category (e.g. no medium people).
    stats = np.zeros(len(STAT_NAMES)) if ev is None else np.asarray(ev.stats, np.float64)
    per_kpt = None
    if per_keypoint:
        per_kpt = {name: float(_run_cocoeval(_one_keypoint_gt(gt, k, category_id), results, sigmas,
                                             boxes.image_set, category_id)[0])
                   for k, name in enumerate(meta.names)}
    report = EvalReport(dict(zip(STAT_NAMES, map(float, stats))), per_kpt, boxes.source, len(boxes),
                        len(boxes.image_set), len(results),
                        _error_analysis(ev, category_id) if analysis and ev is not None else None)
    return report, results
