"""COCO-format keypoint dataset: one record per annotated person.

Reads any COCO-format keypoint file (COCO, CrowdPose, COCO+feet, animals...):
the keypoint metadata comes from the file's keypoint category. Plain NumPy and
OpenCV; MXNet's DataLoader accepts it as it is (it only needs ``__len__`` and
``__getitem__``).
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import MissingFileError, SimplePoseError
from ..io import JsonRecord, read_json
from ..meta import KeypointMeta
from .decode import decode_bgr, decode_region_bgr

log = logging.getLogger(__name__)

ON_BAD_RECORD = ("error", "skip")
# A labelled keypoint further outside the image than this share of its larger side is a bad record.
OUTSIDE_MARGIN = 0.05


class _BadRecord(Exception):
    """One annotation (or image entry) that cannot be used; ``reason`` is its short tally name."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PersonRecord:
    """One annotated person.

    Attributes:
        image_path: the image file.
        image_id, ann_id: COCO ids.
        bbox: (4,) float32 (x0, y0, x1, y1), image pixels, clipped to the image.
        joints: (K, 3) float32 (x, y, v), image pixels, COCO visibility v in {0, 1, 2}.
        area: COCO segment area (the annotation box's w * h when the file has none), image pixels squared.
    """

    image_path: str
    image_id: int
    ann_id: int
    bbox: np.ndarray
    joints: np.ndarray
    area: float


def _load_json(path: Path) -> dict[str, Any]:
    data = read_json(path, "annotation file")
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list)
                                             for key in ("images", "annotations", "categories")):
        raise SimplePoseError(f"{path}: not a COCO annotation file (needs 'images', 'annotations' and 'categories' lists)")
    return data


def _keypoint_category(data: dict[str, Any], path: Path, category_id: int | None) -> JsonRecord:
    """The one category with keypoint names (or the one with ``category_id``)."""
    cats = [JsonRecord(c, path, f"categories[{i}]") for i, c in enumerate(data["categories"])]
    cats = [c for c in cats if c.raw("keypoints", None)]
    if category_id is not None:
        cats = [c for c in cats if c.int("id") == category_id]
    if len(cats) != 1:
        found = [c.raw("id", None) for c in cats]
        raise SimplePoseError(
            f"{path}: expected exactly one keypoint category{'' if category_id is None else f' with id {category_id}'}, "
            f"found {len(cats)} {found}; pick one with --category-id")
    return cats[0]


