"""Bad input: every case gives one line naming the file/record/flag and exit status 2, or is skipped and counted.

Records are checked when the annotation file is loaded, before any training: with
``--on-bad-record error`` (the default) the first bad one stops the command; with ``skip``
each is dropped and counted, and the count is reported in the log at the end. Image files are
checked for existence at load; an image that cannot be decoded is found when the loader reads
it (the first epoch reads every image), in a DataLoader worker process, and the error names
the file, the image id and the annotation id.
"""
import json
import shutil
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import eval_simple_pose
import train_simple_pose
from simplepose.rundir.checkpoint import checkpoints_in, load_manifest
from simplepose.cli import run_main
from simplepose.codec import HeatmapCodec
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.guard import GuardedSamples, SampleError
from simplepose.data.samples import PoseSamples
from simplepose.data.transforms import ValTransform
from simplepose.model import get_pose_model
from tests.custom_keypoints import write_crowdpose_like

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "4", "-j", "0",
        "--log-interval", "0", "--num-epochs", "1", "--seed", "3"]
NUM_IMAGES = 6


pytestmark = pytest.mark.usefixtures("drop_log_handlers")


@pytest.fixture
def data(synthetic, tmp_path):
    """A private copy of the first images of the generated training set, to break."""
    doc = json.loads(Path(synthetic["train_ann"]).read_text())
    doc["images"] = doc["images"][:NUM_IMAGES]
    ids = {img["id"] for img in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    images = tmp_path / "images"
    images.mkdir()
    for img in doc["images"]:
        shutil.copy(Path(synthetic["train_images"]) / img["file_name"], images / img["file_name"])
    return {"doc": doc, "ann": tmp_path / "ann.json", "images": images, "save": tmp_path / "run"}


def first_person(doc):
    """The first annotation the loader keeps (not crowd, some labelled keypoint), and its image entry."""
    ann = next(a for a in doc["annotations"] if not a.get("iscrowd") and any(a["keypoints"][2::3]))
    return ann, next(img for img in doc["images"] if img["id"] == ann["image_id"])


def train(data, capsys, *flags):
    """Run the training command in-process as its script does; (exit status, stderr)."""
    data["ann"].write_text(json.dumps(data["doc"]))
    args = TINY + ["--train-ann", str(data["ann"]), "--train-images", str(data["images"]),
                   "--save-dir", str(data["save"]), *flags]
    status = run_main(lambda: train_simple_pose.main(args))
    return status, capsys.readouterr().err


def assert_one_line_error(status, err, *parts):
    assert status == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: "), err
    for part in parts:
        assert part in last, (part, last)
    assert "Traceback" not in err


def nothing_trained(data):
    return not list(data["save"].glob("*.params")) and not (data["save"] / "metrics.jsonl").exists()


# --- records: checked at load, before training --------------------------------------------------

def missing_image(data):
    ann, img = first_person(data["doc"])
    (data["images"] / img["file_name"]).unlink()
    return [img["file_name"], "image file not found", f"image {img['id']}", f"annotation {ann['id']}"]


def negative_box(data):
    ann, _ = first_person(data["doc"])
    ann["bbox"][2] = -ann["bbox"][2]
    return [f"annotation {ann['id']}", "negative width or height"]


def nan_keypoints(data):
    ann, _ = first_person(data["doc"])
    labelled = ann["keypoints"][2::3].index(2)
    ann["keypoints"][3 * labelled] = float("nan")
    return [f"annotation {ann['id']}", "keypoints contain NaN"]


def negative_keypoints(data):
    ann, _ = first_person(data["doc"])
    labelled = ann["keypoints"][2::3].index(2)
    ann["keypoints"][3 * labelled:3 * labelled + 2] = [-80, -60]
    return [f"annotation {ann['id']}", "labelled keypoint(s) outside the 320x240 image", "(-80, -60)"]


def far_outside_keypoints(data):
    ann, _ = first_person(data["doc"])
    labelled = ann["keypoints"][2::3].index(2)
    ann["keypoints"][3 * labelled] = 5000
    return [f"annotation {ann['id']}", "outside the 320x240 image"]


def wrong_keypoint_count(data):
    ann, _ = first_person(data["doc"])
    ann["keypoints"] = ann["keypoints"][:-3]
    return [f"annotation {ann['id']}", "48 keypoint values, expected 3 x 17 for 17 keypoints"]


@pytest.mark.parametrize("breaks", [missing_image, negative_box, nan_keypoints, negative_keypoints,
                                    far_outside_keypoints, wrong_keypoint_count])
def test_bad_record_stops_before_training_or_is_skipped(data, capsys, breaks):
    parts = breaks(data)
    status, err = train(data, capsys)
    assert_one_line_error(status, err, str(data["ann"]) if "annotation" in parts[0] else parts[0], *parts)
    assert "--on-bad-record skip" in err.strip().splitlines()[-1] or breaks is missing_image
    assert nothing_trained(data)

    status, err = train(data, capsys, "--on-bad-record", "skip")
    assert status == 0, err
    # Reported at load and again at the end of the run, with the count.
    assert "skipping bad record" in err
    skipped = [line for line in err.splitlines() if "INFO skipped: " in line]
    assert len(skipped) == 1 and "1 bad train records skipped at load" in skipped[0], err
    assert json.loads((data["save"] / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 1


def test_zero_size_box_is_dropped_and_counted(data, capsys):
    """GluonCV's filter, not an error: a box empty after clipping is dropped, and the log says so."""
    ann, _ = first_person(data["doc"])
    ann["bbox"][2] = 0
    n = sum(1 for a in data["doc"]["annotations"])
    status, err = train(data, capsys)
    assert status == 0, err
    assert f"from {n} annotations; dropped" in err and "1 with an empty box" in err


@pytest.mark.parametrize("content,message", [
    (lambda text: text[:len(text) // 2], "not valid JSON (line 1, column"),
    (lambda text: json.dumps([1, 2, 3]), "not a COCO annotation file (needs 'images', 'annotations' and 'categories'"),
    (lambda text: json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "car"}]}),
     "no keypoint category (a 'categories' entry with a 'keypoints' list) among 1 categories"),
])
def test_broken_annotation_file(data, capsys, content, message):
    data["ann"].write_text(content(json.dumps(data["doc"])))
    args = TINY + ["--train-ann", str(data["ann"]), "--train-images", str(data["images"]),
                   "--save-dir", str(data["save"])]
    status = run_main(lambda: train_simple_pose.main(args))
    assert_one_line_error(status, capsys.readouterr().err, str(data["ann"]), message)
    assert nothing_trained(data)


# --- images: decoded by the loader, in its worker processes -------------------------------------

def corrupt_jpeg(path):
    raw = path.read_bytes()
    path.write_bytes(raw[:2] + bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)) + raw[302:])
    return "cannot be decoded as an image"


