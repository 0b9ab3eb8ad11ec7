"""Tests for simplepose.predict.tracking: ids stay with people across frames, new people get new ids."""
from __future__ import annotations

import numpy as np
import pytest

from simplepose.sigma_tables import COCO_SIGMAS
from simplepose.synthetic.figure import sample_figure
from simplepose.synthetic.video import VideoSpec, render_video
from simplepose.geometry import box_iou
from simplepose.predict.tracking import Tracker, pck_similarity

SIGMAS = np.array(list(COCO_SIGMAS.values()))


def detections(anns: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """A frame's ground truth as detections: keypoints (N, 17, 3) with score 1 where labelled, boxes (N, 4)."""
    kps = np.array([a["keypoints"] for a in anns], np.float64).reshape(len(anns), -1, 3)
    kps[..., 2] = kps[..., 2] > 0
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float64)
    return kps, boxes


@pytest.fixture(scope="module")
def video_gt():
    """Per frame (keypoints, boxes, true ids) of a 40-frame video of 3 people, people listed in a shuffled order."""
    rng = np.random.default_rng(0)
    frames = []
    for _, anns in render_video(VideoSpec(num_frames=40, fps=24, num_people=3, seed=3)):
        order = rng.permutation(len(anns))
        kps, boxes = detections([anns[i] for i in order])
        frames.append((kps, boxes, np.array([anns[i]["track_id"] for i in order])))
    return frames


def assert_same_identities(ids_per_frame: list[np.ndarray], truth_per_frame: list[np.ndarray]) -> None:
    """Each true person always gets one track id, and no two people share one."""
    mapping: dict[int, int] = {}
    for ids, truth in zip(ids_per_frame, truth_per_frame):
        assert len(set(ids.tolist())) == len(ids)
        for i, t in zip(ids.tolist(), truth.tolist()):
            assert mapping.setdefault(t, i) == i, (t, i, mapping)
    assert len(set(mapping.values())) == len(mapping)


@pytest.mark.parametrize("sigmas", [SIGMAS, None], ids=["oks", "pck"])
def test_ids_stable_on_a_smooth_video(video_gt, sigmas):
    tracker = Tracker(sigmas)
    ids = [tracker.update(kps, boxes) for kps, boxes, _ in video_gt]
    assert_same_identities(ids, [truth for _, _, truth in video_gt])
    assert sorted(ids[0].tolist()) == [0, 1, 2] and tracker.next_id == 3


@pytest.mark.parametrize("sigmas", [SIGMAS, None], ids=["oks", "pck"])
def test_ids_stable_with_jitter_and_missed_detections(video_gt, sigmas):
    """4 px of noise on every keypoint and box corner; person 1 missed in frame 10, nobody found in frame 20."""
    rng = np.random.default_rng(1)
    tracker = Tracker(sigmas)
    ids, truths = [], []
    for f, (kps, boxes, truth) in enumerate(video_gt):
        keep = np.ones(len(truth), bool)
        if f == 10:
            keep = truth != 1
        elif f == 20:
            keep[:] = False
        noisy = kps.copy()
        noisy[..., :2] += rng.normal(0, 4.0, noisy[..., :2].shape)
        out = tracker.update(noisy[keep], boxes[keep] + rng.normal(0, 4.0, boxes[keep].shape))
        assert len(out) == keep.sum()
        ids.append(out)
        truths.append(truth[keep])
    assert_same_identities(ids, truths)
    assert tracker.next_id == 3    # nobody was renumbered


