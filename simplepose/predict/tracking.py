"""Track ids for the people of a video: SORT's motion model with ByteTrack's two-pass association.

Per frame (:meth:`Tracker.update`, frames in order):

1. Every track's box is predicted one frame ahead by its constant-velocity Kalman filter (``predict.kalman``).
2. The detections are split by score at ``det_thresh``: high-score boxes are people; low-score ones (a person
   half hidden, blurred, at the detector's limit) may only continue a track.
3. First pass: the confirmed tracks (followed or lost) against the high-score detections, and against the
   low-score ones at ``low_weight`` (0.8) of their similarity. ByteTrack leaves the low ones to the second pass;
   but a person walking behind another is often found only with a low score while the nearer one's high-score
   box overlaps their track, and ByteTrack's first pass then hands the track to the nearer person, for good
   (bench/tracking.py's crowd, seed 0: two ids swapped that way). Here a high-score box still wins unless a
   low one fits the track clearly better (by a quarter).
4. Second pass (ByteTrack): the confirmed tracks still unmatched against the low-score detections. Unlike
   ByteTrack, lost tracks take part too: a person half hidden for many frames is often found only with low
   scores, and a single missed frame would otherwise shut them out (bench/tracking.py's crowd scenario: IDF1
   0.87 -> 0.96 when the first pass took high-score boxes only; with the low ones there, it takes most of these
   matches first). A low-score detection left over is no one (``NO_PERSON``).
5. Tentative tracks against the high-score detections left; the ones still left start tentative tracks.

Each pass is an optimal assignment (``predict.assignment``, the Hungarian method) maximising the summed
similarity, a pair kept only at ``min_similarity`` or above (the second pass: ``low_similarity``, stricter, as
the low boxes are less sure). The similarity of a detection and a track, in [0, 1], is the IoU of the detection's
box with the track's predicted box, averaged with the pose similarity when the two poses share ``min_keypoints``
keypoints scored above ``kpt_thresh`` (the track's last pose moved with its predicted box): COCO's OKS with the
dataset's sigmas (``scoring.oks``, scale the mean of the two box areas), or without sigmas the PCK-style share
of keypoints within ``pck_alpha`` x the box size (:func:`pck_similarity`).

A tentative track is confirmed at its ``min_hits``-th frame matched in a row and gets its id then (0, 1, 2, ...
in order of confirmation, never reused); one unmatched frame before that ends it, so a false detection of a
frame or two never gets an id. Until confirmed its person is reported without an id (``TENTATIVE``). A
confirmed track that goes unmatched is lost: its box keeps moving with its velocity, and it is forgotten after
``max_lost`` frames (:func:`lost_frames`: two seconds of video).

NumPy only.
"""
from __future__ import annotations

import numpy as np

from simplepose.geometry import box_areas, box_iou
from simplepose.predict.assignment import linear_assignment
from simplepose.predict.kalman import BoxKalman, box_to_xywh
from simplepose.scoring.oks import KPT_THRESH, oks

TENTATIVE = -1          # id of a person whose track is not yet confirmed: reported without an id
NO_PERSON = -2          # a low-score detection that continued no track: not reported
DET_THRESH = 0.5        # detection scores at or above this are high (first pass, new tracks)
MIN_SIMILARITY = 0.3    # first and tentative passes: below this a detection and a track are different people
LOW_SIMILARITY = 0.4    # second pass (low-score boxes): stricter
LOW_WEIGHT = 0.8        # first pass: a low-score box counts at this share of its similarity
MIN_HITS = 3            # frames matched in a row that confirm a track
# A lost track is kept this long (in frames: lost_frames). Two seconds, not ByteTrack's one: a weak detector
# (HOG) misses a walking person for longer runs than YOLOX does: on OpenCV's vtest.avi (10 fps) 5 of the 159
# tracks found again came back after 11-20 missed frames; bench/tracking.py's scenes (seeds 0-4) are unchanged.
LOST_SECONDS = 2.0
DEFAULT_FPS = 30.0      # frames per second assumed when a sequence has none (images)
PCK_ALPHA = 0.2         # PCK-style similarity: a keypoint matches within this share of the box size
MIN_KEYPOINTS = 3       # jointly scored keypoints below which two poses are compared by their boxes only