def truncated_jpeg(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    return "truncated JPEG"


def not_an_image(path):
    path.write_text("this is a text file with a .jpg name\n")
    return "cannot be decoded as an image"


def break_first_image(data, breaks):
    """Break the first person's image with ``breaks``: (that person, its image entry, the ids of the people the
    loader keeps on it, what the error says)."""
    ann, img = first_person(data["doc"])
    people = [a["id"] for a in data["doc"]["annotations"] if a["image_id"] == img["id"] and not a.get("iscrowd")
              and any(a["keypoints"][2::3])]
    return ann, img, people, breaks(data["images"] / img["file_name"])


@pytest.mark.parametrize("breaks", [corrupt_jpeg, not_an_image])
def test_image_with_no_readable_header_stops_at_load_or_is_skipped(data, capsys, breaks):
    """Image headers are read at load (the stored size is checked): a file with none is a bad record there."""
    ann, img, people, what = break_first_image(data, breaks)
    status, err = train(data, capsys)
    assert_one_line_error(status, err, img["file_name"], what, f"image {img['id']}", f"annotation {ann['id']}")
    assert nothing_trained(data)
    status, err = train(data, capsys, "--on-bad-record", "skip")
    assert status == 0, err
    skipped = [line for line in err.splitlines() if "INFO skipped: " in line]
    assert f"{len(people)} bad train records skipped at load" in skipped[0], err


@pytest.mark.parametrize("breaks", [truncated_jpeg])
def test_bad_image_named_from_a_loader_worker_or_skipped(data, capsys, breaks):
    _, img, people, what = break_first_image(data, breaks)
    status, err = train(data, capsys, "-j", "2")
    last = err.strip().splitlines()[-1]
    assert_one_line_error(status, err, img["file_name"], what, f"image {img['id']}")
    assert any(f"annotation {a}" in last for a in people), last
    # Whatever was trained before the bad batch is kept: any checkpoint written is whole.
    for _, manifest in checkpoints_in(data["save"]):
        assert mx.nd.load(load_manifest(manifest)["params"])

    shutil.rmtree(data["save"])
    status, err = train(data, capsys, "-j", "2", "--on-bad-record", "skip")
    assert status == 0, err
    skipped = [line for line in err.splitlines() if "INFO skipped: " in line]
    assert f"{len(people)} bad training images skipped by the loader" in skipped[0], err
    assert img["file_name"] in skipped[0]
    row = json.loads((data["save"] / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(row["train_loss"])


class _Crashes(ValTransform):
    """A transform with a bug that shows on one record only."""

    def __init__(self, ann_id, *args):
        super().__init__(*args)
        self.ann_id = ann_id

    def geometry(self, record, *args):
        if record.ann_id == self.ann_id:
            return 1 // 0
        return super().geometry(record, *args)


def test_crash_in_a_loader_worker_names_the_record(data):
    data["ann"].write_text(json.dumps(data["doc"]))
    dataset = COCOKeyPoints(data["ann"], data["images"])
    victim = dataset.records[5]
    samples = GuardedSamples(PoseSamples(dataset, _Crashes(victim.ann_id, (64, 64)), HeatmapCodec((64, 64))), "skip")
    loader = mx.gluon.data.DataLoader(samples, batch_size=4, num_workers=2)
    with pytest.raises(SampleError) as info:
        for _ in loader:
            pass
    # A bug is not bad input: even with "skip" it stops, naming file, image and annotation.
    assert str(info.value) == (f"{victim.image_path} (image {victim.image_id}, annotation {victim.ann_id}): "
                               "loading failed: ZeroDivisionError: integer division or modulo by zero")


# --- checkpoints and flags ----------------------------------------------------------------------

def test_checkpoint_of_another_keypoint_count(data, capsys, tmp_path):
    status, err = train(data, capsys)
    assert status == 0, err
    manifest = data["save"] / "simple_pose_resnet18_v1b-epoch0001.json"
    # Parameters of a 14-keypoint model under a 17-keypoint manifest.
    other = get_pose_model("simple_pose_resnet18_v1b", 14)
    other.initialize()
    other(mx.nd.zeros((1, 3, 64, 64)))   # deferred shapes
    other.save_parameters(str(manifest.with_suffix(".params")))
    message = "parameters of a model with 14 keypoints (final_layer.weight (14, 256, 1, 1)), this model has 17"
    status = run_main(lambda: eval_simple_pose.main(["--params", str(manifest), "-j", "0", "--val-ann",
                                                     str(data["ann"]), "--val-images", str(data["images"])]))
    assert_one_line_error(status, capsys.readouterr().err, str(manifest.with_suffix(".params")), message)
    status = run_main(lambda: train_simple_pose.main(["--resume", str(manifest), "--num-epochs", "2", "-j", "0"]))
    assert_one_line_error(status, capsys.readouterr().err, str(manifest.with_suffix(".params")), message)
    # Resuming a 17-keypoint checkpoint on 14-keypoint data.
    other_data = write_crowdpose_like(str(data["ann"]), tmp_path / "cp.json")
    status = run_main(lambda: train_simple_pose.main(["--resume", str(manifest), "--num-epochs", "2", "-j", "0",
                                                      "--train-ann", other_data, "--train-images", str(data["images"])]))
    assert_one_line_error(status, capsys.readouterr().err, "cp.json: keypoints", "differ from the expected")


@pytest.mark.parametrize("flags,message", [
    (["--model", "simple_pose_vgg16"], "--model 'simple_pose_vgg16': unknown model"),
    (["--input-size", "255,190"], "--input-size '255,190': need 'height,width', both positive multiples of 32"),
    (["--batch-size", "0"], "--batch-size 0: must be an integer in [1, 4096]"),
    (["--lr-decay-epoch", "120,90"], "--lr-decay-epoch '120,90': epochs must be strictly increasing"),
])
def test_nonsense_flags(data, capsys, flags, message):
    status, err = train(data, capsys, *flags)
    assert_one_line_error(status, err, message)
    assert not data["save"].exists()


def test_unknown_choice_is_a_one_line_error(data, capsys):
    status, err = train(data, capsys, "--on-bad-record", "ignore")
    assert_one_line_error(status, err, "--on-bad-record: invalid choice: 'ignore'", "--help")
