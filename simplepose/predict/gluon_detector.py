"""GluonCV model-zoo person detectors (MXNet): the detectors of GluonCV's own pose demo (``yolo3_mobilenet1.0_coco``,
``ssd_512_...``, ``faster_rcnn_...``), cut down to the person class (``reset_class(["person"],
reuse_weights=["person"])``), run on the image resized as GluonCV's presets resize it; boxes are mapped back to
the image.

Imported only when such a detector is asked for (``box_sources.make_detector``): a deploy install (no MXNet, no
GluonCV) runs predict with ``--detector hog`` or ``--boxes``, and says in one line that this one needs MXNet.
"""
from __future__ import annotations

import os
from typing import Any

import mxnet as mx
import numpy as np
from gluoncv import model_zoo
from gluoncv.data.transforms import presets
from gluoncv.model_zoo.model_store import pretrained_model_list, short_hash

from simplepose.errors import SimplePoseError, one_line
from simplepose.model import gluoncv_store_file
from simplepose.predict.detectors import DEFAULT_THRESH, EXAMPLES, clip_boxes, detector_preset


def model_store_file(name: str) -> tuple[str, str]:
    """(file name, folder) where GluonCV looks for the pretrained weights of model ``name``."""
    root = os.path.join(os.environ["MXNET_HOME"], "models") if "MXNET_HOME" in os.environ else \
        os.path.expanduser(os.path.join("~", ".mxnet", "models"))
    return f"{name}-{short_hash(name)}.params", root


class GluonDetector:
    """A GluonCV model-zoo detector kept to its person class; called as ``detector(image, name, frame)`` with an
    (H, W, 3) uint8 BGR image, it returns person boxes (N, 4) float32 (x0, y0, x1, y1) image pixels and scores (N,).

    Args:
        name: model-zoo name (e.g. ``yolo3_mobilenet1.0_coco``); thresh: minimum person score.
        pretrained: False builds the network with random weights (tests of the wiring).
    """

    def __init__(self, name: str, thresh: float = DEFAULT_THRESH["gluoncv"], pretrained: bool = True):
        self.preset = detector_preset(name)
        if name not in model_zoo.get_model_list():
            raise SimplePoseError(f"--detector {name}: not in GluonCV's model zoo; try one of {EXAMPLES}, or hog")
        if pretrained and name not in pretrained_model_list():
            raise SimplePoseError(f"--detector {name}: GluonCV publishes no weights of this detector; try one of "
                                  f"{EXAMPLES}, or hog")
        self.name, self.thresh, self.dropped, self.ctx = name, thresh, 0, mx.cpu()
        self.net = self._build(name, pretrained)
        self.net.reset_class(["person"], reuse_weights=["person"])
        self.net.hybridize()
        self.description = f"GluonCV {name} person boxes (score >= {thresh:g})"

    @staticmethod
    def _build(name: str, pretrained: bool) -> Any:
        if pretrained:   # fetched first: offline, one line naming the model, its file and the folder for it
            gluoncv_store_file(name, "GluonCV's detector weights")
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
            net(mx.nd.zeros((1, 3, 64, 64)))
        return net

    def __call__(self, image: np.ndarray, name: str = "", frame: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
