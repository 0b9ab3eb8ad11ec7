"""Tests for simplepose.predict.tracking (and its Kalman filter and assignment solver): ids stay with people
through misses, jitter and crossings; new people get new ids once confirmed; low-score boxes only continue tracks."""
from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from simplepose.geometry import box_iou
from simplepose.predict.assignment import linear_assignment
from simplepose.predict.kalman import BoxKalman
from simplepose.predict.run import RunOptions, _Follow
from simplepose.predict.smoothing import OneEuroFilter
from simplepose.predict.tracking import MIN_SIMILARITY, NO_PERSON, TENTATIVE, Tracker, lost_frames, pck_similarity
from simplepose.runtime.predictor import Person
from simplepose.sigma_tables import COCO_SIGMAS
from simplepose.synthetic.figure import sample_figure
from simplepose.synthetic.video import VideoSpec, render_video

SIGMAS = np.array(list(COCO_SIGMAS.values()))
NONE_KP, NONE_BOX = np.zeros((0, 17, 3)), np.zeros((0, 4))


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
    """Each true person always gets one track id (once confirmed), and no two people share one."""
    mapping: dict[int, int] = {}
    for ids, truth in zip(ids_per_frame, truth_per_frame):
        confirmed = ids >= 0
        assert len(set(ids[confirmed].tolist())) == confirmed.sum()
        for i, t in zip(ids[confirmed].tolist(), truth[confirmed].tolist()):
            assert mapping.setdefault(t, i) == i, (t, i, mapping)
    assert len(set(mapping.values())) == len(mapping)


@pytest.mark.parametrize("sigmas", [SIGMAS, None], ids=["oks", "pck"])
def test_ids_stable_on_a_smooth_video(video_gt, sigmas):
    tracker = Tracker(sigmas)
    ids = [tracker.update(kps, boxes) for kps, boxes, _ in video_gt]
    assert_same_identities(ids, [truth for _, _, truth in video_gt])
    # tentative for two frames, confirmed at the third (MIN_HITS 3), then always
    assert [set(i.tolist()) for i in ids[:2]] == [{TENTATIVE}] * 2 and all((i >= 0).all() for i in ids[2:])
    assert sorted(ids[2].tolist()) == [0, 1, 2] and tracker.next_id == 3


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
        assert len(out) == keep.sum() and (f < 2 or (out >= 0).all())
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


