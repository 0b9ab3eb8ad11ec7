"""Shared fixtures: the project root on sys.path, a small synthetic dataset per session, log clean-up."""
import logging
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
logging.getLogger("simplepose").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """Paths of a small built-in dataset: 40 train and 12 val images."""
    from simplepose.synthetic import generate
    return generate(tmp_path_factory.mktemp("synthetic"), num_train_images=40, num_val_images=12, seed=5)


@pytest.fixture(scope="session")
def trained(synthetic, tmp_path_factory):
    """Manifest path of a ResNet-18 trained for 3 epochs at 64x64 on ``synthetic`` (about 15 s)."""
    import train_simple_pose
    save = tmp_path_factory.mktemp("trained")
    assert train_simple_pose.main([
        "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "8", "-j", "0",
        "--log-interval", "0", "--num-epochs", "3", "--lr-decay-epoch", "3", "--flip-prob", "0",
        "--rotation-factor", "10", "--save-frequency", "0", "--save-dir", str(save), "--seed", "3",
        "--train-ann", synthetic["train_ann"], "--train-images", synthetic["train_images"],
        "--val-ann", synthetic["val_ann"], "--val-images", synthetic["val_images"]]) == 0
    return str(save / "simple_pose_resnet18_v1b-epoch0003.json")


@pytest.fixture(scope="session")
def exported_model(trained, tmp_path_factory):
    """Export directory of ``trained`` (MXNet symbol + ONNX + deploy.json), for the commands that take one."""
    from simplepose.export.command import export_checkpoint
    out = tmp_path_factory.mktemp("export")
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