class _AnnotationReader:
    """The records of one annotation file: every field read with its COCO type, every quirk counted
    (``dropped``, GluonCV's filter) or refused (bad records: raised, or counted in ``skipped``)."""

    def __init__(self, ann_file: Path, image_dir: Path, num_joints: int, category_id: int, on_bad_record: str):
        self.ann_file, self.image_dir, self.num_joints = ann_file, image_dir, num_joints
        self.category_id, self.on_bad_record = category_id, on_bad_record
        self.skipped: Counter = Counter()

    def images(self, entries: list[Any]) -> dict[int, dict[str, Any] | None]:
        """image id -> {id, file_name, width, height} (sizes None when the file has none); None for a bad entry."""
        images: dict[int, dict[str, Any] | None] = {}
        for i, entry in enumerate(entries):
            image_id = None
            try:
                rec = JsonRecord(entry, self.ann_file, f"images[{i}]")
                image_id = rec.int("id")
                rec.record = f"image {image_id} (images[{i}])"
                images[image_id] = {"id": image_id, "file_name": rec.string("file_name"),
                                    "width": rec.int("width", None, minimum=1),
                                    "height": rec.int("height", None, minimum=1)}
            except SimplePoseError as exc:
                self._bad(str(exc), "bad image entry")
                if image_id is not None:
                    images[image_id] = None   # its annotations are dropped, not counted again
        return images

    def people(self, annotations: list[Any], images: dict[int, dict[str, Any] | None]
               ) -> tuple[list[PersonRecord], Counter]:
        """The people of ``annotations`` on ``images``, and why the others were dropped or skipped (counts)."""
        records, dropped = [], Counter()
        image_ok: dict[int, bool] = {}   # image id -> file present and, when needed, its size readable
        for index, ann in enumerate(annotations):
            try:
                found = self._person(ann, index, images, image_ok)
            except _BadRecord as bad:
                self._bad(str(bad), bad.reason)
                continue
            if isinstance(found, str):
                dropped[found] += 1
            else:
                records.append(found)
        return records, dropped + self.skipped

    def _person(self, ann: Any, index: int, images: dict[int, dict[str, Any] | None],
                image_ok: dict[int, bool]) -> PersonRecord | str:
        """The person of ``annotations[index]``, or why GluonCV's filter drops it; raise _BadRecord for bad data."""
        try:
            rec = JsonRecord(ann, self.ann_file, f"annotations[{index}]")
            aid = rec.int("id")
            rec.record = f"annotation {aid} (annotations[{index}])"
            return self._checked_person(rec, aid, images, image_ok)
        except SimplePoseError as exc:   # a field missing or of the wrong type
            raise _BadRecord(str(exc), "malformed annotation") from None

    def _checked_person(self, ann: JsonRecord, aid: int, images: dict[int, dict[str, Any] | None],
                        image_ok: dict[int, bool]) -> PersonRecord | str:
        k = self.num_joints
        where = f"{ann.source}: {ann.record}"
        if ann.int("category_id") != self.category_id:
            return "other category"
        if ann.int("iscrowd", 0):
            ann.numbers("bbox", None, length=4)   # COCOeval reads a crowd region's box and area too
            ann.number("area", None)
            return "crowd"
        image_id = ann.int("image_id")
        if image_id not in images:
            raise _BadRecord(f"{where}: image_id {image_id} is not in 'images'", "unknown image_id")
        img = images[image_id]
        if img is None:
            return "on a skipped image entry"
        kps = ann.list("keypoints")
        if len(kps) != 3 * k:
            raise _BadRecord(f"{where}: {len(kps)} keypoint values, expected 3 x {k} for {k} keypoints",
                             "wrong keypoint count")
        if not set(map(type, kps)) <= {int, float}:   # (NumPy would take "12" for 12; bool is a type of its own)
            bad = next(i for i, v in enumerate(kps) if type(v) not in (int, float))
            raise _BadRecord(str(ann.error("keypoints", f"value {bad} is {kps[bad]!r}, expected a number")),
                             "non-numeric keypoints")
        joints = np.asarray(kps, dtype=np.float32).reshape(k, 3)
        if not np.all(np.isfinite(joints)):
            raise _BadRecord(f"{where}: keypoints contain NaN or infinity", "NaN/infinite keypoints")
        if not np.all(np.isin(joints[:, 2], (0, 1, 2))):
            raise _BadRecord(f"{where}: keypoint visibility must be 0, 1 or 2", "bad keypoint visibility")
        if not np.any(joints[:, 2] > 0):
            return "with no labelled keypoint"
        x, y, w, h = ann.numbers("bbox", length=4)
        if w < 0 or h < 0:
            raise _BadRecord(f"{where}: bbox {[x, y, w, h]} has a negative width or height", "negative bbox size")
        area = ann.number("area", None)
        path = self.image_dir / img["file_name"]
        if image_id not in image_ok:
            image_ok[image_id] = False
            if not path.is_file():
                raise _BadRecord(f"{path}: image file not found (image {image_id}, annotation {aid})",
                                 "missing image file")
            self._image_size(img, aid)
            image_ok[image_id] = True
        elif not image_ok[image_id]:
            raise _BadRecord(f"{path}: image {image_id} unusable (annotation {aid})", "unusable image")
        width, height = img["width"], img["height"]
        # Labelled joints must lie on the image, give or take a margin for off-by-one and rounding
        # conventions; further out means wrong units, swapped axes or the wrong image.
        margin = OUTSIDE_MARGIN * max(width, height)
        labelled = joints[joints[:, 2] > 0]
        outside = (labelled[:, 0] < -margin) | (labelled[:, 1] < -margin) | \
                  (labelled[:, 0] > width - 1 + margin) | (labelled[:, 1] > height - 1 + margin)
        if outside.any():
            jx, jy = labelled[outside][0, :2]
            raise _BadRecord(f"{where}: {int(outside.sum())} labelled keypoint(s) outside the {width}x{height} image "
                             f"of image {image_id}, e.g. ({jx:g}, {jy:g})", "keypoints outside the image")
        # Clip as GluonCV does: [x, y, x + w - 1, y + h - 1] clipped to the image.
        x0, y0 = min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)
        x1 = min(max(x + max(w - 1.0, 0.0), 0.0), width - 1.0)
        y1 = min(max(y + max(h - 1.0, 0.0), 0.0), height - 1.0)
        if x1 <= x0 or y1 <= y0 or (area is not None and area <= 0):
            return "with an empty box"
        return PersonRecord(str(path), image_id, aid, np.array([x0, y0, x1, y1], np.float32), joints,
                            w * h if area is None else area)

    def _bad(self, message: str, reason: str) -> None:
        """A bad record: raise (on_bad_record 'error') or count it and go on ('skip')."""
        if self.on_bad_record == "error":
            hint = "" if reason == "missing image file" else "; fix the record or pass --on-bad-record skip"
            raise (MissingFileError if reason == "missing image file" else SimplePoseError)(message + hint)
        self.skipped[f"skipped ({reason})"] += 1
        log.warning("skipping bad record: %s", message)

    def _image_size(self, img: dict[str, Any], aid: int) -> None:
        """Fill in the size of an image entry that has none by decoding the image once."""
        if img["width"] is not None and img["height"] is not None:
            return
        try:
            image = read_image(str(self.image_dir / img["file_name"]), f"image {img['id']}, annotation {aid}")
        except SimplePoseError as exc:
            raise _BadRecord(str(exc), "undecodable image") from None
        img["height"], img["width"] = image.shape[:2]


