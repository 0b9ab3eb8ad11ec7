"""Case groups of ``bench/hostile_inputs.py`` about files: a --save-dir holding a user's files, --init-from a
user's file, a ``.states`` that would run code, out-of-range JSON numbers and nestings, hostile images and file
names, a checkpoint's stored config, killed exports and predictions, a moved or edited export.

Each group is a function ``(Trial, Fixtures) -> None`` that adds its rows to the trial (see hostile_harness).
"""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import struct
import zlib
from pathlib import Path
from typing import Callable, Iterator

from hostile_harness import (OK, ONE_LINE, TINY, Fixtures, Ran, Row, Trial, one_line, plant, script, succeeded,
                             tree, unchanged)

USER_FILES = {"x-epoch0001.params": b"the user's own epoch 1", ".x.tmp": b"hidden", "notes.txt": b"notes"}


def save_dir_starts(t: Trial, fx: Fixtures) -> None:
    """A fresh run, a failed start, --overwrite and --resume in a --save-dir holding a user's files."""
    u = t.dir / "u"
    user = plant(u, USER_FILES)
    train = [*TINY, *fx.data_args(), "--save-dir", u]
    row = t.row("save-dir: fresh run beside x-epoch0001.params, .x.tmp, notes.txt", OK)
    succeeded(row, t.sp(row, "train", *train))
    unchanged(row, u, user)
    plant(u, USER_FILES)   # each start is judged on its own: what an earlier one removed is put back
    row = t.row("save-dir: failed start (--init-from missing)", ONE_LINE)
    before = tree(u)
    one_line(row, t.sp(row, "train", *train, "--init-from", u / "nothere.params"), "nothere.params")
    unchanged(row, u, before, "the directory")
    if set(tree(u)) != set(before):
        row.problems.append(f"new in the directory: {', '.join(sorted(set(tree(u)) - set(before))[:4])}")
    plant(u, USER_FILES)
    row = t.row("save-dir: --overwrite", OK)
    succeeded(row, t.sp(row, "train", *train, "--overwrite"))
    unchanged(row, u, user)
    plant(u, USER_FILES)
    row = t.row("save-dir: --resume", OK)
    succeeded(row, t.sp(row, "train", "--resume", u, "--num-epochs", 2))
    unchanged(row, u, user)


def init_from_own_file(t: Trial, fx: Fixtures) -> None:
    """--save-dir u --init-from u/mymodel-epoch0100.params: the user's file (any bytes, then real weights)."""
    weights = fx.checkpoint_file("params").read_bytes()
    for what, data, expected in (("any bytes", b"not weights at all", ONE_LINE), ("weights", weights, OK)):
        u = t.dir / f"u-{what.replace(' ', '-')}"
        user = plant(u, {**USER_FILES, "mymodel-epoch0100.params": data})
        before = tree(u)
        row = t.row(f"save-dir u --init-from u/mymodel-epoch0100.params ({what})", expected)
        ran = t.sp(row, "train", *TINY, *fx.data_args(), "--save-dir", u, "--init-from",
                   u / "mymodel-epoch0100.params")
        unchanged(row, u, user)
        if expected == OK:
            succeeded(row, ran)
        else:
            one_line(row, ran, "mymodel-epoch0100.params", absent=("no such file", "not found"))
            if set(tree(u)) != set(before):
                row.problems.append("the failed start changed the directory")


