#!/usr/bin/env python
"""Issue 18's hostile inputs, re-run: every case under its "Why", through the real command lines, one row each.

Each case runs what a user would run: ``python -m simplepose.X`` (or its console script) of the checkout this
script lives in, as a subprocess in its own session with a time limit, on fixtures made in a temporary folder
that is removed at the end: a synthetic dataset (6 train, 4 val images), a ResNet-18 trained 1 epoch at 64x64
(``-j 0``), its export, an 8-frame video. A row: the case, the exit status, the expected outcome, the command's
last stderr line, PASS or FAIL (what failed, below it). Expected, from the issue's "What to build":

- ``2, one line``: exit status 2, exactly one ``error:`` line on stderr and it is the last, no ``Traceback``;
  where the case says, the line names the file or flag and says what is wrong (``nested``, ``FIFO``,
  ``--max-image-pixels``, ``--allow-outside-root``, control characters escaped);
- ``0, counted warning``: exit status 0, no ``error:`` line, a WARNING naming the file and a count, and a
  correct result (each image's own boxes, no dropped box's "person", keypoints inside the image);
- ``130, interrupted``: a SIGINT sent to the command's process group 0.05-0.3 s after it started (as Ctrl-C
  in a terminal), answered by exit status 130 and the one line ``error: interrupted`` at any instant;
- and where the case is about them: a user's files byte for byte (SHA-256 before and after), a failed start
  leaving its --save-dir exactly as it was, a hostile ``.states`` never run (its marker file absent), a killed
  export still loading and the next one removing only marked leftovers.

Every command is checked for what no command may do: a ``Traceback``, a doubled prefix (``config: config:``) in
any line it prints, a process left running (each command carries a tag in its environment, looked for in
/proc after it ends), a temporary file left (its ``TMPDIR`` must be empty after it, and no new
``.simplepose-tmp-*`` or ``*.tmp`` appears beside its outputs; kills on purpose excepted). Exit status 0 only
when every case is as expected. Takes about 2 minutes with ``--jobs 2`` on 2 cores (117-135 s at main, 64 cases,
on an idle machine, the fixtures 12-20 s of it; several times that on a loaded one), a little less once the fixes
refuse, before any training, the inputs main still trains on.

    .venv/bin/python bench/hostile_inputs.py                     # every case
    .venv/bin/python bench/hostile_inputs.py -k json -k launch   # the cases whose name contains one of these
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import pickle
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MODEL = "simple_pose_resnet18_v1b"
TIMEOUT = 300          # seconds for any one command (a training of the fixture's size takes about 25)
TAG = "SIMPLEPOSE_HOSTILE_TAG"
TINY = ["--model", MODEL, "--input-size", "64,64", "--num-epochs", "1", "-j", "0", "--batch-size", "4",
        "--log-interval", "0", "--no-tensorboard", "--seed", "0"]
TEMPORARY = re.compile(r"^\.simplepose-tmp-|^\.export-|\.tmp($|\.)")   # names a left temporary file can have
ONE_LINE, WARNED, OK, INTERRUPTED = "2, one line", "0, counted warning", "0", "130, error: interrupted"

# A process that SIGKILLs itself at a file operation (os.replace/rename/unlink/remove/rmdir, shutil.rmtree) on a
# path inside OUT, once K operations were made on a path ending in SUFFIX: at the next operation (MODE "after"),
# or at the next one on such a path (MODE "at"). argv: OUT SUFFIX K MODE MODULE ARGS...; each operation is
# appended to $HOSTILE_TRACE.
KILLER = r"""
import os, shutil, signal, sys
out, suffix, after, mode, module = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3]), *sys.argv[4:6]
touched = [0]
def hook(owner, name):
    real = getattr(owner, name)
    def call(*args, **kwargs):
        paths = [os.path.abspath(os.fsdecode(p)) for p in args[:2] if isinstance(p, (str, bytes, os.PathLike))]
        if any(p == out or p.startswith(out + os.sep) for p in paths):
            with open(os.environ["HOSTILE_TRACE"], "a") as f:
                f.write(name + " " + " ".join(paths) + "\n")
            on_suffix = any(p.endswith(suffix) for p in paths)
            if touched[0] >= after and (mode == "after" or on_suffix):
                os.kill(os.getpid(), signal.SIGKILL)
            touched[0] += on_suffix
        return real(*args, **kwargs)
    setattr(owner, name, call)
