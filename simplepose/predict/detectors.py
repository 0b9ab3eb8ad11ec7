"""Person detectors as box sources for prediction: GluonCV model-zoo detectors and OpenCV's HOG people detector.

Each is called as ``detector(image, name, frame)`` with an (H, W, 3) uint8 BGR image and returns person boxes
(N, 4) float32 (x0, y0, x1, y1) image pixels and scores (N,), like ``box_sources.BoxFile``.

- ``GluonDetector``: the detectors of GluonCV's own pose demo (``yolo3_mobilenet1.0_coco``, ``ssd_512_...``,
  ``faster_rcnn_...``), cut down to the person class (``reset_class(["person"], reuse_weights=["person"])``),
  run on the image resized as GluonCV's presets resize it; boxes are mapped back to the image. MXNet.
- ``HogDetector``: ``cv2.HOGDescriptor_getDefaultPeopleDetector``, a linear SVM on HOG features of a 64x128
  window (Dalal and Triggs' pedestrian detector). Ships with OpenCV, so it needs no download; it finds upright,
  mostly unoccluded people at least about 64x128 pixels, and misses sitting, lying, small and crowded people.

Boxes that come out empty or non-finite after clipping to the image are dropped and counted (``dropped``).
"""
from __future__ import annotations

import logging
import os
from typing import Any

import cv2
import numpy as np

from simplepose.errors import SimplePoseError, one_line

log = logging.getLogger(__name__)

HOG = "hog"
# GluonCV preset per detector family: (preset module, short side, longest side), as GluonCV's demos use them.
PRESETS = {"yolo3": ("yolo", 416, 1024), "ssd_300": ("ssd", 300, 1024), "ssd_512": ("ssd", 512, 1024),
           "faster_rcnn": ("rcnn", 600, 1000), "center_net": ("center_net", 512, 1024)}
DEFAULT_THRESH = {HOG: 0.5, "gluoncv": 0.5}
EXAMPLES = "yolo3_mobilenet1.0_coco, yolo3_darknet53_coco, faster_rcnn_resnet50_v1b_coco, ssd_512_mobilenet1.0_coco"


def clip_boxes(boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """Boxes (N, 4) (x0, y0, x1, y1) clipped to an image of ``shape`` (H, W, ...); the ones left empty or
    non-finite dropped. Returns (boxes float32, scores float32, number dropped)."""
    h, w = shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    boxes = np.clip(boxes, 0, [w, h, w, h])
    keep = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    keep &= np.isfinite(np.asarray(scores, np.float64))
    return boxes[keep].astype(np.float32), np.asarray(scores, np.float32)[keep], int((~keep).sum())


class HogDetector:
    """OpenCV's HOG + linear SVM people detector (no download); score = SVM margin, kept at >= ``thresh``.

    Args:
        thresh: minimum SVM margin (OpenCV's detections mostly lie between 0 and 3).
        max_side: images with a longer side are searched at this size (the search cost grows with the area).
    """

    def __init__(self, thresh: float = DEFAULT_THRESH[HOG], max_side: int = 1280):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.thresh, self.max_side, self.dropped = thresh, max_side, 0
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
        return boxes[order], scores[order]


def model_store_file(name: str) -> tuple[str, str]:
    """(file name, folder) where GluonCV looks for the pretrained weights of model ``name``."""
    from gluoncv.model_zoo.model_store import short_hash
    root = os.path.join(os.environ["MXNET_HOME"], "models") if "MXNET_HOME" in os.environ else \
        os.path.expanduser(os.path.join("~", ".mxnet", "models"))
    return f"{name}-{short_hash(name)}.params", root


def _preset(name: str) -> tuple[str, int, int]:
    for prefix, preset in PRESETS.items():
        if name.startswith(prefix):
            return preset
    raise SimplePoseError(f"--detector {name}: not a GluonCV detector family predict knows ({', '.join(PRESETS)}"
                          f"); try one of {EXAMPLES}, or hog")


class GluonDetector:
    """A GluonCV model-zoo detector kept to its person class.

    Args:
        name: model-zoo name (e.g. ``yolo3_mobilenet1.0_coco``); thresh: minimum person score.
        pretrained: False builds the network with random weights (tests of the wiring).
    """

    def __init__(self, name: str, thresh: float = DEFAULT_THRESH["gluoncv"], pretrained: bool = True):
        import mxnet as mx
        from gluoncv import model_zoo
        self.preset = _preset(name)
        if name not in model_zoo.get_model_list():
            raise SimplePoseError(f"--detector {name}: not in GluonCV's model zoo; try one of {EXAMPLES}, or hog")
        self.name, self.thresh, self.dropped, self.ctx = name, thresh, 0, mx.cpu()
        self.net = self._build(name, pretrained)
        self.net.reset_class(["person"], reuse_weights=["person"])
        self.net.hybridize()
        self.description = f"GluonCV {name} person boxes (score >= {thresh:g})"

    @staticmethod
    def _build(name: str, pretrained: bool) -> Any:
        from gluoncv import model_zoo
        try:
            net = model_zoo.get_model(name, pretrained=pretrained, pretrained_base=False)
        except (OSError, ValueError, RuntimeError) as exc:   # no network, a failed download, a damaged file
            file, folder = model_store_file(name)
            raise SimplePoseError(f"--detector {name}: cannot load its pretrained weights ({one_line(exc)}); "
                                  f"put {file} in {folder} (GluonCV's model store under MXNET_HOME, "
                                  "by default ~/.mxnet/models), or run once online") from None
        if not pretrained:
            # Random weights; one forward pass settles their shapes, which reset_class needs.
            net.initialize()
            import mxnet as mx
            net(mx.nd.zeros((1, 3, 64, 64)))
        return net

    def __call__(self, image: np.ndarray, name: str = "", frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        import mxnet as mx
        from gluoncv.data.transforms import presets
        module, short, max_size = self.preset
        rgb = mx.nd.array(image[:, :, ::-1], dtype="uint8")
        x, resized = getattr(presets, module).transform_test(rgb, short=short, max_size=max_size)
        class_ids, scores, boxes = self.net(x.as_in_context(self.ctx))
        class_ids, scores, boxes = class_ids[0, :, 0].asnumpy(), scores[0, :, 0].asnumpy(), boxes[0].asnumpy()
        keep = (class_ids == 0) & (scores >= self.thresh)   # -1 pads the fixed-size output
        scale = np.array([image.shape[1] / resized.shape[1], image.shape[0] / resized.shape[0]] * 2)
        boxes, scores, dropped = clip_boxes(boxes[keep] * scale, scores[keep], image.shape)
        self.dropped += dropped
        return boxes, scores


def make_detector(name: str, thresh: float | None = None, pretrained: bool = True) -> HogDetector | GluonDetector:
    """``hog`` or a GluonCV model-zoo detector name; ``thresh`` None: the detector's default."""
    if name == HOG:
        return HogDetector(DEFAULT_THRESH[HOG] if thresh is None else thresh)
    return GluonDetector(name, DEFAULT_THRESH["gluoncv"] if thresh is None else thresh, pretrained)