class Evil:
    """A pickle that runs ``touch MARKER`` when it is loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_states(t: Trial, fx: Fixtures) -> None:
    ckpt, marker = t.dir / "shared", t.dir / "MARKER"
    ckpt.mkdir()
    shutil.copy(fx.manifest, ckpt)
    shutil.copy(fx.checkpoint_file("params"), ckpt)
    (ckpt / fx.checkpoint_file("states").name).write_bytes(pickle.dumps(Evil(marker), protocol=2))
    row = t.row("--resume of a checkpoint whose .states runs os.system", ONE_LINE)
    one_line(row, t.sp(row, "train", "--resume", ckpt / fx.manifest.name, "--num-epochs", 2,
                       "--save-dir", t.dir / "run"), ".states")
    if marker.exists():
        row.problems.append("the pickle ran (MARKER created)")


def coco(fx: Fixtures, split: str) -> dict:
    return json.loads((fx.data / f"annotations/person_keypoints_{split}.json").read_text())


def hostile_json(doc: dict, how: str) -> str:
    """The annotation file ``doc`` made hostile: a number or a nesting written as raw JSON text."""
    doc = json.loads(json.dumps(doc))
    ann, img = doc["annotations"][0], doc["images"][0]
    if how == "annotation id 2**70":
        ann["id"] = 2 ** 70
    elif how == "image id 2**70":
        for a in doc["annotations"]:
            a["image_id"] = 2 ** 70 if a["image_id"] == img["id"] else a["image_id"]
        img["id"] = 2 ** 70
    else:
        raw = {"area of 400 digits": "9" * 400, "area of 5,000 digits": "9" * 5000, "area 1e400": "1e400",
               "100,000 nested [": "[" * 100_000 + "]" * 100_000}[how]
        ann["area" if how.startswith("area") else "extra"] = "__HOSTILE__"
        return json.dumps(doc).replace('"__HOSTILE__"', raw, 1)
    return json.dumps(doc)


JSON_CASES = ("annotation id 2**70", "image id 2**70", "area of 400 digits", "area of 5,000 digits",
              "area 1e400", "100,000 nested [")


def json_numbers(t: Trial, fx: Fixtures) -> None:
    for how in JSON_CASES:
        for command in ("train", "eval"):
            split = "train" if command == "train" else "val"
            path = t.dir / f"{command}-{re.sub(r'[^0-9a-z]+', '-', how.lower())}.json"
            path.write_text(hostile_json(coco(fx, split), how))
            row = t.row(f"{command}: {how} in the annotation file", ONE_LINE)
            if command == "train":
                ran = t.sp(row, "train", *TINY, "--train-ann", path, "--train-images", fx.data / "train",
                           "--save-dir", path.with_suffix(""))
            else:
                ran = t.sp(row, "evaluate", "--params", fx.run, "--val-ann", path, "--val-images",
                           fx.data / "val", "-j", 0)
            says = [path.name] + (["nested"] if "nested" in how else [])
            one_line(row, ran, *says, absent=("not a text json",))


def huge_jpeg(data: bytes, side: int = 20000) -> bytes:
    """The JPEG ``data`` with its SOF0 frame header claiming ``side`` x ``side`` pixels."""
    out = bytearray(data)
    sof = out.index(b"\xff\xc0")
    out[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    return bytes(out)


def empty_png() -> bytes:
    """A PNG whose header says 0x0 pixels (CRCs right)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def image_files(t: Trial, fx: Fixtures) -> None:
    """Hostile images and file names in a training file (each its own copy of the 6 training images)."""
    doc = coco(fx, "train")
    person = next(a for a in doc["annotations"] if any(a["keypoints"][2::3]))
    entry = next(i for i in doc["images"] if i["id"] == person["image_id"])

    def variant(name: str, change: Callable[[Path, dict], object]) -> tuple[Path, Path, object]:
        folder = t.dir / name / "images"
        shutil.copytree(fx.data / "train", folder)
        d = json.loads(json.dumps(doc))
        said = change(folder, next(i for i in d["images"] if i["id"] == entry["id"]))
        (t.dir / name / "ann.json").write_text(json.dumps(d))
        return t.dir / name / "ann.json", folder, said

    def train(row: Row, ann: Path, folder: Path) -> Ran:   # a FIFO opened for reading would block: 120 s
        return t.sp(row, "train", *TINY, "--train-ann", ann, "--train-images", folder, "--save-dir",
                    ann.parent / "run", timeout=120)

    def huge(folder: Path, img: dict) -> None:
        (folder / img["file_name"]).write_bytes(huge_jpeg((folder / img["file_name"]).read_bytes()))

    def outside(how: str) -> Callable[[Path, dict], None]:
        def change(folder: Path, img: dict) -> None:
            moved = folder.parent / "elsewhere.jpg"
            shutil.move(folder / img["file_name"], moved)
            img["file_name"] = "../elsewhere.jpg" if how == "dotdot" else str(moved)
        return change

    def zero(folder: Path, img: dict) -> None:
        (folder / "empty.png").write_bytes(empty_png())
        img["file_name"] = "empty.png"

    def fifo(folder: Path, img: dict) -> None:
        (folder / img["file_name"]).unlink()
        os.mkfifo(folder / img["file_name"])

    def control(folder: Path, img: dict) -> None:
        img["file_name"] = "evil\x1b[2J\x07.jpg"

    cases = [("a JPEG whose header claims 20000x20000", huge, ("--max-image-pixels",), ()),
             ("file_name ../elsewhere.jpg", outside("dotdot"), ("--allow-outside-root",), ()),
             ("file_name an absolute path", outside("absolute"), ("--allow-outside-root",), ()),
             ("a 0x0 PNG", zero, ("empty.png",), ("outside",)),
             ("a FIFO as an image", fifo, (("fifo", "named pipe"),), ("not found",)),
             ("control characters in file_name", control, ("\\x1b",), ())]
    for name, change, parts, absent in cases:
        ann, folder, _ = variant(re.sub(r"[^0-9a-z]+", "-", name.lower()), change)
        row = t.row(f"train: {name}", ONE_LINE)
        ran = train(row, ann, folder)
        one_line(row, ran, *parts, absent=absent)
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", ran.raw_err.decode(errors="replace").replace("\r", "")):
            row.problems.append("a raw control character on stderr")
        if name.startswith("file_name an absolute"):
            row = t.row("pack --allow-outside-root: the same file admitted", OK)
            succeeded(row, t.run(row, [*script("simplepose-pack", "simplepose.data.pack"), "--ann", ann,
                                       "--images", folder, "--out", ann.parent / "pack", "--input-size", "64,64",
                                       "--allow-outside-root"]))
    fifo_ann = t.dir / "fifo.json"
    os.mkfifo(fifo_ann)
    row = t.row("train: a FIFO as the annotation file", ONE_LINE)
    one_line(row, t.sp(row, "train", *TINY, "--train-ann", fifo_ann, "--train-images", fx.data / "train",
                       "--save-dir", t.dir / "run", timeout=120), ("fifo", "named pipe"), absent=("not found",))


