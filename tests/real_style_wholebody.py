"""COCO-WholeBody's files, as its v1.0 release writes them (jin-s13/COCO-WholeBody data_format.md and
evaluation/example_gt.json), from the synthetic figures' 17 body joints.

What the real files look like, and this stand-in too: COCO's annotation (polygon ``segmentation``, float ``area``
and ``bbox``, integer ids and body ``keypoints``, ``num_keypoints`` counting the body only) followed by the parts,
in this key order: ``face_box``, ``lefthand_box``, ``righthand_box``, ``lefthand_kpts``, ``righthand_kpts``,
``face_kpts``, the four ``*_valid`` flags, ``foot_kpts``. Part keypoints are floats; the face's visibility is 1.0,
the feet's 2.0 and the hands' a labelling confidence in (0, 1) (0.19, 0.04...). A part not labelled is all zeros
(box too) with its flag false. The category names the 17 body keypoints only. Crowd regions carry the fields too.

The parts are drawn from the body joints: feet below each ankle along the shin, a 300-W-shaped face around the
nose sized by the eye distance, each hand fanned out past the wrist along the forearm. A part is labelled when the
joints it comes from are and every point lies inside the image; every third person's left hand is not labelled.
"""
from __future__ import annotations

import math

FACE = 68
FINGERS = 5


def _face_template() -> list[tuple[float, float]]:
    """68 landmarks in the 300-W order, in a unit box: jaw (17), brows (5 + 5), nose bridge (4) and base (5), eyes
    (6 + 6), outer (12) and inner (8) lips, left/right as seen in the image (the person's right on the left)."""
    jaw = [(0.5 - 0.48 * math.cos(math.pi * i / 16), 0.35 + 0.6 * math.sin(math.pi * i / 16)) for i in range(17)]
    brows = [(0.12 + 0.07 * i, 0.22 - 0.02 * min(i, 4 - i)) for i in range(5)]
    brows += [(0.58 + 0.07 * i, 0.22 - 0.02 * min(i, 4 - i)) for i in range(5)]
    nose = [(0.5, 0.3 + 0.07 * i) for i in range(4)] + [(0.42 + 0.04 * i, 0.6 + 0.01 * min(i, 4 - i)) for i in range(5)]
    eyes = []
    for cx in (0.3, 0.7):
        eyes += [(cx + 0.09 * math.cos(a), 0.35 + 0.04 * math.sin(a))
                 for a in (math.pi, 1.25 * math.pi, 1.75 * math.pi, 0, 0.25 * math.pi, 0.75 * math.pi)]
    lips = [(0.5 - 0.2 * math.cos(2 * math.pi * i / 12), 0.78 - 0.08 * math.sin(2 * math.pi * i / 12))
            for i in range(12)]
    lips += [(0.5 - 0.12 * math.cos(2 * math.pi * i / 8), 0.78 - 0.03 * math.sin(2 * math.pi * i / 8))
             for i in range(8)]
    return jaw + brows + nose + eyes + lips


FACE_TEMPLATE = _face_template()


def _joint(kps: list, i: int) -> tuple[float, float] | None:
    return (float(kps[3 * i]), float(kps[3 * i + 1])) if kps[3 * i + 2] else None


def _inside(points: list[tuple[float, float]], width: int, height: int) -> bool:
    return all(0 <= x <= width - 1 and 0 <= y <= height - 1 for x, y in points)