def lost_frames(fps: float | None, seconds: float = LOST_SECONDS) -> int:
    """Frames a lost track is kept: ``seconds`` of video at ``fps`` (``DEFAULT_FPS`` when None), at least 1."""
    fps = DEFAULT_FPS if fps is None or not np.isfinite(fps) or fps <= 0 else float(fps)
    return max(1, int(round(seconds * fps)))


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


class _Track:
    """One track: its Kalman filter, last matched pose (K, 3) and the filtered box centre (2,) then (image pixels),
    its predicted box (4,), its id once confirmed,
    frames matched in a row (``hits``) and frames unmatched since (``missed``)."""

    def __init__(self, keypoints: np.ndarray, box: np.ndarray):
        self.kalman = BoxKalman(box)
        self.keypoints, self.centre = keypoints, self.kalman.mean[:2].copy()
        self.predicted = box
        self.track_id: int | None = None
        self.hits, self.missed = 1, 0

    def predict(self) -> None:
        self.predicted = self.kalman.predict()

    def predicted_pose(self) -> np.ndarray:
        """(K, 3) the last pose moved by the filtered box centre's predicted shift since it was seen."""
        pose = self.keypoints.copy()
        pose[:, :2] += box_to_xywh(self.predicted)[:2] - self.centre
        return pose

    def match(self, keypoints: np.ndarray, box: np.ndarray) -> None:
        self.kalman.update(box)
        self.keypoints, self.centre = keypoints, self.kalman.mean[:2].copy()
        self.hits, self.missed = self.hits + 1, 0


