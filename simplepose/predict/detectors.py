"""Person detectors as box sources for prediction: OpenCV's HOG people detector, and GluonCV model-zoo detectors.

Each is called as ``detector(image, name, frame)`` with an (H, W, 3) uint8 BGR image and returns person boxes
(N, 4) float32 (x0, y0, x1, y1) image pixels and scores (N,), like ``box_sources.BoxFile``.

- ``GluonDetector`` (``predict.gluon_detector``: MXNet and GluonCV; ``box_sources.make_detector`` imports it when
  one is asked for): the detectors of GluonCV's own pose demo (``yolo3_mobilenet1.0_coco``, ``ssd_512_...``,
  ``faster_rcnn_...``); their families' presets are here, so a misspelt name is told as such without MXNet.
- ``HogDetector``: ``cv2.HOGDescriptor_getDefaultPeopleDetector``, a linear SVM on HOG features of a 64x128
  window (Dalal and Triggs' pedestrian detector). Ships with OpenCV, so it needs no download; it finds upright,
  mostly unoccluded people at least about 64x128 pixels, and misses sitting, lying, small and crowded people.

Boxes that come out empty or non-finite after clipping to the image are dropped and counted (``dropped``);
HOG's boxes lying inside a better-scored one (the same person found at two scales: :func:`nested_duplicates`) too
(``nested``).
"""
from __future__ import annotations

import cv2
import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.geometry import box_areas, box_intersections

HOG = "hog"
# GluonCV preset per detector family: (preset module, short side, longest side), as GluonCV's demos use them.
PRESETS = {"yolo3": ("yolo", 416, 1024), "ssd_300": ("ssd", 300, 1024), "ssd_512": ("ssd", 512, 1024),
           "faster_rcnn": ("rcnn", 600, 1000), "center_net": ("center_net", 512, 1024)}
DEFAULT_THRESH = {HOG: 0.5, "gluoncv": 0.5}
NESTED_COVER = 0.7   # HOG: a box this much inside a better-scored one (share of its own area) is a duplicate
EXAMPLES = "yolo3_mobilenet1.0_coco, yolo3_darknet53_coco, faster_rcnn_resnet50_v1b_coco, ssd_512_mobilenet1.0_coco"
# (H, W, 3) uint8 BGR image, its name, its frame index -> person boxes (N, 4) float32 and scores (N,).


def clip_boxes(boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """Boxes (N, 4) (x0, y0, x1, y1) clipped to an image of ``shape`` (H, W, ...); the ones left empty or
    non-finite dropped. Returns (boxes float32, scores float32, number dropped)."""
    h, w = shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    boxes = np.clip(boxes, 0, [w, h, w, h])
    keep = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    keep &= np.isfinite(np.asarray(scores, np.float64))
    return boxes[keep].astype(np.float32), np.asarray(scores, np.float32)[keep], int((~keep).sum())


def nested_duplicates(boxes: np.ndarray, scores: np.ndarray, cover: float = NESTED_COVER) -> np.ndarray:
    """(N,) bool: the boxes that are duplicates of a better-scored box kept, greedily best first.

    A box is a duplicate when its intersection with a better-scored kept box covers at least ``cover`` of the
    smaller of the two: one window around the other, as HOG reports one person at two scales. (Intersection
    over the smaller box rather than IoU: the two windows of one person have IoU 0.3-0.5 only, as much as
    two people walking side by side.)

    Args:
        boxes: (N, 4) (x0, y0, x1, y1) image pixels; scores: (N,).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    areas = box_areas(boxes)
    inside = box_intersections(boxes, boxes) >= cover * np.minimum(areas[:, None], areas[None, :])
    duplicate = np.zeros(len(boxes), bool)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    for rank, i in enumerate(order):
        if not duplicate[i]:
            worse = order[rank + 1:]
            duplicate[worse] |= inside[i, worse]
    return duplicate


class HogDetector:
    """OpenCV's HOG + linear SVM people detector (no download); score = SVM margin, kept at >= ``thresh``.

    Args:
        thresh: minimum SVM margin (OpenCV's detections mostly lie between 0 and 3).
        max_side: images with a longer side are searched at this size (the search cost grows with the area).
    """

    def __init__(self, thresh: float = DEFAULT_THRESH[HOG], max_side: int = 1280):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.thresh, self.max_side, self.dropped, self.nested = thresh, max_side, 0, 0
        self.description = f"OpenCV HOG people detector (margin >= {thresh:g})"

    def __call__(self, image: np.ndarray, name: str = "", frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        scale = min(1.0, self.max_side / max(image.shape[:2]))
        small = image if scale == 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rects, weights = self.hog.detectMultiScale(small, winStride=(8, 8), padding=(16, 16), scale=1.05)
        rects = np.asarray(rects, np.float64).reshape(-1, 4) / scale
        scores = np.asarray(weights, np.float64).reshape(-1)
        keep = scores >= self.thresh
        boxes = np.concatenate([rects[keep, :2], rects[keep, :2] + rects[keep, 2:]], axis=1)
        boxes, scores, dropped = clip_boxes(boxes, scores[keep], image.shape)
        self.dropped += dropped
        # OpenCV scans the image in parallel: its detections come in no fixed order. Best first, then by place.
        order = np.lexsort((boxes[:, 1], boxes[:, 0], -scores))
        boxes, scores = boxes[order], scores[order]
        # OpenCV's grouping (groupRectangles) merges only windows of about the same size and place, so one
        # person found at two scales comes out twice, the larger window mostly with the lower margin: on a
        # street video (OpenCV's vtest.avi) one box in nine. Kept, they are two people to the tracker.
        duplicate = nested_duplicates(boxes, scores)
        self.nested += int(duplicate.sum())
        return boxes[~duplicate], scores[~duplicate]


def detector_preset(name: str) -> tuple[str, int, int]:
    """The GluonCV preset (module, short side, longest side) of detector ``name``'s family."""
    for prefix, preset in PRESETS.items():
        if name.startswith(prefix):
            return preset
    raise SimplePoseError(f"--detector {name}: not a GluonCV detector family predict knows ({', '.join(PRESETS)}"
                          f"); try one of {EXAMPLES}, or hog")
