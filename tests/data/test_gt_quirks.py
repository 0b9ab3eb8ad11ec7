"""Ground-truth quirks change no figure once fixed: the quirky copy of a file scores the clean file's AP.

Fixed predictions (the ground truth moved by a few pixels, so AP is neither 0 nor 1) are scored by
COCOeval through ``scoring.coco`` on the clean file and on a copy with each quirk public files have:
repeated annotation ids, an id 0, ``num_keypoints`` 0 on labelled people, ``area`` NaN, zero, negative
or missing, nested keypoints, an image listed twice, an image entry with the wrong size. Scored raw by
pycocotools, the copy gives another AP: the test can fail.
"""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from simplepose.data.boxes import gt_boxes
from simplepose.data import quirks
from simplepose.data.coco import COCOKeyPoints
from simplepose.scoring.coco import evaluate_keypoints, load_coco_gt


def predictions(ds):
    """(N, K, 3) the ground-truth joints moved by 0..6 px (fixed by seed), score 1: AP well inside (0, 1)."""
    rng = np.random.default_rng(0)
    out = np.stack([r.joints.copy() for r in ds.records])
    out[..., :2] += rng.normal(0, 3, out[..., :2].shape)
    out[..., 2] = 1
    return out


def ap(ds, gt):
    boxes = gt_boxes(ds)
    areas = (boxes.boxes[:, 2] - boxes.boxes[:, 0]) * (boxes.boxes[:, 3] - boxes.boxes[:, 1])
    report, _ = evaluate_keypoints(gt, predictions(ds), boxes, areas, ds.meta, ds.category_id, per_keypoint=False)
    return report.stats["AP"]


def raw_gt(path):
    """The file as pycocotools reads it, with the silent quirks: those COCOeval crashes on (a missing area,
    nested keypoints) undone."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
    for ann in gt.dataset["annotations"]:   # the same dicts as gt.anns
        ann.setdefault("area", ann["bbox"][2] * ann["bbox"][3])
        ann["keypoints"] = np.ravel(ann["keypoints"]).tolist()
    return gt


def break_it(doc):
    """The quirks, on labelled people of the synthetic validation file (in place); what each should count."""
    people = [a for a in doc["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    assert len(people) >= 12
    people[1]["id"] = people[0]["id"]                 # repeated ids: pycocotools keeps one of each
    people[3]["id"] = people[2]["id"]
    people[4]["id"] = 0                               # a match with id 0 counts as a false positive
    people[5]["num_keypoints"] = 0                    # COCOeval ignores the person
    people[6]["num_keypoints"] = 3
    people[7]["area"] = float("nan")
    people[8]["area"] = 0
    people[9]["area"] = -12.5
    del people[10]["area"]
    kps = people[11]["keypoints"]
    people[11]["keypoints"] = [kps[i:i + 3] for i in range(0, len(kps), 3)]
    doc["images"].append(dict(doc["images"][0]))      # the same image listed twice
    doc["images"][1]["width"] += 40                   # an entry with the wrong size
    return {quirks.DUPLICATE_ID: 2, quirks.NONPOSITIVE_ID: 1, quirks.NUM_KEYPOINTS_WRONG: 2,
            quirks.AREA_INVALID: 3, quirks.AREA_MISSING: 1, quirks.NESTED: 1, quirks.DUPLICATE_IMAGE: 1,
            quirks.IMAGE_SIZE: 1}


def test_quirky_ground_truth_scores_the_clean_files_ap(synthetic, tmp_path, caplog):
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    for ann in doc["annotations"]:   # the clean file's area is its box's, the value a missing area gets
        ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    clean_file, quirky_file = tmp_path / "clean.json", tmp_path / "quirky.json"
    clean_file.write_text(json.dumps(doc))
    expected = break_it(doc)
    quirky_file.write_text(json.dumps(doc))

    clean = COCOKeyPoints(clean_file, synthetic["val_images"])
    assert not clean.fixed
    with caplog.at_level("WARNING"):
        quirky = COCOKeyPoints(quirky_file, synthetic["val_images"])
    assert dict(quirky.fixed) == {k: v for k, v in expected.items()}
    assert f"{quirks.DUPLICATE_ID}: 2 records, e.g. annotation" in caplog.text
    assert len(quirky) == len(clean)

    clean_ap = ap(clean, load_coco_gt(clean))
    assert 0.2 < clean_ap < 0.95, clean_ap
    assert ap(clean, raw_gt(clean_file)) == clean_ap          # a clean file: the cleaned ground truth is the file
    assert ap(quirky, load_coco_gt(quirky)) == pytest.approx(clean_ap, abs=1e-12)
    assert abs(ap(quirky, raw_gt(quirky_file)) - clean_ap) > 0.01   # pycocotools on the raw copy: wrong
    ids = [a["id"] for a in load_coco_gt(quirky).dataset["annotations"]]
    assert len(set(ids)) == len(ids) and min(ids) > 0
