"""The training config: one field per flag, built once, frozen, JSON round trip, old checkpoints, absolute data."""
import dataclasses
import json
from pathlib import Path

import pytest

from simplepose.errors import SimplePoseError
from simplepose.flags import parse_input_size
from simplepose.options import train_parser
from simplepose.config import TrainConfig
from simplepose.training.config import build_config, merge_resumed
from simplepose.training.state import ResumePoint


def test_one_field_per_flag_with_the_parsers_defaults():
    parser = train_parser()
    dests = [a.dest for a in parser._actions if a.dest != "help"]
    assert sorted(f.name for f in dataclasses.fields(TrainConfig)) == sorted(dests)
    cfg = TrainConfig.from_dict({})
    assert (cfg.input_size, cfg.lr_decay_epoch, cfg.mean, cfg.batch_size, cfg.lr) == \
        ((256, 192), (90, 120), (0.485, 0.456, 0.406), 32, 0.001)
    assert cfg.num_joints is None and cfg.gpu_ids == [] and not cfg.distributed


def test_frozen_and_json_round_trip():
    cfg = TrainConfig.from_dict(vars(train_parser().parse_args(
        ["--input-size", "128,96", "--lr-decay-epoch", "3,5", "--mean", "0.5,0.25,0.125", "--gpus", "1,0"])))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0
    stored = json.loads(json.dumps(cfg.to_dict()))
    assert stored["input_size"] == [128, 96] and stored["mean"] == [0.5, 0.25, 0.125]
    assert stored["lr_decay_epoch"] == [3, 5]
    assert TrainConfig.from_dict(stored) == cfg
    assert cfg.gpu_ids == [1, 0]


def test_an_old_checkpoints_config_loads_with_defaults_for_newer_flags():
    new = TrainConfig.from_dict({}).to_dict()
    old = {k: v for k, v in new.items() if k not in ("codec", "nan_policy", "full_decode", "train_pack")}
    old.update(batch_size=8, num_joints=17, input_size=[64, 64], removed_flag="x")
    cfg = TrainConfig.from_dict(old, "old.json")
    assert (cfg.codec, cfg.nan_policy, cfg.full_decode, cfg.train_pack) == ("standard", "stop", False, None)
    assert (cfg.batch_size, cfg.num_joints, cfg.input_size) == (8, 17, (64, 64))
    assert "removed_flag" not in cfg.to_dict()


@pytest.mark.parametrize("field,value,message", [
    ("batch_size", "16", "old.json: config: field 'batch_size': is a string, expected an integer"),
    ("lr", None, "old.json: config: field 'lr': is missing"),
    ("mean", [0.5, 0.5], "old.json: config: field 'mean': has 2 values, expected 3"),
    ("lr_decay_epoch", [90, "120"], "old.json: config: field 'lr_decay_epoch': is [90, '120'], expected a list"),
    ("no_wd", "yes", "old.json: config: field 'no_wd': is 'yes', expected true or false"),
    ("codec", "fast", "old.json: config: field 'codec': is 'fast' (--codec), expected one of standard, dark"),
    ("input_size", [64, 60], "--input-size [64, 60]: need 'height,width', both positive multiples of 32"),
    ("lr_decay", 2.0, "old.json: --lr-decay 2.0: must be a finite number in (0, 1]"),
    # A checkpoint's config is held to the command line's bounds (simplepose.flags): resume, export, eval.
    ("std", [0, 0, 0], "old.json: --std 0.0,0.0,0.0: must be 3 comma-separated finite numbers in (0, 1]"),
    ("mean", [123.7, 116.3, 103.5], "old.json: --mean 123.7,116.3,103.5: must be 3 comma-separated finite numbers "
                                    "in [0, 1]"),
    ("mean", [float("nan"), 0, 0], "old.json: config: field 'mean': holds the number nan, expected finite numbers"),
    ("seed", 2 ** 32, "old.json: --seed 4294967296: must be an integer in [0, 4294967295]"),
    ("num_workers", -1, "old.json: --num-data-workers -1: must be an integer in [0, 256]"),
    ("lr_decay_epoch", [-5, 90], "--lr-decay-epoch '-5,90': epochs must be 1 or more"),
])
def test_a_stored_config_of_wrong_types_or_values_is_one_line_naming_the_field(field, value, message):
    with pytest.raises(SimplePoseError) as err:
        TrainConfig.from_dict({field: value}, "old.json")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_parse_input_size_is_height_width_in_multiples_of_32():
    assert parse_input_size("256,192") == (256, 192)
    assert parse_input_size([64, 96]) == (64, 96)
    for bad in ("255,190", "256", "256,192,3", "0,32", "a,b"):
        with pytest.raises(SimplePoseError, match="--input-size"):
            parse_input_size(bad)
    with pytest.raises(SimplePoseError, match="^--size '64,65': need 'height,width'"):
        parse_input_size("64,65", "--size")


def test_data_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, resume = build_config(["--train-ann", "a/train.json", "--train-images", "~/imgs", "--val-ann", "v.json",
                                "--val-images", "../val", "--sigmas", "s.txt", "--save-dir", "run"])
    assert resume is None
    assert cfg.train_ann == str(tmp_path / "a" / "train.json") and cfg.val_images == str(tmp_path.parent / "val")
    assert cfg.train_images == str(Path.home() / "imgs") and cfg.sigmas == str(tmp_path / "s.txt")
    assert cfg.save_dir == "run" and cfg.log_file == Path("run") / "train.log"
    cfg, _ = build_config(["--dataset", "synthetic", "--data-dir", "syn"])
    assert cfg.data_dir == str(tmp_path / "syn")
    assert cfg.train_ann == str(tmp_path / "syn" / "annotations" / "person_keypoints_train.json")
    cfg, _ = build_config(["--dataset", "synthetic"])
    assert cfg.data_dir == str(tmp_path / "data" / "synthetic") and cfg.val_images == str(tmp_path / "data" / "synthetic" / "val")


def resume_point(tmp_path, **config):
    stored = {**TrainConfig.from_dict({}).to_dict(), "train_ann": "/d/t.json", "train_images": "/d/t",
              "val_ann": "/d/v.json", "val_images": "/d/v", "lr": 0.002, **config}
    return ResumePoint(manifest=str(tmp_path / "old" / "m-epoch0002.json"), epoch=2, batch=0, progress=None,
                       params="p", states="s", config=stored, meta={}, bad_samples=(), nan_skipped=0,
                       batch_size_total=32)


def test_resume_takes_the_checkpoints_config_under_the_flags_given(tmp_path):
    parser = train_parser()
    values = vars(parser.parse_args(["--resume", "x", "--num-epochs", "9"]))
    merged = merge_resumed(values, resume_point(tmp_path), {"resume", "num_epochs"})
    assert (merged["lr"], merged["num_epochs"], merged["train_ann"]) == (0.002, 9, "/d/t.json")
    assert merged["save_dir"] == str(tmp_path / "old")                 # the checkpoint's run directory
    # New data flags replace all of the checkpoint's data files.
    values = vars(parser.parse_args(["--resume", "x", "--train-ann", "n.json"]))
    merged = merge_resumed(values, resume_point(tmp_path), {"resume", "train_ann"})
    assert (merged["train_ann"], merged["train_images"], merged["val_ann"]) == ("n.json", None, None)
    with pytest.raises(SimplePoseError, match="--resume x: dtype, sigmas cannot change when resuming"):
        merge_resumed(values, resume_point(tmp_path), {"resume", "sigmas", "dtype"})