class Tracker:
    """SORT/ByteTrack-style pose tracker; call :meth:`update` once per frame, frames in order.

    Args:
        sigmas: (K,) OKS sigmas of the keypoints, or None for the PCK-style pose similarity.
        det_thresh: detections scored at or above this are high-score; below, low-score (second pass only).
        max_lost: frames a confirmed track survives unmatched (:func:`lost_frames` of the video's fps).
        min_hits: frames matched in a row that confirm a track.
        min_similarity, low_similarity: the least similarity of a pair in the first and second pass.
        low_weight: the share of its similarity a low-score box counts with in the first pass (0: not there).
        kpt_thresh, pck_alpha, min_keypoints: which keypoints count in the pose similarity (module docstring).
    """

    def __init__(self, sigmas: np.ndarray | None = None, det_thresh: float = DET_THRESH,
                 max_lost: int = lost_frames(None), min_hits: int = MIN_HITS,
                 min_similarity: float = MIN_SIMILARITY, low_similarity: float = LOW_SIMILARITY,
                 kpt_thresh: float = KPT_THRESH, pck_alpha: float = PCK_ALPHA, min_keypoints: int = MIN_KEYPOINTS,
                 low_weight: float = LOW_WEIGHT):
        if max_lost < 0 or min_hits < 1:
            raise ValueError(f"Tracker: max_lost {max_lost} must be >= 0 and min_hits {min_hits} >= 1")
        self.sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        self.det_thresh, self.max_lost, self.min_hits = float(det_thresh), int(max_lost), int(min_hits)
        self.min_similarity, self.low_similarity = float(min_similarity), float(low_similarity)
        self.low_weight = float(low_weight)
        self.kpt_thresh, self.pck_alpha, self.min_keypoints = float(kpt_thresh), float(pck_alpha), int(min_keypoints)
        self.tracks: list[_Track] = []
        self.next_id = 0

    def similarity(self, tracks: list[_Track], keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, T) float64 in [0, 1] of N detections ((N, K, 3), (N, 4) image pixels) to ``tracks``, predicted."""
        out = np.zeros((len(keypoints), len(tracks)))
        if not len(keypoints) or not tracks:
            return out
        areas = box_areas(boxes)
        scored = keypoints[..., 2] > self.kpt_thresh                                    # (N, K)
        for t, track in enumerate(tracks):
            iou = box_iou(track.predicted, boxes)[0]
            pose = track.predicted_pose()
            if self.sigmas is None:
                sim = pck_similarity(pose, track.predicted, keypoints, boxes, self.kpt_thresh, self.pck_alpha)
            else:
                area = float(box_areas(track.predicted[None])[0])
                sim = oks(pose, keypoints, area, areas, self.sigmas, self.kpt_thresh)
            shared = (scored & (pose[None, :, 2] > self.kpt_thresh)).sum(axis=1)
            out[:, t] = np.where((shared >= self.min_keypoints) & np.isfinite(sim), (iou + sim) / 2, iou)
        return np.nan_to_num(out, nan=0.0)   # a NaN pose is compared by its box; a NaN box matches nothing

    def _assign(self, tracks: list[_Track], dets: np.ndarray, keypoints: np.ndarray, boxes: np.ndarray,
                least: float | np.ndarray, weights: np.ndarray | None = None
                ) -> tuple[list[tuple[_Track, int]], np.ndarray]:
        """Optimal pairs of ``tracks`` and the detections ``dets`` (indices) at similarity >= ``least`` (one
        for all, or (D,) one per detection), each detection's similarity times its ``weights`` entry (None: 1);
        returns the pairs (track, detection index) and the detections left."""
        sim = self.similarity(tracks, keypoints[dets], boxes[dets])
        if weights is not None:
            sim = sim * weights[:, None]
        least = np.broadcast_to(np.asarray(least, np.float64).reshape(-1, 1), (len(dets), 1))
        # A pair below ``least`` costs more than leaving both unmatched could save: never worth taking.
        cost = np.where(sim >= least, 1.0 - sim, 1.0 + len(dets) + len(tracks))
        pairs = [(tracks[t], int(dets[d])) for d, t in zip(*linear_assignment(cost)) if sim[d, t] >= least[d, 0]]
        taken = {d for _, d in pairs}
        return pairs, np.array([d for d in dets if d not in taken], np.int64)

    def update(self, keypoints: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """Track ids of one frame's people.

        Args:
            keypoints: (N, K, 3) image pixels + score; boxes: (N, 4) (x0, y0, x1, y1) image pixels;
            scores: (N,) box scores (None: all high).
        Returns:
            (N,) int64, in the order of the detections: a confirmed track's id (>= 0), ``TENTATIVE`` for a
            high-score person whose track is not yet confirmed, ``NO_PERSON`` for a low-score box that
            continued no track (and for a box that is not finite).
        """
        keypoints = np.asarray(keypoints, np.float64)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        if self.sigmas is not None and len(keypoints) and keypoints.shape[1] != len(self.sigmas):
            raise ValueError(f"{keypoints.shape[1]} keypoints per person but {len(self.sigmas)} OKS sigmas")
        if len(scores) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
        for track in self.tracks:
            track.predict()
        usable = np.isfinite(boxes).all(axis=1)
        high = np.flatnonzero(usable & (scores >= self.det_thresh))
        low = np.flatnonzero(usable & ~(scores >= self.det_thresh))
        confirmed = [t for t in self.tracks if t.track_id is not None]
        weights = np.r_[np.ones(len(high)), np.full(len(low), self.low_weight)]
        # A low-score box needs the second pass's similarity here too: weighted, low_similarity x low_weight.
        least = np.r_[np.full(len(high), self.min_similarity),
                      np.full(len(low), max(self.min_similarity, self.low_similarity * self.low_weight))]
        first, left = self._assign(confirmed, np.r_[high, low], keypoints, boxes, least, weights)
        high, low = np.intersect1d(high, left), np.intersect1d(low, left)
        unmatched = [t for t in confirmed if all(t is not m for m, _ in first)]
        second, _ = self._assign(unmatched, low, keypoints, boxes, self.low_similarity)
        tentative = [t for t in self.tracks if t.track_id is None]
        third, high = self._assign(tentative, high, keypoints, boxes, self.min_similarity)
        matched = first + second + third
        for track, d in matched:
            track.match(keypoints[d], boxes[d])
            if track.track_id is None and track.hits >= self.min_hits:
                track.track_id, self.next_id = self.next_id, self.next_id + 1
        hit = {id(t) for t, _ in matched}
        for track in self.tracks:
            track.missed += id(track) not in hit
        self.tracks = [t for t in self.tracks if t.missed == 0 or (t.track_id is not None
                                                                   and t.missed <= self.max_lost)]
        born = [_Track(keypoints[d], boxes[d]) for d in high]
        for track in born if self.min_hits == 1 else ():
            track.track_id, self.next_id = self.next_id, self.next_id + 1
        self.tracks += born
        ids = np.full(len(boxes), NO_PERSON, np.int64)
        for track, d in matched + list(zip(born, high.tolist())):
            ids[d] = TENTATIVE if track.track_id is None else track.track_id
        return ids
