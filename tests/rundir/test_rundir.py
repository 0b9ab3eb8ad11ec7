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
from simplepose.rundir.checkpoint import checkpoints_in, load_manifest, position, remove_checkpoint, save_checkpoint
from simplepose.errors import MissingFileError, SimplePoseError
from simplepose.export.command import main as export_main
from simplepose.rundir.directory import RunDirectory, find_resume
from tests.conftest import close_log_handlers, linked_copy

ROOT = Path(__file__).resolve().parents[2]
MODEL = "simple_pose_resnet18_v1b"
TINY = ["--model", MODEL, "--input-size", "64,64", "--batch-size", "16", "-j", "0", "--seed", "11",
        "--lr-decay-epoch", "20", "--log-interval", "1"]
DEADLINE = 240   # seconds any one training subprocess may take before a test gives up
CONFIG = {"model": "simple_pose_resnet18_v1b", "input_size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "sigma": 2.0}


pytestmark = pytest.mark.usefixtures("drop_log_handlers")


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
        return {"tag": self.tag}   # the JSON rest of the state, for the manifest


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
                assert failure == "ctrl-c" or re.fullmatch(
                    rf"{run}/(best(-epoch0002\.params|-epoch0002\.states|\.json): cannot write the checkpoint|"
                    rf"run-files\.json: cannot write the list of the run directory's files): no "
                    rf"space left on the device; free some space or write elsewhere; what {run} holds is intact: "
                    rf"--resume {run} once it is fixed", str(exc)), exc
            finally:
                monkeypatch.undo()
        assert best_of(run) in [(1, 0.25, "params 1", "states 1"), (2, 0.5, "params 2", "states 2")], outcomes
        with RunDirectory(run, "m").claim(position(load_manifest(run / "best.json"))):
            named = set(json.loads((run / "best.json").read_text())[k] for k in ("params", "states"))
            assert {p.name for p in run.iterdir()} == named | {"best.json", "run.lock", "run-files.json"}
        if outcomes[-1] == "done":
            break
    # Interrupted at each of the 4 renames (the journal in run-files.json, params, states, manifest) and the 2
    # removals of old files; an old file that cannot be removed does not fail the save (the journal names it:
    # the next start removes it).
    assert outcomes == ["replace 1", "replace 2", "replace 3", "replace 4", "unlink 5",
                        *(["unlink 6"] if failure == "ctrl-c" else []), "done"]


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
    assert names == ["m-epoch0002-batch00003.params", "m-epoch0002-batch00003-1.params",
                     "m-epoch0002-batch00003.params"]


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
    (lambda d: d["config"].update(input_size=[64]),
     r"best\.json: config: field 'input_size': has 1 values, expected 2"),
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
        RunDirectory(tmp_path, "m").claim(position(find_resume(tmp_path)))
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": "1"}\n')
    with pytest.raises(SimplePoseError, match=r"metrics\.jsonl: line 2: field 'epoch': is a string"):
        RunDirectory(tmp_path, "m").claim(position(find_resume(tmp_path)))
    assert not (tmp_path / "run.lock").exists()         # a refused claim leaves no lock behind


def test_start_removes_what_killed_writes_left_and_finishes_interrupted_moves(tmp_path):
    """What killed writes left is removed: simplepose's marked temporary files of an ended process and a
    journalled checkpoint file no manifest names; files that only look like ours stay."""
    for epoch in (1, 2):
        save_checkpoint(tmp_path / f"m-epoch000{epoch}", Fake(str(epoch)), Fake(str(epoch)), epoch, CONFIG, {})
    ended = subprocess.Popen(["true"])
    ended.wait()
    leftovers = [f".simplepose-tmp-{ended.pid}-metrics.jsonl.ab12.tmp", "m-epoch0003.params"]
    kept = ["notes.txt", "other.params", ".m-epoch0003.params.abc123.tmp", ".metrics.jsonl.x1.tmp",
            "best-epoch0002-1.states", "m-epoch0004.params"]   # no marker, no journal entry: a user's files stay
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    # A move into superseded/ killed after the manifest went, before its files followed.
    aside = tmp_path / "superseded" / "20250101-000000"
    aside.mkdir(parents=True)
    os.replace(tmp_path / "m-epoch0002.json", aside / "m-epoch0002.json")
    # The journal of a checkpoint killed after its .params was renamed into place, before its manifest.
    (tmp_path / "run-files.json").write_text(json.dumps({
        "format": "simplepose-run-files-1", "paths": ["superseded/20250101-000000"],
        "writing": ["m-epoch0003.params", "m-epoch0003.states"]}))
    with RunDirectory(tmp_path, "m").claim(position(find_resume(tmp_path))) as rundir:
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["m-epoch0001.json", "m-epoch0001.params", "m-epoch0001.states", "run.lock", "run-files.json",
             "superseded", *kept])
        assert rundir._notes == [f"removed 2 file(s) left by a killed run: {leftovers[1]}, {leftovers[0]}"]
    assert load_manifest(aside / "m-epoch0002.json")["epoch"] == 2     # whole again in superseded/
    assert json.loads((tmp_path / "run-files.json").read_text())["writing"] == []


