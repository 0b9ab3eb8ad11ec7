"""The figures of one COCO keypoint evaluation, as the command line prints and writes them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .analysis import ErrorAnalysis

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@dataclass
class EvalReport:
    """COCO keypoint figures of one evaluation.

    stats: the ten COCOeval statistics by name (AP ... ARl), fractions, -1 where undefined.
    per_keypoint_ap: keypoint name -> AP with OKS computed on that keypoint alone (None if not computed).
    boxes: which boxes were used (ground truth or a detector file); people: how many;
    images: how many images were evaluated; predictions: poses left after OKS-NMS.
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
