"""Malformed input of every family, through the real command lines: one line, exit status 2, no traceback.

Each case breaks one thing the way real files break (a field of the wrong type in an annotation file
as public datasets spell them, a damaged checkpoint file, an output path of the wrong kind, a full or
read-only disk) and runs a command's ``main`` through ``run_main`` as its script does. It asserts: exit
status 2; exactly one ``error:`` line on stderr (the last; everything else is a time-stamped log line)
that names the file, the record and the field; no "Traceback"; and, where the run had opened its log
file, the same line in that file. Most cases fail while loading, before any work.
"""
import json
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import eval_simple_pose
import train_simple_pose
from simplepose import plot
from simplepose.export import command as export
from simplepose.predict import command as predict
from simplepose.cli import INTERNAL_ERROR, run_main, setup_logging
from simplepose import pack
from simplepose.data.coco import COCOKeyPoints
from simplepose.errors import SimplePoseError
from tests.conftest import close_log_handlers, removed_at_end

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "16", "-j", "0",
        "--log-interval", "0", "--num-epochs", "1", "--seed", "3"]
COMMANDS = {"train": train_simple_pose.main, "eval": eval_simple_pose.main, "export": export.main,
            "predict": predict.main, "plot": plot.main, "pack": pack.main}
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) ")

pytestmark = pytest.mark.usefixtures("drop_log_handlers")


@pytest.fixture(scope="module")
def kit(synthetic, trained, tmp_path_factory, request):
    """What the cases break: the generated data, a trained checkpoint and its export (made once)."""
    root = removed_at_end(request, tmp_path_factory.mktemp("malformed"))
    export.export_checkpoint(trained, root / "export")
    manifest = Path(trained)
    return {"synthetic": synthetic, "manifest": manifest, "export": root / "export",
            "ann": json.loads(Path(synthetic["train_ann"]).read_text()),
            "image": str(Path(synthetic["val_images"]) / "000000000041.jpg")}


@dataclass
class Case:
    """One malformed input: ``make(kit, tmp)`` breaks something and returns (command, argv, parts the
    error line must contain, log file the run opened or None)."""
    make: Callable
    before_work: bool = False   # refused before anything is loaded: not one log line first


# --- making broken files --------------------------------------------------------------------------

def broken_annotations(kit, tmp, change):
    """The training annotation file with ``change(doc)`` applied; returns its path."""
    doc = json.loads(json.dumps(kit["ann"]))
    change(doc)
    path = tmp / "person_keypoints_train.json"
    path.write_text(json.dumps(doc))
    return path


def train_on(kit, tmp, ann, *flags):
    save = tmp / "run"
    argv = TINY + ["--train-ann", str(ann), "--train-images", kit["synthetic"]["train_images"],
                   "--save-dir", str(save), *flags]
    return "train", argv, save / "train.log"


def annotation_case(change, *parts):
    """A training run on an annotation file broken by ``change``; the error names the file and ``parts``."""
    def make(kit, tmp):
        ann = broken_annotations(kit, tmp, change)
        command, argv, log = train_on(kit, tmp, ann)
        return command, argv, [str(ann), *parts], log
    return Case(make)


def person(doc, i=0):
    """The ``i``-th annotation with a labelled keypoint (not crowd): one the loader reads in full."""
    return [a for a in doc["annotations"] if not a.get("iscrowd") and any(a["keypoints"][2::3])][i]


def index_of(doc, ann):
    return f"annotation {ann['id']} (annotations[{doc['annotations'].index(ann)}])"


def checkpoint_copy(kit, tmp, change=None, params=None, states=None):
    """The trained checkpoint in ``tmp/ckpt`` (files linked, not copied), its manifest changed by ``change``
    and its .params/.states replaced by the given bytes; returns the manifest path."""
    src = kit["manifest"]
    doc = json.loads(src.read_text())
    (tmp / "ckpt").mkdir()
    for key, data in (("params", params), ("states", states)):
        target = tmp / "ckpt" / doc[key]
        target.write_bytes(data) if data is not None else os.symlink(src.parent / doc[key], target)
    (change or (lambda d: None))(doc)
    manifest = tmp / "ckpt" / src.name
    manifest.write_text(json.dumps(doc))
    return manifest


