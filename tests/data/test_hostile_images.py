"""Hostile images: a header claiming 20000x20000, a 0x0 PNG, a FIFO or socket or broken link named as an image,
``file_name`` leaving the image folder. Each is one line and exit status 2, or skipped and counted, and no
decoder is ever asked to decode the 20000x20000 image (its header is checked first). Videos:
``test_hostile_videos.py``."""
import json
import os
import shutil
import signal
import socket
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import simplejpeg

import eval_simple_pose
import train_simple_pose
from simplepose.cli import run_main
from simplepose.data import decode
from simplepose import pack as pack_command
from simplepose.data.coco import COCOKeyPoints
from simplepose.errors import SimplePoseError
from simplepose.predict.command import main as predict_main
from simplepose.predict.inputs import Input, check_images

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "4", "-j", "0",
        "--log-interval", "0", "--num-epochs", "1", "--seed", "3", "--no-tensorboard"]
NUM_IMAGES = 6
HUGE = 20000   # pixels a side the crafted header claims: 400 M pixels, 1.2 GB decoded


# ---- fixtures shaped like real files -------------------------------------------------------------------------

def huge_jpeg(real: bytes) -> bytes:
    """A real JPEG whose frame header (SOF0) claims HUGE x HUGE pixels; its scan data is the small image's."""
    data = bytearray(real)
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", HUGE, HUGE)   # height, width
    assert simplejpeg.decode_jpeg_header(bytes(data))[:2] == (HUGE, HUGE)
    return bytes(data)


def empty_png() -> bytes:
    """A PNG whose IHDR says 0 x 0 pixels (CRCs correct, as a broken writer would leave it)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b""))


@pytest.fixture
def data(synthetic, tmp_path):
    """The first images of the generated training set as a COCO file of COCO's own shape: float ids, license
    and URL fields, segmentation, nested keypoints in one record."""
    doc = json.loads(Path(synthetic["train_ann"]).read_text())
    doc["images"] = doc["images"][:NUM_IMAGES]
    ids = {img["id"] for img in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    doc["info"] = {"description": "COCO 2017 Dataset", "version": "1.0", "year": 2017}
    doc["licenses"] = [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "BY-NC-SA"}]
    images = tmp_path / "images"
    images.mkdir()
    for img in doc["images"]:
        shutil.copy(Path(synthetic["train_images"]) / img["file_name"], images / img["file_name"])
        img.update({"id": float(img["id"]), "license": 1, "date_captured": "2013-11-14 16:28:13",
                    "coco_url": f"http://images.cocodataset.org/train2017/{img['file_name']}",
                    "flickr_url": "http://farm4.staticflickr.com/3153/2970773875_164f0c0b83_z.jpg"})
    for ann in doc["annotations"]:
        x, y, w, h = ann["bbox"]
        ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    doc["annotations"][0]["keypoints"] = [doc["annotations"][0]["keypoints"][i:i + 3]
                                          for i in range(0, len(doc["annotations"][0]["keypoints"]), 3)]
    return {"doc": doc, "ann": tmp_path / "ann.json", "images": images, "save": tmp_path / "run", "tmp": tmp_path}


def person_image(doc):
    """The image entry of the first person the loader keeps (not crowd, some keypoint labelled)."""
    ann = next(a for a in doc["annotations"] if not a.get("iscrowd") and any(np.ravel(a["keypoints"])[2::3]))
    return next(img for img in doc["images"] if img["id"] == ann["image_id"])


def write(data):
    data["ann"].write_text(json.dumps(data["doc"]))
    return str(data["ann"])


@pytest.fixture
def huge(data):
    """``data`` with one person's image replaced by a JPEG whose header claims 20000x20000; its path."""
    img = person_image(data["doc"])
    path = data["images"] / img["file_name"]
    path.write_bytes(huge_jpeg(path.read_bytes()))
    write(data)
    return path


@pytest.fixture
def decoded_sizes(monkeypatch):
    """Every (width, height) a JPEG decoder (libjpeg-turbo, the region decoder, OpenCV) was asked to decode."""
    seen = []

    def size_of(buffer):
        height, width, _, _ = simplejpeg.decode_jpeg_header(bytes(buffer))
        return width, height

    def spy(real):
        def call(data, *args, **kwargs):
            if bytes(data[:3]) == b"\xff\xd8\xff":
                seen.append(size_of(data))
            return real(data, *args, **kwargs)
        return call
    monkeypatch.setattr(decode.simplejpeg, "decode_jpeg", spy(simplejpeg.decode_jpeg))
    monkeypatch.setattr(decode.cv2, "imdecode", spy(cv2.imdecode))
    if decode._ROI_DECODE is not None:
        monkeypatch.setattr(decode, "_ROI_DECODE", spy(decode._ROI_DECODE))
    return seen