def test_lock_refuses_a_second_run_naming_its_pid_and_takes_over_a_dead_ones(tmp_path):
    # The holder keeps the lock until it is killed (not for a while: a slow test would outlast it).
    holder = subprocess.Popen([sys.executable, "-c", "import signal, sys; sys.path.insert(0, sys.argv[1]); "
                               "from simplepose.rundir.directory import RunDirectory; RunDirectory(sys.argv[2], 'm').claim(); "
                               "print('locked', flush=True); signal.pause()", str(ROOT), str(tmp_path)],
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


# --- training through the command line ---------------------------------------------------------------------------

@pytest.fixture
def finished(finished_run):
    """The session's finished 3-epoch run directory (checkpoints 1, 2, 3 and best.json; tests/conftest.py);
    tests only read it."""
    return finished_run


def start_training(args, log_to, stop=None):
    """train_simple_pose.py as a separate process, its stderr to the file ``log_to``; with ``stop`` =
    (KIND, WHEN, ACTION, TRACE), through tests/kill_at.py: stopped, or paused, at that event of the run."""
    script = ["tests/kill_at.py", *map(str, stop), "--"] if stop else ["train_simple_pose.py"]
    with open(log_to, "w") as err:
        return subprocess.Popen([sys.executable, *script, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)


def paused(proc, stop):
    """Wait until ``proc``, started with ``stop`` = (KIND, WHEN, 'pause', TRACE), waits at its event for
    a signal: the line kill_at.py writes to TRACE, not a delay, says when."""
    kind, when, action, trace = stop
    assert action == "pause"
    wait_until(proc, lambda: Path(trace).exists() and f"{kind} {when} pause " in Path(trace).read_text(),
               f"the pause at {kind} {when}")


def last_line(text):
    lines = text.strip().splitlines()
    assert "Traceback" not in text, text[-3000:]
    return lines[-1]


def test_two_runs_fresh_runs_overwrite_and_sigterm_in_one_directory(synthetic, tmp_path, capsys):
    """A second run on a directory in use is refused naming the first's PID; SIGTERM checkpoints like
    Ctrl-C (status 143); a fresh run into the used directory is refused; --overwrite moves it aside."""
    save = tmp_path / "run"
    args = TINY + data_args(synthetic) + ["--num-epochs", "3", "--save-dir", str(save)]
    stop = ("epoch2-batch2", "after", "pause", tmp_path / "trace.txt")
    first = start_training(args, tmp_path / "first.err", stop)
    with stopping(first):
        paused(first, stop)   # holding the lock, inside batch 2 of epoch 2
        assert f'"pid": {first.pid}' in (save / "run.lock").read_text()
        second = subprocess.run([sys.executable, "train_simple_pose.py", *args], cwd=ROOT, capture_output=True,
                                text=True, timeout=DEADLINE)
        assert second.returncode == 2
        assert re.fullmatch(rf"error: {save}: another training run \(PID {first.pid} on [^)]+\) is writing this "
                            r"directory \(run\.lock\); wait for it to end or stop it, or choose another --save-dir",
                            last_line(second.stderr))
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=DEADLINE) == 143
    log = save / "train.log"
    assert last_line((tmp_path / "first.err").read_text()) == "error: interrupted"
    assert "another training run" not in log.read_text()       # the refused run wrote nothing here
    assert "SIGTERM: stopping after this batch and writing a checkpoint" in log.read_text()
    (stopped,) = save.glob("*-batch*.json")
    manifest = load_manifest(stopped)
    assert manifest["epoch"] == 1 and manifest["batch"] == 2 and manifest["interrupted"]

    before = sorted(p.name for p in save.iterdir())
    with pytest.raises(SimplePoseError, match=rf"^--save-dir {save}: holds the checkpoints of an earlier run "
                                              rf"\(latest {stopped.name}\); --resume {save} continues it, "
                                              r"--overwrite starts over"):
        train_simple_pose.main(args)
    assert sorted(p.name for p in save.iterdir()) == before      # refused before touching anything

    assert train_simple_pose.main(TINY + data_args(synthetic) + ["--num-epochs", "1", "--save-dir", str(save),
                                                                 "--overwrite"]) == 0
    (previous,) = save.glob("previous-*")
    assert sorted(p.name for p in previous.glob("*.json")) == sorted(
        ["best.json", "config.json", f"{MODEL}-epoch0001.json", stopped.name])
    assert load_manifest(previous / stopped.name)["batch"] == manifest["batch"]   # moved whole, still loadable
    assert load_manifest(previous)["epoch"] == 1 and (previous / "train.log").exists()
    assert [r["epoch"] for r in rows_of(previous)] == [0, 1] and [r["epoch"] for r in rows_of(save)] == [0, 1]
    assert "--overwrite: moved the earlier run (3 checkpoint(s), config.json, metrics.jsonl, tensorboard, train.log) " \
        "into" in (save / "train.log").read_text()
    assert json.loads((save / "config.json").read_text())["num_epochs"] == 1
    assert "config: {" not in capsys.readouterr().err     # the configuration is a file, not a log line


def test_resuming_an_older_checkpoint_then_ctrl_c_keeps_the_later_ones(finished, tmp_path):
    run = linked_copy(finished, tmp_path / "run")
    stop = ("epoch2-batch2", "after", "pause", tmp_path / "trace.txt")
    proc = start_training(["--resume", str(run / f"{MODEL}-epoch0001.json")], tmp_path / "err", stop)
    log = run / "train.log"
    with stopping(proc):
        paused(proc, stop)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=DEADLINE) == 130
    assert load_manifest(next(run.glob("*-batch*.json")))["batch"] == 2
    (aside,) = (run / "superseded").iterdir()
    assert sorted(p.name for p in aside.glob("*.json")) == [f"{MODEL}-epoch0002.json", f"{MODEL}-epoch0003.json"]
    for epoch in (2, 3):
        assert load_manifest(aside / f"{MODEL}-epoch000{epoch}.json")["epoch"] == epoch
    assert [r["epoch"] for r in rows_of(aside)] == [2, 3]
    assert [comparable(r) for r in rows_of(aside)] == [comparable(r) for r in rows_of(finished)[2:]]
    assert [r["epoch"] for r in rows_of(run)] == [0, 1]
    assert sorted(p.name for p in run.glob(f"{MODEL}-*.json")) == [
        f"{MODEL}-epoch0001.json", *(p.name for p in run.glob("*-batch*.json"))]
    assert load_manifest(run / "best.json")["epoch"] == load_manifest(finished / "best.json")["epoch"]
    assert "moved 2 checkpoint(s) and 2 metrics row(s) after epoch 1 (the position this run starts from)" in \
        log.read_text()


