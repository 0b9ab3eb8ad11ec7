"""Pose of the people in decoded frames, batched across people and frames: the API of predict and of video.

``PosePredictor.load(model)`` takes an export directory, a checkpoint or a run directory;
``predictor.predict(frames, boxes)`` crops every box of every frame, runs the crops through the model
in batches of ``batch_size`` (people of several frames share a batch) and decodes them along the one
inference path (``runtime.pose.predict_keypoints``), so its keypoints are those evaluation gives.
No MXNet here: ``runtime.load`` imports it only for a checkpoint or the MXNet backend.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from simplepose.data.box_filter import check_boxes
from simplepose.errors import SimplePoseError
from simplepose.geometry import Crop
from simplepose.meta import KeypointMeta
from simplepose.runtime.describe import deploy_codec, deploy_meta
from simplepose.runtime.load import load_model
from simplepose.runtime.pose import Forward, frame_crop, predict_keypoints

log = logging.getLogger(__name__)


@dataclass
class Person:
    """One person found in a frame.

    Attributes:
        box: (4,) float32 (x0, y0, x1, y1), image pixels: the box the pose was cropped from.
        score: the box's score (1 for a given box without one).
        keypoints: (K, 3) float32: x, y image pixels and the heatmap peak score.
        track_id: identity across frames, set by a tracker (None without tracking).
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    track_id: int | None = None

    def to_json(self, digits: int = 2) -> dict[str, Any]:
        """``{"box": [x, y, w, h], "score": s, "keypoints": [[x, y, score], ...], "track_id": id}``, rounded."""
        x0, y0, x1, y1 = (float(v) for v in self.box)
        return {"box": [round(v, digits) for v in (x0, y0, x1 - x0, y1 - y0)], "score": round(float(self.score), 4),
                "keypoints": [[round(float(v), digits) for v in kp] for kp in self.keypoints],
                "track_id": self.track_id}


class PosePredictor:
    """A pose model applied to decoded frames.

    Args:
        forward: (B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) float32 heatmaps.
        doc: the model's description (``deploy.json`` or ``runtime.describe.describe``).
        flip_test: average with the mirrored crops' heatmaps. decode: heatmap decoding (default: the model's codec).
        batch_size: crops per forward call, across people and frames.
    """

    def __init__(self, forward: Forward, doc: dict[str, Any], flip_test: bool = False, decode: str | None = None,
                 batch_size: int = 32, backend: str = ""):
        if batch_size < 1:
            raise SimplePoseError(f"--batch-size {batch_size}: expected a positive number of crops")
        self.forward, self.doc, self.backend, self.batch_size = forward, doc, backend, batch_size
        self.meta: KeypointMeta = deploy_meta(doc)
        self.input_size = (int(doc["input_size"][0]), int(doc["input_size"][1]))
        self.codec = deploy_codec(doc, decode)
        self.flip_index = self.meta.flip_index if flip_test else None

    @classmethod
    def load(cls, model: str | os.PathLike, backend: str = "auto", threads: int = 0, spinning: bool = True,
             **kwargs: Any) -> "PosePredictor":
        """The predictor of an export directory, a checkpoint (.json/.params/prefix) or a run directory;
        ``auto`` runs an export's INT8 model when it has one and ONNX Runtime is installed; ``threads``/``spinning``:
        ONNX Runtime's (``runtime.load.load_model``)."""
        loaded = load_model(model, backend, auto_int8=True, threads=threads, spinning=spinning)
        return cls(loaded.forward, loaded.description, backend=loaded.backend, **kwargs)

    @property
    def name(self) -> str:
        """What runs, for titles and logs: ``model (backend)``."""
        return f"{self.doc['model']} ({self.backend})" if self.backend else str(self.doc["model"])

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray],
                scores: Sequence[np.ndarray] | None = None, names: Sequence[str] | None = None
                ) -> list[list[Person]]:
        """The people of each frame, batched across frames.

        Args:
            frames: F images, each (H, W, 3) uint8 BGR.
            boxes: F arrays (N_i, 4) (x0, y0, x1, y1), image pixels; a box with NaN, infinite or non-positive
                size, or that no person of the frame can be cropped from (outside it, over 4 times its side: see
                ``data.box_filter``), is refused with one line naming it (``names[i]`` and its index).
            scores: F arrays (N_i,) of box scores (default 1).
            names: F frame names for error messages (default ``frame i``).
        Returns:
            F lists of ``Person``, in box order.
        """
        if len(boxes) != len(frames) or (scores is not None and len(scores) != len(frames)):
            raise ValueError(f"{len(frames)} frames, {len(boxes)} box arrays, "
                             f"{'-' if scores is None else len(scores)} score arrays: expected one per frame")
        boxes = [check_boxes(b, names[i] if names else f"frame {i}", frames[i].shape[1::-1])
                 for i, b in enumerate(boxes)]
        owner = np.repeat(np.arange(len(frames)), [len(b) for b in boxes])
        flat = np.concatenate(boxes) if len(boxes) else np.zeros((0, 4), np.float32)
        crops = [Crop.from_box(b, self.input_size) for b in flat]
        poses = self.keypoints(frames, owner, crops)
        flat_scores = (np.concatenate([np.asarray(s, np.float32).reshape(-1) for s in scores]) if scores is not None
                       else np.ones(len(flat), np.float32))
        if len(flat_scores) != len(flat):
            raise ValueError(f"{len(flat_scores)} box scores for {len(flat)} boxes")
        people: list[list[Person]] = [[] for _ in frames]
        for i in range(len(flat)):   # one pass over the boxes: linear in their number
            people[owner[i]].append(Person(flat[i], float(flat_scores[i]), poses[i]))
        return people

    def keypoints(self, frames: Sequence[np.ndarray], owner: np.ndarray, crops: Sequence[Crop]) -> np.ndarray:
        """(N, K, 3) keypoints, image pixels, of ``crops`` (crop i of frame ``owner[i]``)."""
        if not crops:
            return np.zeros((0, self.meta.num_joints, 3), np.float32)
        return predict_keypoints(self.forward, self._batches(frames, owner, crops), crops, self.codec,
                                 self.flip_index)

    def _batches(self, frames: Sequence[np.ndarray], owner: np.ndarray, crops: Sequence[Crop]
                 ) -> Iterator[np.ndarray]:
        """(B, h, w, 3) uint8 BGR crops, ``batch_size`` at a time, cut when the batch is asked for."""
        for start in range(0, len(crops), self.batch_size):
            stop = min(start + self.batch_size, len(crops))
            yield np.stack([frame_crop(frames[owner[i]], crops[i], self.input_size) for i in range(start, stop)])