def walker(rng: np.random.Generator, start: tuple[float, float], step: tuple[float, float], frames: int
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(keypoints (17, 3), box (4,)) per frame of one rigid figure 200 px tall moving ``step`` px a frame."""
    fig = sample_figure(rng, 200.0, centre=np.array(start), rotation_deg=0.0)
    out = []
    for f in range(frames):
        kp = fig.kp + np.array(step) * f
        box = np.concatenate([kp.min(axis=0) - 10, kp.max(axis=0) + 10])
        out.append((np.concatenate([kp, np.ones((17, 1))], axis=1), box))
    return out


@pytest.mark.parametrize("sigmas", [SIGMAS, None], ids=["oks", "pck"])
def test_no_swap_when_two_people_cross(sigmas):
    """Two people walk towards each other 12 px a frame and pass at 120 px vertical distance (their boxes
    overlap by 45 % while they pass): neither takes the other's id, whichever comes first in the list."""
    rng = np.random.default_rng(7)
    a = walker(rng, (100.0, 200.0), (12.0, 0.0), 40)
    b = walker(rng, (560.0, 320.0), (-12.0, 0.0), 40)
    tracker = Tracker(sigmas)
    for f, ((ka, ba), (kb, bb)) in enumerate(zip(a, b)):
        order = [0, 1] if f % 2 else [1, 0]     # the detector lists them in either order
        kps, boxes = np.stack([ka, kb])[order], np.stack([ba, bb])[order]
        ids = tracker.update(kps, boxes)[np.argsort(order)]   # ids of a, b
        assert ids.tolist() == [1, 0], f        # frame 0 listed b first
    crossing = np.abs(np.array([pa[0][:, 0].mean() - pb[0][:, 0].mean() for pa, pb in zip(a, b)])).argmin()
    assert 10 < crossing < 30    # they did cross


def test_new_person_gets_a_new_id_and_ids_are_never_reused():
    rng = np.random.default_rng(2)
    a = walker(rng, (150.0, 240.0), (3.0, 0.0), 30)
    b = walker(rng, (450.0, 240.0), (-3.0, 0.0), 30)
    tracker = Tracker(SIGMAS, max_age=3)
    for f in range(5):
        assert tracker.update(a[f][0][None], a[f][1][None]).tolist() == [0]
    for f in range(5, 10):      # b comes in
        assert tracker.update(np.stack([b[f][0], a[f][0]]), np.stack([b[f][1], a[f][1]])).tolist() == [1, 0]
    for f in range(10, 14):     # a gone for 4 frames > max_age: forgotten
        assert tracker.update(b[f][0][None], b[f][1][None]).tolist() == [1]
    assert tracker.update(np.stack([a[14][0], b[14][0]]), np.stack([a[14][1], b[14][1]])).tolist() == [2, 1]


def test_a_track_survives_max_age_missed_frames():
    rng = np.random.default_rng(4)
    a = walker(rng, (300.0, 240.0), (2.0, 1.0), 12)
    tracker = Tracker(None, max_age=3)
    assert tracker.update(a[0][0][None], a[0][1][None]).tolist() == [0]
    for _ in range(3):
        assert tracker.update(np.zeros((0, 17, 3)), np.zeros((0, 4))).tolist() == []
    # 3 frames missed: still track 0 (the person moved 8 px meanwhile, well within the similarity)
    assert tracker.update(a[4][0][None], a[4][1][None]).tolist() == [0]


def test_a_far_jump_is_a_new_person():
    """A free track does not take a detection below min_similarity: the same pose 300 px away is someone else."""
    rng = np.random.default_rng(5)
    (kp, box), = walker(rng, (150.0, 240.0), (0.0, 0.0), 1)
    for sigmas in (SIGMAS, None):
        tracker = Tracker(sigmas)
        tracker.update(kp[None], box[None])
        far = kp + np.array([300.0, 0.0, 0.0])
        assert tracker.update(far[None], (box + [300, 0, 300, 0])[None]).tolist() == [1]


def test_pck_similarity_counts_keypoints_within_a_fifth_of_the_box_size():
    """Box 100 x 50 px (size 100): limit 20 px. Of 4 keypoints, one unscored in the other pose, one 25 px off,
    two within 20 px: 2 of the 3 jointly scored ones match."""
    pose = np.array([[10, 10, 1], [20, 20, 1], [30, 30, 1], [40, 40, 1]], np.float64)
    other = np.array([[10, 29, 1], [20, 45, 1], [30, 30, 0.1], [52, 40, 0.9]], np.float64)
    box = np.array([0, 0, 100, 50], np.float64)
    sim = pck_similarity(pose, box, other[None], box[None])
    assert sim.tolist() == [pytest.approx(2 / 3)]
    # boxes of sizes 100 and 50: the limit is 0.2 x 75 = 15 px, so the 19 px one no longer matches
    assert pck_similarity(pose, box, other[None], np.array([[0, 0, 50, 50]]))[0] == pytest.approx(1 / 3)
    # nothing scored in common: 0
    assert pck_similarity(pose, box, np.zeros((1, 4, 3)), box[None]).tolist() == [0.0]


def test_poses_without_scored_keypoints_are_tracked_by_their_boxes():
    """A weak model scores no keypoint above kpt_thresh: the boxes (IoU) keep the ids instead of a new id a frame."""
    rng = np.random.default_rng(6)
    a = walker(rng, (150.0, 240.0), (4.0, 0.0), 10)
    b = walker(rng, (450.0, 240.0), (-4.0, 1.0), 10)
    for sigmas in (SIGMAS, None):
        tracker = Tracker(sigmas)
        for (ka, ba), (kb, bb) in zip(a, b):
            weak = np.stack([ka, kb]) * [1.0, 1.0, 0.01]
            assert tracker.update(weak, np.stack([ba, bb])).tolist() == [0, 1]


def test_box_iou():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    others = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]], np.float64)
    np.testing.assert_allclose(box_iou(box, others)[0], [1.0, 50 / 150, 0.0, 0.25])


def test_a_nan_pose_matches_nothing():
    rng = np.random.default_rng(8)
    (kp, box), = walker(rng, (200.0, 240.0), (0.0, 0.0), 1)
    tracker = Tracker(SIGMAS)
    tracker.update(kp[None], box[None])
    bad = kp.copy()
    bad[:, :2] = np.nan
    assert tracker.update(bad[None], np.full((1, 4), np.nan)).tolist() == [1]