def test_eval_and_export_take_a_run_directory_from_anywhere(finished, tmp_path, monkeypatch, capsys):
    """--params RUN_DIR means its best checkpoint; the stored data paths work from another directory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = os.path.relpath(finished, elsewhere)
    best = load_manifest(finished / "best.json")
    assert eval_simple_pose.main(["--params", run, "-j", "0", "--metrics-json", "eval.json"]) == 0
    assert f"checkpoint {run}/best-epoch{best['epoch']:04d}.params (epoch {best['epoch']})" in capsys.readouterr().out
    assert json.loads(Path("eval.json").read_text())["AP"] == pytest.approx(best["metrics"]["val_ap"], abs=1e-9)
    assert export_main(["--params", run, "--out", "export", "--no-onnx"]) == 0
    deploy = json.loads(Path("export/deploy.json").read_text())
    assert (elsewhere / "export" / deploy["checkpoint"]).resolve() == Path(best["params"]).resolve()
    assert sorted(os.listdir(elsewhere)) == ["eval.json", "export"]   # no dataset generated here


def test_a_synthetic_run_evaluates_from_anywhere_without_regenerating_its_data(tmp_path, monkeypatch, capsys):
    """Relative --data-dir at training time; eval from another directory uses that set, at its size."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    monkeypatch.chdir(home)
    assert train_simple_pose.main(TINY + ["--dataset", "synthetic", "--data-dir", "small", "--num-epochs", "1",
                                          "--synthetic-train-images", "12", "--synthetic-val-images", "4",
                                          "--save-dir", "run"]) == 0
    written = {p: p.stat().st_mtime_ns for p in (home / "small").rglob("*")}
    monkeypatch.chdir(elsewhere)
    assert eval_simple_pose.main(["--params", str(home / "run"), "-j", "0", "--metrics-json", "eval.json"]) == 0
    assert f"on {home / 'small'}" in capsys.readouterr().out          # the training set, found by its stored path
    assert {p: p.stat().st_mtime_ns for p in (home / "small").rglob("*")} == written   # not regenerated
    assert os.listdir(elsewhere) == ["eval.json"]