class COCOKeyPoints:
    """People with keypoints from one COCO-format annotation file.

    Args:
        ann_file: COCO-format JSON with a keypoint category.
        image_dir: directory holding the images named by ``file_name``.
        meta: keypoint metadata to check the file against; derived from the file when None.
        flip_pairs, sigmas_file: user overrides used when ``meta`` is derived here.
        category_id: which keypoint category to read when the file has several.
        on_bad_record: what to do with a bad record (missing image file, keypoint count other than
            the category's, NaN keypoints, labelled keypoints more than 5% of the image size outside
            it, negative box size, a field missing or of the wrong type, a bad image entry): ``"error"``
            raises SimplePoseError naming the file, the record (``annotation 5 (annotations[12])``,
            ``image 3 (images[2])``) and the field; ``"skip"`` drops it and counts it in ``self.skipped``.
            Fields are read with their COCO types (ids and sizes integers, sizes positive, numbers finite).

    ``image_files`` maps the id of every (good) image entry to its path; ``category_id`` is the keypoint
    category read.
    ``dataset[i]`` is ``(image, record)``: image (H, W, 3) uint8 RGB, record a PersonRecord.
    Dropped annotations (crowd, no labelled keypoint, empty box after clipping,
    another category, skipped bad records) are counted in ``self.dropped`` and logged.
    Image files are checked for existence here; decoding problems surface when an
    image is read (``read_image``), naming the file, image and annotation.
    """

    def __init__(self, ann_file: str | os.PathLike, image_dir: str | os.PathLike,
                 meta: KeypointMeta | None = None, flip_pairs: str | None = None,
                 sigmas_file: str | None = None, category_id: int | None = None, on_bad_record: str = "error"):
        if on_bad_record not in ON_BAD_RECORD:
            raise SimplePoseError(f"--on-bad-record {on_bad_record!r}: use one of {', '.join(ON_BAD_RECORD)}")
        self.ann_file = Path(ann_file)
        self.image_dir = Path(image_dir)
        data = _load_json(self.ann_file)
        category = _keypoint_category(data, self.ann_file, category_id)
        if meta is None:
            meta = KeypointMeta.from_coco_category(category.data, str(self.ann_file), flip_pairs, sigmas_file,
                                                   category.record)
        elif tuple(category.list("keypoints")) != meta.names:
            raise SimplePoseError(f"{self.ann_file}: keypoints {category.list('keypoints')} differ from the "
                                  f"expected {list(meta.names)} (the training data's or the checkpoint's)")
        self.meta = meta
        if not self.image_dir.is_dir():
            raise MissingFileError(f"{self.image_dir}: image directory not found (images of {self.ann_file})")
        self.category_id = category.int("id")
        reader = _AnnotationReader(self.ann_file, self.image_dir, meta.num_joints, self.category_id, on_bad_record)
        images = reader.images(data["images"])
        self.records, self.dropped = reader.people(data["annotations"], images)
        self.skipped = reader.skipped
        self.image_ids = sorted({r.image_id for r in self.records})
        # Every image of the file, people or not: detector boxes may fall on any of them.
        self.image_files = {i: str(self.image_dir / img["file_name"]) for i, img in images.items() if img}
        log.info("%s: kept %d people from %d annotations%s", self.ann_file, len(self.records),
                 len(self.records) + sum(self.dropped.values()),
                 "; dropped " + ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) if self.dropped else "")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, idx: int) -> tuple[np.ndarray, PersonRecord]:
        return self.read(idx), self.records[idx]

    def read(self, idx: int, reduction: int = 1, rgb: bool = True) -> np.ndarray:
        """Image of person ``idx``, (H / r, W / r, 3) uint8 RGB (BGR unless ``rgb``); see ``read_image``."""
        rec = self.records[idx]
        return read_image(rec.image_path, f"image {rec.image_id}, annotation {rec.ann_id}", reduction, rgb)

    def read_region(self, idx: int, reduction: int, region: tuple[int, int, int, int]) -> np.ndarray:
        """Person ``idx``'s image (at 1/``reduction``) decoded only under ``region``; see ``read_image_region``."""
        rec = self.records[idx]
        return read_image_region(rec.image_path, f"image {rec.image_id}, annotation {rec.ann_id}", reduction, region)