def stored_config(t: Trial, fx: Fixtures) -> None:
    """A checkpoint whose stored config holds a bad choice: the file, 'config' once, the field."""
    manifest = json.loads(fx.manifest.read_text())
    manifest["config"]["codec"] = "zzz"
    (t.dir / fx.manifest.name).write_text(json.dumps(manifest))
    (t.dir / fx.checkpoint_file("params").name).symlink_to(fx.checkpoint_file("params"))
    row = t.row("eval: a checkpoint's stored config with codec 'zzz'", ONE_LINE)
    one_line(row, t.sp(row, "evaluate", "--params", t.dir / fx.manifest.name, "--val-ann",
                       fx.data / "annotations/person_keypoints_val.json", "--val-images", fx.data / "val"),
             "codec")


def export_files(folder: Path) -> set[str]:
    """deploy.json and the files it names for use (any string or key naming a file of ``folder``, but under
    ``unused``: the files an interrupted export leaves to be removed)."""
    def strings(value) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                if key != "unused":
                    yield key
                    yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
    doc = json.loads((folder / "deploy.json").read_text())
    return {"deploy.json", *(s for s in strings(doc) if "/" not in s and s and (folder / s).is_file())}


def export_kills(t: Trial, fx: Fixtures) -> None:
    """A re-export SIGKILLed at its first file operation after the old deploy.json changed (once, twice)."""
    exp = t.dir / "exp"
    shutil.copytree(fx.export, exp)
    user = plant(exp, {".export-mine.txt": b"the user's", "notes.tmp": b"notes", "mine.onnx": b"my model"})
    args = ["--params", fx.run, "--out", exp, "--name", "again"]   # new names: the old files are to go
    for after in (1, 2):
        row = t.row(f"export killed after deploy.json's change {after}: loads", OK)
        killed = t.killed_at(exp, "deploy.json", after, "after", "simplepose.export", *args)
        if not killed.killed and killed.status == 0:   # no file operation after that instant: the export is whole
            row.name += " (no operation after it: not killed)"
        elif not killed.killed:
            row.problems.append(f"the export to kill failed first (exit {killed.status}): {killed.last[:80]}")
        succeeded(row, t.sp(row, "predict", "--model", exp, "--input", fx.image, "--out", t.dir / f"p{after}"))
        unchanged(row, exp, user)
    row = t.row("the next export: killed exports' leftovers removed, user's kept", OK)
    succeeded(row, t.sp(row, "export", *args))
    unchanged(row, exp, user)
    extra = sorted(set(p.name for p in exp.iterdir()) - export_files(exp) - set(user))
    if extra:
        row.problems.append(f"left in the export folder: {', '.join(extra[:4])}")
    marked = [p.name for p in t.dir.iterdir() if p.name.startswith((".simplepose-tmp-", ".export-"))]
    if marked:
        row.problems.append(f"left beside it: {', '.join(marked)}")