def export_copy(kit, tmp, change=None, damage=None):
    """The export in ``tmp/export`` (files linked), deploy.json changed by ``change``, file ``damage`` cut short."""
    out = tmp / "export"
    out.mkdir()
    doc = json.loads((kit["export"] / "deploy.json").read_text())
    for key in ("symbol", "params", "onnx"):
        if key == damage:
            (out / doc[key]).write_bytes((kit["export"] / doc[key]).read_bytes()[:2000])
        else:
            os.symlink(kit["export"] / doc[key], out / doc[key])
    (change or (lambda d: None))(doc)
    (out / "deploy.json").write_text(json.dumps(doc))
    return out


def predict_with(kit, tmp, model, *flags):
    return "predict", ["--model", str(model), "--input", kit["image"], "--out", str(tmp / "p"), *flags]


def eval_with(kit, params, *flags):
    syn = kit["synthetic"]
    return "eval", ["--params", str(params), "-j", "0", "--ann", syn["val_ann"], "--images", syn["val_images"],
                    *flags]


def deploy_case(change, *parts):
    def make(kit, tmp):
        out = export_copy(kit, tmp, change)
        return (*predict_with(kit, tmp, out), [str(out / "deploy.json"), *parts], None)
    return Case(make)


def sigmas_case(content, *parts):
    """--sigmas FILE of evaluation holding ``content`` (bytes, or None for a directory of that name)."""
    def make(kit, tmp):
        path = tmp / "sigmas.json"
        path.mkdir() if content is None else path.write_bytes(content)
        return (*eval_with(kit, kit["manifest"], "--sigmas", str(path)), [str(path), *parts], None)
    return Case(make)


def output_case(command, flag, kind, *parts):
    """``flag`` of ``command`` given a path of the wrong ``kind``: "file" (an existing file where a
    directory goes), "dir" (a directory where a file goes) or "under-file" (a path under a file)."""
    def make(kit, tmp):
        (tmp / "a_file").write_text("x")
        (tmp / "a_dir").mkdir()
        path = {"file": tmp / "a_file", "dir": tmp / "a_dir", "under-file": tmp / "a_file" / "out.json"}[kind]
        argv = {"eval": lambda: eval_with(kit, kit["manifest"], flag, str(path))[1],
                "export": lambda: ["--params", str(kit["manifest"]), "--no-onnx", flag, str(path)],
                "predict": lambda: predict_with(kit, tmp, kit["export"], flag, str(path))[1],
                "plot": lambda: [str(kit["manifest"].parent), "--no-samples", flag, str(path)],
                "train": lambda: train_on(kit, tmp, kit["synthetic"]["train_ann"], flag, str(path))[1]}[command]()
        return command, argv, [str(path), flag, *parts], None
    return Case(make, before_work=True)


def pack_into(kit, out):
    syn = kit["synthetic"]
    return ["--ann", syn["val_ann"], "--images", syn["val_images"], "--out", str(out)]


def pack_under_a_file(kit, tmp):
    (tmp / "a_file").write_text("x")
    return "pack", pack_into(kit, tmp / "a_file" / "crops"), [str(tmp / "a_file"), "--out", "not a directory"], None


def boxes_case(command, content, *parts):
    """--boxes FILE holding ``content`` (JSON-able)."""
    def make(kit, tmp):
        path = tmp / "boxes.json"
        path.write_text(json.dumps(content))
        model = kit["export"] if command == "predict" else kit["manifest"]
        made = predict_with(kit, tmp, model, "--boxes", str(path)) if command == "predict" else \
            eval_with(kit, model, "--boxes", str(path))
        return (*made, [str(path), *parts], None)
    return Case(make)


