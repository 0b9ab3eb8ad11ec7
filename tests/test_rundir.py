"""The run directory: lock, refusals, best without a window, superseded/, clean-up, SIGTERM, kills."""
import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import pytest

import eval_simple_pose
import train_simple_pose
from simplepose.checkpoint import checkpoints_in, load_manifest, save_checkpoint
from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.export import main as export_main
from simplepose.rundir import RunDirectory, find_resume

ROOT = Path(__file__).resolve().parents[1]
MODEL = "simple_pose_resnet18_v1b"
TINY = ["--model", MODEL, "--input-size", "64,64", "--batch-size", "16", "-j", "0", "--seed", "11",
        "--lr-decay-epoch", "20", "--log-interval", "1"]
DEADLINE = 240   # seconds any one training subprocess may take before a test gives up
CONFIG = {"model": "m", "input_size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "sigma": 2.0}


@pytest.fixture(autouse=True)
def _drop_log_handlers():
    """The command lines log to the stream of the test that ran them; do not let later tests write there."""
    import logging
    yield
    logging.getLogger().handlers.clear()


def data_args(paths):
    return ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]


class Fake:
    """Stands in for a network and its trainer: writes ``tag`` as parameters and as states."""

    def __init__(self, tag: str):
        self.tag = tag

    def save_parameters(self, path):
        Path(path).write_text(f"params {self.tag}")

    def save_states(self, path):
        Path(path).write_text(f"states {self.tag}")


def save_best(rundir, epoch, ap):
    return rundir.save(Fake(str(epoch)), Fake(str(epoch)), epoch, CONFIG, {}, {"metrics": {"val_ap": ap}}, best=True)


def best_of(run_dir):
    doc = load_manifest(Path(run_dir) / "best.json")
    return doc["epoch"], doc["metrics"]["val_ap"], Path(doc["params"]).read_text(), Path(doc["states"]).read_text()


# --- fast: the run directory object alone ------------------------------------------------------------------------

@pytest.mark.parametrize("failure", ["ctrl-c", "full disk"])
def test_replacing_the_best_leaves_no_window(tmp_path, monkeypatch, failure):
    """A second Ctrl-C or a full disk at each file operation of a best replacement in turn: best.json
    always loads, with the old epoch's files or the new one's, and the next start leaves no stray file."""
    real = {"replace": os.replace, "unlink": os.unlink}
    outcomes = []
    for n in range(1, 20):
        run = tmp_path / f"run{n}"
        with RunDirectory(run, "m").claim() as rundir:
            save_best(rundir, 1, 0.25)
            calls = []

            def failing(op):
                def call(*args):
                    calls.append(op)
                    if len(calls) == n:
                        outcomes.append(f"{op} {n}")
                        raise KeyboardInterrupt if failure == "ctrl-c" else OSError(errno.ENOSPC, "No space left")
                    return real[op](*args)
                return call
            monkeypatch.setattr(os, "replace", failing("replace"))
            monkeypatch.setattr(os, "unlink", failing("unlink"))
            try:
                save_best(rundir, 2, 0.5)
                outcomes.append("done")
            except (KeyboardInterrupt, SimplePoseError) as exc:
                assert failure == "ctrl-c" or re.fullmatch(r".*: cannot write the checkpoint \(No space left\); "
                                                            r"what .* holds is intact: .*--resume .*", str(exc))
            finally:
                monkeypatch.undo()
        assert best_of(run) in [(1, 0.25, "params 1", "states 1"), (2, 0.5, "params 2", "states 2")], outcomes
        with RunDirectory(run, "m").claim(load_manifest(run / "best.json")):
            named = set(json.loads((run / "best.json").read_text())[k] for k in ("params", "states"))
            assert {p.name for p in run.iterdir()} == named | {"best.json", "run.lock"}
        if outcomes[-1] == "done":
            break
    # Interrupted at each of the 3 renames (params, states, manifest) and the 2 removals of old files.
    assert outcomes == ["replace 1", "replace 2", "replace 3", "unlink 4", "unlink 5", "done"]


def test_rewriting_a_checkpoint_under_its_own_name_switches_files(tmp_path):
    """The same name twice (a resumed run stopped again at the same batch): the new files take other
    names, the manifest switches, the old files go; the first name comes back the time after."""
    prefix = tmp_path / "m-epoch0002-batch00003"
    names = []
    for tag in ("a", "b", "c"):
        doc = load_manifest(save_checkpoint(prefix, Fake(tag), Fake(tag), 1, CONFIG, {}, {"batch": 3}))
        names.append(Path(doc["params"]).name)
        assert Path(doc["params"]).read_text() == f"params {tag}"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [prefix.name + ".json", Path(doc["params"]).name, Path(doc["states"]).name])
    assert names == ["m-epoch0002-batch00003.params", "m-epoch0002-batch00003-1.params", "m-epoch0002-batch00003.params"]


