"""HeatmapAccuracy: the training-time PCK-like score of GluonCV / Simple Baselines.

Plain NumPy so it runs in any process; the training loop hands it arrays.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simplepose.codec import HeatmapCodec


class HeatmapAccuracy:
    """Share of labelled joints whose predicted peak is near the target peak.

    A joint is a hit when the distance between predicted and target argmax
    (heatmap pixels), normalised by (h/10, w/10), is below ``threshold``; joints
    whose target peak sits at x <= 1 or y <= 1 are not counted (GluonCV's
    convention for "no target"). The score is the mean over joint types of each
    type's hit rate. As in GluonCV, x is normalised by h/10 and y by w/10, so our
    numbers compare with GluonCV's logs.

    One difference: GluonCV averages per-update scores, so its number depends on
    the batch size; we pool hits and counts over all updates, so a validation set
    scores the same whatever the batch size. For a single update the two agree.
    """

    def __init__(self, threshold: float = 0.5, name: str = "heatmap_accuracy"):
        self.threshold = threshold
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.hits: np.ndarray | None = None     # (K,) hits per joint type
        self.counted: np.ndarray | None = None  # (K,) counted joints per joint type

    def update(self, labels: Sequence[np.ndarray] | np.ndarray, preds: Sequence[np.ndarray] | np.ndarray) -> None:
        """Add one batch (or one list of per-device batch slices).

        Args:
            labels, preds: (N, K, h, w) target and predicted heatmaps, or lists of such arrays.
        """
        if isinstance(labels, np.ndarray):
            labels, preds = [labels], [preds]
        if len(labels) != len(preds):
            raise ValueError(f"{len(labels)} label arrays for {len(preds)} prediction arrays")
        for label, pred in zip(labels, preds):
            pred = np.asarray(pred, dtype=np.float32)
            label = np.asarray(label, dtype=np.float32)
            h, w = pred.shape[2:]
            p, _ = HeatmapCodec.argmax(pred)
            t, _ = HeatmapCodec.argmax(label)
            norm = np.array([h, w], dtype=np.float32) / 10
            counted = (t[..., 0] > 1) & (t[..., 1] > 1)                   # (N, K)
            dist = np.linalg.norm((p - t) / norm, axis=-1)                 # (N, K)
            hits = ((dist < self.threshold) & counted).sum(axis=0)         # (K,)
            if self.hits is None:
                self.hits, self.counted = np.zeros_like(hits), np.zeros_like(hits)
            self.hits += hits
            self.counted += counted.sum(axis=0)

    def get(self) -> tuple[str, float]:
        """(name, accuracy); accuracy is NaN before any counted joint."""
        if self.counted is None or not self.counted.any():
            return self.name, float("nan")
        valid = self.counted > 0
        return self.name, float((self.hits[valid] / self.counted[valid]).mean())
