"""The harness of ``bench/hostile_inputs.py``: running a command as a user would, and judging what it did.

``Trial`` runs the commands of one case group (``python -m simplepose.X`` of this checkout, in its own session,
with a time limit, its own ``TMPDIR`` and a tag in its environment) and checks on each what no command may do:
a ``Traceback``, a doubled prefix, a process left running (found by its tag in /proc), a temporary file left.
``Ran`` is one finished command, ``Row`` one line of the table; ``one_line``, ``succeeded`` and ``unchanged``
are what a row expects; ``Fixtures``/``build_fixtures`` are the shared dataset, trained run, export and video;
``KILLER`` is the text of the process that SIGKILLs itself at a chosen file operation.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

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




def plant(folder: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write ``files`` (name -> bytes) into ``folder``; their SHA-256 digests by name (as ``tree`` gives them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}

