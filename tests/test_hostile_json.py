"""A hostile tester's JSON files and paths: each is one line ``error: ...`` naming the file and the place, exit 2,
through the real command lines, before any work (nothing is trained, nothing is written).

Numbers: ids of 2**70, numbers of 400 and 5,000 digits (Python refuses int() of more than 4,300), 1e400 (which
Python reads as infinity) are refused at parse time with their line, column and path; an integral float id
beyond int64 (1e20) by the field that reads it. Deep nesting, a FIFO (which must not block the open), a
symbolic link loop and a broken link each say what they are. Control characters of a ``file_name`` are
shown escaped; no message repeats a part ("config: config:").
"""
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import eval_simple_pose
import train_simple_pose
from simplepose.cli import run_main
from simplepose.errors import SimplePoseError
from simplepose.io import JsonRecord, peek_json, read_json

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "4", "-j", "0",
        "--log-interval", "0", "--num-epochs", "1", "--seed", "3"]
NUM_IMAGES = 3

pytestmark = pytest.mark.usefixtures("drop_log_handlers")


@pytest.fixture(scope="module")
def images(synthetic, tmp_path_factory):
    """(annotation text of the first validation images, with ids written as real files do (floats), their folder)."""
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    doc["images"] = doc["images"][:NUM_IMAGES]
    ids = {img["id"] for img in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    folder = tmp_path_factory.mktemp("hostile_images")
    for img in doc["images"]:
        shutil.copy(Path(synthetic["val_images"]) / img["file_name"], folder / img["file_name"])
    return doc, folder


def first_id(doc, section):
    return doc[section][0]["id"]


def with_value(doc, section, key, raw):
    """The JSON text of ``doc`` with ``section[0][key]`` written as the raw JSON text ``raw``."""
    marker = "__hostile__"
    doc = json.loads(json.dumps(doc))
    doc[section][0][key] = marker
    return json.dumps(doc).replace(f'"{marker}"', raw, 1)


def train(text, folder, tmp_path, capsys):
    """Run simplepose-train in-process on the annotation ``text``; (status, last stderr line, save dir)."""
    ann, save = tmp_path / "ann.json", tmp_path / "run"
    if text is not None:
        ann.write_text(text)
    status = run_main(lambda: train_simple_pose.main(
        TINY + ["--train-ann", str(ann), "--train-images", str(folder), "--save-dir", str(save)]))
    return status, last_line(capsys.readouterr().err), save


def last_line(err):
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and line.isprintable(), line
    return line


def nothing_written(save):
    return not save.exists() or not any(save.glob("*.params")) and not (save / "metrics.jsonl").exists()


@pytest.mark.parametrize("section, key, raw, parts", [
    ("annotations", "id", str(2 ** 70), ["the number 1180591620717411303424", "(annotations[0].id)",
                                         "outside the 64-bit integer range"]),
    ("images", "id", str(2 ** 70), ["(images[0].id)", "outside the 64-bit integer range"]),
    ("annotations", "image_id", str(-2 ** 63 - 1), ["(annotations[0].image_id)", "outside the 64-bit"]),
    ("annotations", "area", "9" * 400, ["9999999999...9999999999 (400 characters)", "(annotations[0].area)"]),
    ("images", "license", "9" * 5000, ["(5000 characters)", "(images[0].license)", "outside the 64-bit"]),
    ("annotations", "bbox", f"[1, 2, {'7' * 5000}.5, 4]", ["(5002 characters)", "(annotations[0].bbox[2])",
                                                           "beyond the range of a double"]),
    ("annotations", "score", "1e400", ["the number 1e400", "(annotations[0].score)", "would read as infinity"]),
])
def test_numbers_out_of_range_are_one_line_with_their_place(images, tmp_path, capsys, section, key, raw, parts):
    doc, folder = images
    status, line, save = train(with_value(doc, section, key, raw), folder, tmp_path, capsys)
    assert status == 2
    assert line.startswith(f"error: {tmp_path / 'ann.json'}: annotation file: the number "), line
    assert "at line 1, column " in line
    for part in parts:
        assert part in line, (part, line)
    assert nothing_written(save)


def test_an_integral_float_id_beyond_int64_is_refused_by_its_field(images, tmp_path, capsys):
    doc, folder = images
    status, line, _ = train(with_value(doc, "annotations", "id", "1e20"), folder, tmp_path, capsys)
    assert status == 2
    assert "annotations[0]: field 'id': is the number 1e+20, expected an integer within the 64-bit range" in line


def test_a_5000_digit_id_in_an_evaluation_file_is_the_same_line(trained, images, tmp_path, capsys):
    doc, folder = images
    ann = tmp_path / "ann.json"
    ann.write_text(with_value(doc, "annotations", "image_id", "9" * 5000))
    status = run_main(lambda: eval_simple_pose.main(["--params", trained, "--ann", str(ann),
                                                     "--images", str(folder), "-j", "0"]))
    line = last_line(capsys.readouterr().err)
    assert status == 2
    assert f"{ann}: annotation file: the number 9999999999...9999999999 (5000 characters)" in line
    assert "(annotations[0].image_id) is outside the 64-bit integer range" in line


def test_nan_literals_are_read_and_judged_by_the_field():
    """NaN/Infinity (Python's json.dumps writes them) are values, not parse errors: the field refuses them."""
    record = JsonRecord(json.loads('{"score": NaN}'), "f.json", "detection 0")
    with pytest.raises(SimplePoseError, match=r"^f\.json: detection 0: field 'score': is the number nan, "
                                              "expected a finite number$"):
        record.number("score")


def test_deep_nesting_says_so(images, tmp_path, capsys):
    doc, folder = images
    text = with_value(doc, "annotations", "extra", "[" * 100000 + "]" * 100000)
    status, line, save = train(text, folder, tmp_path, capsys)
    assert status == 2
    assert f"{tmp_path / 'ann.json'}: annotation file is nested more than 100 levels deep (at line 1, column " in line
    assert "not a text JSON file" not in line
    assert nothing_written(save)


def test_a_fifo_is_not_a_regular_file_and_does_not_block(images, tmp_path):
    """In a subprocess with a time limit: opening a FIFO without a writer must not wait for one."""
    _, folder = images
    fifo = tmp_path / "ann.json"
    os.mkfifo(fifo)
    res = subprocess.run([sys.executable, str(ROOT / "train_simple_pose.py"), *TINY, "--train-ann", str(fifo),
                          "--train-images", str(folder), "--save-dir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 2, res.stderr
    assert last_line(res.stderr) == (f"error: {fifo}: annotation file is a FIFO (named pipe), not a regular file; "
                                     "give a file")


def test_a_symlink_loop_and_a_broken_link_say_so(images, tmp_path, capsys):
    _, folder = images
    (tmp_path / "ann.json").symlink_to(tmp_path / "other.json")
    (tmp_path / "other.json").symlink_to(tmp_path / "ann.json")
    status, line, _ = train(None, folder, tmp_path, capsys)
    assert status == 2
    assert line == f"error: {tmp_path / 'ann.json'}: annotation file is a symbolic link loop (a link that leads " \
                   "back to itself); check the path"
    (tmp_path / "other.json").unlink()
    status, line, _ = train(None, folder, tmp_path, capsys)
    assert status == 2
    assert line == f"error: {tmp_path / 'ann.json'}: annotation file is a broken symbolic link to " \
                   f"{tmp_path / 'other.json'}; check the path"


def test_a_directory_and_a_device_are_not_files(tmp_path):
    with pytest.raises(SimplePoseError, match=f"^{tmp_path}: boxes file is a directory, not a file; give a file$"):
        read_json(tmp_path, "boxes file")
    with pytest.raises(SimplePoseError, match="^/dev/null: boxes file is a character device, not a regular file"):
        read_json("/dev/null", "boxes file")


def test_control_characters_of_a_file_name_are_escaped(images, tmp_path, capsys):
    doc, folder = images
    doc = json.loads(json.dumps(doc))
    doc["images"][0]["file_name"] = "evil\x1b[2J\nerror: all is well\u202e.jpg"
    status, line, _ = train(json.dumps(doc), folder, tmp_path, capsys)
    assert status == 2
    assert line == (f"error: {folder}/evil\\x1b[2J\\nerror: all is well\\u202e.jpg: image file not found "
                    f"(image {doc['images'][0]['id']}, annotation {doc['annotations'][0]['id']})")


@pytest.mark.parametrize("key, value, expected", [
    ("lr", "fast", "config: field 'lr': is a string, expected a finite number"),
    ("codec", "zzz", "config: field 'codec': is 'zzz' (--codec), expected one of standard, dark"),
])
def test_a_stored_config_error_names_config_once(tmp_path, capsys, key, value, expected):
    """A checkpoint manifest whose stored config holds a bad value: the file, 'config' once, the field."""
    from simplepose.rundir.checkpoint import FORMAT
    config = {"model": "simple_pose_resnet18_v1b", "input_size": [64, 64], "mean": [0.485, 0.456, 0.406],
              "std": [0.229, 0.224, 0.225], "sigma": 2, key: value}
    manifest = tmp_path / "m-epoch0001.json"
    manifest.write_text(json.dumps({"format": FORMAT, "epoch": 1, "config": config, "meta": {},
                                    "params": "m-epoch0001.params", "states": "m-epoch0001.states"}))
    status = run_main(lambda: eval_simple_pose.main(["--params", str(manifest), "--dataset", "synthetic"]))
    line = last_line(capsys.readouterr().err)
    assert status == 2
    assert line == f"error: {manifest}: {expected}"


def test_a_record_never_repeats_its_source():
    record = JsonRecord({"lr": "x"}, "run/m.json: config", "config")
    assert str(record.error("lr", "is bad")) == "run/m.json: config: field 'lr': is bad"
    assert str(JsonRecord({}, "a/config", "config").error("x", "is bad")) == "a/config: config: field 'x': is bad"


def test_ids_at_int64s_top_are_renumbered_within_int64(images, tmp_path):
    """A repeated id of 2**63 - 1 is renumbered (pycocotools keeps one annotation per id), not to 2**63."""
    from simplepose.data.coco import COCOKeyPoints
    doc, folder = images
    doc = json.loads(json.dumps(doc))
    people = [a for a in doc["annotations"] if not a.get("iscrowd") and any(a["keypoints"][2::3])][:2]
    for ann in people:
        ann["id"] = 2 ** 63 - 1
    ann_file = tmp_path / "top_ids.json"
    ann_file.write_text(json.dumps(doc))
    dataset = COCOKeyPoints(ann_file, folder)
    ids = sorted(gt.ann_id for gt in dataset.ground_truth)
    assert len(set(ids)) == len(ids) and 2 ** 63 - 1 in ids
    assert all(1 <= i <= 2 ** 63 - 1 for i in ids)
    assert dataset.fixed["annotation id already used (pycocotools keeps one annotation per id): renumbered"] == 1


def test_permission_denied_says_so(tmp_path, monkeypatch):
    """(Tests may run as root, whom no permission stops: the open's refusal is simulated.)"""
    path = tmp_path / "dets.json"
    path.write_text("[]")

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(SimplePoseError, match=f"^{path}: cannot read the detection file: permission denied; "
                                              "check its permissions$"):
        read_json(path, "detection file")


def test_scans_of_other_files_pass_over_all_of_these(tmp_path):
    """peek_json (a run directory's scan of its *.json) takes none of them for an error, and waits for no FIFO."""
    for name, text in (("big.json", '{"epoch": 1e400}'), ("deep.json", "[" * 5000 + "]" * 5000),
                       ("digits.json", '{"epoch": ' + "9" * 5000 + "}")):
        (tmp_path / name).write_text(text)
    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    assert [peek_json(p) for p in sorted(tmp_path.iterdir())] == [None] * 5
    (tmp_path / "fine.json").write_text('{"epoch": 9223372036854775807, "x": NaN}')
    assert peek_json(tmp_path / "fine.json")["epoch"] == 2 ** 63 - 1


def test_an_area_far_larger_than_the_image_is_a_bad_record(images, tmp_path, capsys):
    """COCOeval divides by the area: 1e300 would give any pose OKS ~1 on this person, AP silently 1."""
    doc, folder = images
    doc = json.loads(json.dumps(doc))
    person = next(a for a in doc["annotations"] if not a.get("iscrowd") and any(a["keypoints"][2::3]))
    person["area"] = 1e300
    status, line, save = train(json.dumps(doc), folder, tmp_path, capsys)
    assert status == 2
    assert f"annotation {person['id']} (annotations[{doc['annotations'].index(person)}]): area 1e+300 is more " \
           "than 4 times the 320x240 image's" in line
    assert nothing_written(save)