def frame(*people: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([k for k, _ in people]).reshape(-1, 17, 3), np.stack([b for _, b in people]).reshape(-1, 4)


@pytest.mark.parametrize("sigmas", [SIGMAS, None], ids=["oks", "pck"])
def test_no_swap_when_two_people_cross(sigmas):
    """Two people walk towards each other 12 px a frame and pass at 120 px vertical distance (their boxes
    overlap by 45 % while they pass): neither takes the other's id, whichever comes first in the list."""
    rng = np.random.default_rng(7)
    a = walker(rng, (100.0, 200.0), (12.0, 0.0), 40)
    b = walker(rng, (560.0, 320.0), (-12.0, 0.0), 40)
    tracker = Tracker(sigmas, min_hits=1)
    for f, ((ka, ba), (kb, bb)) in enumerate(zip(a, b)):
        order = [0, 1] if f % 2 else [1, 0]     # the detector lists them in either order
        kps, boxes = np.stack([ka, kb])[order], np.stack([ba, bb])[order]
        ids = tracker.update(kps, boxes)[np.argsort(order)]   # ids of a, b
        assert ids.tolist() == [1, 0], f        # frame 0 listed b first
    crossing = np.abs(np.array([pa[0][:, 0].mean() - pb[0][:, 0].mean() for pa, pb in zip(a, b)])).argmin()
    assert 10 < crossing < 30    # they did cross


def test_crossing_people_keep_their_ids_when_one_hides_the_other():
    """Two people pass at 20 px vertical distance, 8 px a frame each way: while their boxes overlap most, the
    one behind is not detected at all for the 6 frames their boxes overlap most (IoU 0.37-0.63). The Kalman
    filters carry both through: no swap."""
    rng = np.random.default_rng(11)
    a = walker(rng, (150.0, 240.0), (8.0, 0.0), 50)
    b = walker(rng, (550.0, 260.0), (-8.0, 0.0), 50)
    tracker = Tracker(SIGMAS)
    for f in range(50):
        overlap = box_iou(a[f][1], b[f][1])[0, 0]
        hidden = 22 <= f <= 27
        assert not hidden or overlap > 0.35      # the missed frames are the ones they overlap most
        kps, boxes = frame(a[f]) if hidden else frame(a[f], b[f])
        ids = tracker.update(kps, boxes)
        if f >= 2:
            assert ids.tolist() == ([0] if hidden else [0, 1]), f


def test_kalman_prediction_carries_a_moving_box_through_five_missed_frames():
    """A person walking 20 px a frame is missed for 5 frames: when found again, 120 px from where last seen (no
    overlap with the last box), the predicted box is where they are and the id survives."""
    rng = np.random.default_rng(4)
    a = walker(rng, (100.0, 240.0), (20.0, 0.0), 20)
    tracker = Tracker(SIGMAS)
    for f in range(8):
        assert tracker.update(*frame(a[f])).tolist() == [TENTATIVE if f < 2 else 0]
    for _ in range(5):
        assert tracker.update(NONE_KP, NONE_BOX).tolist() == []
    # without motion the last box would not match: IoU 0.08, below MIN_SIMILARITY (and OKS ~0 at 120 px)
    assert box_iou(a[7][1], a[13][1])[0, 0] < 0.1 < MIN_SIMILARITY
    assert tracker.update(*frame(a[13])).tolist() == [0]
    assert tracker.next_id == 1


def test_kalman_filter_learns_the_velocity():
    """Boxes moving (+6, -2) px a frame: the filter's velocity converges to it and its prediction leads."""
    kalman = BoxKalman(np.array([100.0, 100.0, 180.0, 300.0]))
    for f in range(1, 30):
        kalman.predict()
        kalman.update(np.array([100.0, 100.0, 180.0, 300.0]) + [6 * f, -2 * f, 6 * f, -2 * f])
    np.testing.assert_allclose(kalman.mean[4:], [6, -2, 0, 0], atol=0.05)
    np.testing.assert_allclose(kalman.predict(), [280.0, 40.0, 360.0, 240.0], atol=0.5)


def test_a_low_score_box_continues_a_track_only_in_the_second_pass():
    rng = np.random.default_rng(12)
    a = walker(rng, (150.0, 240.0), (4.0, 0.0), 12)
    b = walker(rng, (500.0, 240.0), (0.0, 0.0), 12)
    tracker = Tracker(SIGMAS, det_thresh=0.5)
    # a low-score box never starts a track: alone from the first frame, it is no one and stays no one
    for f in range(3):
        kps, boxes = frame(a[f], b[f])
        assert tracker.update(kps, boxes, np.array([0.9, 0.3])).tolist() == [TENTATIVE if f < 2 else 0, NO_PERSON]
    # a's box scored low now: it continues a's track (second pass) and keeps its id
    for f in range(3, 6):
        assert tracker.update(*frame(a[f], b[f]), np.array([0.2, 0.3])).tolist() == [0, NO_PERSON]
    assert len(tracker.tracks) == 1 and tracker.next_id == 1
    # b scored high from now on: a new track, tentative first
    assert tracker.update(*frame(a[6], b[6]), np.array([0.9, 0.9])).tolist() == [0, TENTATIVE]


@pytest.mark.parametrize("low_weight, expected", [(0.8, [0, TENTATIVE]), (0.0, [NO_PERSON, 0])],
                         ids=["default", "bytetrack"])
def test_a_track_keeps_its_low_score_person_when_a_high_score_neighbour_overlaps_it(low_weight, expected):
    """a is tracked; then b walks in just in front of a (box IoU 0.55) and is found with a high score, a only
    with a low one. ByteTrack's first pass (low_weight 0) sees b only and hands it a's track; with the
    low-score boxes in the first pass at 0.8 of their similarity, a's own box, which fits far better, keeps it."""
    rng = np.random.default_rng(21)
    a = walker(rng, (300.0, 240.0), (3.0, 0.0), 6)
    b = walker(rng, (315.0, 246.0), (3.0, 0.0), 6)
    tracker = Tracker(SIGMAS, low_weight=low_weight)
    for f in range(3):
        tracker.update(*frame(a[f]), np.array([0.9]))
    assert box_iou(a[3][1], b[3][1])[0, 0] > 0.5
    assert tracker.update(*frame(a[3], b[3]), np.array([0.3, 0.9])).tolist() == expected


def test_a_low_score_box_does_not_feed_a_tentative_track():
    rng = np.random.default_rng(13)
    a = walker(rng, (150.0, 240.0), (4.0, 0.0), 5)
    tracker = Tracker(SIGMAS)
    assert tracker.update(*frame(a[0]), np.array([0.9])).tolist() == [TENTATIVE]
    assert tracker.update(*frame(a[1]), np.array([0.3])).tolist() == [NO_PERSON]   # the tentative track ends
    assert tracker.update(*frame(a[2]), np.array([0.9])).tolist() == [TENTATIVE]   # a new one starts
    assert tracker.update(*frame(a[3]), np.array([0.9])).tolist() == [TENTATIVE]
    assert tracker.update(*frame(a[4]), np.array([0.9])).tolist() == [0]


def test_a_tentative_track_gets_no_id_before_confirmation():
    """A false box seen for 2 frames never gets an id; a person seen 3 frames in a row gets id 0 at the third."""
    rng = np.random.default_rng(2)
    a = walker(rng, (150.0, 240.0), (3.0, 0.0), 30)
    ghost = walker(rng, (500.0, 240.0), (0.0, 0.0), 2)
    tracker = Tracker(SIGMAS, min_hits=3)
    assert tracker.update(*frame(a[0], ghost[0])).tolist() == [TENTATIVE, TENTATIVE]
    assert tracker.update(*frame(a[1], ghost[1])).tolist() == [TENTATIVE, TENTATIVE]
    assert tracker.update(*frame(a[2])).tolist() == [0]
    assert tracker.next_id == 1 and len(tracker.tracks) == 1   # the ghost's track ended unconfirmed
    # a tentative track missed once ends: the person starts again, and is confirmed 3 frames later
    b = walker(rng, (450.0, 240.0), (-3.0, 0.0), 30)
    assert tracker.update(*frame(a[3], b[3])).tolist() == [0, TENTATIVE]
    assert tracker.update(*frame(a[4])).tolist() == [0]
    assert [tracker.update(*frame(a[f], b[f])).tolist() for f in (5, 6, 7)] == [[0, TENTATIVE]] * 2 + [[0, 1]]


def test_lost_track_age_comes_from_the_fps():
    assert [lost_frames(30.0), lost_frames(25.0), lost_frames(12.5), lost_frames(None), lost_frames(0.0),
            lost_frames(float("nan")), lost_frames(0.2)] == [60, 50, 25, 60, 60, 60, 1]
    rng = np.random.default_rng(4)
    a = walker(rng, (300.0, 240.0), (0.0, 0.0), 2)
    for missed, expected in ((20, 0), (21, TENTATIVE)):   # 10 fps: a lost track is kept 20 frames
        tracker = Tracker(SIGMAS, max_lost=lost_frames(10.0))
        for _ in range(3):
            tracker.update(*frame(a[0]))
        for _ in range(missed):
            tracker.update(NONE_KP, NONE_BOX)
        assert tracker.update(*frame(a[1])).tolist() == [expected], missed


def test_the_assignment_solver_against_brute_force():
    """Random square and rectangular matrices up to 6 x 6 (ties included): the least total cost, each row and
    column at most once, min(N, M) pairs."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        n, m = (int(v) for v in rng.integers(1, 7, 2))
        cost = rng.normal(size=(n, m)) if trial % 2 else rng.integers(0, 3, (n, m)).astype(float)
        rows, cols = linear_assignment(cost)
        assert len(rows) == min(n, m) and len(set(rows.tolist())) == len(rows) == len(set(cols.tolist()))
        assert (np.diff(rows) > 0).all()
        if n <= m:
            best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))
        else:
            best = min(sum(cost[p[j], j] for j in range(m)) for p in itertools.permutations(range(n), m))
        assert cost[rows, cols].sum() == pytest.approx(best, abs=1e-9), cost
    assert [a.tolist() for a in linear_assignment(np.zeros((0, 3)))] == [[], []]
    with pytest.raises(ValueError):
        linear_assignment(np.array([[0.0, np.nan]]))


def test_follow_reports_confirmed_ids_drops_unmatched_low_boxes_and_smooths_by_id():
    """predict's per-frame step: a tentative person is reported without an id and unsmoothed, a low-score box
    that continues no track is left out, and the One Euro filter starts at confirmation and follows the id."""
    predictor = SimpleNamespace(meta=SimpleNamespace(sigmas=list(SIGMAS)))
    follow = _Follow(predictor, 30.0, RunOptions(track=True, smooth=True, det_thresh=0.5))
    reference = OneEuroFilter()
    rng = np.random.default_rng(3)
    (kp, box), = walker(rng, (300.0, 240.0), (0.0, 0.0), 1)
    far = box + [400, 0, 400, 0]
    for f in range(5):
        seen = (kp + np.c_[rng.normal(0, 3.0, (17, 2)), np.zeros(17)]).astype(np.float32)   # jittered joints
        people = [Person(box.astype(np.float32), 0.9, seen.copy()),
                  Person(far.astype(np.float32), 0.2, (kp + [400, 0, 0]).astype(np.float32))]
        out = follow(people)
        assert [p.track_id for p in out] == [None if f < 2 else 0]
        expected = seen[:, :2] if f < 2 else reference(seen[:, :2], 1 / 30.0)   # the filter begins at frame 2
        np.testing.assert_allclose(out[0].keypoints[:, :2], expected, atol=1e-3)
    assert not np.allclose(out[0].keypoints[:, :2], seen[:, :2], atol=0.1)     # it did smooth


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
        tracker = Tracker(sigmas, min_hits=1)
        for (ka, ba), (kb, bb) in zip(a, b):
            weak = np.stack([ka, kb]) * [1.0, 1.0, 0.01]
            assert tracker.update(weak, np.stack([ba, bb])).tolist() == [0, 1]


def test_a_far_jump_is_a_new_person():
    """A free track does not take a detection below min_similarity: the same pose 300 px away is someone else."""
    rng = np.random.default_rng(5)
    (kp, box), = walker(rng, (150.0, 240.0), (0.0, 0.0), 1)
    for sigmas in (SIGMAS, None):
        tracker = Tracker(sigmas, min_hits=1)
        tracker.update(kp[None], box[None])
        far = kp + np.array([300.0, 0.0, 0.0])
        assert tracker.update(far[None], (box + [300, 0, 300, 0])[None]).tolist() == [1]


def test_a_nan_box_is_no_one_and_a_nan_pose_matches_by_its_box():
    rng = np.random.default_rng(8)
    (kp, box), = walker(rng, (200.0, 240.0), (0.0, 0.0), 1)
    tracker = Tracker(SIGMAS, min_hits=1)
    tracker.update(kp[None], box[None])
    bad = kp.copy()
    bad[:, :2] = np.nan
    assert tracker.update(bad[None], np.full((1, 4), np.nan)).tolist() == [NO_PERSON]
    assert tracker.update(bad[None], box[None]).tolist() == [0]


def test_det_thresh_splits_and_det_low_keeps_the_low_boxes_with_track():
    """predict's flags: without --track the box source keeps boxes from --det-thresh up; with it, from --det-low,
    the tracker splitting at --det-thresh (--box-thresh for --boxes); a --det-low above the split is refused."""
    from simplepose.errors import SimplePoseError
    from simplepose.predict.command import build_parser, score_split

    def split(*flags: str) -> tuple[float | None, float | None]:
        return score_split(build_parser().parse_args(["--model", "m", "--input", "i", *flags]))

    assert split("--detector", "hog") == (0.5, None)
    assert split("--detector", "hog", "--track") == (0.0, 0.5)
    assert split("--detector", "yolo3_mobilenet1.0_coco", "--smooth", "--det-thresh", "0.6") == (0.1, 0.6)
    assert split("--boxes", "b.json", "--track", "--box-thresh", "0.7", "--det-low", "0.2") == (0.2, 0.7)
    assert split("--track") == (None, None)     # the whole image: one box of score 1
    with pytest.raises(SimplePoseError, match=r"^--det-low 0.6: above the --det-thresh 0.5 that splits"):
        split("--detector", "hog", "--track", "--det-low", "0.6")
    with pytest.raises(SimplePoseError, match=r"^--det-low -1.0: yolo3_mobilenet1.0_coco scores are in \[0, 1\]$"):
        split("--detector", "yolo3_mobilenet1.0_coco", "--track", "--det-low", "-1")
