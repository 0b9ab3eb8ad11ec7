"""COCO-format keypoint dataset: one record per annotated person.

Reads any COCO-format keypoint file (COCO, CrowdPose, COCO+feet, animals, AP-10K's species,
face landmarks...): the keypoint metadata comes from the file's keypoint categories
(``categories``), the records from ``annotations`` (quirks fixed and counted). Plain NumPy and
OpenCV; MXNet's DataLoader accepts it as it is (it only needs ``__len__`` and
``__getitem__``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.io import read_json
from simplepose.meta import KeypointMeta, part_names
from simplepose.data.annotations import AnnotationReader, PersonRecord
from simplepose.data.categories import keypoint_categories
from simplepose.data.decode import MAX_IMAGE_PIXELS, decode_bgr, decode_region_bgr
from simplepose.data.image_files import NotAFileError, open_regular
from simplepose.data.keypoint_fields import BODY, KeypointFields, choose_parts

__all__ = ["COCOKeyPoints", "ON_BAD_RECORD", "PersonRecord", "is_jpeg", "keypoint_meta", "read_image",
           "read_image_region"]

log = logging.getLogger(__name__)

ON_BAD_RECORD = ("error", "skip")


def _load_json(path: Path) -> dict[str, Any]:
    data = read_json(path, "annotation file")
    if isinstance(data, dict) and isinstance(data.get("images"), dict):
        raise SimplePoseError(f"{path}: 'images' maps ids to file names (as Animal-Pose's original keypoints.json "
                              "does), where COCO has a list of {id, file_name, width, height} records; convert the "
                              "file first, e.g. with mmpose's tools/dataset_converters/parse_animalpose_dataset.py")
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list)
                                             for key in ("images", "annotations", "categories")):
        raise SimplePoseError(f"{path}: not a COCO annotation file (needs 'images', 'annotations' and 'categories' lists)")
    return data


class COCOKeyPoints:
    """People with keypoints from one COCO-format annotation file.

    Args:
        ann_file: COCO-format JSON with one or more keypoint categories (``categories.keypoint_categories``).
        image_dir: directory holding the images named by ``file_name``.
        meta: keypoint metadata to check the file against; derived from the file when None.
        flip_pairs, sigmas_file: user overrides used when ``meta`` is derived here.
        category_id: which keypoint categories to read (an id, ``"1,3"`` or a list); all of them when None.
        keypoint_fields: ``--keypoint-fields``, the annotation fields holding the keypoints (COCO-WholeBody's
            parts: ``"body,foot"``...; ``data.keypoint_fields``); None: ``meta``'s parts when given, else every
            part the file has (all 133 keypoints of a COCO-WholeBody file, as mmpose trains them).
        on_bad_record: what to do with a bad record (missing image file, keypoint count other than
            the category's, NaN keypoints, labelled keypoints more than 5% of the image size outside
            it, negative box size, a field missing or of the wrong type, a bad image entry, an image id
            shared by different files): ``"error"`` raises SimplePoseError naming the file, the record
            (``annotation 5 (annotations[12])``, ``image 3 (images[2])``) and the field; ``"skip"`` drops
            it and counts it in ``self.skipped``. Fields are read with their COCO types.

    Quirks fixed with a counted warning (``quirks``; counts in ``self.fixed``): nested keypoints, no
    ``bbox``, ``area`` or ``num_keypoints`` missing or invalid, annotation ids repeated or 0, an image id
    listed twice for one file, an image whose stored size differs from its entry (the stored size wins;
    images are read in their stored pixel frame, EXIF orientation ignored).

    ``image_files`` maps the id of every (good) image entry to its path; ``category_id`` is the category
    id the keypoint set is scored under (the first of ``category_ids``, the categories read).
    ``ground_truth`` lists the cleaned annotations COCOeval is to see (``scoring.coco.load_coco_gt``).
    ``dataset[i]`` is ``(image, record)``: image (H, W, 3) uint8 RGB, record a PersonRecord.
    Dropped annotations (crowd, no labelled keypoint, empty box after clipping,
    another category, skipped bad records) are counted in ``self.dropped`` and logged.
    Image files are checked for existence, and their headers read, here; decoding problems surface
    when an image is read (``read_image``), naming the file, image and annotation.
    """

    def __init__(self, ann_file: str | os.PathLike, image_dir: str | os.PathLike,
                 meta: KeypointMeta | None = None, flip_pairs: str | None = None,
                 sigmas_file: str | None = None, category_id: int | str | Sequence[int] | None = None,
                 on_bad_record: str = "error", max_pixels: int = MAX_IMAGE_PIXELS, allow_outside_root: bool = False,
                 keypoint_fields: str | None = None):
        if on_bad_record not in ON_BAD_RECORD:
            raise SimplePoseError(f"--on-bad-record {on_bad_record!r}: use one of {', '.join(ON_BAD_RECORD)}")
        self.ann_file = Path(ann_file)
        self.image_dir = Path(image_dir)
        data = _load_json(self.ann_file)
        cats = keypoint_categories(data, self.ann_file, category_id)
        category = cats.category
        parts = choose_parts(data["annotations"], self.ann_file, keypoint_fields, meta)
        if meta is None:
            meta = KeypointMeta.from_coco_category(category.data, str(self.ann_file), flip_pairs, sigmas_file,
                                                   category.record, num_keypoints=cats.num_keypoints,
                                                   parts=() if parts == (BODY,) else parts)
        else:
            names = _file_names(category.data, cats.num_keypoints, parts)
            if tuple(names) != meta.names:
                parts = ",".join(p for p, _ in meta.parts)
                read = f", read from the parts {parts}: read the same --keypoint-fields" if parts else ""
                raise SimplePoseError(f"{self.ann_file}: keypoints {_shown(names)} differ from the expected "
                                      f"{_shown(meta.names)} (the training data's or the checkpoint's{read})")
        self.meta = meta
        if not self.image_dir.is_dir():
            raise MissingFileError(f"{self.image_dir}: image directory not found (images of {self.ann_file})")
        self.category_id, self.category_ids = cats.ids[0], cats.ids
        self.max_pixels = max_pixels
        body = len(category.list("keypoints") or ()) or cats.num_keypoints or 0
        reader = AnnotationReader(self.ann_file, self.image_dir, KeypointFields(parts, body), cats, on_bad_record,
                                  max_pixels, allow_outside_root)
        reader.images.read(data["images"])
        self.records, self.dropped = reader.people(data["annotations"])
        self.skipped, self.fixed, self.ground_truth = reader.skipped, reader.fixes.counts, reader.ground_truth
        self.known_category_ids = cats.known_ids
        self.image_ids = sorted({r.image_id for r in self.records})
        # Every image of the file, people or not: detector boxes may fall on any of them.
        self.image_files = reader.images.files()
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
        return read_image(rec.image_path, f"image {rec.image_id}, annotation {rec.ann_id}", reduction, rgb,
                          self.max_pixels)

    def read_region(self, idx: int, reduction: int, region: tuple[int, int, int, int]) -> np.ndarray:
        """Person ``idx``'s image (at 1/``reduction``) decoded only under ``region``; see ``read_image_region``."""
        rec = self.records[idx]
        return read_image_region(rec.image_path, f"image {rec.image_id}, annotation {rec.ann_id}", reduction, region,
                                 self.max_pixels)


