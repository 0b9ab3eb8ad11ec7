"""The records of one COCO-format keypoint file: the people to train on and the ground truth COCOeval sees.

Every field is read with its COCO type; every quirk is fixed and counted (``quirks.Fixes``), dropped
and counted (GluonCV's filter: crowd, no labelled keypoint, empty box, another category), or refused
as a bad record (raised, or with ``on_bad_record="skip"`` counted in ``skipped``).
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingFileError, SimplePoseError
from ..io import JsonRecord
from .categories import KeypointCategories
from .decode import image_header
from .quirks import (DUPLICATE_IMAGE, EXIF_ORIENTATION, IMAGE_SIZE, UNKNOWN_CATEGORY, AnnotationIds, BadRecord,
                     Fixes, flat_keypoints, num_keypoints, person_area, person_box)

log = logging.getLogger(__name__)

# A labelled keypoint further outside the image than this share of its larger side is a bad record.
OUTSIDE_MARGIN = 0.05


@dataclass(frozen=True)
class PersonRecord:
    """One annotated person.

    Attributes:
        image_path: the image file.
        image_id, ann_id: COCO ids (``ann_id`` renumbered when the file repeats it or it is 0).
        bbox: (4,) float32 (x0, y0, x1, y1), image pixels, clipped to the image.
        joints: (K, 3) float32 (x, y, v), image pixels, COCO visibility v in {0, 1, 2}.
        area: COCO segment area (the annotation box's w * h when the file has none or an invalid one),
            image pixels squared.
    """

    image_path: str
    image_id: int
    ann_id: int
    bbox: np.ndarray
    joints: np.ndarray
    area: float


@dataclass(frozen=True)
class GroundTruth:
    """One annotation as COCOeval sees it, cleaned: unique positive id, box filled in, area and
    num_keypoints recomputed where missing or invalid.

    Attributes:
        bbox: (x, y, w, h) image pixels, COCO's convention (not clipped).
        joints: (K, 3) float32 (x, y, v), image pixels (zeros for a crowd region without keypoints).
    """

    ann_id: int
    image_id: int
    iscrowd: int
    bbox: tuple[float, float, float, float]
    area: float
    joints: np.ndarray
    num_keypoints: int

    def to_coco(self, category_id: int) -> dict[str, Any]:
        """The COCO annotation dict of this ground truth, under ``category_id``."""
        return {"id": self.ann_id, "image_id": self.image_id, "category_id": category_id, "iscrowd": self.iscrowd,
                "bbox": list(self.bbox), "area": self.area, "keypoints": self.joints.ravel().tolist(),
                "num_keypoints": self.num_keypoints}


class AnnotationReader:
    """Reads one file's ``images`` then ``annotations``; see the module docstring.

    After ``people``: ``ground_truth`` lists the annotations COCOeval is to see, ``fixes`` the
    quirks fixed, ``skipped`` the bad records skipped.
    """

    def __init__(self, ann_file: Path, image_dir: Path, num_joints: int, categories: KeypointCategories,
                 on_bad_record: str):
        self.ann_file, self.image_dir, self.num_joints = ann_file, image_dir, num_joints
        self.categories, self.on_bad_record = categories, on_bad_record
        self.skipped: Counter = Counter()
        self.fixes = Fixes(str(ann_file))
        self.ground_truth: list[GroundTruth] = []

    def images(self, entries: list[Any]) -> dict[int, dict[str, Any] | None]:
        """image id -> {id, file_name, width, height, index} (sizes None when the file has none); None for a
        bad entry. An id listed twice with the same file is merged; with different files both are bad."""
        images: dict[int, dict[str, Any] | None] = {}
        for i, entry in enumerate(entries):
            image_id = None
            try:
                rec = JsonRecord(entry, self.ann_file, f"images[{i}]")
                image_id = rec.int("id")
                rec.record = f"image {image_id} (images[{i}])"
                image = {"id": image_id, "file_name": rec.string("file_name"), "index": i,
                         "width": rec.int("width", None, minimum=1), "height": rec.int("height", None, minimum=1)}
                if image_id in images:
                    self._same_image(images[image_id], image, rec.record)
                    continue
                images[image_id] = image
            except (SimplePoseError, BadRecord) as exc:
                self._bad(str(exc), getattr(exc, "reason", "bad image entry"))
                if image_id is not None:
                    images[image_id] = None   # its annotations are dropped, not counted again
        return images

    def _same_image(self, first: dict[str, Any] | None, again: dict[str, Any], record: str) -> None:
        """A second entry with ``first``'s id: merged when it names the same file, else refused."""
        if first is None:
            return
        if first["file_name"] != again["file_name"]:
            raise BadRecord(
                f"{self.ann_file}: images[{first['index']}] and images[{again['index']}] share id {again['id']} but "
                f"name different files ({first['file_name']!r}, {again['file_name']!r}): which people are on which "
                "is unknown; give one of them its own id", "duplicate image id")
        self.fixes.add(DUPLICATE_IMAGE, record)

    def people(self, annotations: list[Any], images: dict[int, dict[str, Any] | None]
               ) -> tuple[list[PersonRecord], Counter]:
        """The people of ``annotations`` on ``images``, and why the others were dropped or skipped (counts)."""
        records, dropped = [], Counter()
        image_ok: dict[int, bool] = {}   # image id -> file present and its header readable
        ids = AnnotationIds(annotations)
        for index, ann in enumerate(annotations):
            try:
                found = self._person(ann, index, images, image_ok, ids)
            except BadRecord as bad:
                self._bad(str(bad), bad.reason)
                continue
            if isinstance(found, str):
                dropped[found] += 1
            else:
                records.append(found)
        self.fixes.log()
        return records, dropped + self.skipped

    def _person(self, ann: Any, index: int, images: dict[int, dict[str, Any] | None],
                image_ok: dict[int, bool], ids: AnnotationIds) -> PersonRecord | str:
        """The person of ``annotations[index]``, or why GluonCV's filter drops it; raise BadRecord for bad data."""
        try:
            rec = JsonRecord(ann, self.ann_file, f"annotations[{index}]")
            aid = rec.int("id")
            rec.record = f"annotation {aid} (annotations[{index}])"
            return self._checked_person(rec, aid, images, image_ok, ids)
        except SimplePoseError as exc:   # a field missing or of the wrong type
            raise BadRecord(str(exc), "malformed annotation") from None

    def _checked_person(self, ann: JsonRecord, aid: int, images: dict[int, dict[str, Any] | None],
                        image_ok: dict[int, bool], ids: AnnotationIds) -> PersonRecord | str:
        where = f"{ann.source}: {ann.record}"
        cats, category_id = self.categories, ann.int("category_id")
        if category_id not in cats.ids:
            if category_id in cats.known_ids:
                return "other category"
            if not cats.use_unknown:
                return "on a category missing from 'categories'"
            self.fixes.add(UNKNOWN_CATEGORY, ann.record)
        aid = ids.assign(aid, ann.record, self.fixes)
        image_id = ann.int("image_id")
        if ann.int("iscrowd", 0):
            self._crowd(ann, aid, image_id, images)
            return "crowd"
        if image_id not in images:
            raise BadRecord(f"{where}: image_id {image_id} is not in 'images'", "unknown image_id")
        img = images[image_id]
        if img is None:
            return "on a skipped image entry"
        joints = self._joints(ann)
        labelled = num_keypoints(ann, joints, self.fixes)
        if not labelled:
            self._unlabelled(ann, aid, image_id, joints)
            return "with no labelled keypoint"
        path = self.image_dir / img["file_name"]
        width, height = self._image_size(img, path, aid, image_ok)
        # Labelled joints must lie on the image, give or take a margin for off-by-one and rounding
        # conventions; further out means wrong units, swapped axes or the wrong image.
        margin = OUTSIDE_MARGIN * max(width, height)
        on = joints[joints[:, 2] > 0]
        outside = (on[:, 0] < -margin) | (on[:, 1] < -margin) | \
                  (on[:, 0] > width - 1 + margin) | (on[:, 1] > height - 1 + margin)
        if outside.any():
            jx, jy = on[outside][0, :2]
            raise BadRecord(f"{where}: {int(outside.sum())} labelled keypoint(s) outside the {width}x{height} image "
                            f"of image {image_id}, e.g. ({jx:g}, {jy:g})", "keypoints outside the image")
        x, y, w, h = person_box(ann, joints, (width, height), self.fixes)
        if w < 0 or h < 0:
            raise BadRecord(f"{where}: bbox {[x, y, w, h]} has a negative width or height", "negative bbox size")
        area = person_area(ann, [x, y, w, h], self.fixes)
        self.ground_truth.append(GroundTruth(aid, image_id, 0, (x, y, w, h), area, joints, labelled))
        # Clip as GluonCV does: [x, y, x + w - 1, y + h - 1] clipped to the image.
        x0, y0 = min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)
        x1 = min(max(x + max(w - 1.0, 0.0), 0.0), width - 1.0)
        y1 = min(max(y + max(h - 1.0, 0.0), 0.0), height - 1.0)
        if x1 <= x0 or y1 <= y0:
            return "with an empty box"
        return PersonRecord(str(path), image_id, aid, np.array([x0, y0, x1, y1], np.float32), joints, area)

    def _joints(self, ann: JsonRecord) -> np.ndarray:
        """(K, 3) float32 keypoints of ``ann``, image pixels; raise BadRecord for a wrong count or value."""
        k, where = self.num_joints, f"{ann.source}: {ann.record}"
        kps = flat_keypoints(ann, self.fixes)
        if len(kps) != 3 * k:
            raise BadRecord(f"{where}: {len(kps)} keypoint values, expected 3 x {k} for {k} keypoints",
                            "wrong keypoint count")
        if not set(map(type, kps)) <= {int, float}:   # (NumPy would take "12" for 12; bool is a type of its own)
            bad = next(i for i, v in enumerate(kps) if type(v) not in (int, float))
            raise BadRecord(str(ann.error("keypoints", f"value {bad} is {kps[bad]!r}, expected a number")),
                            "non-numeric keypoints")
        joints = np.asarray(kps, dtype=np.float32).reshape(k, 3)
        if not np.all(np.isfinite(joints)):
            raise BadRecord(f"{where}: keypoints contain NaN or infinity", "NaN/infinite keypoints")
        if not np.all(np.isin(joints[:, 2], (0, 1, 2))):
            raise BadRecord(f"{where}: keypoint visibility must be 0, 1 or 2", "bad keypoint visibility")
        return joints

    def _crowd(self, ann: JsonRecord, aid: int, image_id: int, images: dict[int, dict[str, Any] | None]) -> None:
        """A crowd region joins the ground truth (COCOeval ignores detections on it) when it has a box."""
        box = ann.numbers("bbox", None, length=4)
        if box is None or images.get(image_id) is None:
            return
        area = person_area(ann, box, self.fixes)
        try:
            joints = self._joints(ann)
        except BadRecord:   # crowd regions often carry no keypoints; COCOeval then compares with the box
            joints = np.zeros((self.num_joints, 3), np.float32)
        self.ground_truth.append(GroundTruth(aid, image_id, 1, tuple(box), area, joints,
                                             int(np.count_nonzero(joints[:, 2] > 0))))

    def _unlabelled(self, ann: JsonRecord, aid: int, image_id: int, joints: np.ndarray) -> None:
        """A person with no labelled keypoint joins the ground truth (ignored by COCOeval) when it has a box."""
        try:
            box = person_box(ann, joints, (0, 0), self.fixes)
        except BadRecord:   # no box and no keypoints to make one of
            return
        self.ground_truth.append(GroundTruth(aid, image_id, 0, tuple(box), person_area(ann, box, self.fixes),
                                             joints, 0))

    def _image_size(self, img: dict[str, Any], path: Path, aid: int, image_ok: dict[int, bool]) -> tuple[int, int]:
        """(width, height) of the image as stored, read from its header once; the entry's own size when it agrees,
        else the decoded one (counted)."""
        image_id = img["id"]
        if image_id in image_ok:
            if not image_ok[image_id]:
                raise BadRecord(f"{path}: image {image_id} unusable (annotation {aid})", "unusable image")
            return img["width"], img["height"]
        image_ok[image_id] = False
        if not path.is_file():
            raise BadRecord(f"{path}: image file not found (image {image_id}, annotation {aid})", "missing image file")
        try:
            width, height, orientation = image_header(path)
        except (OSError, ValueError) as exc:
            raise BadRecord(f"{path}: {exc} (image {image_id}, annotation {aid})", "undecodable image") from None
        if orientation != 1:
            self.fixes.add(EXIF_ORIENTATION, f"{path} (orientation {orientation})")
        if None not in (img["width"], img["height"]) and (img["width"], img["height"]) != (width, height):
            self.fixes.add(IMAGE_SIZE, f"image {image_id} (images[{img['index']}]): {img['width']}x{img['height']} "
                                       f"in the file, {width}x{height} decoded")
        img["width"], img["height"] = width, height
        image_ok[image_id] = True
        return width, height

    def _bad(self, message: str, reason: str) -> None:
        """A bad record: raise (on_bad_record 'error') or count it and go on ('skip')."""
        if self.on_bad_record == "error":
            hint = "" if reason == "missing image file" else "; fix the record or pass --on-bad-record skip"
            raise (MissingFileError if reason == "missing image file" else SimplePoseError)(message + hint)
        self.skipped[f"skipped ({reason})"] += 1
        log.warning("skipping bad record: %s", message)
