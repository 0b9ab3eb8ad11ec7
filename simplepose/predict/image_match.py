"""Which entry of a COCO file's ``images`` an input image is: the entry sharing the longest suffix of path components.

The input ``/data/cam1/000000000017.jpg`` is the entry ``cam1/000000000017.jpg`` (or ``val/cam1/000000000017.jpg``),
never ``cam2/000000000017.jpg``: two components agree against one. A path that agrees equally well with several
entries (``/tmp/000000000017.jpg`` against both) is refused in one line naming the image, the candidates and the
fix; so is a path whose file name no entry has. Plain Python.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord, read_json

__all__ = ["ImageEntry", "ImageIndex", "path_parts"]


def path_parts(name: str) -> tuple[str, ...]:
    """The components of a file name or path, ``/`` or ``\\`` separated, without empty and ``.`` ones
    (``"a/./b\\c.jpg"`` -> ``("a", "b", "c.jpg")``)."""
    return tuple(p for p in re.split(r"[\\/]+", name) if p not in ("", "."))


def _common_suffix(a: Sequence[str], b: Sequence[str]) -> int:
    """How many trailing components ``a`` and ``b`` share."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


@dataclass(frozen=True)
class ImageEntry:
    """One entry of ``images``: its id, its ``file_name`` as written and that name's components."""

    image_id: int
    file_name: str
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.file_name!r} (id {self.image_id})"


class ImageIndex:
    """The ``images`` entries of a COCO file, by base name, to find the entry of an input image.

    Args:
        images: the file's ``images`` records (``id`` and ``file_name`` read, one line naming a bad one).
        source: the file, for messages.
    """

    def __init__(self, images: Sequence[JsonRecord], source: str | os.PathLike):
        self.source = str(source)
        self.by_base: dict[str, list[ImageEntry]] = defaultdict(list)
        for img in images:
            entry = ImageEntry(img.int("id"), img.string("file_name"), path_parts(img.string("file_name")))
            if not entry.parts:
                raise img.error("file_name", f"is {entry.file_name!r}, which names no file")
            self.by_base[entry.parts[-1]].append(entry)
        self.ids = {e.image_id for entries in self.by_base.values() for e in entries}

    @classmethod
    def from_file(cls, path: str | os.PathLike, what: str) -> "ImageIndex":
        """The index of a COCO annotation file's ``images``; ``what`` names the file in errors."""
        doc = read_json(path, what)
        if not isinstance(doc, dict):
            raise SimplePoseError(f"{path}: not a COCO annotation file (expected an object with an 'images' list)")
        return cls(JsonRecord(doc, path).records("images"), path)

    def find(self, path: str) -> ImageEntry:
        """The entry of the image file ``path`` (as given; made absolute so that its folders count)."""
        parts = path_parts(os.path.abspath(path))
        candidates = self.by_base.get(parts[-1] if parts else "", [])
        if not candidates:
            raise SimplePoseError(f"{path}: no image of {self.source} is named {parts[-1] if parts else path!r} "
                                  "(its 'images' file_name); give the annotation file that lists this image")
        best = max(_common_suffix(parts, e.parts) for e in candidates)
        winners = [e for e in candidates if _common_suffix(parts, e.parts) == best]
        if len(winners) == 1:
            return winners[0]
        shown = ", ".join(map(str, winners[:4])) + (", ..." if len(winners) > 4 else "")
        if len({e.parts for e in winners}) == 1:
            raise SimplePoseError(f"{path}: {self.source} lists this image {len(winners)} times ({shown}); "
                                  "give each image one entry")
        raise SimplePoseError(f"{path}: matches {len(winners)} images of {self.source} equally well ({shown}); "
                              "give the image by a path that tells them apart (run from the image root or pass "
                              f"the folder, e.g. --input IMAGE_ROOT/{winners[0].file_name})")
