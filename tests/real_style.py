"""Stand-ins for the annotation files of 25 public keypoint datasets, written in each one's own style.

Every file is built from the rendered images of :func:`simplepose.synthetic.generate` (real pixels) and
their COCO 17 joints, mapped to the dataset's keypoint layout by a *recipe* per keypoint:

- ``"left_wrist"``: a COCO joint, as rendered;
- ``("mid", a, b)``, ``("lerp", a, b, t)``: a point between two recipes (``t`` > 1 extrapolates);
- ``("box", fx, fy)``: a fixed point of the person's box (landmark sets with no body joints: hands, faces).

A derived point is labelled when every joint it comes from is, and only inside the image (real files leave
points out of frame unlabelled). What differs from dataset to dataset (field names and presence, value types,
visibility codes, categories, skeleton conventions, image names and formats) is a :class:`Style`; the styles
of the 25 datasets are in :mod:`tests.real_style_specs`. ``build(name, out_dir, synthetic_paths)`` writes one.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2

COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle")
# COCO's 1-based skeleton, as person_keypoints_*.json lists it (and as several datasets copy it).
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]

# Derived body points shared by the specs.
NECK = ("mid", "left_shoulder", "right_shoulder")
EYES = ("mid", "left_eye", "right_eye")
PELVIS = ("mid", "left_hip", "right_hip")
HEAD_TOP = ("lerp", NECK, EYES, 1.7)
KNEES = ("mid", "left_knee", "right_knee")


def limb(a: str, b: str, n: int) -> list:
    """``n`` recipes evenly from joint ``a`` to joint ``b`` (an insect's leg segments, a finger's joints)."""
    return [("lerp", a, b, i / (n - 1)) for i in range(n)]


def fan(fingers: int = 5, joints: int = 4) -> list:
    """A hand's 21 points in its box: the wrist low in the middle, each finger a ray of ``joints`` points."""
    points = [("box", 0.5, 0.92)]
    for f in range(fingers):
        angle = math.radians(-60 + 120 * f / (fingers - 1))
        for j in range(1, joints + 1):
            r = 0.22 * j
            points.append(("box", 0.5 + 0.45 * r * math.sin(angle), 0.92 - 0.85 * r * math.cos(angle)))
    return points


def face(k: int) -> list:
    """``k`` landmarks in a face's box: a jaw arc (a quarter of them) and the rest on a golden-angle spiral."""
    jaw = k // 4
    points = [("box", 0.5 - 0.42 * math.cos(math.pi * i / (jaw - 1)), 0.45 + 0.45 * math.sin(math.pi * i / (jaw - 1)))
              for i in range(jaw)]
    for i in range(k - jaw):
        r, a = 0.36 * math.sqrt((i + 0.5) / (k - jaw)), i * 2.39996   # golden angle, radians
        points.append(("box", 0.5 + r * math.cos(a), 0.42 + 0.8 * r * math.sin(a)))
    return points


@dataclass
class Person:
    """One rendered person: COCO joint name -> (x, y, v), image pixels, v in {0, 1, 2}; box (x, y, w, h) pixels;
    the generator's segmentation and area."""

    joints: dict[str, tuple[float, float, int]]
    box: tuple[float, float, float, float]
    segmentation: Any
    area: float


def point(recipe: Any, person: Person) -> tuple[float, float, int]:
    """The (x, y, v) of one recipe for ``person``, image pixels, v 0 when a source joint is unlabelled."""
    if isinstance(recipe, str):
        return person.joints[recipe]
    kind = recipe[0]
    if kind == "box":
        x, y, w, h = person.box
        return x + recipe[1] * w, y + recipe[2] * h, 2
    a, b = point(recipe[1], person), point(recipe[2], person)
    t = 0.5 if kind == "mid" else recipe[3]
    return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), min(a[2], b[2])


@dataclass
class Style:
    """How one dataset writes its annotation file.

    Attributes:
        names: keypoint names as the file spells them (``[]`` for a category that lists none).
        recipes: one recipe per keypoint (see the module docstring); defaults to ``names`` (COCO joints).
        skeleton: the category's ``skeleton`` as written (1-based, 0-based or copied from COCO), or None.
        category: ``name`` (and ``supercategory``) of the keypoint category.
        file_name: image ``i`` of a split -> its ``file_name`` (subfolders and extension included).
        one_per_image: keep only the largest person (datasets of cropped single animals, hands, faces).
        visibility: COCO v (0, 1, 2) -> the dataset's code.
        floats: keypoints (and visibility) written as floats, as NumPy-based converters do.
        rounded: coordinates rounded to whole pixels.
        ann_fields: annotation fields written (of id, image_id, category_id, bbox, area, iscrowd,
            num_keypoints, segmentation, center, scale), in this order.
        image_extra: extra fields of every image entry.
        zero_based_ids: image and annotation ids start at 0 (DeepPoseKit's converter), not 1.
        finish: last touch on the document of one split (several categories, non-COCO containers...).
    """

    names: list[str]
    recipes: list | None = None
    skeleton: list | None = None
    category: tuple[str, str] = ("person", "person")
    file_name: Callable[[int, int], str] = lambda i, image_id: f"{image_id:012d}.jpg"
    one_per_image: bool = False
    visibility: dict[int, Any] = field(default_factory=lambda: {0: 0, 1: 1, 2: 2})
    floats: bool = False
    rounded: bool = False
    ann_fields: tuple[str, ...] = ("segmentation", "num_keypoints", "area", "iscrowd", "keypoints", "image_id",
                                   "bbox", "category_id", "id")
    image_extra: dict[str, Any] = field(default_factory=dict)
    zero_based_ids: bool = False
    finish: Callable[[dict, "Style"], None] | None = None