def is_jpeg(path: str) -> bool:
    """True for a .jpg/.jpeg name: the files whose decoder can scale in the DCT domain."""
    return path.lower().endswith((".jpg", ".jpeg"))


def read_image(path: str, record: str, reduction: int = 1, rgb: bool = True) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB, as OpenCV would (JPEGs faster: ``decode.decode_bgr``).

    A missing, undecodable or truncated file raises SimplePoseError naming the file and ``record``.

    ``rgb=False`` keeps OpenCV's BGR order and saves a pass over the image when the
    consumer can take the planes in reverse (``transforms.normalize(bgr=True)``).

    With ``reduction`` r in (2, 4, 8) a JPEG is decoded at 1/r resolution by libjpeg's
    DCT scaling ((ceil(H / r), ceil(W / r), 3); pixel i covers image pixels r*i .. r*i + r - 1),
    which skips most of the decoding work. Use it only on JPEG files (``is_jpeg``): other
    formats are decoded in full and then resampled without a box filter.
    """
    data = _read_bytes(path, record)
    try:
        image = decode_bgr(data, reduction)
    except ValueError as exc:
        raise SimplePoseError(f"{path}: {exc} ({record})") from None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb else image


def read_image_region(path: str, record: str, reduction: int, region: tuple[int, int, int, int]) -> np.ndarray:
    """The image decoded only under ``region`` (BGR, black elsewhere): see ``decode.decode_region_bgr``.

    Errors as ``read_image``: a JPEG cut short is refused even when the damage is outside the region.
    """
    data = _read_bytes(path, record)
    try:
        return decode_region_bgr(data, reduction, region)
    except ValueError as exc:
        raise SimplePoseError(f"{path}: {exc} ({record})") from None


def _read_bytes(path: str, record: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise SimplePoseError(f"{path}: {'not found' if not os.path.exists(path) else 'cannot be read'} "
                              f"({record})") from None


def keypoint_meta(ann_file: str | os.PathLike, category_id: int | None = None) -> KeypointMeta:
    """The keypoint metadata of an annotation file's keypoint category, without reading its people
    (what a plain ``.params`` file is exported with)."""
    path = Path(ann_file)
    category = _keypoint_category(_load_json(path), path, category_id)
    return KeypointMeta.from_coco_category(category.data, str(path), record=category.record)
