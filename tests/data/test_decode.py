"""The fast JPEG decoder returns OpenCV's pixels exactly, and hands OpenCV what it must not decode itself."""
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from simplepose.data import decode
from simplepose.data.decode import decode_bgr, decode_region_bgr, exif_orientation

# OpenCV's flags for our pixels: the stored frame, EXIF orientation ignored (COCO annotations are on it).
REDUCED = {r: flag | cv2.IMREAD_IGNORE_ORIENTATION for r, flag in
           {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}.items()}


def picture(height, width, seed=0):
    """A smooth random colour picture: JPEG's worst case is noise, a photo's is edges; this has both."""
    noise = (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def jpeg(image, *params):
    ok, buf = cv2.imencode(".jpg", image, list(params))
    assert ok
    return buf.tobytes()


def with_orientation(image, orientation, byte_order="<"):
    """JPEG bytes of ``image`` with an EXIF block whose orientation tag is ``orientation``."""
    data = jpeg(image)
    order = b"II" if byte_order == "<" else b"MM"
    big = byte_order == ">"

    def u(value, n):
        return value.to_bytes(n, "big" if big else "little")
    # TIFF header, one directory with two entries (ImageDescription ASCII, then Orientation SHORT).
    tiff = order + u(42, 2) + u(8, 4) + u(2, 2)
    tiff += u(0x010E, 2) + u(2, 2) + u(2, 4) + b"x\x00\x00\x00"
    tiff += u(0x0112, 2) + u(3, 2) + u(1, 4) + u(orientation, 2) + b"\x00\x00" + u(0, 4)
    app1 = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]


def assert_as_opencv(data, reductions=(1, 2, 4, 8)):
    for r in reductions:
        ours = decode_bgr(data, r)
        ref = cv2.imdecode(np.frombuffer(data, np.uint8), REDUCED[r])
        assert ours.shape == ref.shape and ours.dtype == np.uint8, r
        assert np.array_equal(ours, ref), (r, int(np.abs(ours.astype(int) - ref).max()))


@pytest.fixture
def no_opencv_decoding(monkeypatch):
    """Fail if anything reaches OpenCV's decoder: the file must take the fast path."""
    def refuse(*args):
        raise AssertionError("cv2.imdecode called")
    monkeypatch.setattr(decode.cv2, "imdecode", refuse)


def test_synthetic_images_decode_as_opencv_does_at_every_reduction(synthetic):
    files = sorted(Path(synthetic["train_images"]).glob("*.jpg"))[:8]
    assert files
    for path in files:
        assert_as_opencv(path.read_bytes())