def test_a_checkpoint_is_found_by_any_of_its_names_and_a_run_directory_by_its_best(tmp_path):
    run = tmp_path / "run"
    rundir = RunDirectory(run, "m").claim()
    with pytest.raises(MissingFileError, match=r"run: no checkpoint to resume from in this directory"):
        find_resume(run)
    rundir.save(Fake("1"), Fake("1"), 1, CONFIG, {}, {"metrics": {"val_ap": 0.1}})
    assert load_manifest(run)["epoch"] == 1                                            # no best yet: the latest
    save_best(rundir, 2, 0.3)
    rundir.save(Fake("3"), Fake("3"), 3, CONFIG, {}, {"metrics": {"val_ap": 0.2}})
    rundir.release()
    assert load_manifest(run)["params"] == str(run / "best-epoch0002.params")         # eval, export: the best
    assert load_manifest(run / "best-epoch0002.params")["epoch"] == 2                  # named by best.json
    assert load_manifest(run / "best.params")["epoch"] == 2                            # the name before the change
    assert find_resume(run)["manifest"] == str(run / "m-epoch0003.json")               # resume: the latest


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("format"), r"best\.json: field 'format': is None, expected 'simplepose-checkpoint-1'"),
    (lambda d: d.update(epoch="1"), r"best\.json: field 'epoch': is a string, expected an integer"),
    (lambda d: d.pop("params"), r"best\.json: field 'params': is missing"),
    (lambda d: d["config"].update(input_size=[64]), r"best\.json: config: field 'input_size': has 1 values, expected 2"),
    (lambda d: d.update(states="gone.states"), r"gone\.states: file of checkpoint .*best\.json is missing "
                                               r"\(field 'states'\)"),
])
def test_a_bad_manifest_is_one_line_naming_the_file_and_field(tmp_path, change, message):
    manifest = save_checkpoint(tmp_path / "best", Fake("1"), Fake("1"), 1, CONFIG, {})
    doc = json.loads(manifest.read_text())
    change(doc)
    manifest.write_text(json.dumps(doc))
    with pytest.raises(SimplePoseError, match=message) as info:
        load_manifest(tmp_path)
    assert "\n" not in str(info.value)


def test_a_bad_metrics_line_fails_at_the_start(tmp_path):
    save_checkpoint(tmp_path / "m-epoch0001", Fake("1"), Fake("1"), 1, CONFIG, {})
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": 1, "val_ap": 0.\n')
    with pytest.raises(SimplePoseError, match=r"metrics\.jsonl line 2: metrics file is not valid JSON"):
        RunDirectory(tmp_path, "m").claim(find_resume(tmp_path))
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": "1"}\n')
    with pytest.raises(SimplePoseError, match=r"metrics\.jsonl: line 2: field 'epoch': is a string"):
        RunDirectory(tmp_path, "m").claim(find_resume(tmp_path))
    assert not (tmp_path / "run.lock").exists()         # a refused claim leaves no lock behind


def test_start_removes_what_killed_writes_left_and_finishes_interrupted_moves(tmp_path):
    for epoch in (1, 2):
        save_checkpoint(tmp_path / f"m-epoch000{epoch}", Fake(str(epoch)), Fake(str(epoch)), epoch, CONFIG, {})
    leftovers = [".m-epoch0003.params.abc123.tmp", ".metrics.jsonl.x1.tmp", "m-epoch0003.params",
                 "best-epoch0002-1.states"]
    kept = ["notes.txt", "other.params"]   # not names this code writes: a user's files stay
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    # A move into superseded/ killed after the manifest went, before its files followed.
    aside = tmp_path / "superseded" / "20250101-000000"
    aside.mkdir(parents=True)
    os.replace(tmp_path / "m-epoch0002.json", aside / "m-epoch0002.json")
    with RunDirectory(tmp_path, "m").claim(find_resume(tmp_path)):
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["m-epoch0001.json", "m-epoch0001.params", "m-epoch0001.states", "run.lock", "superseded", *kept])
    assert load_manifest(aside / "m-epoch0002.json")["epoch"] == 2     # whole again in superseded/