def run(main, argv, capsys):
    """A command run in-process as its script runs it: (exit status, stderr)."""
    status = run_main(lambda: main(argv))
    return status, capsys.readouterr().err


def one_line_error(status, err, *parts):
    """The error line of a command that refused its input (status 2, no traceback), checked for ``parts``."""
    assert status == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: "), err
    for part in parts:
        assert part in last, (part, last)
    return last


def train(data, capsys, *flags):
    return run(train_simple_pose.main, TINY + ["--train-ann", str(data["ann"]), "--train-images",
                                               str(data["images"]), "--save-dir", str(data["save"]), *flags], capsys)


# ---- the pixel limit -------------------------------------------------------------------------------------

def test_a_huge_jpeg_header_stops_training_before_any_decode(data, huge, capsys, decoded_sizes):
    status, err = train(data, capsys)
    one_line_error(status, err, str(huge), f"{HUGE}x{HUGE} = 400,000,000 pixels", "limit of 89,478,485",
                   "--max-image-pixels", "--on-bad-record skip")
    assert (HUGE, HUGE) not in decoded_sizes and not (data["save"] / "metrics.jsonl").exists()


def test_with_skip_the_huge_image_is_left_out_counted_and_training_runs(data, huge, capsys, decoded_sizes):
    status, err = train(data, capsys, "--on-bad-record", "skip")
    assert status == 0, err
    assert f"skipping bad record: {huge}: image {HUGE}x{HUGE}" in err
    assert "1 bad train records skipped at load" in err
    # The other images were decoded (training ran on them); the huge one never.
    assert decoded_sizes and (HUGE, HUGE) not in decoded_sizes
    assert json.loads((data["save"] / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 1


def test_a_raised_limit_admits_the_image_and_zero_lifts_it(data, huge):
    """Only the limit's logic: the 400 M pixels are not decoded."""
    with pytest.raises(SimplePoseError, match="--max-image-pixels"):
        COCOKeyPoints(data["ann"], data["images"])
    for limit in (HUGE * HUGE, 0):
        people = COCOKeyPoints(data["ann"], data["images"], max_pixels=limit)
        assert not people.skipped and str(huge) in {r.image_path for r in people.records}
    people = COCOKeyPoints(data["ann"], data["images"], on_bad_record="skip")
    assert people.skipped == {"skipped (image over the pixel limit)": 1}
    assert str(huge) not in {r.image_path for r in people.records}
    with pytest.raises(SimplePoseError, match=r"more than the limit of 399,999,999"):
        COCOKeyPoints(data["ann"], data["images"], max_pixels=HUGE * HUGE - 1)


def test_evaluation_refuses_the_huge_image_in_one_line(data, huge, trained, capsys, decoded_sizes):
    status, err = run(eval_simple_pose.main, ["--params", trained, "--ann", str(data["ann"]), "--images",
                                              str(data["images"]), "-j", "0"], capsys)
    one_line_error(status, err, str(huge), f"{HUGE}x{HUGE}", "--max-image-pixels")
    assert (HUGE, HUGE) not in decoded_sizes


def test_a_negative_limit_is_refused_where_it_enters(data, trained, capsys):
    status, err = train(data, capsys, "--max-image-pixels", "-5")
    one_line_error(status, err, "--max-image-pixels -5")
    status, err = run(eval_simple_pose.main, ["--params", trained, "--ann", write(data), "--images",
                                              str(data["images"]), "--max-image-pixels", "-1"], capsys)
    one_line_error(status, err, "--max-image-pixels -1")


def test_predict_refuses_the_huge_photo_before_writing_anything(data, huge, exported_model, capsys, decoded_sizes):
    out = data["tmp"] / "out"
    status, err = run(predict_main, ["--model", str(exported_model), "--input", str(huge), "--out", str(out)], capsys)
    one_line_error(status, err, f"--input {huge}", f"{HUGE}x{HUGE}", "--max-image-pixels")
    assert not out.exists() and (HUGE, HUGE) not in decoded_sizes
    check_images([Input("image", str(huge))], HUGE * HUGE)   # a raised limit admits it (not decoded here)


def test_a_region_decode_checks_the_header_before_allocating_the_image(huge, decoded_sizes):
    data = huge.read_bytes()
    for call in (lambda: decode.decode_region_bgr(data, 1, (0, 0, 8, 8)), lambda: decode.decode_bgr(data, 2)):
        with pytest.raises(decode.ImageSizeError, match="400,000,000 pixels"):
            call()
    assert not decoded_sizes


# ---- degenerate images and paths that are no file ------------------------------------------------------

def test_a_0x0_png_has_no_pixels_in_training_and_predict(data, exported_model, capsys):
    img = person_image(data["doc"])
    img["file_name"] = "empty.png"
    (data["images"] / "empty.png").write_bytes(empty_png())
    write(data)
    status, err = train(data, capsys)
    last = one_line_error(status, err, str(data["images"] / "empty.png"), "has no pixels (0x0)", f"image {img['id']:g}")
    assert "outside" not in last
    status, err = run(predict_main, ["--model", str(exported_model), "--input", str(data["images"] / "empty.png"),
                                     "--out", str(data["tmp"] / "out")], capsys)
    one_line_error(status, err, "empty.png: has no pixels (0x0)")


@pytest.fixture
def alarm():
    """Fail (rather than hang the suite) should anything open a FIFO and wait for a writer."""
    def stuck(*_):
        raise AssertionError("blocked: a FIFO was opened")
    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def make_special(path, kind):
    """Put a FIFO, socket, broken link, link loop or directory at ``path``; returns what the error says it is."""
    if kind == "fifo":
        os.mkfifo(path)
        return "is a FIFO (named pipe)"
    if kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
        return "is a socket"
    if kind == "broken link":
        os.symlink(path.parent / "nowhere.jpg", path)
        return "is a broken symbolic link"
    if kind == "link loop":
        os.symlink(path.name, path)
        return "is a symbolic link loop"
    path.mkdir()
    return "is a directory"


@pytest.mark.usefixtures("alarm")
@pytest.mark.parametrize("kind", ["fifo", "socket", "broken link", "link loop", "directory"])
def test_an_image_path_that_is_no_file_says_what_it_is(data, exported_model, capsys, kind):
    img = person_image(data["doc"])
    path = data["images"] / img["file_name"]
    path.unlink()
    says = make_special(path, kind)
    write(data)
    status, err = train(data, capsys)
    last = one_line_error(status, err, str(path), says, f"image {img['id']:g}")
    assert "not found" not in last
    people = COCOKeyPoints(data["ann"], data["images"], on_bad_record="skip")
    assert sum(people.skipped.values()) == 1
    if kind != "directory":   # a folder given to predict is a folder of images
        status, err = run(predict_main, ["--model", str(exported_model), "--input", str(path), "--out",
                                         str(data["tmp"] / "out")], capsys)
        one_line_error(status, err, f"--input {path}", says)


# ---- file_name outside the image folder ----------------------------------------------------------------

@pytest.mark.parametrize("how", ["dotdot", "absolute"])
def test_a_file_name_leaving_the_image_folder_is_refused_unless_allowed(data, capsys, how):
    img = person_image(data["doc"])
    outside = data["tmp"] / "elsewhere"
    outside.mkdir()
    shutil.move(data["images"] / img["file_name"], outside / img["file_name"])
    name = f"../elsewhere/{img['file_name']}" if how == "dotdot" else str(outside / img["file_name"])
    img["file_name"] = name
    write(data)
    status, err = train(data, capsys)
    one_line_error(status, err, str(data["ann"]), f"image {img['id']:g} (images[", f"'file_name' {name!r}",
                   "outside the image folder", "--allow-outside-root")
    people = COCOKeyPoints(data["ann"], data["images"], allow_outside_root=True)
    assert os.path.realpath(outside / img["file_name"].split("/")[-1]) in \
        {os.path.realpath(r.image_path) for r in people.records}
    # The pack command reads the same way.
    pack = data["tmp"] / "pack"
    status, err = run(pack_command.main, ["--ann", str(data["ann"]), "--images", str(data["images"]),
                                          "--out", str(pack), "--input-size", "64,64"], capsys)
    one_line_error(status, err, "--allow-outside-root")
    assert run(pack_command.main, ["--ann", str(data["ann"]), "--images", str(data["images"]), "--out", str(pack),
                                   "--input-size", "64,64", "--allow-outside-root"], capsys)[0] == 0
    assert pack.with_suffix(".bin").stat().st_size > 0


def test_dotdot_that_stays_inside_and_links_inside_the_folder_are_read(data):
    """Judged on the name alone: 'sub/../x.jpg' stays inside; a symbolic link inside the folder is followed."""
    entries = [img for img in data["doc"]["images"]][:2]
    entries[0]["file_name"] = f"sub/../{entries[0]['file_name']}"
    shared = data["tmp"] / "shared"
    shared.mkdir()
    shutil.move(data["images"] / entries[1]["file_name"], shared / entries[1]["file_name"])
    os.symlink(shared / entries[1]["file_name"], data["images"] / entries[1]["file_name"])
    write(data)
    people = COCOKeyPoints(data["ann"], data["images"])
    assert not people.skipped
    assert {int(e["id"]) for e in entries} <= {r.image_id for r in people.records}
