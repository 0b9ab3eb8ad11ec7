"""The records of one COCO-format keypoint file: the people to train on and the ground truth COCOeval sees.

Every field is read with its COCO type; every quirk is fixed and counted (``quirks.Fixes``), dropped
and counted (GluonCV's filter: crowd, no labelled keypoint, empty box, another category), or refused
as a bad record (raised, or with ``on_bad_record="skip"`` counted in ``skipped``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord
from simplepose.data.categories import KeypointCategories
from simplepose.data.decode import MAX_IMAGE_PIXELS
from simplepose.data.images import ImageEntries
from simplepose.data.keypoint_fields import KeypointFields
from simplepose.data.quirks import (UNKNOWN_CATEGORY, AnnotationIds, BadRecord, BadRecords, Fixes, named_entry,
                                    num_keypoints, person_area, person_box)

# A labelled keypoint further outside the image than this share of its larger side is a bad record.
OUTSIDE_MARGIN = 0.05
# A person's area (the file's, or its box's) above this multiple of the image's is a bad record: a segment lies
# within the image, and a box drawn past the border (MPII's centre and scale) stays well under 4 times it.
MAX_AREA_RATIO = 4


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
    """Reads one file's ``images`` (``self.images.read``) then ``annotations`` (``people``); see the module
    docstring. After ``people``: ``ground_truth`` lists the annotations COCOeval is to see, ``fixes`` the
    quirks fixed, ``skipped`` the bad records skipped.
    """

    def __init__(self, ann_file: Path, image_dir: Path, fields: KeypointFields, categories: KeypointCategories,
                 on_bad_record: str, max_pixels: int = MAX_IMAGE_PIXELS, allow_outside_root: bool = False):
        self.ann_file, self.fields, self.categories = ann_file, fields, categories
        self.num_joints = fields.num_joints
        self.bad = BadRecords(on_bad_record)
        self.skipped = self.bad.skipped
        self.fixes = Fixes(str(ann_file))
        self.images = ImageEntries(ann_file, image_dir, self.fixes, self.bad, max_pixels, allow_outside_root)
        self.ground_truth: list[GroundTruth] = []

    def people(self, annotations: list[Any]) -> tuple[list[PersonRecord], Counter]:
        """The people of ``annotations`` on the images read, and why the others were dropped or skipped (counts)."""
        records, dropped = [], Counter()
        ids = AnnotationIds(annotations)
        for index, ann in enumerate(annotations):
            try:
                found = self._person(ann, index, ids)
            except BadRecord as bad:
                self.bad(str(bad), bad.reason)
                continue
            if isinstance(found, str):
                dropped[found] += 1
            else:
                records.append(found)
        self.fixes.log()
        return records, dropped + self.skipped

    def _person(self, ann: Any, index: int, ids: AnnotationIds) -> PersonRecord | str:
        """The person of ``annotations[index]``, or why GluonCV's filter drops it; raise BadRecord for bad data."""
        try:
            rec, aid = named_entry(ann, self.ann_file, "annotations", index, "annotation")
            return self._checked_person(rec, aid, ids)
        except SimplePoseError as exc:   # a field missing or of the wrong type
            raise BadRecord(str(exc), "malformed annotation") from None

    def _checked_person(self, ann: JsonRecord, aid: int, ids: AnnotationIds) -> PersonRecord | str:
        where, images = f"{ann.source}: {ann.record}", self.images.entries
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
            self._crowd(ann, aid, image_id)
            return "crowd"
        if image_id not in images:
            raise BadRecord(f"{where}: image_id {image_id} is not in 'images'", "unknown image_id")
        img = images[image_id]
        if img is None:
            return "on a skipped image entry"
        joints = self._joints(ann)
        if self.fields.body is not None:   # the file's num_keypoints counts the 'keypoints' field's (COCO-WholeBody's)
            num_keypoints(ann, joints[self.fields.body], self.fixes)
        labelled = int(np.count_nonzero(joints[:, 2] > 0))
        if not labelled:
            self._unlabelled(ann, aid, image_id, joints)
            return "with no labelled keypoint"
        path, width, height = self.images.size(img, aid)
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
        if area > MAX_AREA_RATIO * width * height:   # COCOeval divides by it: any pose would score OKS ~1
            raise BadRecord(f"{where}: area {area:g} is more than {MAX_AREA_RATIO} times the {width}x{height} "
                            f"image's (image {image_id}): not in pixels squared, or the wrong image",
                            "area larger than the image")
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
        return self.fields.read(ann, self.fixes)

    def _crowd(self, ann: JsonRecord, aid: int, image_id: int) -> None:
        """A crowd region joins the ground truth (COCOeval ignores detections on it) when it has a box."""
        box = ann.numbers("bbox", None, length=4)
        if box is None or self.images.entries.get(image_id) is None:
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
