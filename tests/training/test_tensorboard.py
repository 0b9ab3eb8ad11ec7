"""TensorBoard event files of a training run, read back; metrics.jsonl rows with the same keys."""
import json
import struct
from collections import defaultdict
from pathlib import Path

import pytest
import train_simple_pose
from tensorboardX.proto.event_pb2 import Event

from tests.conftest import close_log_handlers, linked_copy, removed_at_end

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "16", "-j", "0",
        "--lr-decay-epoch", "2", "--seed", "7", "--save-frequency", "1"]


def data_args(paths):
    return ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]


def read_events(run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[int]]]:
    """Scalars {tag: [(step, value)]} and images {tag: [step]} of every event file under run_dir/tensorboard,
    read as TensorBoard reads them: TFRecords (length, CRC, Event protobuf, CRC); a later purge hides later steps."""
    scalars, images = defaultdict(list), defaultdict(list)
    for path in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            if event.HasField("session_log") and event.session_log.status == event.session_log.START:
                for series in (*scalars.values(), *images.values()):   # tensorboardX's purge marker
                    series[:] = [p for p in series if (p[0] if isinstance(p, tuple) else p) < event.step]
            for value in event.summary.value:
                if value.HasField("image"):
                    images[value.tag].append(event.step)
                else:
                    scalars[value.tag].append((event.step, value.simple_value))
    return scalars, images


@pytest.fixture(scope="module")
def two_epochs(synthetic, tmp_path_factory, request):
    """A 2-epoch run logging every batch, with a checkpoint after each epoch; tests read it or copy it."""
    save = removed_at_end(request, tmp_path_factory.mktemp("tensorboard")) / "run"
    assert train_simple_pose.main(TINY + data_args(synthetic) + ["--num-epochs", "2", "--log-interval", "1",
                                                                  "--save-dir", str(save)]) == 0
    close_log_handlers()
    return save


def test_events_hold_loss_lr_validation_and_pictures(two_epochs):
    save = two_epochs
    rows = [json.loads(line) for line in (save / "metrics.jsonl").read_text().splitlines()]
    assert [set(r) for r in rows] == [set(rows[0])] * 3 and "nan_skipped" in rows[0]
    scalars, images = read_events(save)
    batches = sorted(step for step, _ in scalars["train/loss"])
    per_epoch = len(batches) // 2
    assert per_epoch >= 2 and batches == list(range(1, 2 * per_epoch + 1))     # every logged batch, global steps
    assert sorted(scalars["train/lr"])[0] == (1, pytest.approx(0.001))
    val_loss = sorted(scalars["epoch/val_loss"])    # every row's value, at its epoch's last batch
    assert [s for s, _ in val_loss] == [0, per_epoch, 2 * per_epoch]
    assert [v for _, v in val_loss] == pytest.approx([r["val_loss"] for r in rows], rel=1e-6)
    assert [s for s, _ in sorted(scalars["epoch/train_loss"])] == [per_epoch, 2 * per_epoch]   # epoch 0 has none
    assert "epoch/val_ap" in scalars and "train/samples_per_sec" in scalars
    assert sorted(images) and all(steps == [0, per_epoch, 2 * per_epoch] for steps in images.values())


def test_resumed_runs_keep_one_history_and_no_tensorboard_writes_none(synthetic, two_epochs, tmp_path):
    save = linked_copy(two_epochs, tmp_path / "run")
    first, _ = read_events(save)
    per_epoch = max(s for s, _ in first["train/loss"]) // 2
    # Resume from the epoch-1 checkpoint: epoch 2 is trained again, its old events are purged.
    assert train_simple_pose.main(["--resume", str(save / "simple_pose_resnet18_v1b-epoch0001.json"),
                                   "--num-epochs", "3"]) == 0
    scalars, _ = read_events(save)
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == list(range(1, 3 * per_epoch + 1))                   # one history, no step twice
    assert [s for s, _ in scalars["epoch/train_loss"]] == [per_epoch, 2 * per_epoch, 3 * per_epoch]

    # Resumed into another directory: its metrics.jsonl (and curves) hold the whole history.
    other = tmp_path / "other"
    assert train_simple_pose.main(["--resume", str(save / "simple_pose_resnet18_v1b-epoch0001.json"),
                                   "--num-epochs", "2", "--save-dir", str(other), "--log-interval", "0"]) == 0
    epochs = [json.loads(line)["epoch"] for line in (other / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]

    quiet = tmp_path / "quiet"
    assert train_simple_pose.main(TINY + data_args(synthetic) + ["--num-epochs", "1", "--log-interval", "0",
                                                                  "--no-tensorboard", "--save-dir", str(quiet)]) == 0
    assert not (quiet / "tensorboard").exists() and (quiet / "metrics.jsonl").is_file()