@contextlib.contextmanager
def tmpfs(path, size):
    """A tmpfs of ``size`` mounted at ``path`` (the test is skipped where mounting is not permitted)."""
    path.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                         text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {res.stderr.strip()}")
    try:
        yield path
    finally:
        close_log_handlers()   # a log file on the tmpfs keeps it busy
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_keeps_the_best_and_the_run_resumes_once_there_is_room(small, tmp_path, capsys):
    from simplepose.cli import run_main
    args = TINY + data_args(small) + ["--num-epochs", "2", "--log-interval", "0"]
    with tmpfs(tmp_path / "tiny", "100m") as tiny:   # less than one checkpoint: refused before the first batch
        assert run_main(lambda: train_simple_pose.main(args + ["--save-dir", str(tiny / "run")])) == 2
        assert re.fullmatch(rf"error: --save-dir {tiny}/run: \d+ MB free, a checkpoint of {MODEL} takes about 18\d MB; "
                            "free space or choose another --save-dir", last_line(capsys.readouterr().err))
        assert not list((tiny / "run").glob("*.json"))
    # Room for one checkpoint and a half: the best of epoch 1 and its epoch checkpoint (which shares the best's
    # files), and half of epoch 2's checkpoint (epoch 2 is no better): the disk fills while writing the latter.
    with tmpfs(tmp_path / "disk", "300m") as disk:
        run = disk / "run"
        assert run_main(lambda: train_simple_pose.main(args + ["--save-dir", str(run)])) == 2
        line = last_line(capsys.readouterr().err)
        # The states file is MXNet's nd.save, whose short write carries no errno.
        assert re.fullmatch(rf"error: {run}/{MODEL}-epoch0002\.states: cannot write the checkpoint: the write was cut "
                            rf"short \(is the disk full\?\); free some space or write elsewhere; what {run} holds is "
                            rf"intact: --resume "
                            rf"{run} once it is fixed", line), line
        assert load_manifest(run / "best.json")["epoch"] == 1 and [r["epoch"] for r in rows_of(run)] == [0, 1, 2]
        assert sorted(p.name for p in run.iterdir()) == [
            "best-epoch0001.params", "best-epoch0001.states", "best.json", "config.json", "metrics.jsonl",
            "run-files.json", f"{MODEL}-epoch0001.json", f"{MODEL}-epoch0001.params", f"{MODEL}-epoch0001.states",
            "tensorboard", "train.log"]
        assert os.path.samefile(run / "best-epoch0001.params", run / f"{MODEL}-epoch0001.params")
        subprocess.run(["mount", "-o", "remount,size=800m", str(disk)], check=True)
        assert train_simple_pose.main(["--resume", str(run)]) == 0     # from epoch 1 (row 2 moves aside)
        assert [r["epoch"] for r in rows_of(run)] == [0, 1, 2] and load_manifest(run / f"{MODEL}-epoch0002.json")


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
# SIGKILLs where a process spends its time, between the file operations above (see tests/kill_at.py). They
# come while the series has epochs left to train (asserted), so each of these instants occurs.
INSTANTS = [
    ("loader", "after", "kill"),         # the start: lock, config.json, checkpoint loaded, the first sample made
    ("batch3", "after", "kill"),         # inside a batch: gradients computed, the update not made
    ("validation", "after", "kill"),     # in the middle of a validation
    ("tensorboard", "after", "kill"),    # inside the TensorBoard write of the validation pictures
]
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
    remove_checkpoint(base / "best.json")   # the series resumes epoch 4's checkpoint: 177 MB fewer during the test
    yield ["--resume", str(base / f"{MODEL}-epoch0004.json"), "--num-epochs", str(LAST), "--val-interval", "1",
           "--save-frequency", "1", "--log-interval", "1"]
    shutil.rmtree(base)   # a checkpoint (177 MB) of this test's own


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
    # The series' metrics.jsonl starts with the resumed 4-epoch run's rows (its history), as the reference's does.
    history = [comparable(r) for r in rows_of(series) if r["epoch"] <= BASE]
    assert history in ([], [comparable(reference[e]) for e in range(BASE + 1) if e in reference])
    rows = [r for r in rows_of(series) if r["epoch"] > BASE]
    assert [r["epoch"] for r in rows] == list(range(BASE + 1, BASE + 1 + len(rows))) and len(rows) <= done - BASE + 1
    assert [comparable(r) for r in rows] == [comparable(reference[r["epoch"]]) for r in rows]
    return (series / "best.json").exists()