def _box(points: list[tuple[float, float]]) -> list[float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [round(min(xs), 2), round(min(ys), 2), round(max(xs) - min(xs), 2), round(max(ys) - min(ys), 2)]


def _flat(points: list[tuple[float, float]], visibility: list[float], digits: int) -> list[float]:
    return [v for (x, y), vis in zip(points, visibility) for v in (round(x, digits), round(y, digits), vis)]


def _feet(kps: list) -> list[tuple[float, float]] | None:
    """Big toe, small toe, heel of the left foot, then the right's: along each shin, past the ankle."""
    points = []
    for knee, ankle, out in ((13, 15, 1.0), (14, 16, -1.0)):
        k, a = _joint(kps, knee), _joint(kps, ankle)
        if k is None or a is None:
            return None
        dx, dy = a[0] - k[0], a[1] - k[1]
        points += [(a[0] + 0.25 * dx + 0.1 * out * dy, a[1] + 0.25 * dy), (a[0] + 0.22 * dx + 0.2 * out * dy,
                   a[1] + 0.22 * dy), (a[0] + 0.08 * dx, a[1] + 0.08 * dy)]
    return points


def _face(kps: list) -> list[tuple[float, float]] | None:
    nose, left_eye, right_eye = _joint(kps, 0), _joint(kps, 1), _joint(kps, 2)
    if nose is None or left_eye is None or right_eye is None:
        return None
    size = max(2.5 * math.dist(left_eye, right_eye), 4.0)
    x0, y0 = nose[0] - size / 2, nose[1] - 0.6 * size
    return [(x0 + fx * size, y0 + fy * size) for fx, fy in FACE_TEMPLATE]


def _hand(kps: list, elbow: int, wrist: int) -> list[tuple[float, float]] | None:
    """The root past the wrist, then each finger's four joints fanned out along the forearm."""
    e, w = _joint(kps, elbow), _joint(kps, wrist)
    if e is None or w is None:
        return None
    length = max(math.dist(e, w), 4.0)
    angle = math.atan2(w[1] - e[1], w[0] - e[0])
    root = (w[0] + 0.1 * length * math.cos(angle), w[1] + 0.1 * length * math.sin(angle))
    points = [root]
    for f in range(FINGERS):
        a = angle + math.radians(-40 + 20 * f)
        points += [(root[0] + 0.1 * j * length * math.cos(a), root[1] + 0.1 * j * length * math.sin(a))
                   for j in range(1, 5)]
    return points


def _confidences(n: int, seed: int) -> list[float]:
    """Hand visibilities as the real files carry them: labelling confidences in (0, 1)."""
    return [round(0.02 + 0.9 * ((seed * 7919 + 104729 * i) % 1000) / 1000, 6) for i in range(n)]


def _part(points: list | None, n: int, width: int, height: int, visibility: list[float], digits: int
          ) -> tuple[list[float], bool, list[float]]:
    """(flat keypoints, valid, box) of one part: all zeros and false unless labelled and inside the image."""
    if points is None or not _inside(points, width, height):
        return [0.0] * 3 * n, False, [0.0] * 4
    return _flat(points, visibility, digits), True, _box(points)


def add_parts(ann: dict, width: int, height: int, index: int) -> dict:
    """``ann`` (a COCO person annotation) with COCO-WholeBody's fields after its own, in the real files' order."""
    kps = ann["keypoints"]
    if ann["iscrowd"]:
        foot, face, left, right = (([0.0] * 3 * n, False, [0.0] * 4) for n in (6, FACE, 21, 21))
    else:
        foot = _part(_feet(kps), 6, width, height, [2.0] * 6, 5)
        face = _part(_face(kps), FACE, width, height, [1.0] * FACE, 3)
        left = _part(None if index % 3 == 2 else _hand(kps, 7, 9), 21, width, height, _confidences(21, index), 1)
        right = _part(_hand(kps, 8, 10), 21, width, height, _confidences(21, index + 1), 1)
    return {**ann, "face_box": face[2], "lefthand_box": left[2], "righthand_box": right[2], "lefthand_kpts": left[0],
            "righthand_kpts": right[0], "face_kpts": face[0], "face_valid": face[1], "lefthand_valid": left[1],
            "righthand_valid": right[1], "foot_valid": foot[1], "foot_kpts": foot[0]}


def wholebody(doc: dict, style) -> None:
    """The finish of the COCO-WholeBody style: a crowd region on the first image, then every annotation's parts."""
    img = doc["images"][0]
    doc["annotations"].append(
        {"segmentation": {"counts": [0, img["width"] * img["height"]], "size": [img["height"], img["width"]]},
         "num_keypoints": 0, "area": 120.0, "iscrowd": 1, "keypoints": [0] * 51, "image_id": img["id"],
         "bbox": [0.0, 0.0, 12.0, 10.0], "category_id": 1, "id": 900000000 + img["id"]})
    size = {i["id"]: (i["width"], i["height"]) for i in doc["images"]}
    doc["annotations"] = [add_parts(a, *size[a["image_id"]], n) for n, a in enumerate(doc["annotations"])]
