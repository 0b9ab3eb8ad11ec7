"""Property: whatever a COCO keypoint file holds, loading it and scoring against it end in success or one
line ``error: ...`` (exit 0 or 2 through ``run_main``), never another exception, never a traceback.

Hypothesis mutates a file shaped like a real one (float ids, extra fields, a crowd region with an RLE
mask, ``segmentation`` polygons, ``area``, ``num_keypoints``, top-level ``info``/``licenses``): values of
any type in any field, deleted keys, duplicated records, empty and nested lists, strings among numbers,
huge and non-finite numbers, 2**70 ids, 5000-digit numbers, deep nesting, a text cut short. The JSON is
written as raw text, so numbers Python could not print (5000 digits) and NaN literals reach the reader.

The paths are the commands': ``COCOKeyPoints`` (what simplepose-train and simplepose-eval load, each image
read as the loader reads it), then simplepose-eval's scoring (``evaluate_poses`` with COCOeval on the cleaned
ground truth) of the ground truth itself as predictions: no network is needed per example.
"""
import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from simplepose.data.boxes import gt_boxes
from simplepose.cli import run_main
from simplepose.data.coco import COCOKeyPoints
from simplepose.runtime.pose import BoxCrops
from simplepose.scoring.coco import load_coco_gt
from simplepose.scoring.evaluation import evaluate_poses
from simplepose.scoring.matching import GroundTruthPeople
from tests.conftest import close_log_handlers

NUM_IMAGES = 3
EXAMPLES = 120


class Raw(str):
    """JSON text written as it is (a 5000-digit number, NaN, 3000 nested brackets)."""


# Refused wherever they are in the file: beyond int64 or double range, nesting past the reader's limit.
FATAL = [Raw(t) for t in (
    "1e400", "-1e400", "9" * 400, "9" * 5000, "-" + "9" * 5000, "9" * 400 + ".5", str(2 ** 70), str(2 ** 63),
    str(-2 ** 63 - 1), "[" * 3000 + "]" * 3000)]
# Readable, and wrong (or odd) only where a field needs something else.
ODD = [Raw(t) for t in (
    "0", "-1", "1.5", "-0.0", "1e300", "-1e300", "1e-300", "1e-400", "3.5e38", "1e20", "2.5e18", str(2 ** 63 - 1),
    str(-2 ** 63), str(2 ** 53 + 1), "NaN", "Infinity", "-Infinity", '"12"', '""', "null", "true", "false", "[]",
    "{}", "[[1, 2, 3]]", '["a", 1]', "[null]", "[" * 60 + "1" + "]" * 60, '{"a": ' * 60 + "1" + "}" * 60,
    json.dumps("evil\x1b[2J\nerror: fine\u202e.jpg"), '"../x.jpg"', '"/"', json.dumps("a\x00b"),
    '{"counts": "x", "size": [1]}')]
NUMBERS = st.integers(-2 ** 63, 2 ** 63 - 1) | st.floats() | st.floats(-1e4, 1e4)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 80, 2 ** 80) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6)