def test_lock_refuses_a_second_run_naming_its_pid_and_takes_over_a_dead_ones(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
                               "from simplepose.rundir import RunDirectory; RunDirectory(sys.argv[2], 'm').claim(); "
                               "print('locked', flush=True); time.sleep(60)", str(ROOT), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(SimplePoseError, match=rf"^{tmp_path}: another training run \(PID {holder.pid} on .*\) "
                                                  r"is writing this directory \(run\.lock\); wait"):
            RunDirectory(tmp_path, "m").claim()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # Killed holding it: the file still names it, the kernel has dropped the lock.
    assert json.loads((tmp_path / "run.lock").read_text())["pid"] == holder.pid
    rundir = RunDirectory(tmp_path, "m").claim()
    assert rundir._notes == [f"{tmp_path}/run.lock: took over the lock of PID {holder.pid} on "
                             f"{json.loads((tmp_path / 'run.lock').read_text())['host']}, which ended without "
                             "releasing it"]
    with pytest.raises(SimplePoseError, match=rf"another training run \(PID {os.getpid()} "):
        RunDirectory(tmp_path, "m").claim()         # this process holds it already
    rundir.release()
    assert not (tmp_path / "run.lock").exists()


# --- the kill test -----------------------------------------------------------------------------------------------

BASE, LAST = 4, 14   # the kill series continues a 4-epoch checkpoint to epoch 14
# (kind, when, action) of each stop, in order; see tests/kill_at.py. The first eleven stop inside epoch 5
# (there is no best yet, so it is the first best); the others each let the series advance.
SCHEDULE = [
    ("config", "before", "kill"),            # leaves a temporary config.json ...
    ("leftover", "after", "kill"),           # ... removed by the next start, killed right after that
    ("metrics", "after", "kill"),            # epoch 5's row written, no checkpoint of it ...
    ("superseded", "before", "kill"),        # ... so the next start moves that row aside: killed doing so
    ("superseded", "after", "kill"),
    ("best-params", "before", "kill"),       # the first best.json
    ("best-params", "after", "kill"),
    ("best-states", "before", "kill"),
    ("best-states", "after", "kill"),
    ("best-manifest", "before", "int2"),     # a second Ctrl-C just before the switch
    ("best-manifest", "before", "kill"),
    ("best-manifest", "after", "kill"),      # best.json exists from here on; resumed from it
    ("old-best-params", "before", "kill"),   # a later best replaces it: killed between switch and removals
    ("old-best-params", "after", "term2"),   # two SIGTERMs
    ("old-best-states", "after", "kill"),
    ("ckpt-params", "before", "kill"),
    ("ckpt-params", "after", "kill"),
    ("ckpt-states", "before", "kill"),
    ("ckpt-states", "after", "kill"),
    ("ckpt-manifest", "before", "kill"),
    ("ckpt-manifest", "after", "kill"),
]
TIMED = (2.5, 5.0, 7.5)   # seconds after the start: SIGKILL wherever the process is
STOP_STATUS = {"kill": -signal.SIGKILL, "int2": 130, "term2": 143}


def comparable(row):
    """A metrics row without its timings."""
    return {k: v for k, v in row.items() if k not in ("seconds", "samples_per_sec")}


def rows_of(run_dir):
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def improving(synthetic, tmp_path_factory):
    """A 4-epoch checkpoint validated on its own training people without augmentation: from there the
    validation AP rises at most epochs, so best.json is replaced often. Returns the continuation flags."""
    base = tmp_path_factory.mktemp("base")
    train = ["--train-ann", synthetic["train_ann"], "--train-images", synthetic["train_images"]]
    val = ["--val-ann", synthetic["train_ann"], "--val-images", synthetic["train_images"]]
    assert train_simple_pose.main(TINY + train + val + [
        "--lr", "0.002", "--flip-prob", "0", "--rotation-factor", "0", "--scale-factor", "0", "--num-epochs", "4",
        "--save-frequency", "0", "--val-interval", "4", "--log-interval", "0", "--save-dir", str(base)]) == 0
    return ["--resume", str(base / f"{MODEL}-epoch0004.json"), "--num-epochs", str(LAST), "--val-interval", "1",
            "--save-frequency", "1", "--log-interval", "1"]


def check_after_stop(series, reference, had_best):
    """What any stop must leave: loadable checkpoints, best.json holding the best AP of the epochs a
    checkpoint holds (once one exists), metrics rows equal to the uninterrupted run's. Returns whether
    best.json exists."""
    found = checkpoints_in(series)
    for _, manifest in found:
        load_manifest(manifest)
    done = found[-1][0][0] if found else BASE
    if had_best or found:
        doc = load_manifest(series / "best.json")
        mx.nd.load(doc["params"])   # whole
        aps = {e: reference[e]["val_ap"] for e in range(BASE + 1, done + 1)}
        top = max(aps.values())
        assert (doc["epoch"], doc["metrics"]["val_ap"]) == (min(e for e in aps if aps[e] == top), top), aps
    rows = rows_of(series)
    assert [r["epoch"] for r in rows] == list(range(BASE + 1, BASE + 1 + len(rows))) and len(rows) <= done - BASE + 1
    assert [comparable(r) for r in rows] == [comparable(reference[r["epoch"]]) for r in rows]
    return (series / "best.json").exists()


@pytest.mark.slow
def test_kills_at_any_instant_lose_no_best_and_resume_bit_exactly(improving, tmp_path):
    """SIGKILL (and double Ctrl-C / SIGTERM) at 21 chosen file operations (inside checkpoint and best
    saves, metrics writes, start-up clean-up and moves), a graceful SIGTERM and three SIGKILLs at
    arbitrary times, each followed by --resume: best.json always holds the best validation AP so far,
    and the series ends with the uninterrupted run's parameters, metrics and best, bit for bit."""
    ref_dir, series, trace = tmp_path / "reference", tmp_path / "series", tmp_path / "trace.txt"
    tic = time.monotonic()
    assert train_simple_pose.main(improving + ["--save-dir", str(ref_dir)]) == 0
    reference = {r["epoch"]: r for r in rows_of(ref_dir)}
    assert sorted(reference) == list(range(BASE + 1, LAST + 1))
    aps = [reference[e]["val_ap"] for e in sorted(reference)]
    # The model keeps improving: best.json is replaced again and again.
    assert sum(ap > max(aps[:i]) for i, ap in enumerate(aps) if i) >= 4, aps
    seconds_ref = time.monotonic() - tic

    def command():
        return ["--resume", str(series)] if checkpoints_in(series) else improving + ["--save-dir", str(series)]

    had_best = False
    for number, (kind, when, action) in enumerate(SCHEDULE, start=1):
        res = subprocess.run([sys.executable, "tests/kill_at.py", kind, when, action, str(trace), "--", *command()],
                             cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE)
        assert res.returncode == STOP_STATUS[action], f"stop {number} {kind} {when}: {res.stderr[-3000:]}"
        assert trace.read_text().splitlines()[-1].startswith(f"{kind} {when} {action} "), trace.read_text()
        assert "Traceback" not in res.stderr
        had_best = check_after_stop(series, reference, had_best)
    assert len(trace.read_text().splitlines()) == len(SCHEDULE)

    # SIGTERM, as a scheduler sends it, inside an epoch: a checkpoint at the next batch boundary, status 143.
    log = series / "train.log"
    start = log.stat().st_size
    proc = subprocess.Popen([sys.executable, "train_simple_pose.py", *command()], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with stopping(proc):
        wait_until(proc, lambda: re.search(r"Epoch\[\d+\] Batch\[2\]", log.read_text()[start:]), "batch 2")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE) == 143
    stopped = [m for pos, m in checkpoints_in(series) if pos[1]]
    assert len(stopped) == 1 and load_manifest(stopped[0])["interrupted"]
    had_best = check_after_stop(series, reference, had_best)

    for delay in TIMED:
        proc = subprocess.Popen([sys.executable, "train_simple_pose.py", *command()], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with stopping(proc):
            time.sleep(delay)
            assert proc.poll() is None, "the series ended before its timed kills"
        assert proc.wait() == -signal.SIGKILL
        had_best = check_after_stop(series, reference, had_best)

    res = subprocess.run([sys.executable, "train_simple_pose.py", *command()], cwd=ROOT, capture_output=True,
                         text=True, timeout=DEADLINE)
    assert res.returncode == 0, res.stderr[-3000:]
    digest = re.compile(r"final parameters sha256 ([0-9a-f]{64})")
    assert digest.findall(log.read_text())[-1] == digest.findall((ref_dir / "train.log").read_text())[-1]
    assert [comparable(r) for r in rows_of(series)] == [comparable(reference[e]) for e in sorted(reference)]
    best, best_ref = load_manifest(series), load_manifest(ref_dir)
    assert (best["epoch"], comparable(best["metrics"])) == (best_ref["epoch"], comparable(best_ref["metrics"]))
    assert Path(best["params"]).read_bytes() == Path(best_ref["params"]).read_bytes()
    assert not list(series.rglob("*.tmp"))
    named = {n for _, m in checkpoints_in(series) for n in json.loads(m.read_text()).values() if isinstance(n, str)}
    assert {p.name for p in series.glob("*.params")} | {p.name for p in series.glob("*.states")} <= named
    moved = [json.loads(line)["epoch"] for f in series.glob("superseded/*/metrics.jsonl")
             for line in f.read_text().splitlines()]
    assert moved, "rows of epochs redone after a kill are kept in superseded/"
    print(f"kill test: reference {seconds_ref:.0f} s, {len(SCHEDULE) + 1 + len(TIMED)} stops and the final "
          f"resume in {time.monotonic() - tic - seconds_ref:.0f} s; rows moved aside: {moved}")


@contextlib.contextmanager
def stopping(proc):
    """SIGKILL ``proc`` on the way out, whatever happened."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_until(proc, condition, what):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert proc.poll() is None, f"training ended (status {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"
        time.sleep(0.05)
