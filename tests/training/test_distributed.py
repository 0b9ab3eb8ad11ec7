"""Multi-machine training through MXNet's parameter server, run on loopback; the launcher."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from simplepose.rundir.checkpoint import load_manifest
from simplepose.data.samples import EpochSampler
from simplepose.model import get_pose_model, load_checkpoint_params
from simplepose.training.fit import parameter_digest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 240   # seconds: the launcher stops everything after this, the test waits a little longer


def test_sampler_shards_are_disjoint_equal_and_deterministic():
    parts = [EpochSampler(89, seed=3, num_parts=2, part_index=r) for r in range(2)]
    for epoch in (1, 2):
        shards = [p.indices(epoch) for p in parts]
        assert [len(s) for s in shards] == [44, 44]
        assert not set(shards[0]) & set(shards[1])
        whole = EpochSampler(89, seed=3).indices(epoch)
        np.testing.assert_array_equal(np.concatenate(shards), whole[:88])   # one shuffle, cut in two
        np.testing.assert_array_equal(shards[1], EpochSampler(89, seed=3, num_parts=2, part_index=1).indices(epoch))
    assert not np.array_equal(parts[0].indices(1), parts[0].indices(2))         # reshuffled every epoch
    parts[1].set_epoch(2, skip=8)
    assert [k for k, _ in parts[1]] == list(parts[1].indices(2)[8:]) and len(parts[1]) == 36


def launch(args, timeout=LIMIT):
    return subprocess.run([sys.executable, "-m", "simplepose.launch", "--timeout", str(timeout), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)


def test_launcher_forwards_a_failing_worker_and_stops_the_rest(tmp_path):
    res = launch(["-n", "2", "-s", "1", "--", sys.executable, "-c", "import sys; sys.exit(3)"])
    # Not 124: the launcher stopped the scheduler and server rather than wait for workers that never came
    # (they would wait until its --timeout).
    assert res.returncode == 3, res.stderr
    assert "a worker exited with status 3; stopping the others" in res.stderr and "timed out" not in res.stderr


def test_a_worker_killed_by_a_signal_gives_128_plus_the_signal():
    res = launch(["-n", "1", "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                 timeout=60)
    assert res.returncode == 137 and "a worker exited with status 137" in res.stderr, res.stderr


def test_a_missing_worker_command_is_one_line_before_anything_starts():
    # capture_output: run() returns only once every process holding the pipes has ended
    res = launch(["-n", "2", "--", "/no/such/cmd", "--kvstore", "dist_sync"], timeout=60)
    assert res.returncode == 2
    assert res.stderr.splitlines() == ["error: worker command '/no/such/cmd': not found or not executable; give the "
                                       "program after --, e.g. -- python train_simple_pose.py ..."]


def test_workers_that_never_join_leave_no_scheduler_or_server_behind():
    """``-n 1 -- true``: the scheduler and server wait for ever for a worker that never joins; the launcher
    stops them. The pipes of run() close only once every process holding them (all inherit them) has ended."""
    res = launch(["-n", "1", "-s", "2", "--", "true"], timeout=120)
    assert res.returncode == 0, res.stderr
    assert "the scheduler and servers did not leave with the workers" in res.stderr


@pytest.mark.parametrize("sig,status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_stopped_launcher_ends_all_it_started(sig, status):
    """SIGTERM (a cluster's stop) or Ctrl-C to the launcher: Ctrl-C to the workers, then everything it
    started has ended when it exits. A worker says when it runs, so the signal comes after, not after a sleep."""
    import signal
    # One write of the whole line: print() under PYTHONUNBUFFERED writes the number and the newline apart, and
    # the two workers' pieces then interleave on the shared pipe ("123" "456\n" "\n").
    worker = "import os, time; os.write(1, b'%d\\n' % os.getpid()); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-m", "simplepose.launch", "-n", "2", "--timeout", str(LIMIT), "--",
                             sys.executable, "-c", worker], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        pids = [int(proc.stdout.readline()) for _ in range(2)]
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=120)   # returns once no process holds the pipes any more
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert "interrupted: passing Ctrl-C to the workers" in err
    assert out == "" and not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]


def test_launcher_timeout_stops_everything():
    res = launch(["-n", "1", "-s", "1", "--", sys.executable, "-c", "import time; time.sleep(120)"], timeout=3)
    assert res.returncode == 124 and "timed out after 3 s" in res.stderr


def test_dist_kvstore_outside_a_job_is_a_one_line_error(synthetic, tmp_path):
    res = subprocess.run([sys.executable, "train_simple_pose.py", "--kvstore", "dist_sync", "--train-ann",
                          synthetic["train_ann"], "--train-images", synthetic["train_images"], "--save-dir",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if not k.startswith("DMLC_")})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(
        "error: --kvstore dist_sync: this process is not a worker of a parameter-server job")


@pytest.mark.slow
def test_two_workers_stopped_by_ctrl_c_after_the_same_batch_resume_to_identical_parameters(synthetic, tmp_path):
    """Two workers and a server: each worker trains on its own half of the data. Ctrl-C to the launcher: the
    workers agree (through the kvstore) on the batch to stop after, rank 0 writes the mid-epoch checkpoint,
    and the job resumes from it. The workers end with the same parameters, which rank 0's checkpoint holds;
    rank 0 alone writes the log, the metrics and the checkpoints."""
    import signal
    save, trace = tmp_path / "dist", tmp_path / "trace.txt"
    # Each worker waits inside batch 1 of epoch 2 (gradients computed, no update) until the Ctrl-C reaches it
    # (tests/kill_at.py): the stop does not depend on the machine's speed.
    train = [sys.executable, "tests/kill_at.py", "epoch2-batch1", "after", "pause", str(trace), "--",
             "--kvstore", "dist_sync", "--train-ann", synthetic["train_ann"],
             "--train-images", synthetic["train_images"], "--val-ann", synthetic["val_ann"],
             "--val-images", synthetic["val_images"], "--model", "simple_pose_resnet18_v1b", "--input-size",
             "64,64", "--batch-size", "8", "-j", "0", "--num-epochs", "2", "--log-interval", "1",
             "--save-dir", str(save)]
    tic = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "simplepose.launch", "--timeout", str(LIMIT), "-n", "2", "-s", "1",
                             "--", *train], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + LIMIT
        while not (trace.exists() and trace.read_text().count("epoch2-batch1 after pause ") == 2):
            assert proc.poll() is None and time.monotonic() < deadline, "training ended or stalled before epoch 2"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=LIMIT) == 130
        err = proc.stderr.read()
    finally:
        proc.kill()
        proc.stderr.close()
    # Each worker trained on its own half: 44 of the 89 people, 5 batches of 8 per epoch.
    for rank in (0, 1):
        assert f"5 batches of 8 per epoch, contexts [cpu(0)], worker {rank} of 2 (44 people each, kvstore " \
               "dist_sync)" in err, err[-3000:]
    assert err.count("error: interrupted") == 2, err[-3000:]            # both workers stopped themselves
    stopped = list(save.glob("*-batch*.json"))
    assert len(stopped) == 1, err[-3000:]
    manifest = load_manifest(stopped[0])
    assert manifest["epoch"] == 1 and manifest["batch"] == 1 and manifest["batch_size_total"] == 16
    res = launch(["-n", "2", "-s", "1", "--", sys.executable, "train_simple_pose.py", "--resume", str(save),
                  "-j", "0"])
    print(f"2 workers + 1 server, 2 epochs of 5 batches of 8 per worker, stopped in epoch 2 and resumed: "
          f"{time.monotonic() - tic:.1f} s")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"resumed from {stopped[0]} at epoch 1 (update {5 + manifest['batch']}" in res.stderr
    digests = re.findall(r"final parameters sha256 ([0-9a-f]{64})", res.stderr)
    assert len(digests) == 2 and digests[0] == digests[1], res.stderr[-3000:]
    # Rank 0 alone wrote the log file, the metrics and the checkpoints, and its checkpoint holds those parameters.
    log = (save / "train.log").read_text()
    assert "worker 0 of 2" in log and "worker 1 of 2" not in log
    assert [p.name for p in sorted(save.glob("*.json"))] == ["best.json", "config.json", "run-files.json",
                                                              "simple_pose_resnet18_v1b-epoch0001.json",
                                                              "simple_pose_resnet18_v1b-epoch0002.json"]
    net = get_pose_model("simple_pose_resnet18_v1b", 17)
    load_checkpoint_params(net, load_manifest(save / "simple_pose_resnet18_v1b-epoch0002.json")["params"], mx.cpu())
    assert parameter_digest(net) == digests[0]
    rows = (save / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3 and '"val_acc": null' not in rows[-1]      # rank 0 validated


def test_print_env_for_starting_roles_by_hand(capsys):
    from simplepose.launch import main
    assert main(["-n", "4", "-s", "2", "--host", "10.0.0.1", "--port", "9200", "--print-env", "--",
                 "python", "train_simple_pose.py", "--kvstore", "dist_sync"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["# scheduler", "# server", "# worker"]
    common = "DMLC_PS_ROOT_URI=10.0.0.1 DMLC_PS_ROOT_PORT=9200 DMLC_NUM_SERVER=2 DMLC_NUM_WORKER=4"
    assert all(common in line for line in lines)
    assert "DMLC_ROLE=server" in lines[1] and lines[1].endswith("python -c 'import mxnet'")
    assert "DMLC_ROLE=worker" in lines[2] and lines[2].endswith("python train_simple_pose.py --kvstore dist_sync")
