"""Case groups of ``bench/hostile_inputs.py`` about commands: out-of-range flags, simplepose-launch's pipe,
predict on an undecodable video and on unusable boxes, two cameras' images of the same name, Ctrl-C while a
command starts.

Each group is a function ``(Trial, Fixtures) -> None`` that adds its rows to the trial (see hostile_harness).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hostile_harness import (INTERRUPTED, MODEL, OK, ONE_LINE, PY, TINY, WARNED, Fixtures, Row, Trial, one_line,
                             script, succeeded)

def flags(t: Trial, fx: Fixtures) -> None:
    plain = t.dir / "weights.params"
    shutil.copy(fx.checkpoint_file("params"), plain)
    pack = [*script("simplepose-pack", "simplepose.data.pack"), "--ann",
            fx.data / "annotations/person_keypoints_val.json", "--images", fx.data / "val", "--out", t.dir / "pk"]
    predict = [PY, "-m", "simplepose.predict", "--model", fx.export, "--input", fx.image, "--out", t.dir / "p"]
    export = [PY, "-m", "simplepose.export", "--params", plain, "--model", MODEL, "--input-size", "64,64",
              "--out", t.dir / "e"]
    synthetic = script("simplepose-synthetic", "simplepose.synthetic")
    launch = script("simplepose-launch", "simplepose.launch")
    cases = [
        ("simplepose-synthetic --seed -1", [*synthetic, "--out", t.dir / "s", "--seed", "-1"], "--seed"),
        ("simplepose-synthetic --width 100000 --height 100000",
         [*synthetic, "--out", t.dir / "s", "--width", 100000, "--height", 100000], "--width"),
        ("simplepose-plot RUN --samples -1",
         [*script("simplepose-plot", "simplepose.plot"), fx.run, "--samples", "-1", "--out", t.dir / "pl"],
         "--samples"),
        ("simplepose-launch --port -1", [*launch, "--port", "-1", "-n", 1, "--", "true"], "--port"),
        ("simplepose-launch --port 70000", [*launch, "--port", 70000, "-n", 1, "--", "true"], "--port"),
        ("simplepose-launch -- /no/such/cmd", [*launch, "-n", 1, "--", "/no/such/cmd"], "/no/such/cmd"),
        ("train --mean nan,0,0", [PY, "-m", "simplepose.train", *TINY, *fx.data_args(), "--save-dir",
                                  t.dir / "r", "--mean", "nan,0,0"], "--mean"),
        ("train --std 0,0,0", [PY, "-m", "simplepose.train", *TINY, *fx.data_args(), "--save-dir",
                               t.dir / "r", "--std", "0,0,0"], "--std"),
        ("export --mean nan,0,0", [*export, "--mean", "nan,0,0"], "--mean"),
        ("export --std 0,0,0", [*export, "--std", "0,0,0"], "--std"),
        ("eval --box-thresh nan", [PY, "-m", "simplepose.evaluate", "--params", fx.run, "--val-ann",
                                   fx.data / "annotations/person_keypoints_val.json", "--val-images",
                                   fx.data / "val", "-j", 0, "--box-thresh", "nan"], "--box-thresh"),
        ("predict --det-thresh nan", [*predict, "--detector", "hog", "--det-thresh", "nan"], "--det-thresh"),
        ("predict --kpt-thresh 5", [*predict, "--kpt-thresh", 5], "--kpt-thresh"),
        ("pack --quality 0", [*pack, "--quality", 0], "--quality"),
        ("pack --quality 101", [*pack, "--quality", 101], "--quality"),
    ]
    for name, argv, flag in cases:
        row = t.row(name, ONE_LINE)
        one_line(row, t.run(row, argv), flag)
        wrote = [out for out in ("s", "pl", "r", "e", "p", "pk.bin", "pk.npz") if (t.dir / out).exists()]
        if wrote:   # each refused before any work
            row.problems.append(f"wrote {', '.join(wrote)}")


def launch_pipe(t: Trial, fx: Fixtures) -> None:
    """simplepose-launch -n 1 -- true | tail: the pipe closes (nothing holds it), exit 0, nothing left."""
    row = t.row("simplepose-launch -n 1 -- true | tail", OK)
    argv = [*script("simplepose-launch", "simplepose.launch"), "-n", "1", "--", "true"]
    launch = t.start(argv)
    tail = subprocess.Popen(["tail"], stdin=launch.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    launch.stdout.close()
    try:
        tail.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        row.problems.append("'| tail' did not return within 60 s: something still holds the pipe")
        tail.kill()
    launch.stdout = None
    succeeded(row, t.finish(row, launch, argv, timeout=10))


def mp4_garbage(src: Path, dst: Path) -> None:
    """``src`` with every byte of its media data (the frames) random: the container opens, no frame decodes."""
    data = bytearray(src.read_bytes())
    at = data.index(b"mdat")
    end = at - 4 + int.from_bytes(data[at - 4:at], "big")
    data[at + 4:end] = random.Random(0).randbytes(end - at - 4)
    dst.write_bytes(bytes(data))


def people(out: Path) -> dict[str, list[dict]]:
    """Predict's per-image JSON files in ``out``: the image's path -> its people."""
    found = {}
    for path in out.glob("*.json"):
        doc = json.loads(path.read_text())
        found[str(doc.get("image"))] = doc.get("people", [])
    return found


def inside(row: Row, found: list[dict], width: int, height: int) -> None:
    for person in found:
        for x, y, *_ in person.get("keypoints", []):
            if not (0 <= x <= width and 0 <= y <= height):
                row.problems.append(f"a keypoint at ({x:.4g}, {y:.4g}), outside the {width}x{height} image")
                return


def predict_boxes(t: Trial, fx: Fixtures) -> None:
    bad = t.dir / "undecodable.mp4"
    mp4_garbage(fx.video, bad)
    row = t.row("predict: a video none of whose frames decodes", ONE_LINE)
    one_line(row, t.sp(row, "predict", "--model", fx.export, "--input", bad, "--out", t.dir / "v"), bad.name)
    if (t.dir / "v").exists() and any((t.dir / "v").iterdir()):
        row.problems.append(f"wrote {', '.join(p.name for p in (t.dir / 'v').iterdir())}")
    good = [100.0, 40.0, 80.0, 160.0]   # its crop (1.25 x, square) lies inside the 320x240 image
    for name, box in (("a box entirely outside the image", [5000.0, 5000.0, 50.0, 100.0]),
                      ("a box of size 1e30", [0.0, 0.0, 1e30, 1e30])):
        dets = t.dir / f"dets-{len(t.rows)}.json"
        dets.write_text(json.dumps([{"image_id": 7, "category_id": 1, "bbox": b, "score": 0.9}
                                    for b in (good, box)]))
        out = t.dir / f"o{len(t.rows)}"
        row = t.row(f"predict --boxes: {name}", WARNED)
        succeeded(row, t.sp(row, "predict", "--model", fx.export, "--input", fx.image, "--boxes", dets,
                            "--out", out), warning=(dets.name,))
        found = [p for ps in people(out).values() for p in ps]
        if [p.get("box") for p in found] != [good]:
            row.problems.append(f"people's boxes {[p.get('box') for p in found]}, expected only {good}")
        inside(row, found, 320, 240)
    dets = t.dir / "elsewhere.json"
    dets.write_text(json.dumps([{"image_id": 999, "category_id": 1, "bbox": good, "score": 0.9}]))
    row = t.row("predict --boxes: detections on image ids matching nothing", f"{ONE_LINE} or {WARNED}")
    ran = t.sp(row, "predict", "--model", fx.export, "--input", fx.image, "--boxes", dets, "--out", t.dir / "n")
    if ran.status == 2:
        one_line(row, ran, dets.name)
    else:
        succeeded(row, ran, warning=(dets.name,))


def two_cameras(t: Trial, fx: Fixtures) -> None:
    """cam1/000000000017.jpg and cam2/000000000017.jpg, each with its own boxes."""
    boxes = {"cam1": [[20.0, 10.0, 60.0, 120.0]], "cam2": [[5.0, 8.0, 50.0, 110.0], [70.0, 15.0, 55.0, 100.0]]}
    images, annotations, dets = [], [], []
    for n, (cam, own) in enumerate(boxes.items()):
        (t.dir / cam).mkdir()
        shutil.copy(fx.data / "val" / f"00000000000{7 + n}.jpg", t.dir / cam / "000000000017.jpg")
        images.append({"id": 101 * (n + 1), "file_name": f"{cam}/000000000017.jpg", "width": 320, "height": 240})
        for box in own:
            annotations.append({"id": len(annotations) + 1, "image_id": 101 * (n + 1), "category_id": 1,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0, "num_keypoints": 0,
                                "keypoints": [0] * 51})
            dets.append({"image_id": 101 * (n + 1), "category_id": 1, "bbox": box, "score": 0.9})
    ann, det = t.dir / "ann.json", t.dir / "dets.json"
    ann.write_text(json.dumps({"images": images, "annotations": annotations,
                               "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}]}))
    det.write_text(json.dumps(dets))
    for name, source in (("--boxes dets.json --ann ann.json", ["--boxes", det, "--ann", ann]),
                         ("--boxes ann.json", ["--boxes", ann])):
        out = t.dir / f"out{len(t.rows)}"
        row = t.row(f"predict {name}: cam1/ and cam2/000000000017.jpg", OK)
        succeeded(row, t.sp(row, "predict", "--model", fx.export, "--input", t.dir / "cam1", "--input",
                            t.dir / "cam2", *source, "--out", out))
        found = people(out)
        for cam, own in boxes.items():
            got = [p.get("box") for p in found.get(str(t.dir / cam / "000000000017.jpg"), [])]
            if got != own:
                row.problems.append(f"{cam} got boxes {got}, expected {own}")


# file $HOSTILE_STARTED, which tells the parent that the interpreter is up and the command's code begins.
STARTED_HOOK = """import os
if os.environ.get("HOSTILE_STARTED"):
    open(os.environ.pop("HOSTILE_STARTED"), "a").close()