for name in ("replace", "rename", "unlink", "remove", "rmdir"):
    hook(os, name)
hook(shutil, "rmtree")
sys.argv = [module] + sys.argv[6:]
import runpy
runpy.run_module(module, run_name="__main__", alter_sys=True)   # as python -m MODULE runs it
"""


# ---- running commands ------------------------------------------------------------------------------------

@dataclass
class Ran:
    """One finished command: its exit status (None: killed at the time limit), stdout and stderr."""
    argv: list[str]
    status: int | None
    out: str
    err: str
    raw_err: bytes = b""
    killed: bool = False     # by the SIGKILL it was set up to send itself (KILLER)

    @property
    def last(self) -> str:
        lines = [line for line in self.err.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def tagged_processes(tag: str) -> list[int]:
    """PIDs of the live processes whose environment carries ``TAG=tag`` (what a command started, at any depth)."""
    needle = f"{TAG}={tag}".encode() + b"\0"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def doubled_prefix(line: str) -> bool:
    """``a: a: ...``: a part of a message repeated (``config: config:``)."""
    parts = [p.strip() for p in line.split(": ")]
    return any(a and a == b for a, b in zip(parts, parts[1:]))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> SHA-256; folders -> '/')."""
    return {p.relative_to(folder).as_posix(): "/" if p.is_dir() else sha256(p)
            for p in sorted(folder.rglob("*")) if not p.is_symlink() and (p.is_dir() or p.is_file())}


@dataclass
class Row:
    name: str
    expected: str
    status: int | None = None
    last: str = ""
    problems: list[str] = field(default_factory=list)


