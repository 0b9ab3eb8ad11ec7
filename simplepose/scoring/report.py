"""The figures of one keypoint evaluation, as the command line prints and writes them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simplepose.scoring.analysis import ErrorAnalysis
from simplepose.scoring.pck import DistanceMetrics

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@dataclass
class EvalReport:
    """The figures of one evaluation: COCO keypoint AP (when OKS sigmas are known) and PCK/AUC/EPE/NME.

    stats: the ten COCOeval statistics by name (AP ... ARl), fractions, -1 where undefined; None when
    no OKS sigmas are known (AP not computed).
    per_keypoint_ap: keypoint name -> AP with OKS computed on that keypoint alone (None if not computed).
    boxes: which boxes were used (ground truth or a detector file); people: how many;
    images: how many images were evaluated; predictions: poses scored (after OKS-NMS when AP is computed).
    analysis: precision-recall curves and per-person OKS (``evaluate_keypoints(..., analysis=True)``
    with at least one prediction; not part of ``to_dict``).
    distances: PCK, AUC, EPE and NME (None if not computed).
    sigmas_source: where the OKS sigmas came from (``KeypointMeta.sigmas_source``: a published table,
    ``file PATH``, ``uniform:X``); None without sigmas.
    per_part: part -> its ten statistics by name, for keypoints read from several fields (COCO-WholeBody's body,
    foot, face, lefthand, righthand, then wholebody: ``scoring.parts``); None otherwise.
    """

    stats: dict[str, float] | None
    per_keypoint_ap: dict[str, float] | None
    boxes: str
    people: int
    images: int
    predictions: int
    analysis: ErrorAnalysis | None = None
    distances: DistanceMetrics | None = None
    sigmas_source: str | None = None
    per_part: dict[str, dict[str, float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats if self.stats is not None else dict.fromkeys(STAT_NAMES)
        return {"boxes": self.boxes, "people": self.people, "images": self.images, "predictions": self.predictions,
                "sigmas_source": self.sigmas_source, **stats, "per_keypoint_ap": self.per_keypoint_ap,
                **(self.distances.to_dict() if self.distances else {}),
                **({"per_part": self.per_part} if self.per_part else {})}

    def lines(self) -> list[str]:
        """The report as printed by the command line."""
        if self.stats is None:
            out = [f"Keypoint evaluation on {self.boxes}: {self.images} images, {self.people} boxes, "
                   f"{self.predictions} poses",
                   "  COCO keypoint AP not computed: no OKS sigmas are known for these keypoints "
                   "(AP needs --sigmas FILE or --sigmas uniform:X)"]
        else:
            out = [f"COCO keypoint evaluation on {self.boxes}: {self.images} images, {self.people} boxes, "
                   f"{self.predictions} poses after OKS-NMS; OKS sigmas from {self.sigmas_source or 'unknown'}"]
            out += [f"  {name:<5} {v:7.4f}" for name, v in self.stats.items()]
        if self.per_part:
            out.append("  per-part AP (COCO-WholeBody: OKS over each part's keypoints with its sigmas; people "
                       "without that part ignored):")
            out.append(f"    {'part':<10} {'AP':>7} {'AP50':>7} {'AP75':>7} {'AR':>7}")
            out += [f"    {part:<10} " + " ".join(f"{s[k]:7.4f}" for k in ("AP", "AP50", "AP75", "AR"))
                    for part, s in self.per_part.items()]
        if self.per_keypoint_ap:
            out.append("  per-keypoint AP (OKS on that keypoint alone):")
            out += [f"    {name:<16} {v:7.4f}" for name, v in self.per_keypoint_ap.items()]
        if self.distances:
            out += self.distances.lines()
        return out
