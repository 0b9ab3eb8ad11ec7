"""HeatmapAccuracy: the training-time PCK-like score of GluonCV / Simple Baselines.

Plain NumPy so it runs in any process; the training loop hands it arrays.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .codec import HeatmapCodec


class HeatmapAccuracy:
    """Share of labelled joints whose predicted peak is near the target peak.

    For each batch and joint: the distance between predicted and target argmax
    (heatmap pixels), normalised by (h/10, w/10), must be below ``threshold``.
    Joints whose target peak sits at x <= 1 or y <= 1 are not counted (GluonCV's
    convention for "no target"). As in GluonCV the score is the mean over
    updates of the per-joint accuracy within each update, and x is normalised by
    h/10 and y by w/10; we keep that so our numbers compare with GluonCV's logs.
    """

    def __init__(self, threshold: float = 0.5, name: str = "heatmap_accuracy"):
        self.threshold = threshold
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.sum_metric = 0.0
        self.num_inst = 0

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
            n_counted = counted.sum(axis=0)
            valid = n_counted > 0
            self.sum_metric += float((hits[valid] / n_counted[valid]).sum())
            self.num_inst += int(valid.sum())

    def get(self) -> tuple[str, float]:
        """(name, accuracy); accuracy is NaN before any counted joint."""
        return self.name, (self.sum_metric / self.num_inst if self.num_inst else float("nan"))
