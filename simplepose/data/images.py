"""The ``images`` of a COCO-format file: entries by id, and each image's stored size, read once from its header.

The file is named by ``file_name`` (ATRW's ``filename`` is read too, counted). An id listed twice for the
same file is merged (counted); for different files both entries are bad
records (which people are on which image is unknown). An entry whose width/height differ from the
file's stored size gets the stored size (counted); a JPEG's EXIF orientation is counted and ignored:
annotations and pixels are read in the stored frame.

A ``file_name`` that leads outside the image folder (an absolute path, or ``..`` beyond it) is a bad
record unless ``allow_outside_root``: judged on the name alone (lexically, and the file read is the
normalised name: ``sub/../x.jpg`` reads ``x.jpg``), so a symbolic link inside the folder, e.g. a folder of
links to shared storage, is followed. An image whose header claims no pixels or
more than ``max_pixels`` (``decode.check_pixels``), and a path that is no regular file (a FIFO, a
directory, a broken link; ``image_files``), are bad records naming what they are.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from simplepose.errors import SimplePoseError
from simplepose.data.decode import MAX_IMAGE_PIXELS, ImageSizeError, image_header
from simplepose.data.image_files import NotAFileError
from simplepose.data.quirks import (DUPLICATE_IMAGE, EXIF_ORIENTATION, FILENAME_FIELD, IMAGE_SIZE, BadRecord, BadRecords, Fixes,
                     named_entry)


class ImageEntries:
    """``entries``: image id -> {id, file_name, width, height, index} (sizes None until known), None for a
    bad entry (its annotations are then dropped, not counted again)."""

    def __init__(self, ann_file: Path, image_dir: Path, fixes: Fixes, bad: BadRecords,
                 max_pixels: int = MAX_IMAGE_PIXELS, allow_outside_root: bool = False):
        self.ann_file, self.image_dir, self.fixes, self.bad = ann_file, image_dir, fixes, bad
        self.max_pixels, self.allow_outside_root = max_pixels, allow_outside_root
        self.entries: dict[int, dict[str, Any] | None] = {}
        self._usable: dict[int, bool] = {}   # image id -> file present and its header readable

    def read(self, entries: list[Any]) -> None:
        """Read the file's ``images`` list into ``entries``."""
        for i, entry in enumerate(entries):
            image_id = None
            try:
                rec, image_id = named_entry(entry, self.ann_file, "images", i, "image")
                name_field = "file_name"
                if rec.raw("file_name", None) is None and rec.raw("filename", None) is not None:
                    name_field = "filename"
                    self.fixes.add(FILENAME_FIELD, rec.record)
                name = rec.string(name_field)
                if not self.allow_outside_root:
                    self._inside_root(name, rec.record, name_field)
                # The file read is the one judged: 'sub/../x.jpg' is x.jpg, whatever 'sub' is.
                image = {"id": image_id, "file_name": os.path.normpath(name), "index": i,
                         "width": rec.int("width", None, minimum=1), "height": rec.int("height", None, minimum=1)}
                if image_id in self.entries:
                    self._again(self.entries[image_id], image, rec.record)
                    continue
                self.entries[image_id] = image
            except (SimplePoseError, BadRecord) as exc:
                self.bad(str(exc), getattr(exc, "reason", "bad image entry"))
                if image_id is not None:
                    self.entries[image_id] = None

    def _inside_root(self, name: str, record: str, field: str) -> None:
        """Raise BadRecord when the file ``name`` leads outside the image folder (judged lexically)."""
        where = "an absolute path" if os.path.isabs(name) else \
            "'..' climbs above it" if os.path.normpath(name).split(os.sep)[0] == os.pardir else None
        if where:
            raise BadRecord(f"{self.ann_file}: {record}: {field!r} {name!r} leads outside the image folder "
                            f"{self.image_dir} ({where}); put the image under it and name it relative to it, or "
                            "pass --allow-outside-root if the file means it", "file name outside the image folder")

    def _again(self, first: dict[str, Any] | None, again: dict[str, Any], record: str) -> None:
        """A second entry with ``first``'s id: merged when it names the same file, else refused."""
        if first is None:
            return
        if first["file_name"] != again["file_name"]:
            raise BadRecord(
                f"{self.ann_file}: images[{first['index']}] and images[{again['index']}] share id {again['id']} but "
                f"name different files ({first['file_name']!r}, {again['file_name']!r}): which people are on which "
                "is unknown; give one of them its own id", "duplicate image id")
        self.fixes.add(DUPLICATE_IMAGE, record)

    def files(self) -> dict[int, str]:
        """image id -> image path, for every good entry."""
        return {i: str(self.image_dir / img["file_name"]) for i, img in self.entries.items() if img}

    def size(self, img: dict[str, Any], aid: int) -> tuple[Path, int, int]:
        """(path, width, height) of the image as stored, its header read once; raise BadRecord naming
        annotation ``aid`` when the file is missing or has no readable header."""
        image_id, path = img["id"], self.image_dir / img["file_name"]
        if image_id in self._usable:
            if not self._usable[image_id]:
                raise BadRecord(f"{path}: image {image_id} unusable (annotation {aid})", "unusable image")
            return path, img["width"], img["height"]
        self._usable[image_id] = False
        try:
            width, height, orientation = image_header(path, self.max_pixels)
        except NotAFileError as exc:
            why = "missing image file" if exc.missing else "not an image file"
            raise BadRecord(f"{path}: image file {exc} (image {image_id}, annotation {aid})", why) from None
        except ImageSizeError as exc:
            raise BadRecord(f"{path}: image {exc} (image {image_id}, annotation {aid})", exc.reason) from None
        except (OSError, ValueError) as exc:
            raise BadRecord(f"{path}: {exc} (image {image_id}, annotation {aid})", "undecodable image") from None
        if orientation != 1:
            self.fixes.add(EXIF_ORIENTATION, f"{path} (orientation {orientation})")
        if None not in (img["width"], img["height"]) and (img["width"], img["height"]) != (width, height):
            self.fixes.add(IMAGE_SIZE, f"image {image_id} (images[{img['index']}]): {img['width']}x{img['height']} "
                                       f"in the file, {width}x{height} decoded")
        img["width"], img["height"] = width, height
        self._usable[image_id] = True
        return path, width, height
