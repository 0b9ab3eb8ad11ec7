"""Image bytes -> (H, W, 3) uint8 BGR pixels, JPEGs through libjpeg-turbo's SIMD decoder.

OpenCV's own JPEG decoder (in the opencv-python wheels) is about 2.7x slower than
libjpeg-turbo with its SIMD code, which ``simplejpeg`` wraps; on COCO-like images the
decode is most of a training sample's cost. The fast path returns exactly
OpenCV's pixels (same library, same IDCT and upsampling: ``tests/data/test_decode.py``
compares them bit for bit, at every reduction); OpenCV decodes whatever it does
not take: other formats and files libjpeg-turbo rejects as damaged. A JPEG cut
short is refused either way (OpenCV would fill it with grey without a word).

Pixels are the STORED ones: an EXIF orientation tag is ignored (``cv2.imdecode`` would
turn the image upright; ``IMREAD_IGNORE_ORIENTATION`` stops it), because COCO-format
annotations, and pycocotools, read keypoints in the stored pixel frame.

``decode_region_bgr`` decodes only the part of a JPEG a crop reads, through
``roi_jpeg.c`` (libjpeg-turbo's scanline skipping and cropping) when the install has
built it (``setup.py``); its pixels inside the region are those of the whole decode.

Before anything is decoded, the size the file's header claims is checked (``check_size``): an image of
no pixels, or of more than ``max_pixels`` (Pillow's ``Image.MAX_IMAGE_PIXELS`` by default), is refused,
so a 20000x20000 header cannot make a decoder allocate 1.2 GB.
"""
from __future__ import annotations

import ctypes
import io
import warnings
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

from simplepose.data.image_files import open_regular
from simplepose.flags import MAX_IMAGE_PIXELS

# cv2.imdecode flag decoding a colour image at 1/r resolution, by r.
_CV2_FLAGS = {r: flag | cv2.IMREAD_IGNORE_ORIENTATION for r, flag in
              {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
               8: cv2.IMREAD_REDUCED_COLOR_8}.items()}
EXIF_ORIENTATION_TAG = 0x0112
# Pixels of context kept around a region: libjpeg upsamples chroma from the neighbouring rows and
# columns, so the region's own border pixels decode exactly only with their neighbours decoded too.
REGION_CONTEXT = 16
MAX_PIXELS_FLAG = "--max-image-pixels"


class ImageSizeError(ValueError):
    """An image whose header claims no pixels, or more than the pixel limit; the message says which,
    ``reason`` is its short tally name."""

    def __init__(self, message: str, reason: str = "image over the pixel limit"):
        super().__init__(message)
        self.reason = reason


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Raise ImageSizeError for a ``width`` x ``height`` image of no pixels or of more than ``max_pixels``
    (0: no limit)."""
    if width <= 0 or height <= 0:
        raise ImageSizeError(f"has no pixels ({width}x{height})", "image without pixels")
    if max_pixels and width * height > max_pixels:
        raise ImageSizeError(f"{width}x{height} = {width * height:,} pixels, more than the limit of "
                             f"{max_pixels:,}; if the image is genuine, raise it with {MAX_PIXELS_FLAG} N "
                             "(0: no limit)")


_PIL_BOMB = (-1, -1)   # PIL refused to open the header: more than twice its MAX_IMAGE_PIXELS


def check_size(data: bytes, max_pixels: int) -> None:
    """``check_pixels`` on the size the header of the image file bytes ``data`` claims, nothing decoded.

    JPEG and PNG headers are parsed here; other formats by PIL (header only). A header none of them
    parses is left to the decoder (OpenCV, with its own limit of 2**30 pixels).
    """
    size = _header_size(data)
    if size is _PIL_BOMB:
        if max_pixels and max_pixels < 2 * Image.MAX_IMAGE_PIXELS:
            raise ImageSizeError(f"more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, more than the limit of "
                                 f"{max_pixels:,}; if the image is genuine, raise it with {MAX_PIXELS_FLAG} N "
                                 "(0: no limit)")
    elif size is not None:
        check_pixels(*size, max_pixels)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of image file bytes, ``_PIL_BOMB``, or None when unknown."""
    if data[:3] == b"\xff\xd8\xff":
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            return width, height
        except ValueError:   # a damaged header: PIL may still read it
            pass
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError:
        return _PIL_BOMB
    except Exception:   # PIL's format plugins raise many kinds on what they cannot parse: the decoder judges
        return None