@pytest.mark.parametrize("height,width", [(301, 203), (17, 9), (8, 8), (5, 5), (3, 7), (1000, 777)])
@pytest.mark.parametrize("variant", ["420", "444", "progressive", "gray"])
def test_odd_sizes_and_encodings_decode_as_opencv_does(height, width, variant):
    image = picture(height, width)
    params = {"420": (), "444": (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
              "progressive": (cv2.IMWRITE_JPEG_PROGRESSIVE, 1), "gray": ()}[variant]
    assert_as_opencv(jpeg(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if variant == "gray" else image, *params))


def test_plain_jpegs_never_reach_opencv(no_opencv_decoding):
    data = jpeg(picture(120, 90))
    for r in (1, 2, 4, 8):
        assert decode_bgr(data, r).shape == (-(-120 // r), -(-90 // r), 3)


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_exif_orientation_is_read_in_both_byte_orders(byte_order):
    image = picture(40, 60)
    for orientation in (1, 3, 6, 8):
        assert exif_orientation(with_orientation(image, orientation, byte_order)) == orientation
    assert exif_orientation(jpeg(image)) == 1


def test_exif_rotated_jpeg_is_decoded_in_its_stored_frame(no_opencv_decoding):
    """Orientation 6 is not applied: the pixels are the stored ones, where COCO-format keypoints are."""
    image = picture(40, 60)
    data = with_orientation(image, 6)
    stored = decode_bgr(data)
    assert stored.shape == (40, 60, 3)   # not turned a quarter (cv2.imdecode would give 60 x 40)
    assert np.array_equal(stored, decode_bgr(jpeg(image)))
    assert decode_region_bgr(data, 1, (0, 0, 60, 40)).shape == (40, 60, 3)


def test_exif_from_pillow_is_found():
    img = Image.fromarray(picture(40, 60)[..., ::-1].copy())
    exif = img.getexif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    assert exif_orientation(buf.getvalue()) == 8
    assert_as_opencv(buf.getvalue())


def test_cmyk_png_and_damaged_files_decode_as_opencv_does():
    buf = io.BytesIO()
    Image.fromarray(picture(32, 48)).convert("CMYK").save(buf, "JPEG")
    assert_as_opencv(buf.getvalue())
    assert_as_opencv(cv2.imencode(".png", picture(30, 20))[1].tobytes())
    data = jpeg(picture(64, 64))
    with pytest.raises(ValueError, match="truncated JPEG"):  # OpenCV would fill the rest with grey
        decode_bgr(data[:len(data) // 2])
    scan = data.index(b"\xff\xda")
    junk = data[:scan] + b"\x00\x00" + data[scan:]  # "extraneous bytes": strict libjpeg-turbo refuses, OpenCV reads
    with pytest.raises(ValueError):
        decode.simplejpeg.decode_jpeg(junk, "BGR", strict=True)
    assert_as_opencv(junk)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 not really a jpeg", b"hello"])
def test_garbage_is_not_an_image(data):
    with pytest.raises(ValueError, match="cannot be decoded as an image"):
        decode_bgr(data)


# --- region-of-interest decoding ------------------------------------------------------------------

def assert_region_as_whole(data, region, reduction):
    """Inside the region (clipped to the image) the partial decode equals the whole decode, bit for bit.

    Returns the share of the image's pixels that the partial decode left black (not decoded)."""
    whole = decode_bgr(data, reduction)
    part = decode_region_bgr(data, reduction, region)
    assert part.shape == whole.shape and part.dtype == np.uint8
    height, width = whole.shape[:2]
    x0, y0, x1, y1 = max(region[0], 0), max(region[1], 0), min(region[2], width), min(region[3], height)
    if x1 > x0 and y1 > y0:
        np.testing.assert_array_equal(part[y0:y1, x0:x1], whole[y0:y1, x0:x1])
    return 1 - part.any(axis=2).mean()


def test_region_decoder_is_built():
    assert decode.REGION_DECODING, "simplepose/data/libroijpeg.so is missing: pip install -e . builds it (setup.py)"


@pytest.mark.parametrize("reduction", [1, 2, 4, 8])
def test_random_regions_decode_as_the_whole_image_does(synthetic, reduction):
    rng = np.random.default_rng(reduction)
    smaller = 0
    for path in sorted(Path(synthetic["train_images"]).glob("*.jpg"))[:6]:
        data = path.read_bytes()
        height, width = decode_bgr(data, reduction).shape[:2]
        for _ in range(12):
            x0, y0 = int(rng.integers(-20, width)), int(rng.integers(-20, height))
            region = (x0, y0, x0 + int(rng.integers(1, width)), y0 + int(rng.integers(1, height)))
            smaller += assert_region_as_whole(data, region, reduction) > 0.5
    assert smaller > 10  # most regions really were decoded in part


@pytest.mark.parametrize("variant", ["444", "progressive", "gray", "odd"])
def test_regions_of_other_encodings_decode_as_the_whole_image_does(variant):
    image = picture(301, 203) if variant == "odd" else picture(240, 320)
    params = {"444": (cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
              "progressive": (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)}.get(variant, ())
    data = jpeg(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if variant == "gray" else image, *params)
    for reduction in (1, 2, 4):
        for region in [(37, 41, 150, 170), (0, 0, 5, 5), (190, 290, 400, 400), (-30, -30, 10, 500)]:
            assert_region_as_whole(data, region, reduction)


def test_region_outside_the_image_and_damaged_or_rotated_files():
    data = jpeg(picture(64, 80))
    part = decode_region_bgr(data, 1, (120, 0, 140, 10))       # far right of the image: nothing decoded
    assert part.shape == (64, 80, 3) and not part.any()
    with pytest.raises(ValueError, match="truncated JPEG"):      # refused though the region is intact
        decode_region_bgr(data[:len(data) * 3 // 4], 1, (0, 0, 8, 8))
    rotated = with_orientation(picture(40, 60), 6)
    part = decode_region_bgr(rotated, 1, (0, 0, 8, 8))          # EXIF orientation ignored: the stored frame
    assert part.shape == (40, 60, 3) and np.array_equal(part[:8, :8], decode_bgr(rotated)[:8, :8])


def test_image_header_gives_the_stored_size_and_orientation(tmp_path):
    """Read at load for every image with people: the stored size (what decode_bgr returns) and EXIF orientation."""
    image = picture(50, 70)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    cv2.imwrite(str(tmp_path / "a.bmp"), image)
    (tmp_path / "a.jpg").write_bytes(with_orientation(image, 6, ">"))
    pil = Image.fromarray(image[..., ::-1].copy())
    exif = pil.getexif()
    exif[0x0112] = 8
    pil.save(tmp_path / "behind.jpg", exif=exif.tobytes(), comment=b"x" * 60000)   # frame header past 4 KiB
    assert decode.image_header(tmp_path / "a.png") == (70, 50, 1)
    assert decode.image_header(tmp_path / "a.bmp") == (70, 50, 1)
    assert decode.image_header(tmp_path / "a.jpg") == (70, 50, 6)
    assert decode.image_header(tmp_path / "behind.jpg") == (70, 50, 8)
    (tmp_path / "no.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="cannot be decoded as an image"):
        decode.image_header(tmp_path / "no.jpg")