class Trial:
    """One case (or a group of cases that share their files): its folder, its tag, the commands it ran."""

    def __init__(self, work: Path, name: str):
        self.dir = work / re.sub(r"[^\w.-]+", "_", name)
        self.tmp = self.dir / "TMPDIR"
        self.tmp.mkdir(parents=True)
        self.tag = uuid.uuid4().hex
        self.rows: list[Row] = []

    def row(self, name: str, expected: str) -> Row:
        self.rows.append(Row(name, expected))
        return self.rows[-1]

    def env(self, first: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
        """The commands' environment: this checkout first on PYTHONPATH (after ``first``), its own TMPDIR, the tag."""
        path = [*first, str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "TMPDIR": str(self.tmp), TAG: self.tag,
                "HOSTILE_TRACE": str(self.dir / "trace.txt"), "PYTHONUNBUFFERED": "1", **extra}

    def start(self, argv: list[str], stdout=subprocess.PIPE, first: tuple[str, ...] = (),
              **extra: str) -> subprocess.Popen:
        return subprocess.Popen(argv, cwd=self.dir, env=self.env(first, **extra), stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)

    def finish(self, row: Row | None, proc: subprocess.Popen, argv: list[str], timeout: float = TIMEOUT,
               killed: bool = False, before: set[str] | None = None) -> Ran:
        """Wait for ``proc``; check what no command may do; the result goes into ``row`` (when given)."""
        problems = row.problems if row is not None else []
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:   # it, or a process it left holding its stdout/stderr
            timed_out = proc.poll() is None
            for pid in [proc.pid] * timed_out + tagged_processes(self.tag):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            out, err = proc.communicate()
            problems.append(f"no exit within {timeout:g} s (killed)" if timed_out else
                            f"exited, but its output stayed open {timeout:g} s (a process it started held it)")
        ran = Ran(argv, None if timed_out else proc.returncode, (out or b"").decode(errors="replace"),
                  err.decode(errors="replace"), err, killed=proc.returncode == -signal.SIGKILL and not timed_out)
        if "Traceback" in ran.err:
            frames = re.findall(r'File "([^"]+)", line (\d+)', ran.err.split("Traceback")[-1])
            ours = [f for f in frames if f[0].startswith(str(ROOT / "simplepose"))] or frames   # the package's
            problems.append("Traceback on stderr" + (f" (at {ours[-1][0]}:{ours[-1][1]})" if ours else ""))
        doubled = [line for line in (ran.out + ran.err).splitlines() if doubled_prefix(line)]
        if doubled:
            problems.append(f"doubled prefix: {doubled[0][:120]}")
        self.reap(problems)
        if not killed:
            left = sorted(p.name for p in self.tmp.iterdir())
            if left:
                problems.append(f"left in its TMPDIR: {', '.join(left[:4])}")
                for p in self.tmp.iterdir():
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            new = sorted(self.temporaries() - (before or set()))
            if new:
                problems.append(f"temporary files left: {', '.join(new[:4])}")
        if row is not None:
            row.status, row.last = ran.status, ran.last
        return ran

    def temporaries(self) -> set[str]:
        return {p.relative_to(self.dir).as_posix() for p in self.dir.rglob("*")
                if TEMPORARY.search(p.name) and self.tmp not in p.parents}

    def reap(self, problems: list[str]) -> None:
        """A process of this trial still running after its command ended (a grace of 3 s) is a problem; it is
        then killed (by its PID: every process found carries this trial's tag, so this script started it)."""
        deadline = time.monotonic() + 3
        while (alive := tagged_processes(self.tag)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive:
            problems.append(f"{len(alive)} process(es) left running")
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def run(self, row: Row | None, argv: list, timeout: float = TIMEOUT) -> Ran:
        argv = [str(a) for a in argv]
        before = self.temporaries()
        return self.finish(row, self.start(argv), argv, timeout, before=before)

    def sp(self, row: Row | None, module: str, *args, timeout: float = TIMEOUT) -> Ran:
        """``python -m simplepose.MODULE ARGS``."""
        return self.run(row, [PY, "-m", f"simplepose.{module}", *args], timeout)

    def killed_at(self, out: Path, suffix: str, after: int, mode: str, module: str, *args) -> Ran:
        """``module`` run until a file operation in ``out`` (see KILLER), where it SIGKILLs itself."""
        argv = [PY, "-c", KILLER, str(out), suffix, str(after), mode, module, *map(str, args)]
        return self.finish(None, self.start(argv), argv, killed=True)


def script(name: str, module: str) -> list[str]:
    """A console script of this environment (its shim), else ``python -m module``."""
    shim = Path(PY).parent / name
    return [str(shim)] if shim.exists() else [PY, "-m", module]


# ---- what a row expects ----------------------------------------------------------------------------------

def one_line(row: Row, ran: Ran, *parts: str, absent: tuple[str, ...] = ()) -> None:
    """Exit status 2, exactly one ``error:`` line and it is the last; ``parts`` in it (case-insensitive: a
    tuple is alternatives), none of ``absent``."""
    if ran.status != 2:
        row.problems.append(f"exit status {ran.status}, expected 2")
    if len(ran.errors) != 1:
        row.problems.append(f"{len(ran.errors)} 'error:' lines, expected 1")
    elif ran.last != ran.errors[0]:
        row.problems.append("the error line is not the last line")
    line = ran.errors[-1].lower() if ran.errors else None
    for part in parts if line is not None else ():
        options = part if isinstance(part, tuple) else (part,)
        if not any(o.lower() in line for o in options):
            row.problems.append(f"the line does not say {' or '.join(map(repr, options))}")
    for part in absent if line is not None else ():
        if part.lower() in line:
            row.problems.append(f"the line says {part!r}")


def succeeded(row: Row, ran: Ran, warning: tuple[str, ...] = ()) -> None:
    """Exit status 0, no ``error:`` line; with ``warning``: a WARNING line holding each of these and a number."""
    if ran.status != 0:
        row.problems.append(f"exit status {ran.status}, expected 0")
    if ran.errors:
        row.problems.append(f"{len(ran.errors)} 'error:' lines")
    if warning:
        lines = [line for line in ran.err.splitlines() if "WARNING" in line and re.search(r"\d+ \D", line)
                 and all(w in line for w in warning)]
        if not lines:
            row.problems.append(f"no counted WARNING naming {', '.join(warning)}")


def unchanged(row: Row, folder: Path, before: dict[str, str], what: str = "user's files") -> None:
    now = tree(folder)
    changed = sorted(name for name, digest in before.items() if now.get(name) != digest)
    if changed:
        row.problems.append(f"{what} changed or gone: {', '.join(changed[:4])}")


# ---- fixtures --------------------------------------------------------------------------------------------

@dataclass
class Fixtures:
    data: Path
    run: Path          # a trained run directory
    manifest: Path     # its epoch-1 checkpoint
    export: Path
    video: Path
    image: Path        # a validation image, 320x240
    ids: dict = field(default_factory=dict)

    def data_args(self) -> list[str]:
        d = self.data
        return ["--train-ann", d / "annotations/person_keypoints_train.json", "--train-images", d / "train",
                "--val-ann", d / "annotations/person_keypoints_val.json", "--val-images", d / "val"]

    def checkpoint_file(self, key: str) -> Path:
        """The checkpoint's ``params`` or ``states`` file, as its manifest names it (else PREFIX.KEY)."""
        name = json.loads(self.manifest.read_text()).get(key) or self.manifest.with_suffix(f".{key}").name
        return self.manifest.parent / Path(name).name


def build_fixtures(work: Path) -> Fixtures:
    trial = Trial(work, "fixtures")
    steps = [("synthetic", ["--out", work / "data", "--train-images", 6, "--val-images", 4]),
             ("train", [*TINY, "--save-dir", work / "run"]),
             ("export", ["--params", work / "run", "--out", work / "export"]),
             ("synthetic", ["--video", work / "clip.mp4", "--frames", 8, "--width", 320, "--height", 240,
                            "--people", 1])]
    fx = Fixtures(work / "data", work / "run", Path(), work / "export", work / "clip.mp4",
                  work / "data" / "val" / "000000000007.jpg")
    for module, args in steps:
        if module == "train":
            args = [*args, *fx.data_args()]
        ran = trial.sp(None, module, *args)
        if ran.status != 0:
            sys.exit(f"fixture: {' '.join(ran.argv)} failed (exit {ran.status}):\n{ran.err[-3000:]}")
    fx.manifest = next(p for p in sorted(fx.run.glob(f"{MODEL}-epoch0001*.json")))
    return fx


# ---- the cases -------------------------------------------------------------------------------------------

GROUPS: list[Callable[[Trial, Fixtures], None]] = []


def group(fn: Callable[[Trial, Fixtures], None]) -> Callable[[Trial, Fixtures], None]:
    GROUPS.append(fn)
    return fn


def plant(folder: Path, files: dict[str, bytes]) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


USER_FILES = {"x-epoch0001.params": b"the user's own epoch 1", ".x.tmp": b"hidden", "notes.txt": b"notes"}


@group
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


@group
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


@group
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


@group
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


@group
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


@group
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


@group
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


@group
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


@group
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


@group
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


@group
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


@group
def predict_kill(t: Trial, fx: Fixtures) -> None:
    """A predict on the video SIGKILLed at its first file operation in --out on a .mp4 (its video is written,
    not yet in place); the next predict cleans up."""
    out = t.dir / "out"
    user = plant(out, {"mine.tmp.mp4": b"the user's", ".clip.mp4.tmp": b"also the user's"})
    row = t.row("predict after a killed predict: its temporary files removed", OK)
    killed = t.killed_at(out, ".mp4", 0, "at", "simplepose.predict", "--model", fx.export, "--input", fx.video, "--out", out)
    if not killed.killed:
        row.problems.append(f"not killed (exit {killed.status}): no file operation on a .mp4 in --out"
                            + (f"; {killed.last[:80]}" if killed.status else ""))
    left = sorted(set(p.name for p in out.iterdir()) - set(user))
    succeeded(row, t.sp(row, "predict", "--model", fx.export, "--input", fx.video, "--out", out))
    unchanged(row, out, user)
    extra = sorted(set(p.name for p in out.iterdir()) - set(user) - {"clip.mp4", "clip.jsonl"})
    if extra:
        row.problems.append(f"left in --out: {', '.join(extra[:4])} (the kill left {', '.join(left) or 'nothing'})")


@group
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


# Imported by Python at the end of its own start-up (site.py) when its folder is first on PYTHONPATH: it makes the
# file $HOSTILE_STARTED, which tells the parent that the interpreter is up and the command's code begins.
STARTED_HOOK = """import os
if os.environ.get("HOSTILE_STARTED"):
    open(os.environ.pop("HOSTILE_STARTED"), "a").close()
"""


@group
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


# ---- the table -------------------------------------------------------------------------------------------

def run_group(fn: Callable[[Trial, Fixtures], None], work: Path, fx: Fixtures) -> list[Row]:
    trial = Trial(work, fn.__name__)
    try:
        fn(trial, fx)
    except Exception as exc:   # noqa: BLE001  (a fixture step of this script failed: that group's rows fail)
        trial.rows.append(Row(fn.__name__, "(setup)", problems=[f"{type(exc).__name__}: {exc}"]))
    finally:
        trial.reap([])
    return trial.rows


def table(rows: Iterator[list[Row]]) -> tuple[int, int]:
    passed = total = 0
    print(f"{'case':<62} {'exit':>4}  {'expected':<30} {'':4}  last stderr line")
    for group_rows in rows:
        for row in group_rows:
            total += 1
            passed += not row.problems
            last = row.last if len(row.last) <= 110 else row.last[:107] + "..."
            print(f"{row.name[:62]:<62} {str(row.status):>4}  {row.expected:<30} "
                  f"{'PASS' if not row.problems else 'FAIL':4}  {last}")
            for problem in row.problems:
                print(f"{'':>68}- {problem}")
        sys.stdout.flush()
    return passed, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], metavar="TEXT",
                        help="only the case groups whose name contains TEXT (repeatable): " +
                        ", ".join(fn.__name__ for fn in GROUPS))
    parser.add_argument("--jobs", type=int, default=2, help="case groups run at once (default: 2)")
    args = parser.parse_args(argv)
    chosen = [fn for fn in GROUPS if not args.k or any(k in fn.__name__ for k in args.k)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hostile-inputs-") as tmp:
        work = Path(tmp)
        print(f"checkout: {ROOT} (git {git_head()}); fixtures in {work}", flush=True)
        fx = build_fixtures(work)
        print(f"fixtures ready in {time.monotonic() - started:.0f} s", flush=True)
        order = sorted(chosen, key=lambda fn: fn not in (save_dir_starts, init_from_own_file, export_kills))
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {fn: pool.submit(run_group, fn, work, fx) for fn in order}
            passed, total = table(futures[fn].result() for fn in chosen)
    print(f"\n{passed}/{total} cases as expected in {time.monotonic() - started:.0f} s")
    print("rerun: .venv/bin/python bench/hostile_inputs.py" + "".join(f" -k {k}" for k in args.k))
    return 0 if passed == total else 1


def git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