def _roi_decoder():
    """``simplepose_roi_decode`` of ``libroijpeg.so`` (``roi_jpeg.c``, built by ``setup.py``), or None."""
    try:
        lib = ctypes.CDLL(str(Path(__file__).with_name("libroijpeg.so")))
    except OSError:
        return None
    fn = lib.simplepose_roi_decode
    fn.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                   ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    return fn


_ROI_DECODE = _roi_decoder()
REGION_DECODING = _ROI_DECODE is not None  # libroijpeg.so found: JPEGs are decoded in part


def decode_bgr(data: bytes, reduction: int = 1, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode image file bytes to (H, W, 3) uint8 BGR, stored frame, as ``cv2.imdecode(IMREAD_COLOR |
    IMREAD_IGNORE_ORIENTATION)`` does; the header's size is checked first (``check_size``, ``max_pixels``).

    With ``reduction`` r in (2, 4, 8) a JPEG is decoded at 1/r resolution by libjpeg's DCT
    scaling: (ceil(H / r), ceil(W / r), 3), pixel i covering image pixels r*i .. r*i + r - 1
    (OpenCV's ``IMREAD_REDUCED_COLOR_r``; other formats are decoded in full and resampled).

    Raises:
        ValueError: the bytes are no image ("cannot be decoded as an image"), or a JPEG cut
            short ("truncated JPEG, ..."), which OpenCV would fill with grey without a word;
            ImageSizeError (a ValueError): no pixels, or more than ``max_pixels``.
    """
    check_size(data, max_pixels)
    if data[:3] == b"\xff\xd8\xff":
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            # simplejpeg takes the smallest DCT scaling (m/8) that keeps ceil(size / r) pixels: exactly
            # 1/r, except below 8 pixels, where a smaller m can round up to the same size.
            if reduction == 1 or max(height, width) >= 8:
                # Strict decoding refuses a file cut short (libjpeg's "premature end" warning).
                return simplejpeg.decode_jpeg(data, "BGR", min_height=-(-height // reduction),
                                              min_width=-(-width // reduction), strict=True)
        except ValueError:  # damage that libjpeg-turbo refuses and OpenCV may still read
            pass
    image = cv2.imdecode(np.frombuffer(data, np.uint8), _CV2_FLAGS[reduction]) if data else None
    if image is None:
        raise ValueError("cannot be decoded as an image")
    if truncated_jpeg(data):
        raise ValueError("truncated JPEG, no end-of-image marker after its last scan")
    return image


def decode_region_bgr(data: bytes, reduction: int, region: tuple[int, int, int, int],
                      max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode the part of an image under ``region``, in place in an image of the whole's size.

    Args:
        region: (x0, y0, x1, y1), pixels of the image decoded at 1/``reduction`` (x1, y1 exclusive;
            it may reach outside the image).
    Returns:
        (H, W, 3) uint8 BGR, the shape of ``decode_bgr(data, reduction)`` and equal to it bit for bit
        inside ``region``. Around the region, ``REGION_CONTEXT`` pixels are decoded too (their outer
        edge may differ); the rest is black, in pages the decoder never touched. Only a JPEG is
        decoded in part, and only with the region decoder built (``libroijpeg.so``); anything else
        is decoded whole.
    Raises:
        ValueError: as ``decode_bgr``.
    """
    if _ROI_DECODE is None or data[:3] != b"\xff\xd8\xff":
        return decode_bgr(data, reduction, max_pixels)
    check_size(data, max_pixels)   # before the whole image's size is allocated below
    if truncated_jpeg(data):  # bad input, even when the damage lies outside the region
        raise ValueError("truncated JPEG, no end-of-image marker after its last scan")
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return decode_bgr(data, reduction)
    height, width = -(-height // reduction), -(-width // reduction)  # libjpeg's scaled size
    image = np.zeros((height, width, 3), np.uint8)
    x0, y0 = max(region[0] - REGION_CONTEXT, 0), max(region[1] - REGION_CONTEXT, 0)
    x1, y1 = min(region[2] + REGION_CONTEXT, width), min(region[3] + REGION_CONTEXT, height)
    if x1 <= x0 or y1 <= y0:
        return image
    info = np.zeros(2, np.intc)
    message = ctypes.create_string_buffer(200)
    status = _ROI_DECODE(data, len(data), reduction, x0, y0, x1, y1, image.ctypes.data, width, height,
                         info.ctypes.data, message)
    if status != 0:  # damage libjpeg-turbo refuses: OpenCV may still read it
        return decode_bgr(data, reduction)
    return image


def truncated_jpeg(data: bytes) -> bool:
    """A JPEG whose last start-of-scan marker (FF DA) is not followed by an end-of-image marker (FF D9).

    Entropy-coded data never contains FF DA or FF D9 (FF is stuffed as FF 00), so this holds for
    baseline and progressive files, with or without an EXIF thumbnail or trailing bytes.
    """
    if not data.startswith(b"\xff\xd8"):
        return False
    return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


def image_header(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) of an image file, stored frame, from its header.

    A JPEG's header is parsed by libjpeg-turbo from the file's first 4 KiB (the whole file when its
    frame header lies further in, behind large metadata), a PNG's size read from its IHDR chunk,
    anything else opened by PIL (header only) or, failing that, decoded. A JPEG's header parses in about
    10 us (80 us with opening the file), against 0.5-0.9 ms for PIL's lazy open. Raises ValueError as
    ``decode_bgr`` for a file that is no image, ImageSizeError for an image of no pixels or more than
    ``max_pixels`` (0: no limit), ``image_files.NotAFileError`` (an OSError) for a path that is no regular
    file (a FIFO is not opened).
    """
    width, height, orientation = _stored_size(path, max_pixels)
    check_pixels(width, height, max_pixels)
    return width, height, orientation


def _stored_size(path: str | Path, max_pixels: int) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) as ``image_header``, unchecked."""
    with open_regular(path) as f:
        data = f.read(4096)
        if data[:3] == b"\xff\xd8\xff":
            for more in (False, True):
                if more:
                    data += f.read()
                try:
                    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
                    return width, height, exif_orientation(data)
                except ValueError:
                    pass
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), 1
        data += f.read()   # another format, or a damaged header
    size = _header_size(data)
    if size is None or size is _PIL_BOMB:   # no header PIL reads: decode it (its size checked first)
        height, width = decode_bgr(data, max_pixels=max_pixels).shape[:2]
        return width, height, 1
    return size[0], size[1], 1


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8; 1 is upright) of JPEG bytes, 1 when the file has none.

    Walks the marker segments before the first scan to the APP1 "Exif" segment and
    reads tag 0x0112 of its first image directory (TIFF, either byte order).
    """
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan or end of image: no metadata after this
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[pos + 10:pos + 2 + length])
        pos += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    """Orientation tag of the first image directory of an EXIF TIFF block, 1 if absent or malformed."""
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd:ifd + 2], order) if ifd + 2 <= len(tiff) else 0
    for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
        if int.from_bytes(tiff[entry:entry + 2], order) == EXIF_ORIENTATION_TAG:
            # A SHORT value sits in the first two bytes of the entry's 4-byte value field.
            return int.from_bytes(tiff[entry + 8:entry + 10], order)
    return 1