def is_jpeg(path: str) -> bool:
    """True for a .jpg/.jpeg name: the files whose decoder can scale in the DCT domain."""
    return path.lower().endswith((".jpg", ".jpeg"))


def read_image(path: str, record: str, reduction: int = 1, rgb: bool = True,
               max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB, as OpenCV would (JPEGs faster: ``decode.decode_bgr``).

    A missing, undecodable or truncated file, a path that is no regular file (a FIFO is not opened), and an
    image whose header claims no pixels or more than ``max_pixels`` (0: no limit; checked before decoding)
    raise SimplePoseError naming the file and ``record``.

    ``rgb=False`` keeps OpenCV's BGR order and saves a pass over the image when the
    consumer can take the planes in reverse (``transforms.normalize(bgr=True)``).

    With ``reduction`` r in (2, 4, 8) a JPEG is decoded at 1/r resolution by libjpeg's
    DCT scaling ((ceil(H / r), ceil(W / r), 3); pixel i covers image pixels r*i .. r*i + r - 1),
    which skips most of the decoding work. Use it only on JPEG files (``is_jpeg``): other
    formats are decoded in full and then resampled without a box filter.
    """
    data = _read_bytes(path, record)
    try:
        image = decode_bgr(data, reduction, max_pixels)
    except ValueError as exc:
        raise SimplePoseError(f"{path}: {exc} ({record})") from None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb else image


def read_image_region(path: str, record: str, reduction: int, region: tuple[int, int, int, int],
                      max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """The image decoded only under ``region`` (BGR, black elsewhere): see ``decode.decode_region_bgr``.

    Errors as ``read_image``: a JPEG cut short is refused even when the damage is outside the region.
    """
    data = _read_bytes(path, record)
    try:
        return decode_region_bgr(data, reduction, region, max_pixels)
    except ValueError as exc:
        raise SimplePoseError(f"{path}: {exc} ({record})") from None


def _read_bytes(path: str, record: str) -> bytes:
    try:
        with open_regular(path) as f:
            return f.read()
    except NotAFileError as exc:
        raise (MissingFileError if exc.missing else SimplePoseError)(f"{path}: {exc} ({record})") from None
    except OSError as exc:
        raise SimplePoseError(f"{path}: cannot be read ({exc.strerror or exc}) ({record})") from None


def _shown(names: Sequence[str], most: int = 20) -> str:
    """A keypoint name list for a message: whole up to ``most`` names, else its first ones and its count."""
    return str(list(names)) if len(names) <= most else f"{list(names[:most])[:-1]} ... ({len(names)} keypoints)"


def _file_names(category: dict[str, Any], num_keypoints: int | None, parts: tuple[str, ...]) -> list[str]:
    """The keypoint names a file gives for ``parts`` (its category's, COCO-WholeBody's for the other parts)."""
    names = category.get("keypoints") or [f"kpt_{i}" for i in range(num_keypoints or 0)]
    return list(names) if parts == (BODY,) else part_names(names, parts)


def keypoint_meta(ann_file: str | os.PathLike, category_id: int | str | Sequence[int] | None = None,
                  keypoint_fields: str | None = None) -> KeypointMeta:
    """The keypoint metadata of an annotation file's keypoint categories (and COCO-WholeBody parts, see
    ``COCOKeyPoints``), without reading its people (what a plain ``.params`` file is exported with)."""
    path = Path(ann_file)
    data = _load_json(path)
    cats = keypoint_categories(data, path, category_id)
    parts = choose_parts(data["annotations"], path, keypoint_fields, None)
    return KeypointMeta.from_coco_category(cats.category.data, str(path), record=cats.category.record,
                                           num_keypoints=cats.num_keypoints, parts=() if parts == (BODY,) else parts)