def stopped_at(stop, args, log_to):
    """Train ``args`` in a separate process stopped at ``stop`` = (KIND, WHEN, ACTION, TRACE) (see
    tests/kill_at.py): it met its event and stopped as told."""
    kind, when, action, trace = stop
    proc = start_training(args, log_to, stop)
    with stopping(proc):
        status = proc.wait(timeout=DEADLINE)
    err = Path(log_to).read_text()
    assert status == STOP_STATUS[action], f"{kind} {when} {action}: {err[-3000:]}"
    assert trace.read_text().splitlines()[-1].startswith(f"{kind} {when} {action} "), trace.read_text()
    assert "Traceback" not in err, err[-3000:]


@pytest.mark.slow
def test_kills_at_any_instant_lose_no_best_and_resume_bit_exactly(improving, tmp_path):
    """SIGKILL (and double Ctrl-C / SIGTERM) at 21 chosen file operations (inside checkpoint and best
    saves, metrics writes, start-up clean-up and moves), a graceful SIGTERM inside an epoch, and SIGKILLs
    at the start, inside a batch, inside validation and inside a TensorBoard write, each followed by
    --resume: best.json always holds the best validation AP so far, and the series ends with the
    uninterrupted run's parameters, metrics and best, bit for bit. Every stop is triggered by an event
    the run reaches (tests/kill_at.py), never by a delay: the same stops on a fast or a loaded machine."""
    ref_dir, series, trace = tmp_path / "reference", tmp_path / "series", tmp_path / "trace.txt"
    tic = time.monotonic()
    # Uninterrupted, without epoch checkpoints: what it computes does not depend on them (the series writes
    # them), and they are 180 MB each.
    assert train_simple_pose.main(improving + ["--save-frequency", "0", "--save-dir", str(ref_dir)]) == 0
    reference = {r["epoch"]: r for r in rows_of(ref_dir)}
    assert sorted(reference) == list(range(LAST + 1))     # the base run's history, then this run's epochs
    aps = [reference[e]["val_ap"] for e in range(BASE + 1, LAST + 1)]
    # The model keeps improving: best.json is replaced again and again.
    assert sum(ap > max(aps[:i]) for i, ap in enumerate(aps) if i) >= 4, aps
    digest = re.compile(r"final parameters sha256 ([0-9a-f]{64})")
    digest_ref = digest.findall((ref_dir / "train.log").read_text())[-1]
    best_ref = load_manifest(ref_dir)
    best_ref_params = Path(best_ref["params"]).read_bytes()
    shutil.rmtree(ref_dir)   # what is compared is kept above
    seconds_ref = time.monotonic() - tic

    def command():
        return ["--resume", str(series)] if checkpoints_in(series) else improving + ["--save-dir", str(series)]

    had_best = False
    for kind, when, action in SCHEDULE:
        stopped_at((kind, when, action, trace), command(), tmp_path / "err")
        had_best = check_after_stop(series, reference, had_best)
    assert len(trace.read_text().splitlines()) == len(SCHEDULE)
    resumed_at = checkpoints_in(series)[-1][0]
    assert resumed_at[0] < LAST, f"the schedule left no epoch for the stops inside one: {resumed_at}"

    # SIGTERM, as a scheduler sends it, inside an epoch (the process waits after batch 2's gradients until
    # it comes): a checkpoint at that batch boundary, status 143.
    stop = ("batch2", "after", "pause", trace)
    proc = start_training(command(), tmp_path / "err", stop)
    with stopping(proc):
        paused(proc, stop)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE) == 143
    assert last_line((tmp_path / "err").read_text()) == "error: interrupted"
    stopped = [(pos, m) for pos, m in checkpoints_in(series) if pos[1]]
    assert len(stopped) == 1 and load_manifest(stopped[0][1])["interrupted"]
    assert stopped[0][0] == (resumed_at[0], resumed_at[1] + 2), (resumed_at, stopped)   # after this run's 2nd batch
    had_best = check_after_stop(series, reference, had_best)

    for kind, when, action in INSTANTS:
        stopped_at((kind, when, action, trace), command(), tmp_path / "err")
        had_best = check_after_stop(series, reference, had_best)

    res = subprocess.run([sys.executable, "train_simple_pose.py", *command()], cwd=ROOT, capture_output=True,
                         text=True, timeout=DEADLINE)
    assert res.returncode == 0, res.stderr[-3000:]
    assert digest.findall((series / "train.log").read_text())[-1] == digest_ref
    assert [comparable(r) for r in rows_of(series)] == [comparable(reference[e]) for e in sorted(reference)]
    best = load_manifest(series)
    assert (best["epoch"], comparable(best["metrics"])) == (best_ref["epoch"], comparable(best_ref["metrics"]))
    assert Path(best["params"]).read_bytes() == best_ref_params
    assert not list(series.rglob("*.tmp"))
    named = {n for _, m in checkpoints_in(series) for n in json.loads(m.read_text()).values() if isinstance(n, str)}
    assert {p.name for p in series.glob("*.params")} | {p.name for p in series.glob("*.states")} <= named
    moved = [json.loads(line)["epoch"] for f in series.glob("superseded/*/metrics.jsonl")
             for line in f.read_text().splitlines()]
    assert moved, "rows of epochs redone after a kill are kept in superseded/"
    size = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    shutil.rmtree(series)   # checked: its checkpoints (about 1 GB) go
    print(f"kill test: reference {seconds_ref:.0f} s, {len(SCHEDULE) + 1 + len(INSTANTS)} stops and the final "
          f"resume in {time.monotonic() - tic - seconds_ref:.0f} s, {size / 2**20:.0f} MB at the end (then "
          f"removed); rows moved aside: {moved}")


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