"""


def interrupts(t: Trial, fx: Fixtures) -> None:
    """SIGINT to the command's process group (Ctrl-C in a terminal) at a chosen instant after the interpreter's
    start-up. Counted from there, not from the Popen: a SIGINT inside CPython's own site.py comes before any
    code of the command (a traceback there no command can prevent)."""
    hook = t.dir / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STARTED_HOOK)
    commands = [("train", 0.05, ["simplepose.train", *TINY, *fx.data_args(), "--save-dir", t.dir / "r1"]),
                ("train", 0.15, ["simplepose.train", *TINY, *fx.data_args(), "--save-dir", t.dir / "r2"]),
                ("train", 0.3, ["simplepose.train", *TINY, *fx.data_args(), "--save-dir", t.dir / "r3"]),
                ("eval", 0.3, ["simplepose.evaluate", "--params", fx.run, "--val-ann",
                               fx.data / "annotations/person_keypoints_val.json", "--val-images", fx.data / "val"]),
                ("export", 0.15, ["simplepose.export", "--params", fx.run, "--out", t.dir / "e"]),
                ("predict", 0.15, ["simplepose.predict", "--model", fx.export, "--input", fx.video, "--out",
                                   t.dir / "p"]),
                ("synthetic", 0.05, ["simplepose.synthetic", "--out", t.dir / "s", "--train-images", 50]),
                ("launch", 0.15, ["simplepose.launch", "-n", 1, "--", "sleep", 30])]
    started = t.dir / "started"
    for name, delay, args in commands:
        # The launcher passes Ctrl-C to its workers and ends with their status (docs/guide/distributed.rst):
        # its one line is its own warning, "interrupted: passing Ctrl-C to the workers".
        launcher = name == "launch"
        row = t.row(f"Ctrl-C {delay:g} s into {name}", "130, a line 'interrupted'" if launcher else INTERRUPTED)
        argv = [PY, "-m", *map(str, args)]
        before = t.temporaries()
        started.unlink(missing_ok=True)
        proc = t.start(argv, first=(str(hook),), HOSTILE_STARTED=str(started))
        deadline = time.monotonic() + 60
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        ran = t.finish(row, proc, argv, timeout=30, before=before)
        if ran.status not in (130, -signal.SIGINT):   # -SIGINT: 130 in a shell (an exit by the default action)
            row.problems.append(f"exit status {ran.status}, expected 130")
        if launcher:
            if ran.errors or "interrupted" not in ran.last:
                row.problems.append(f"error lines {ran.errors[:2]}; last line {ran.last[:80]!r}")
        elif ran.errors != ["error: interrupted"] or ran.last != "error: interrupted":
            row.problems.append(f"stderr's error lines {ran.errors[:2]}, expected only 'error: interrupted', last")