def predict_kill(t: Trial, fx: Fixtures) -> None:
    """A predict on the video SIGKILLed at its first file operation in --out on a .mp4 (its video is written,
    not yet in place); the next predict cleans up."""
    out = t.dir / "out"
    user = plant(out, {"mine.tmp.mp4": b"the user's", ".clip.mp4.tmp": b"also the user's"})
    row = t.row("predict after a killed predict: its temporary files removed", OK)
    killed = t.killed_at(out, ".mp4", 0, "at", "simplepose.predict", "--model", fx.export, "--input", fx.video,
                         "--out", out)
    if not killed.killed:
        row.problems.append(f"not killed (exit {killed.status}): no file operation on a .mp4 in --out"
                            + (f"; {killed.last[:80]}" if killed.status else ""))
    left = sorted(set(p.name for p in out.iterdir()) - set(user))
    succeeded(row, t.sp(row, "predict", "--model", fx.export, "--input", fx.video, "--out", out))
    unchanged(row, out, user)
    extra = sorted(set(p.name for p in out.iterdir()) - set(user) - {"clip.mp4", "clip.jsonl"})
    if extra:
        row.problems.append(f"left in --out: {', '.join(extra[:4])} (the kill left {', '.join(left) or 'nothing'})")


def moved_export(t: Trial, fx: Fixtures) -> None:
    shutil.copytree(fx.export, t.dir / "a")
    (t.dir / "elsewhere").mkdir()
    moved = t.dir / "elsewhere" / "b"
    os.rename(t.dir / "a", moved)
    row = t.row("a moved export loads", OK)
    succeeded(row, t.sp(row, "predict", "--model", moved, "--input", fx.image, "--out", t.dir / "p1"))
    doc = json.loads((moved / "deploy.json").read_text())
    doc["mean"] = [0.5, 0.5, 0.5]
    (moved / "deploy.json").write_text(json.dumps(doc, indent=1))
    row = t.row("a moved export whose deploy.json was edited", ONE_LINE)
    one_line(row, t.sp(row, "predict", "--model", moved, "--input", fx.image, "--out", t.dir / "p2"),
             "deploy.json")


