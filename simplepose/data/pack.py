"""Packed person crops: decode a small JPEG per sample instead of the whole image.

``python -m simplepose.data.pack --ann A.json --images DIR --out PACK --input-size 128,96``
writes, for every person of the annotation file, the part of its image that any
train augmentation can reach (the crop's circumcircle at the largest scale draw,
so any rotation fits) resampled to the finest zoom the smallest scale draw needs
(never enlarged), as one JPEG. ``PACK.bin`` holds the JPEG bytes back to back;
``PACK.npz`` the index: per person its annotation id, byte offset and length,
region origin (image pixels) and zoom.

A flat file rather than MXNet's RecordIO: the data core imports no MXNet, the
format is an offset table, and each loader worker opens the file once.

A sample is served from the pack when its crop lies inside the stored region and
needs no finer zoom than stored; otherwise (half-body crops, another input size)
it falls back to the original image. Targets are the same either way (they come
from the annotation); the pixels differ from a full decode by the resampling and
the JPEG re-encoding (measured in the README's Performance section).
"""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.pack"))

import logging
import math
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np

from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.io import atomic_write
from simplepose.geometry import Crop, decode_reduction, reduced_matrix
from simplepose.data.coco import COCOKeyPoints, read_image
from simplepose.data.decode import decode_bgr

log = logging.getLogger(__name__)

def crop_region(bbox: np.ndarray, image_size: tuple[int, int], input_size: tuple[int, int],
                scale_factor: float) -> tuple[tuple[int, int, int, int], float]:
    """Region (x0, y0, x1, y1), integer image pixels (x1, y1 exclusive), and zoom to store a person at.

    The region is the circumcircle of the crop at scale x(1 + scale_factor), clipped to the image;
    the zoom (stored pixels per image pixel) is the one the crop at scale x(1 - scale_factor) needs,
    at most 1. ``image_size`` and ``input_size`` are (height, width).
    """
    height, width = image_size
    crop = Crop.from_box(bbox, input_size)
    center, (crop_h, crop_w) = crop.center, crop.size
    radius = 0.5 * math.hypot(crop_w, crop_h) * (1 + scale_factor)
    x0, y0 = max(0, math.floor(center[0] - radius)), max(0, math.floor(center[1] - radius))
    x1, y1 = min(width, math.ceil(center[0] + radius) + 1), min(height, math.ceil(center[1] + radius) + 1)
    zoom = min(1.0, input_size[1] / (crop_w * (1 - scale_factor)))
    return (x0, y0, x1, y1), zoom


def pack(dataset: COCOKeyPoints, out: str | os.PathLike, input_size: tuple[int, int],
         scale_factor: float = 0.30, quality: int = 95) -> tuple[Path, Path]:
    """Write ``out.bin`` and ``out.npz`` for every person of ``dataset``; returns their paths.

    Both are written atomically (``io.atomic_write``), the index last.
    """
    out = Path(out)
    bin_path, index_path = out.with_suffix(".bin"), out.with_suffix(".npz")
    n = len(dataset)
    offsets, lengths = np.zeros(n, np.int64), np.zeros(n, np.int64)
    origins, zooms = np.zeros((n, 2), np.float64), np.zeros((n, 2), np.float64)
    bounds = np.zeros((n, 4), np.int64)
    image_sizes = np.zeros((n, 2), np.int64)

    def write_crops(tmp: str) -> None:
        cache: tuple[str, np.ndarray] | None = None
        pos = 0
        with open(tmp, "wb") as f:
            for i, rec in enumerate(dataset.records):
                if cache is None or cache[0] != rec.image_path:  # people of one image are adjacent
                    cache = (rec.image_path, read_image(rec.image_path, f"annotation {rec.ann_id}", rgb=False,
                                                        max_pixels=dataset.max_pixels))
                image = cache[1]
                height, width = image.shape[:2]
                (x0, y0, x1, y1), zoom = crop_region(rec.bbox, (height, width), input_size, scale_factor)
                region = image[y0:y1, x0:x1]
                size = (max(1, round((x1 - x0) * zoom)), max(1, round((y1 - y0) * zoom)))
                if size != (x1 - x0, y1 - y0):
                    region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
                ok, buf = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if not ok:
                    raise SimplePoseError(f"{rec.image_path}: JPEG encoding of annotation {rec.ann_id}'s crop failed")
                f.write(buf.tobytes())
                offsets[i], lengths[i] = pos, len(buf)
                pos += len(buf)
                origins[i] = (x0, y0)
                zooms[i] = (size[0] / (x1 - x0), size[1] / (y1 - y0))
                bounds[i] = (x0, y0, x1, y1)
                image_sizes[i] = (width, height)

    def write_index(tmp: str) -> None:
        with open(tmp, "wb") as f:   # a file object: np.savez would add .npz to a name
            np.savez(f, ann_ids=np.array([r.ann_id for r in dataset.records], np.int64), offsets=offsets,
                     lengths=lengths, origins=origins, zooms=zooms, bounds=bounds, image_sizes=image_sizes,
                     bin_size=np.int64(lengths.sum()))

    atomic_write(bin_path, write_crops, "crop pack")
    atomic_write(index_path, write_index, "crop pack index")
    log.info("packed %d people into %s (%.1f MB)", n, bin_path, lengths.sum() / 1e6)
    return bin_path, index_path


