"""Track ids for the people of a video: greedy matching of each frame's poses to the last frame's.

Every frame, each detected person is compared with every live track's last pose; pairs are taken
greedily by descending similarity (each detection and track at most once), a pair only at
``min_similarity`` or above. A detection left over starts a new track (ids 0, 1, 2, ... in order of
appearance, never reused); a track left over ages by one frame and is forgotten after ``max_age``
frames unmatched, so a person missed for a frame or two keeps their id.

Similarity of a detection and a track, in [0, 1]:

- with the dataset's OKS sigmas: COCO's object keypoint similarity
  (:func:`simplepose.scoring.oks.oks`), the scale being the mean of the two box areas and only
  keypoints scored above ``kpt_thresh`` in both poses counting;
- without sigmas, PCK-style: the share of the keypoints scored above ``kpt_thresh`` in both poses
  that lie within ``pck_alpha`` x the box size of each other, the box size being the larger side of
  the box, averaged over the two boxes;
- either way, when the two poses share fewer than ``min_keypoints`` keypoints scored above
  ``kpt_thresh`` (a person seen from the back, a weak model), the intersection over union of their
  boxes instead: such a person keeps their id as long as their box moves smoothly.

NumPy only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simplepose.geometry import box_areas, box_iou
from simplepose.scoring.oks import KPT_THRESH, oks

MIN_SIMILARITY = 0.3   # below this a detection and a track are different people
MAX_AGE = 10           # frames a track survives without a match
PCK_ALPHA = 0.2        # PCK-style similarity: a keypoint matches within this share of the box size
MIN_KEYPOINTS = 3      # jointly scored keypoints below which two poses are compared by their boxes


@dataclass
class _Track:
    """A live track: its id, its last pose (K, 3) and box (4,) in image pixels, frames since matched."""

    track_id: int
    keypoints: np.ndarray
    box: np.ndarray
    age: int = 0


def pck_similarity(pose: np.ndarray, box: np.ndarray, others: np.ndarray, other_boxes: np.ndarray,
                   kpt_thresh: float = KPT_THRESH, alpha: float = PCK_ALPHA) -> np.ndarray:
    """Share of jointly scored keypoints of ``pose`` and each of ``others`` within ``alpha`` x box size.

    Args:
        pose: (K, 3) image pixels + score; box: (4,) (x0, y0, x1, y1) image pixels.
        others: (M, K, 3); other_boxes: (M, 4), same spaces.
    Returns:
        (M,) float64 in [0, 1]; 0 when two poses share no keypoint scored above ``kpt_thresh``.
        The box size is max(width, height), averaged over the two boxes.
    """
    def size(b: np.ndarray) -> np.ndarray:
        return np.maximum(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]).astype(np.float64)

    limit = alpha * (size(box) + size(other_boxes)) / 2                           # (M,)
    dist = np.linalg.norm(others[..., :2] - pose[None, :, :2], axis=-1)          # (M, K)
    both = (pose[None, :, 2] > kpt_thresh) & (others[..., 2] > kpt_thresh)
    close = (dist <= limit[:, None]) & both
    return close.sum(axis=1) / np.maximum(both.sum(axis=1), 1)


class Tracker:
    """Greedy pose tracker; call :meth:`update` once per frame, frames in order.

    Args:
        sigmas: (K,) OKS sigmas of the keypoints, or None for the PCK-style similarity.
        min_similarity: a detection joins a track only at this similarity or above.
        max_age: frames a track survives unmatched before it is forgotten.
        kpt_thresh: keypoint scores above this count in the similarity.
        pck_alpha: the PCK-style similarity's distance limit, share of the box size.
        min_keypoints: two poses sharing fewer scored keypoints are compared by box IoU.
    """

    def __init__(self, sigmas: np.ndarray | None = None, min_similarity: float = MIN_SIMILARITY,
                 max_age: int = MAX_AGE, kpt_thresh: float = KPT_THRESH, pck_alpha: float = PCK_ALPHA,
                 min_keypoints: int = MIN_KEYPOINTS):
        self.sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        self.min_similarity = float(min_similarity)
        self.max_age = int(max_age)
        self.kpt_thresh = float(kpt_thresh)
        self.pck_alpha = float(pck_alpha)
        self.min_keypoints = int(min_keypoints)
        self.tracks: list[_Track] = []
        self.next_id = 0

    def similarity(self, keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, T) float64 similarity of N detections ((N, K, 3), (N, 4) image pixels) to the live tracks."""
        out = np.zeros((len(keypoints), len(self.tracks)))
        if not len(keypoints):
            return out
        areas = box_areas(boxes)
        scored = keypoints[..., 2] > self.kpt_thresh                                    # (N, K)
        for t, track in enumerate(self.tracks):
            if self.sigmas is None:
                sim = pck_similarity(track.keypoints, track.box, keypoints, boxes, self.kpt_thresh, self.pck_alpha)
            else:
                area = float(box_areas(track.box[None])[0])
                sim = oks(track.keypoints, keypoints, area, areas, self.sigmas, self.kpt_thresh)
            shared = (scored & (track.keypoints[None, :, 2] > self.kpt_thresh)).sum(axis=1)
            out[:, t] = np.where(shared >= self.min_keypoints, sim, box_iou(track.box, boxes)[0])
        return out

    def update(self, keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Track ids of one frame's people.

        Args:
            keypoints: (N, K, 3) image pixels + score; boxes: (N, 4) (x0, y0, x1, y1) image pixels.
        Returns:
            (N,) int64 track ids, in the order of the detections.
        """
        keypoints = np.asarray(keypoints, np.float64)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if self.sigmas is not None and len(keypoints) and keypoints.shape[1] != len(self.sigmas):
            raise ValueError(f"{keypoints.shape[1]} keypoints per person but {len(self.sigmas)} OKS sigmas")
        sim = np.nan_to_num(self.similarity(keypoints, boxes), nan=0.0)   # a NaN pose matches nothing
        ids = np.full(len(keypoints), -1, np.int64)
        matched = np.zeros(len(self.tracks), bool)
        # Greedy: the most similar pair first; a stable sort keeps ties in detection order.
        for flat in np.argsort(-sim, axis=None, kind="stable"):
            d, t = divmod(int(flat), len(self.tracks))
            if sim[d, t] < self.min_similarity:
                break
            if ids[d] < 0 and not matched[t]:
                ids[d], matched[t] = self.tracks[t].track_id, True
                self.tracks[t].keypoints, self.tracks[t].box, self.tracks[t].age = keypoints[d], boxes[d], 0
        for track, hit in zip(self.tracks, matched):
            track.age += 0 if hit else 1
        self.tracks = [t for t in self.tracks if t.age <= self.max_age]
        for d in np.flatnonzero(ids < 0):
            ids[d] = self.next_id
            self.tracks.append(_Track(self.next_id, keypoints[d], boxes[d]))
            self.next_id += 1
        return ids