def keypoints(style: Style, person: Person, width: int, height: int) -> list:
    """The flat [x, y, v, ...] of ``person`` in ``style``: unlabelled points (0, 0, 0), out-of-frame ones too."""
    flat = []
    for recipe in style.recipes or style.names:
        x, y, v = point(recipe, person)
        if v == 0 or not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            x, y, v = 0, 0, 0
        if style.rounded:
            x, y = round(x), round(y)
        v = style.visibility[v]
        flat += [float(x), float(y), float(v)] if style.floats else [x, y, v]
    return flat


def _annotation(style: Style, person: Person, kps: list, image_id: int, ann_id: int) -> dict[str, Any]:
    x, y, w, h = person.box
    labelled = sum(1 for v in kps[2::3] if v)
    values = {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [x, y, w, h], "area": person.area,
              "iscrowd": 0, "num_keypoints": labelled, "segmentation": person.segmentation, "keypoints": kps,
              # MPII-style: the box centre and its longer side in units of 200 pixels.
              "center": [x + w / 2, y + h / 2], "scale": max(w, h) / 200.0}
    return {key: values[key] for key in style.ann_fields}


def _scene(ann_file: str) -> list[tuple[dict, list[Person]]]:
    """The synthetic split: (image entry, its people) per image, crowd regions left out."""
    doc = json.loads(Path(ann_file).read_text())
    people: dict[int, list[Person]] = {img["id"]: [] for img in doc["images"]}
    for ann in doc["annotations"]:
        if ann["iscrowd"]:
            continue
        kps = ann["keypoints"]
        joints = {n: (kps[3 * i], kps[3 * i + 1], int(kps[3 * i + 2])) for i, n in enumerate(COCO)}
        people[ann["image_id"]].append(Person(joints, tuple(ann["bbox"]), ann["segmentation"], ann["area"]))
    return [(img, people[img["id"]]) for img in doc["images"]]


def _write_image(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix.lower() == src.suffix.lower():
        dst.write_bytes(src.read_bytes())
    else:   # PNG datasets: the same pixels, re-encoded
        cv2.imwrite(str(dst), cv2.imread(str(src)))


def write_split(style: Style, ann_file: str, image_dir: str, out_ann: Path, out_images: Path,
                first_ann_id: int = 1) -> dict[str, Any]:
    """Write one split of ``style`` from a synthetic split; return the document written."""
    shift = 1 if style.zero_based_ids else 0
    images, annotations, ann_id = [], [], first_ann_id - shift
    for i, (img, people) in enumerate(_scene(ann_file)):
        img = {**img, "id": img["id"] - shift}
        name = style.file_name(i, img["id"])
        _write_image(Path(image_dir) / img["file_name"], out_images / name)
        images.append({"id": img["id"], "file_name": name, "width": img["width"], "height": img["height"],
                       **style.image_extra})
        if style.one_per_image:
            people = sorted(people, key=lambda p: -p.box[2] * p.box[3])[:1]
        for person in people:
            kps = keypoints(style, person, img["width"], img["height"])
            annotations.append(_annotation(style, person, kps, img["id"], ann_id))
            ann_id += 1
    category = {"supercategory": style.category[1], "id": 1, "name": style.category[0],
                "keypoints": list(style.names)}
    if style.skeleton is not None:
        category["skeleton"] = style.skeleton
    doc = {"info": {"description": "simplepose real-style stand-in"}, "images": images,
           "annotations": annotations, "categories": [category]}
    if style.finish:
        style.finish(doc, style)
    out_ann.parent.mkdir(parents=True, exist_ok=True)
    out_ann.write_text(json.dumps(doc))
    return doc


def build(name: str, out_dir: str | Path, synthetic: dict[str, str]) -> dict[str, str]:
    """Write dataset ``name``'s stand-in (train and val) into ``out_dir`` from the synthetic dataset paths.

    Returns the paths ``{'train_ann', 'train_images', 'val_ann', 'val_images'}``.
    """
    from .real_style_specs import STYLES   # here: the specs module imports this one
    style, out = STYLES[name], Path(out_dir)
    paths = {"train_ann": out / "annotations" / "train.json", "train_images": out / "images" / "train",
             "val_ann": out / "annotations" / "val.json", "val_images": out / "images" / "val"}
    for split, first_id in (("train", 1), ("val", 100000)):
        write_split(style, synthetic[f"{split}_ann"], synthetic[f"{split}_images"], paths[f"{split}_ann"],
                    paths[f"{split}_images"], first_id)
    return {k: str(v) for k, v in paths.items()}
