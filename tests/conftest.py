"""Shared fixtures: the project root on sys.path, a small synthetic dataset, a trained checkpoint and a finished
run per session, log clean-up; a passing test's temporary directory removed when it ends."""
import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
logging.getLogger("simplepose").setLevel(logging.INFO)
# pytest.ini's tmp_path_retention_policy = failed removes a passing test's tmp_path when it ends, and the whole
# base folder after a run with no failure. The folders of the session's fixtures that hold checkpoints go as soon
# as their scope ends too (a checkpoint is 180 MB): the run's peak stays small. `pytest -o
# tmp_path_retention_policy=all` keeps everything.


def removed_at_end(request, path: Path) -> Path:
    """``path``, removed when the scope of the fixture ``request`` ends unless a test has failed by then (or the
    retention policy keeps all)."""
    def remove() -> None:
        if request.config.getini("tmp_path_retention_policy") == "failed" and not request.session.testsfailed:
            shutil.rmtree(path, ignore_errors=True)
    request.addfinalizer(remove)
    return path


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """Paths of a small built-in dataset: 40 train and 12 val images."""
    from simplepose.synthetic import generate
    return generate(tmp_path_factory.mktemp("synthetic"), num_train_images=40, num_val_images=12, seed=5)


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    """Paths of a smaller built-in dataset: 8 train and 4 val images, for trainings that only need to run."""
    from simplepose.synthetic import generate
    return generate(tmp_path_factory.mktemp("small"), num_train_images=8, num_val_images=4, seed=5)


@pytest.fixture(scope="session")
def trained(synthetic, tmp_path_factory, request):
    """Manifest path of a ResNet-18 trained for 3 epochs at 64x64 on ``synthetic`` (about 15 s)."""
    import train_simple_pose
    save = removed_at_end(request, tmp_path_factory.mktemp("trained"))
    assert train_simple_pose.main([
        "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "8", "-j", "0",
        "--log-interval", "0", "--num-epochs", "3", "--lr-decay-epoch", "3", "--flip-prob", "0",
        "--rotation-factor", "10", "--save-frequency", "0", "--save-dir", str(save), "--seed", "3",
        "--train-ann", synthetic["train_ann"], "--train-images", synthetic["train_images"],
        "--val-ann", synthetic["val_ann"], "--val-images", synthetic["val_images"]]) == 0
    return str(save / "simple_pose_resnet18_v1b-epoch0003.json")


# The flags of ``finished_run``, and of the runs that must reproduce it when interrupted and resumed (tests add
# the data flags, -j, and --save-dir): ResNet-18 at 64x64, 3 epochs of 5 batches of 16, the learning rate divided
# by 10 after epoch 2, a checkpoint after every epoch.
RUN_FLAGS = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "16",
             "--lr-decay-epoch", "2", "--seed", "11", "--num-epochs", "3", "--log-interval", "1"]


def data_flags(paths: dict) -> list[str]:
    """The four data flags of a dataset made by ``simplepose.synthetic.generate``."""
    return ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]


@pytest.fixture(scope="session")
def finished_run(synthetic, tmp_path_factory, request):
    """The run directory of an uninterrupted run of RUN_FLAGS on ``synthetic`` (in-process, -j 0): checkpoints
    of epochs 1, 2 and 3, best.json, metrics.jsonl. The parameters and metrics every interrupted and resumed
    run of these flags must reach, bit for bit. Tests only read it (copy it to change it)."""
    import train_simple_pose
    save = removed_at_end(request, tmp_path_factory.mktemp("finished")) / "run"
    assert train_simple_pose.main(RUN_FLAGS + data_flags(synthetic) + ["-j", "0", "--save-dir", str(save)]) == 0
    close_log_handlers()
    return save


def linked_copy(src: Path, dest: Path) -> Path:
    """A copy of the run directory ``src`` whose checkpoint files (.params, .states: 180 MB a checkpoint) are hard
    links. A run writes those only as new files renamed into place, never in place, so ``src`` stays intact."""
    def copy(a: str, b: str) -> None:
        (os.link if a.endswith((".params", ".states")) else shutil.copy2)(a, b)
    shutil.copytree(src, dest, copy_function=copy)
    return dest


@pytest.fixture(scope="session")
def exported_model(trained, tmp_path_factory, request):
    """Export directory of ``trained`` (MXNet symbol + ONNX + deploy.json), for the commands that take one."""
    from simplepose.export.command import export_checkpoint
    out = removed_at_end(request, tmp_path_factory.mktemp("export"))
    export_checkpoint(trained, out)
    return out


def close_log_handlers() -> None:
    """Close and remove the root logger's handlers. A command run in-process logs to the stream of the
    test that ran it (and to its log file): later tests must not write there, nor keep the file open."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        handler.close()
        root.removeHandler(handler)


@pytest.fixture
def drop_log_handlers():
    """Use with ``pytest.mark.usefixtures`` in tests that run command lines in-process."""
    yield
    close_log_handlers()