def manifest_case(change, *parts):
    def make(kit, tmp):
        manifest = checkpoint_copy(kit, tmp, change)
        return (*eval_with(kit, manifest), [str(manifest), *parts], None)
    return Case(make)


def truncated_params_case(command):
    def make(kit, tmp):
        manifest = checkpoint_copy(kit, tmp, params=kit["manifest"].with_suffix(".params").read_bytes()[:1000])
        argv = {"eval": lambda: eval_with(kit, manifest)[1],
                "export": lambda: ["--params", str(manifest), "--out", str(tmp / "out"), "--no-onnx"],
                "train": lambda: ["--resume", str(manifest), "--num-epochs", "4", "-j", "0"]}[command]()
        log = manifest.parent / "train.log" if command == "train" else None
        return command, argv, [str(manifest.with_suffix(".params")), "not an MXNet parameter file"], log
    return Case(make)


def damaged_states(kit, tmp):
    states = kit["manifest"].with_suffix(".states").read_bytes()
    manifest = checkpoint_copy(kit, tmp, states=states[:len(states) // 3])
    return ("train", ["--resume", str(manifest), "--num-epochs", "4", "-j", "0"],
            [str(manifest.with_suffix(".states")), "damaged optimizer state file"], manifest.parent / "train.log")


def damaged_export(damage, backend):
    def make(kit, tmp):
        out = export_copy(kit, tmp, damage=damage)
        doc = json.loads((out / "deploy.json").read_text())
        return (*predict_with(kit, tmp, out, "--backend", backend), [str(out / doc[damage])], None)
    return Case(make)


def set_in(path, value):
    """A change setting the nested key ``path`` ("meta.names", "annotations.*.id"...) of a document."""
    def change(doc):
        *parents, key = (int(part) if part.isdigit() else part for part in path.split("."))
        target = doc
        for part in parents:
            target = target[part]
        if value is _DELETE:
            del target[key]
        else:
            target[key] = value
    return change


_DELETE = object()


def on_first_person(key, value):
    return lambda doc: person(doc).__setitem__(key, value)


def on_first_image(key, value):
    return lambda doc: doc["images"][0].__setitem__(key, value)


# --- the cases ------------------------------------------------------------------------------------

def first_person_named(key, value, *parts):
    """An annotation case on the first person; the error also names that annotation by id and index."""
    def make(kit, tmp):
        ann = broken_annotations(kit, tmp, on_first_person(key, value))
        named = index_of(kit["ann"], person(kit["ann"]))
        return (*train_on(kit, tmp, ann)[:2], [str(ann), named, *parts], tmp / "run" / "train.log")
    return Case(make)


CASES = {
    # Annotation files: wrong-typed fields, as public files get them wrong.
    "image id a string": annotation_case(on_first_image("id", "000000397133"), "images[0]", "field 'id'",
                                         "expected an integer"),
    "image file_name a number": annotation_case(on_first_image("file_name", 397133), "images[0]",
                                                "field 'file_name'", "expected a string"),
    "image width infinite": annotation_case(on_first_image("width", float("inf")), "images[0]", "field 'width'",
                                            "the number inf"),
    "image height NaN": annotation_case(on_first_image("height", float("nan")), "images[0]", "field 'height'"),
    "image width zero": annotation_case(on_first_image("width", 0), "images[0]", "field 'width'", ">= 1"),
    "annotation id a list": annotation_case(lambda d: person(d).__setitem__("id", [5]), "annotations[",
                                            "field 'id'", "is a list"),
    "annotation not an object": annotation_case(lambda d: d["annotations"].insert(0, 17), "annotations[0]",
                                                "is the number 17, expected a JSON object"),
    "image_id a string": first_person_named("image_id", "41", "field 'image_id'"),
    "category_id a string": first_person_named("category_id", "1", "field 'category_id'"),
    "iscrowd a string": first_person_named("iscrowd", "0", "field 'iscrowd'"),
    "area a string": first_person_named("area", "1234.5", "field 'area'", "expected a finite number"),
    # (An area NaN, zero or negative is not refused: it is recomputed from the box, counted; tests/data/test_gt_quirks.py.)
    "num_keypoints a string": first_person_named("num_keypoints", "17", "field 'num_keypoints'",
                                                 "expected an integer"),
    "bbox of three numbers": first_person_named("bbox", [10, 20, 30], "field 'bbox'", "has 3 values, expected 4"),
    "bbox a string": first_person_named("bbox", "10,20,30,40", "field 'bbox'", "is a string"),
    "keypoints a string": first_person_named("keypoints", "0 0 0", "field 'keypoints'", "is a string"),
    "keypoints hold a string": first_person_named("keypoints", ["12"] + [0] * 50, "field 'keypoints': value 0 is '12'",
                                                  "expected a number"),
    "keypoints missing": first_person_named("keypoints", None, "field 'keypoints': is missing"),
    "category keypoints a string": annotation_case(set_in("categories.0.keypoints", "nose,left_eye"),
                                                   "categories[0]", "field 'keypoints'", "is a string"),
    "category keypoint name a number": annotation_case(set_in("categories.0.keypoints.3", 4),
                                                       "categories[0]", "field 'keypoints': value 3 is 4"),
    # A malformed skeleton link is no longer refused (the skeleton only draws): test_meta_codec checks that
    # it is dropped with a counted warning.
    "category id a string": annotation_case(set_in("categories.0.id", "1"), "categories[0]", "field 'id'"),
    # Sigmas files.
    "sigmas hold a string": sigmas_case(json.dumps([0.026, "0.025"] + [0.05] * 15).encode(), "sigma 2 is '0.025'"),
    "sigmas negative": sigmas_case(b"0.026 -0.025" + b" 0.05" * 15, "sigma 2 is -0.025"),
    "sigmas broken JSON": sigmas_case(b"[0.026, 0.025,", "not valid JSON (line 1"),
    "sigmas not text": sigmas_case(bytes(range(128, 256)), "not a UTF-8 text file"),
    "sigmas a directory": sigmas_case(None, "a directory"),
    # deploy.json of an export.
    "deploy key missing": deploy_case(set_in("input_size", _DELETE), "field 'input_size': is missing"),
    "deploy input_size a string": deploy_case(set_in("input_size", "64,64"), "field 'input_size'", "is a string"),
    "deploy codec unknown": deploy_case(set_in("codec", "fancy"), "field 'codec'", "standard, dark"),
    "deploy std zero": deploy_case(set_in("std", [0.2, 0, 0.2]), "field 'std'"),
    "deploy skeleton link of three": deploy_case(set_in("meta.skeleton.0", [1, 2, 3]), "meta: field 'skeleton'",
                                                 "value 0 is [1, 2, 3]"),
    "deploy meta names missing": deploy_case(set_in("meta.names", _DELETE), "meta: field 'names': is missing"),
    "deploy format missing": deploy_case(set_in("format", _DELETE), "not a simplepose export description"),
    # Damaged model files.
    "truncated params (eval)": truncated_params_case("eval"),
    "truncated params (export)": truncated_params_case("export"),
    "truncated params (resume)": truncated_params_case("train"),
    "damaged states (resume)": Case(damaged_states),
    "truncated export params (mxnet)": damaged_export("params", "mxnet"),
    "truncated export symbol (mxnet)": damaged_export("symbol", "mxnet"),
    "truncated ONNX file": damaged_export("onnx", "onnx"),
    # Output paths of the wrong kind: refused before the work.
    "eval --results-json a directory": output_case("eval", "--results-json", "dir", "is a directory"),
    "eval --metrics-json under a file": output_case("eval", "--metrics-json", "under-file",
                                                    "is a file, not a directory"),
    "eval --analysis a file": output_case("eval", "--analysis", "file", "not a directory"),
    "export --out a file": output_case("export", "--out", "file", "not a directory"),
    "predict --out a file": output_case("predict", "--out", "file", "not a directory"),
    "predict --out under a file": output_case("predict", "--out", "under-file", "is a file, not a directory"),
    "plot --out a file": output_case("plot", "--out", "file", "not a directory"),
    "train --save-dir a file": output_case("train", "--save-dir", "file", "not a directory"),
    "train --logging-file a directory": output_case("train", "--logging-file", "dir", "is a directory"),
    "pack --out under a file": Case(pack_under_a_file, before_work=True),
    # Box files (simplepose.data.boxes / simplepose.predict.command).
    "predict box of three numbers": boxes_case("predict", [[10, 20, 30]], "box 0"),
    "predict box score a string": boxes_case("predict", [{"bbox": [10, 20, 30, 40], "score": "high"}], "score"),
    "eval detection box of three numbers": boxes_case(
        "eval", [{"image_id": 41, "category_id": 1, "bbox": [10, 20, 30], "score": 0.9}], "bbox"),
    "eval detection score a string": boxes_case(
        "eval", [{"image_id": 41, "category_id": 1, "bbox": [10, 20, 30, 40], "score": "0.9"}], "score"),
    # Checkpoint manifests (simplepose.rundir.checkpoint).
    "manifest params key missing": manifest_case(set_in("params", _DELETE), "params"),
    "manifest config key missing": manifest_case(set_in("config", _DELETE), "config"),
    "manifest input_size a string": manifest_case(set_in("config.input_size", "64,64"), "input_size"),
}


def run(command, argv, capsys):
    """(exit status, stdout, stderr) of a command run in-process as its script runs it."""
    status = run_main(lambda: COMMANDS[command](argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line(status, err, parts, log=None):
    """Exit 2; one ``error:`` line, last, naming ``parts``; no traceback; the line in ``log`` if it exists."""
    assert status == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    errors = [line for line in lines if not LOG_LINE.match(line)]
    assert errors == [lines[-1]] and lines[-1].startswith("error: "), err
    for part in parts:
        assert part in lines[-1], (part, lines[-1])
    if log is not None and Path(log).exists():
        assert lines[-1] in Path(log).read_text(), Path(log).read_text()
    print("\nLINE:", lines[-1][:400])
    return lines[-1]


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_is_one_line(kit, tmp_path, capsys, name):
    case = CASES[name]
    command, argv, parts, log = case.make(kit, tmp_path)
    status, _, err = run(command, argv, capsys)
    assert_one_line(status, err, parts, log)
    if log is not None:   # a start that fails its checks leaves --save-dir as it was: no log file there
        assert not Path(log).exists()
    if case.before_work:
        assert " INFO " not in err


def test_enough_cases():
    assert len(CASES) >= 30


# --- bad records skipped and counted, not refused, with --on-bad-record skip -----------------------

def test_malformed_records_are_skipped_and_counted(kit, tmp_path):
    def change(doc):
        on_first_person("area", "big")(doc)
        set_in("bbox", [1, 2, 3])(person(doc, 1))
        doc["images"][-1]["width"] = float("inf")   # an image entry: its people are dropped with it
    ann = broken_annotations(kit, tmp_path, change)
    images = kit["synthetic"]["train_images"]
    whole = COCOKeyPoints(kit["synthetic"]["train_ann"], images)
    last = kit["ann"]["images"][-1]["id"]
    on_last = sum(1 for r in whole.records if r.image_id == last)
    with pytest.raises(SimplePoseError, match=r"images\[\d+\]\): field 'width'"):   # images are read first
        COCOKeyPoints(ann, images)
    skipped = COCOKeyPoints(ann, images, on_bad_record="skip")
    assert dict(skipped.skipped) == {"skipped (malformed annotation)": 2, "skipped (bad image entry)": 1}
    assert len(skipped.records) == len(whole.records) - 2 - on_last
    assert skipped.dropped["on a skipped image entry"] >= on_last
    assert last not in skipped.image_files and len(skipped.image_files) == len(whole.image_files) - 1


# --- a bug is not bad input -------------------------------------------------------------------------

def test_a_bug_prints_its_traceback_and_says_so(capsys):
    def broken_main():
        return {}["no such key"]
    assert run_main(broken_main) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'no such key'" in err
    assert err.strip().splitlines()[-1] == INTERNAL_ERROR


def test_interrupt_is_130(capsys):
    def interrupted():
        raise KeyboardInterrupt
    assert run_main(interrupted) == 130
    assert capsys.readouterr().err.strip() == "error: interrupted"


# --- full and read-only disks (a small tmpfs; skipped where mounting is not permitted) -------------

@pytest.fixture
def mount(tmp_path):
    """mount(name, size, read_only) -> a fresh tmpfs under tmp_path; unmounted afterwards."""
    mounted = []

    def make(name, size="4m", read_only=False):
        point = tmp_path / name
        point.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                             text=True)
        if res.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip()})")
        mounted.append(point)
        return point
    yield make
    close_log_handlers()   # a log file on the tmpfs keeps it busy
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def fill(directory):
    """Fill a file system up to its last byte (an empty file can still be created)."""
    with open(directory / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@pytest.mark.parametrize("command,flag", [("export", "--out"), ("train", "--save-dir"), ("eval", "--analysis")])
def test_read_only_directory_is_refused_before_the_work(kit, tmp_path, capsys, mount, command, flag):
    target = mount("ro", read_only=True) / "out"
    argv = {"export": ["--params", str(kit["manifest"]), "--no-onnx", "--out", str(target)],
            "train": train_on(kit, tmp_path, kit["synthetic"]["train_ann"], "--save-dir", str(target))[1],
            "eval": eval_with(kit, kit["manifest"], "--analysis", str(target))[1]}[command]
    status, _, err = run(command, argv, capsys)
    assert_one_line(status, err, [str(target), flag, "read-only"])
    assert " INFO " not in err   # refused before loading anything


@pytest.mark.parametrize("command,problem", [("export", "the write was cut short (is the disk full?)"),
                                             ("pack", "no space left on the device")])
def test_full_disk_while_writing_leaves_no_partial_files(kit, capsys, mount, command, problem):
    out = mount("small", "200k")
    argv = ["--params", str(kit["manifest"]), "--no-onnx", "--out", str(out)] if command == "export" else \
        pack_into(kit, out / "crops")
    status, _, err = run(command, argv, capsys)
    assert_one_line(status, err, [str(out), problem])
    assert os.listdir(out) == []


def test_full_disk_while_writing_eval_results_keeps_the_report(kit, tmp_path, capsys, mount):
    disk = mount("full", "1m")
    fill(disk)
    status, out, err = run(*eval_with(kit, kit["manifest"], "--results-json", str(disk / "r.json")), capsys)
    assert_one_line(status, err, [str(disk / "r.json"), "--results-json file", "no space left"])
    assert "COCO keypoint evaluation on" in out and "  AP " in out   # the work done is on the terminal
    assert sorted(os.listdir(disk)) == ["filler"]


def test_no_room_for_a_checkpoint_is_one_line_before_the_run_directory_changes(kit, tmp_path, capsys, mount):
    """The checkpoint (about 60 MB) does not fit: refused, naming the run directory, before anything is
    written there (no log file, no lock)."""
    save = mount("run", "6m")
    status, _, err = run(*train_on(kit, tmp_path, kit["synthetic"]["train_ann"], "--save-dir", str(save))[:2], capsys)
    assert_one_line(status, err, [str(save), "MB free, a checkpoint of"])
    assert os.listdir(save) == []


def test_unwritable_log_file_is_one_warning_not_a_traceback(tmp_path, capsys, mount):
    """A log file on a disk that fills up: one warning, and the command's own error still arrives."""
    disk = mount("log", "1m")
    setup_logging(disk / "x.log")
    fill(disk)
    for _ in range(3):
        logging.getLogger("simplepose").info("%s", "a line too many " * 1000)

    def fails():
        raise SimplePoseError("the end")
    assert run_main(fails) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("warning: cannot write the log file") == 1
    assert err.strip().splitlines()[-1] == "error: the end"