def to_text(value) -> str:
    """JSON text of ``value``, :class:`Raw` pieces as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(to_text, value)) + "]"
    return json.dumps(value)


@st.composite
def place(draw, doc):
    """(container, key or index) of a value of ``doc``: mostly inside the records, at any depth."""
    parent, keys = doc, sorted(doc)
    if not keys:
        return None
    key = draw(st.sampled_from(["annotations", "annotations", "images", "categories"] + keys))
    if key not in parent:
        key = draw(st.sampled_from(keys))
    # The top level's lists are entered (replacing one whole is the one case of "not a COCO file").
    while isinstance(parent[key], (dict, list)) and parent[key] and (parent is doc or draw(st.integers(0, 4)) > 0):
        parent = parent[key]
        key = draw(st.sampled_from(sorted(parent) if isinstance(parent, dict) else range(len(parent))))
    return parent, key


@st.composite
def mutated(draw, base):
    """(The text of ``base`` after one to three random mutations (and sometimes cut short), whether it holds a
    value of ``FATAL``)."""
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        found = draw(place(doc))
        if found is None:
            break
        parent, key = found
        how = draw(st.sampled_from(["odd", "odd", "number", "number", "value", "delete", "duplicate", "empty",
                                    "wrap", "string", "fatal"]))
        value = parent[key]
        if how == "delete":
            del parent[key]
        elif how == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(value)) if not isinstance(value, Raw) else value)
        elif how == "empty":
            parent[key] = [] if isinstance(value, list) else {} if isinstance(value, dict) else Raw('""')
        elif how == "wrap":
            parent[key] = [value]
        elif how == "string" and not isinstance(value, (dict, list)):
            parent[key] = str(value)
        elif how == "value":
            parent[key] = draw(JSON_VALUES)
        elif how == "number":
            parent[key] = draw(NUMBERS)
        else:
            parent[key] = draw(st.sampled_from(FATAL if how == "fatal" else ODD))
    text = to_text(doc)
    if draw(st.integers(1, 20)) == 20:
        return text[:draw(st.integers(0, len(text)))], False
    return text, any(isinstance(value, Raw) and value in FATAL for value in leaves(doc))


def leaves(value):
    """Every value inside ``value`` that is not a list or an object."""
    if isinstance(value, (dict, list)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from leaves(item)
    else:
        yield value


@pytest.fixture(scope="module")
def real_like(synthetic, tmp_path_factory):
    """(annotation dict shaped like a real COCO file, image folder, folder for the mutated files)."""
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    root = tmp_path_factory.mktemp("hostile")
    (root / "images").mkdir()
    doc["images"] = doc["images"][:NUM_IMAGES]
    ids = {img["id"] for img in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    for img in doc["images"]:
        shutil.copy(Path(synthetic["val_images"]) / img["file_name"], root / "images" / img["file_name"])
        img.update(id=float(img["id"]), license=1, date_captured="2013-11-14 11:18:45",
                   coco_url=f"http://images.cocodataset.org/val2017/{img['file_name']}")
    for ann in doc["annotations"]:
        ann.update(id=float(ann["id"]), image_id=float(ann["image_id"]), attributes={"occluded": False})
    first = doc["annotations"][0]
    doc["annotations"].append({"id": 900001, "image_id": first["image_id"], "category_id": 1, "iscrowd": 1,
                               "bbox": [1.0, 2.0, 30.0, 40.0], "area": 1200, "num_keypoints": 0,
                               "keypoints": [0] * 51, "segmentation": {"counts": [2, 30, 10], "size": [240, 320]}})
    return doc, root / "images", root


def load_and_score(ann: Path, images: Path, on_bad_record: str) -> int:
    """What simplepose-train and simplepose-eval do with the file, the network's output being the ground truth."""
    dataset = COCOKeyPoints(ann, images, on_bad_record=on_bad_record)
    for i in range(len(dataset)):
        dataset.read(i)
    meta, records = dataset.meta, dataset.records
    boxes = gt_boxes(dataset)
    crops = BoxCrops(boxes.image_paths, boxes.boxes, (64, 48))
    keypoints = np.array([r.joints for r in records], np.float32).reshape(-1, meta.num_joints, 3)
    keypoints[..., 2] = 0.9
    gt = load_coco_gt(dataset) if meta.sigmas is not None else None
    report, results = evaluate_poses(keypoints, boxes, crops.areas, meta,
                                     GroundTruthPeople.from_records(records, meta.num_joints),
                                     dataset.category_id, gt)
    assert report.lines() and json.dumps(report.to_dict(), allow_nan=False)   # what the command prints and writes
    return 0


def test_the_unmutated_file_loads_and_scores_perfectly(real_like):
    doc, images, root = real_like
    ann = root / "clean.json"
    ann.write_text(to_text(doc))
    dataset = COCOKeyPoints(ann, images)
    assert len(dataset) > 0 and dataset.meta.sigmas is not None
    assert all(isinstance(r.image_id, int) for r in dataset.records)   # float ids read as integers
    keypoints = np.array([r.joints for r in dataset.records], np.float32)
    keypoints[..., 2] = 0.9
    boxes = gt_boxes(dataset)
    report, _ = evaluate_poses(keypoints, boxes, BoxCrops(boxes.image_paths, boxes.boxes, (64, 48)).areas,
                               dataset.meta, GroundTruthPeople.from_records(dataset.records, dataset.meta.num_joints),
                               dataset.category_id, load_coco_gt(dataset))
    assert report.stats["AP"] == pytest.approx(1.0)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_any_mutation_ends_in_success_or_one_line(real_like, data):
    doc, images, root = real_like
    text, fatal = data.draw(mutated(doc))
    on_bad_record = data.draw(st.sampled_from(["error", "skip"]))
    ann = root / "mutated.json"
    ann.write_text(text, encoding="utf-8", errors="surrogatepass")
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            status = run_main(lambda: load_and_score(ann, images, on_bad_record))
    finally:
        close_log_handlers()
    lines = err.getvalue().strip().splitlines()
    # How the examples ended, for --hypothesis-show-statistics: "0", or "2" and the start of the line.
    event(f"{status} " + (lines[-1].split("mutated.json")[-1][:70] if status else ""))
    assert status in (0, 2), err.getvalue()[-3000:]
    assert "Traceback" not in err.getvalue(), err.getvalue()[-3000:]
    if status == 2:
        assert lines[-1].startswith("error: ") and lines[-1].isprintable(), lines[-1]
    if fatal:   # a number out of range or deep nesting anywhere: refused at parse time, naming it
        assert status == 2 and ("annotation file: the number " in lines[-1] or "levels deep" in lines[-1]), lines[-1]
