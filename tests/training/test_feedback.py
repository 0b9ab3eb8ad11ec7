"""What a training run tells its user: the time left for the whole run, what a run without validation will not
write, the checkpoint to use, epoch lines of measured figures only, each loading warning once."""
import json
import re
from types import SimpleNamespace

import pytest

import train_simple_pose
from simplepose.training.eta import RunClock, clock
from simplepose.training.loop import EpochLoop

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "4", "-j", "0",
        "--log-interval", "0", "--save-frequency", "0", "--seed", "3"]


def every_fifth_and_last(epoch):
    return epoch % 5 == 0 or epoch == 10


def test_the_time_left_counts_every_epoch_left_and_only_the_validations_due():
    """10 epochs validating at 5 and 10; epochs take 12 s of training (measured: 10 and 14) and a validation 4 s."""
    run = RunClock(10, every_fifth_and_last)
    assert run.left(1, 5.0) is None                            # nothing measured, no pace given
    assert run.left(1, 5.0, epoch_seconds=10.0, validated=False) == 5 + 9 * 10   # validations not timed yet: 0
    assert run.describe(0) == ""
    run.validation_done(4.0)                                   # the untrained model's (epoch 0)
    run.epoch_done(10.0, None)
    run.epoch_done(18.0, 4.0)                                  # an epoch of 14 s, then its validation
    assert run.left(2) == 8 * 12 + 2 * 4                       # epochs 3..10, validations after 5 and 10
    assert run.left(5, 3.0, validated=False) == 3 + 5 * 12 + 2 * 4   # epoch 5's own validation still to come
    assert run.describe(2) == "about 0:01:44 left (8 epochs)"
    assert run.describe(9) == "about 0:00:16 left (1 epoch)"
    assert run.describe(10) == ""
    resumed = RunClock(10, every_fifth_and_last)
    resumed.epoch_done(12.0, None)
    assert resumed.describe(3) == "about 0:01:24 left (7 epochs, validation not timed yet)"
    assert clock(3725.4) == "1:02:05"


def test_the_epoch_bar_shows_the_whole_runs_time_left():
    """Inside epoch 1 of 3 (10 batches), 4 batches run in 8 s: 12 s of this epoch left, its validation (2 s), then
    two epochs of 20 s at this pace, each validated."""
    run = RunClock(3, lambda epoch: True)
    run.validation_done(2.0)
    loop = SimpleNamespace(run_clock=run, parts=SimpleNamespace(iters_per_epoch=10))
    assert EpochLoop._run_left(loop, 1, 4, 1, 8.0) == {"run_left": "0:00:58"}
    assert EpochLoop._run_left(SimpleNamespace(run_clock=None), 1, 4, 1, 8.0) == {}


def train(args, capsys):
    assert train_simple_pose.main(TINY + args) == 0
    return [line.split(" ", 3)[-1] for line in capsys.readouterr().err.splitlines()]   # without the time


def test_without_validation_one_line_says_what_is_not_written_and_the_end_names_the_checkpoint(small, tmp_path, capsys):
    save = tmp_path / "run"
    lines = train(["--num-epochs", "2", "--train-ann", small["train_ann"], "--train-images", small["train_images"],
                   "--save-dir", str(save)], capsys)
    said = [line for line in lines if "best.json" in line]
    assert said == [
        "no validation (no --val-ann): this run writes no best.json (no best checkpoint) and no validation scores "
        "(loss, AP, PCK) in metrics.jsonl; its last epoch checkpoint is the one to use",
        f"finished 2 epochs in {said[1].split(' in ')[1].split(';')[0]}; no validation, so no best.json: use the last "
        f"checkpoint, {save}/simple_pose_resnet18_v1b-epoch0002.json"]
    assert not (save / "best.json").exists() and (save / "simple_pose_resnet18_v1b-epoch0002.json").is_file()
    epochs = [line for line in lines if line.startswith("Epoch[")]
    assert len(epochs) == 2 and not any("n/a" in line or "val " in line for line in lines), lines
    assert re.fullmatch(r"Epoch\[1/2\] done in \d+s: [\d.]+ samples/sec, train loss=[\d.]+ acc=[\d.]+, lr=[\d.e-]+; "
                        r"about \d:\d\d:\d\d left \(1 epoch\)", epochs[0]), epochs[0]
    assert not any(line.startswith(("finished: {", "skipped:")) for line in lines)


def test_validation_on_the_training_file_reads_it_once(small, tmp_path, capsys):
    """A quirk of the file (an annotation without "area") is one warning, not one per reading; the epoch that does
    not validate shows no validation filler, the one that does shows what it measured."""
    doc = json.loads(open(small["train_ann"]).read())
    del doc["annotations"][0]["area"]
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(doc))
    lines = train(["--num-epochs", "2", "--val-interval", "2", "--train-ann", str(ann), "--train-images",
                   small["train_images"], "--val-ann", str(ann), "--val-images", small["train_images"],
                   "--save-dir", str(tmp_path / "run")], capsys)
    assert len([line for line in lines if "area" in line]) == 1, lines
    assert len([line for line in lines if "kept" in line and "people" in line]) == 1, lines
    assert f"{ann}: validating on the training file and images (the same 19 people)" in lines
    epoch1, epoch2 = (line for line in lines if line.startswith(("Epoch[1/", "Epoch[2/")))
    assert "val" not in epoch1 and "n/a" not in epoch1 and "left (1 epoch)" in epoch1
    assert re.search(r"\(validation \d+s\): .* val loss=[\d.]+ acc=[\d.]+ AP=[\d.]+ PCK@0\.2=[\d.]+ AUC=[\d.]+ "
                     r"EPE\(px\)=[\d.]+$", epoch2), epoch2
    assert re.search(r"the best checkpoint is .*/best\.json: epoch \d, AP [\d.]+$", lines[-2]), lines[-2:]