class PackedCrops:
    """Reader of a pack written by ``pack`` for the people of ``dataset`` (checked by annotation id).

    ``crop(idx, matrix)`` gives the stored region of person ``idx`` as a BGR image and the matrix that
    warps it like ``matrix`` warps the original image, or None when the pack cannot serve this crop.
    """

    def __init__(self, path: str | os.PathLike, dataset: COCOKeyPoints):
        base = Path(path)
        self.bin_path, index_path = base.with_suffix(".bin"), base.with_suffix(".npz")
        for p in (self.bin_path, index_path):
            if not p.is_file():
                raise MissingFileError(f"{p}: pack file not found (write it with simplepose-pack)")
        try:   # allow_pickle=False: an index holds plain arrays; one of objects would unpickle
            with np.load(index_path, allow_pickle=False) as index:
                self.index = {k: index[k] for k in index.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise SimplePoseError(f"{index_path}: not a crop pack index ({type(exc).__name__}: {exc}); write the "
                                  "pack again (simplepose-pack)") from None
        ids = np.array([r.ann_id for r in dataset.records], np.int64)
        if len(ids) != len(self.index["ann_ids"]) or not np.array_equal(ids, self.index["ann_ids"]):
            raise SimplePoseError(f"{index_path}: packed for other people than {dataset.ann_file} "
                                  f"({len(self.index['ann_ids'])} vs {len(ids)} annotations); pack that file again")
        if self.bin_path.stat().st_size != int(self.index["bin_size"]):
            raise SimplePoseError(f"{self.bin_path}: {self.bin_path.stat().st_size} bytes, the index expects "
                                  f"{int(self.index['bin_size'])}; the pack is incomplete, write it again")
        self._file = None
        self._pid = None

    def _read(self, idx: int) -> bytes:
        if self._pid != os.getpid():  # one handle per loader worker process
            self._file, self._pid = open(self.bin_path, "rb"), os.getpid()
        self._file.seek(int(self.index["offsets"][idx]))
        return self._file.read(int(self.index["lengths"][idx]))

    def crop(self, idx: int, matrix: np.ndarray, input_size: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray] | None:
        """(stored BGR image, its (2, 3) matrix) for a warp of ``input_size`` = (h, w) by ``matrix``, or None.

        ``matrix`` maps image pixels to output pixels. The pack serves the crop when every image
        point the warp reads (with bilinear neighbours) lies inside the stored region, or outside
        the image on a side where the region reaches the image border, and the crop needs no finer
        zoom than stored (a region stored at full resolution serves any zoom).
        """
        zoom = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
        fx, fy = self.index["zooms"][idx]
        if min(fx, fy) < 1 and zoom > min(fx, fy) * (1 + 1e-9):  # stored at 1: full detail for any zoom
            return None
        x0, y0, x1, y1 = (int(v) for v in self.index["bounds"][idx])
        width, height = (int(v) for v in self.index["image_sizes"][idx])
        h, w = input_size
        inv = cv2.invertAffineTransform(matrix)
        corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
        src = corners @ inv[:, :2].T + inv[:, 2]
        lo_x, hi_x = (-np.inf if x0 == 0 else x0 + 1), (np.inf if x1 == width else x1 - 2)
        lo_y, hi_y = (-np.inf if y0 == 0 else y0 + 1), (np.inf if y1 == height else y1 - 2)
        if not (np.all(src[:, 0] >= lo_x) and np.all(src[:, 0] <= hi_x)
                and np.all(src[:, 1] >= lo_y) and np.all(src[:, 1] <= hi_y)):
            return None
        # Stored pixel u covers image pixels x0 + u / fx .. x0 + (u + 1) / fx (INTER_AREA), centre
        # x0 + (u + 0.5) / fx - 0.5.
        stored_to_image = np.array([[1 / fx, 0.0, x0 + 0.5 / fx - 0.5], [0.0, 1 / fy, y0 + 0.5 / fy - 0.5]])
        m = matrix[:, :2] @ stored_to_image[:, :2]
        m = np.concatenate([m, (matrix[:, :2] @ stored_to_image[:, 2] + matrix[:, 2])[:, None]], axis=1)
        r = decode_reduction(m)
        try:
            image = decode_bgr(self._read(idx), r)
        except ValueError as exc:
            raise SimplePoseError(f"{self.bin_path}: entry {idx} (annotation {int(self.index['ann_ids'][idx])}) "
                                  f"{exc}; write the pack again") from None
        return image, reduced_matrix(m, r)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": None}
