#!/usr/bin/env python
"""Tracking quality on generated videos: identities kept through misses, jitter, false boxes and crossings.

Each scenario is a 1280x720, 30 fps video of people moving on known paths (their identities are the ground truth)
and seen through a noisy detector, as predict's tracker receives it: boxes (x0, y0, x1, y1) with scores and
17 COCO keypoints with scores. The detector

- misses 10 % of the people at random, and a person mostly hidden behind a nearer one (IoU > 0.3 with a box
  whose bottom is lower in the picture) half the time; the hidden person's box is scored lower when found;
- jitters every box corner by 4 % of the person's height and every keypoint by 2 %;
- adds false boxes, 5 % of the true ones, anywhere, scored 0.2-0.7, with weak keypoints.

Scenarios: ``walkers`` (people crossing the picture both ways at several depths), ``crossing`` (two groups
walking through each other head-on), ``crowd`` (12 people wandering in a square, turning smoothly),
``stop-and-go`` (people who stop and turn back), ``approach`` (people walking towards and away from the camera,
their boxes growing and shrinking 3x).

Scored with py-motmetrics (``pip install motmetrics``; the bench's own requirement, not the package's): a track
box counts for a person at IoU >= 0.5 with their true box. Prints per scenario ``IDF1 MOTA IDsw`` of
``simplepose.predict.tracking.Tracker`` (as ``predict --track`` runs it) and of the greedy OKS tracker
predict had before (``max_age`` 10 frames, no motion model; kept here only for the comparison), against the
people the detector found and against all of them, with the ids per 100 people reported and the median track
length; then the command that reruns it. Takes about ten seconds.

    .venv/bin/python bench/tracking.py
    .venv/bin/python bench/tracking.py --seed 1 --frames 600 --scenario crowd
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simplepose.geometry import box_iou                             # noqa: E402
from simplepose.predict.tracking import Tracker, lost_frames        # noqa: E402
from simplepose.scoring.oks import oks                              # noqa: E402
from simplepose.sigma_tables import COCO_SIGMAS                     # noqa: E402
from simplepose.synthetic.figure import sample_figure               # noqa: E402

SIGMAS = np.array(list(COCO_SIGMAS.values()))
WIDTH, HEIGHT, FPS = 1280, 720, 30.0
DROP, FALSE_RATE, BOX_JITTER, KPT_JITTER = 0.10, 0.05, 0.04, 0.02


@dataclass
class Person:
    """A true person: a pose (17, 2) for a height of 1 and a path: centre (T, 2) and height (T,), image pixels."""

    pose: np.ndarray
    centre: np.ndarray
    height: np.ndarray

    def box(self, t: int) -> np.ndarray:
        (x, y), h = self.centre[t], self.height[t]
        return np.array([x - 0.22 * h, y - 0.5 * h, x + 0.22 * h, y + 0.5 * h])

    def seen(self, t: int) -> bool:
        x, y = self.centre[t]
        return 0 <= x < WIDTH and 0 <= y < HEIGHT


def unit_pose(rng: np.random.Generator) -> np.ndarray:
    fig = sample_figure(rng, 100.0, centre=np.zeros(2), rotation_deg=0.0)
    return fig.kp / 100.0


def line(rng, frames, start, velocity, height, grow=0.0) -> Person:
    t = np.arange(frames)[:, None]
    return Person(unit_pose(rng), np.asarray(start) + np.asarray(velocity) * t, height * (1 + grow) ** t[:, 0])


def walkers(rng, frames):
    people = []
    for i in range(6):
        right = i % 2 == 0
        h = rng.uniform(140, 320)
        y = 200 + h * 1.3 + rng.uniform(-20, 20)          # nearer people lower in the picture
        speed = rng.uniform(2, 6) * (1 if right else -1)
        x0 = rng.uniform(-200, 300) if right else rng.uniform(980, 1480)
        people.append(line(rng, frames, (x0, min(y, 640)), (speed, 0), h))
    return people


def crossing(rng, frames):
    people = []
    for i in range(3):
        h = rng.uniform(200, 260)
        y = 420 + 25 * i
        people.append(line(rng, frames, (-100 - 90 * i, y), (4.5, 0.1), h))
        people.append(line(rng, frames, (1380 + 90 * i, y + 10), (-4.5, -0.1), h))
    return people


def crowd(rng, frames):
    people = []
    for _ in range(12):
        pos, heading = rng.uniform([200, 250], [1080, 550]), rng.uniform(0, 2 * np.pi)
        centre = []
        for _ in range(frames):
            heading += rng.normal(0, 0.05)
            nxt = pos + 3 * np.array([np.cos(heading), np.sin(heading) * 0.5])
            if not (150 < nxt[0] < 1130 and 200 < nxt[1] < 600):
                heading += np.pi                           # turn back at the square's edge
                nxt = pos
            pos = nxt
            centre.append(pos)
        people.append(Person(unit_pose(rng), np.array(centre), np.full(frames, rng.uniform(160, 240))))
    return people


def stop_and_go(rng, frames):
    people = []
    for i in range(5):
        speed = np.where((np.arange(frames) // 40) % 3 == 0, 0.0, 5.0) * np.where(
            (np.arange(frames) // 120) % 2, -1, 1)         # walk, stop, walk, turn back
        x = 150 + 170 * i + np.cumsum(speed)            # all stay in the picture (x < 1240)
        y = np.full(frames, 300 + 60 * (i % 3))
        people.append(Person(unit_pose(rng), np.stack([x, y], 1), np.full(frames, 200.0 + 20 * (i % 3))))
    return people


def approach(rng, frames):
    people = []
    for i in range(4):
        away = i % 2
        grow = (-1 if away else 1) * np.log(3) / frames
        people.append(line(rng, frames, (250 + 260 * i, 420), (rng.uniform(-1, 1), 0), 300 if away else 100,
                           np.expm1(grow)))
    return people


SCENARIOS: dict[str, Callable[[np.random.Generator, int], list[Person]]] = {
    "walkers": walkers, "crossing": crossing, "crowd": crowd, "stop-and-go": stop_and_go, "approach": approach}


def detect(rng: np.random.Generator, people: list[Person], t: int):
    """One frame: (true ids (G,), true boxes (G, 4), found by the detector (G,) bool) and detections
    (keypoints (N, 17, 3), boxes (N, 4), scores (N,)), image pixels."""
    ids = [i for i, p in enumerate(people) if p.seen(t)]
    truth = np.array([people[i].box(t) for i in ids]).reshape(-1, 4)
    iou = box_iou(truth, truth) - np.eye(len(ids))
    bottom = truth[:, 3]
    hidden = ((iou > 0.3) & (bottom[None, :] > bottom[:, None])).any(axis=1)   # someone nearer covers it
    kps, boxes, scores, found = [], [], [], np.zeros(len(ids), bool)
    for g, i in enumerate(ids):
        if rng.random() < DROP or (hidden[g] and rng.random() < 0.5):
            continue
        found[g] = True
        p, h = people[i], people[i].height[t]
        boxes.append(truth[g] + rng.normal(0, BOX_JITTER * h, 4))
        kp = p.centre[t] + p.pose * h + rng.normal(0, KPT_JITTER * h, (17, 2))
        kps.append(np.c_[kp, rng.uniform(0.1 if hidden[g] else 0.3, 1.0, 17)])
        scores.append(float(np.clip(rng.normal(0.8, 0.15), 0.05, 1)) * (0.5 if hidden[g] else 1.0))
    for _ in range(rng.poisson(FALSE_RATE * max(len(ids), 1))):
        h = rng.uniform(100, 300)
        x, y = rng.uniform(0, WIDTH), rng.uniform(h / 2, HEIGHT - h / 2)
        boxes.append(np.array([x - 0.2 * h, y - h / 2, x + 0.2 * h, y + h / 2]))
        kps.append(np.c_[rng.uniform([x - 0.2 * h, y - h / 2], [x + 0.2 * h, y + h / 2], (17, 2)),
                         rng.uniform(0, 0.5, 17)])
        scores.append(rng.uniform(0.2, 0.7))
    return (np.array(ids), truth, found), (np.array(kps).reshape(-1, 17, 3), np.array(boxes).reshape(-1, 4),
                                    np.array(scores))


class GreedyTracker:
    """predict's tracker before this bench: each detection greedily to the most similar track's last pose (OKS,
    IoU when fewer than 3 keypoints are shared), at similarity >= 0.3; a track forgotten after 10 missed
    frames; every detection gets an id at once."""

    def __init__(self):
        self.tracks: list[list] = []   # [id, keypoints, box, age]
        self.next_id = 0

    def update(self, keypoints, boxes, scores=None):
        sim = np.zeros((len(boxes), len(self.tracks)))
        scored = keypoints[..., 2] > 0.2
        for t, (_, kp, box, _) in enumerate(self.tracks):
            area = (box[2] - box[0]) * (box[3] - box[1])
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            shared = (scored & (kp[None, :, 2] > 0.2)).sum(axis=1)
            sim[:, t] = np.where(shared >= 3, oks(kp, keypoints, area, areas, SIGMAS, 0.2), box_iou(box, boxes)[0])
        ids, used = np.full(len(boxes), -1), set()
        for flat in np.argsort(-sim, axis=None, kind="stable"):
            d, t = divmod(int(flat), len(self.tracks))
            if sim[d, t] < 0.3:
                break
            if ids[d] < 0 and t not in used:
                ids[d] = self.tracks[t][0]
                used.add(t)
                self.tracks[t][1:] = [keypoints[d], boxes[d], 0]
        for t, track in enumerate(self.tracks):
            track[3] += t not in used
        self.tracks = [t for t in self.tracks if t[3] <= 10]
        for d in np.flatnonzero(ids < 0):
            ids[d], self.next_id = self.next_id, self.next_id + 1
            self.tracks.append([ids[d], keypoints[d], boxes[d], 0])
        return ids


def frames_of(name: str, seed: int, frames: int) -> Iterator:
    rng = np.random.default_rng([seed, sorted(SCENARIOS).index(name)])
    people = SCENARIOS[name](rng, frames)
    for t in range(frames):
        yield detect(rng, people, t)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]


def score(name: str, seed: int, frames: int, tracker) -> tuple[list[tuple[float, float, int]], str]:
    """(IDF1, MOTA, identity switches) of ``tracker`` on scenario ``name``: first against the people the detector
    found in each frame (what a tracker can report: predict gives poses of detected boxes only), then against
    all the people in the picture (the usual MOT figures, capped by the detector's misses); and the issue's
    figures for a real video: ids per 100 people reported with an id, the median track length in frames."""
    import motmetrics as mm
    found_acc, all_acc = mm.MOTAccumulator(auto_id=True), mm.MOTAccumulator(auto_id=True)
    lengths: dict[int, int] = {}
    for (gt_ids, truth, found), (kps, boxes, scores) in frames_of(name, seed, frames):
        ids = tracker.update(kps, boxes, scores)
        out = ids >= 0                                    # confirmed tracks only
        for i in ids[out].tolist():
            lengths[i] = lengths.get(i, 0) + 1
        for acc, gt in ((found_acc, found), (all_acc, np.ones(len(found), bool))):
            acc.update(gt_ids[gt].tolist(), ids[out].tolist(),
                       mm.distances.iou_matrix(_xywh(truth[gt]), _xywh(boxes[out]), max_iou=0.5))
    metrics = mm.metrics.create()
    results = []
    for acc in (found_acc, all_acc):
        summary = metrics.compute(acc, metrics=["idf1", "mota", "num_switches"])
        results.append((float(summary["idf1"].iloc[0]), float(summary["mota"].iloc[0]),
                        int(summary["num_switches"].iloc[0])))
    per_100 = 100 * len(lengths) / max(sum(lengths.values()), 1)
    return results, f"{per_100:.1f} ids/100, median track {np.median(list(lengths.values()) or [0]):.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=300, help="frames per scenario (30 fps)")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="default: all")
    args = p.parse_args(argv)
    for name in args.scenario or list(SCENARIOS):
        ((new, new_all), new_ids), ((old, old_all), old_ids) = (
            score(name, args.seed, args.frames, tracker)
            for tracker in (Tracker(SIGMAS, max_lost=lost_frames(FPS)), GreedyTracker()))
        show = "IDF1 {:.3f} MOTA {:.3f} IDsw {}".format
        print(f"{name:12s} {show(*new)}   (before: {show(*old)});  all people: {show(*new_all)} "
              f"(before: {show(*old_all)});  {new_ids} (before: {old_ids})")
    rerun = " ".join(["--seed", str(args.seed), "--frames", str(args.frames)]
                     + [f"--scenario {s}" for s in args.scenario or ()])
    print(f"rerun: .venv/bin/python bench/tracking.py {rerun}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
