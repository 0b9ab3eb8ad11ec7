"""One crop path: the same image and box through validation in training, eval_simple_pose.py and prediction.

A tiny model trains for one epoch with a validation file of one image holding one person; the keypoints
that validation decoded after the epoch are then asked of ``eval_simple_pose.py`` (its main, on the
checkpoint, ``--results-json``) and of ``simplepose.predict.command`` (its main, ``--boxes`` with that person's box,
on the checkpoint and on its export). Each command's keypoints are taken twice: unrounded, where the shared
path returns them, and as the command wrote them (rounded to 3 and 2 decimals); both must be equal.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import eval_simple_pose
import simplepose.predict.command
import simplepose.runtime.predictor
import simplepose.training.validation
import train_simple_pose
from simplepose.runtime import pose as pose_inference
from simplepose.data.coco import COCOKeyPoints
from simplepose.export.command import export_checkpoint
from tests.conftest import removed_at_end

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "16", "-j", "0",
        "--num-epochs", "1", "--log-interval", "0", "--seed", "7"]

pytestmark = pytest.mark.usefixtures("drop_log_handlers")


def spy(monkeypatch, owner, name, index=None):
    """Record what ``owner.name`` returns (its item ``index`` when given) into the returned list."""
    calls, real = [], getattr(owner, name)

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out if index is None else out[index])
        return out
    monkeypatch.setattr(owner, name, wrapper)
    return calls


@pytest.fixture(scope="module")
def one_person(synthetic, tmp_path_factory):
    """(annotation file of one image with one person, that person's record, its [x, y, w, h] box file)."""
    val = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    rec = max(val.records, key=lambda r: (r.bbox[2] - r.bbox[0]) * (r.bbox[3] - r.bbox[1]))   # the largest
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    doc["images"] = [img for img in doc["images"] if img["id"] == rec.image_id]
    doc["annotations"] = [a for a in doc["annotations"] if a["id"] == rec.ann_id]
    out = tmp_path_factory.mktemp("one")
    (out / "one.json").write_text(json.dumps(doc))
    # The box evaluation and validation crop (the annotation's, clipped as GluonCV does), as [x, y, w, h].
    x0, y0, x1, y1 = (float(v) for v in rec.bbox)
    (out / "box.json").write_text(json.dumps([[x0, y0, x1 - x0, y1 - y0]]))
    return str(out / "one.json"), rec, str(out / "box.json")


@pytest.fixture(scope="module")
def trained_once(synthetic, one_person, tmp_path_factory, request):
    """(checkpoint after one epoch, the keypoints validation decoded after that epoch, (1, K, 3))."""
    ann, _, _ = one_person
    save = removed_at_end(request, tmp_path_factory.mktemp("run"))
    with pytest.MonkeyPatch.context() as mp:
        seen = spy(mp, simplepose.training.validation, "validate", index=2)
        assert train_simple_pose.main(TINY + ["--train-ann", synthetic["train_ann"], "--train-images",
                                              synthetic["train_images"], "--val-ann", ann, "--val-images",
                                              synthetic["val_images"], "--save-dir", str(save)]) == 0
    assert len(seen) == 2          # epoch 0 (untrained) and epoch 1
    return str(save / "simple_pose_resnet18_v1b-epoch0001.json"), seen[-1]


def evaluate(monkeypatch, synthetic, ann, ckpt, out, *extra):
    """(unrounded (1, K, 3) keypoints, the --results-json keypoints (1, K, 3)) of eval_simple_pose.py."""
    found = spy(monkeypatch, pose_inference, "predict_keypoints")
    assert eval_simple_pose.main(["--params", ckpt, "--ann", ann, "--images", synthetic["val_images"], "-j", "0",
                                  "--oks-nms", "1", "--results-json", str(out), *extra]) == 0
    written = json.loads(Path(out).read_text())
    assert len(found) == 1 and len(written) == 1
    return found[0], np.reshape(written[0]["keypoints"], (1, -1, 3))


def predict(monkeypatch, model, rec, box_file, out, *extra):
    """(unrounded (1, K, 3) keypoints, the STEM.json keypoints (1, K, 3)) of simplepose.predict.command."""
    found = spy(monkeypatch, simplepose.runtime.predictor, "predict_keypoints")
    out_dir = Path(out).with_suffix("")
    assert simplepose.predict.command.main(["--model", str(model), "--input", rec.image_path, "--boxes", box_file,
                                    "--out", str(out_dir), *extra]) == 0
    people = json.loads((out_dir / f"{Path(rec.image_path).stem}.json").read_text())["people"]
    assert len(found) == 1 and len(people) == 1
    return found[0], np.array([people[0]["keypoints"]])


def rounded(keypoints, digits):
    """As the commands write keypoints: Python's round of each float."""
    return np.array([[[round(float(v), digits) for v in kp] for kp in pose] for pose in keypoints])


def test_validation_evaluation_and_prediction_give_the_same_keypoints(synthetic, one_person, trained_once,
                                                                      tmp_path, monkeypatch):
    ann, rec, box_file = one_person
    ckpt, in_training = trained_once
    assert in_training.shape == (1, 17, 3) and in_training.dtype == np.float32
    # A real prediction: peaks found, on the person's crop.
    assert (in_training[..., 2] > 0).all()
    x0, y0, x1, y1 = rec.bbox
    assert ((in_training[..., 0] > x0 - (x1 - x0)) & (in_training[..., 0] < x1 + (x1 - x0))).all()

    evaluated, eval_json = evaluate(monkeypatch, synthetic, ann, ckpt, tmp_path / "results.json")
    np.testing.assert_array_equal(evaluated, in_training)
    np.testing.assert_array_equal(eval_json, rounded(in_training, 3))

    predicted, predict_json = predict(monkeypatch, ckpt, rec, box_file, tmp_path / "pose.json")
    np.testing.assert_array_equal(predicted, in_training)
    np.testing.assert_array_equal(predict_json, rounded(in_training, 2))

    # The export run by MXNet is the same graph: the same numbers. ONNX Runtime adds float rounding only.
    export = tmp_path / "export"
    export_checkpoint(ckpt, export)
    exported, _ = predict(monkeypatch, export, rec, box_file, tmp_path / "mxnet.json", "--backend", "mxnet")
    np.testing.assert_array_equal(exported, in_training)
    onnx, _ = predict(monkeypatch, export, rec, box_file, tmp_path / "onnx.json", "--backend", "onnx")
    np.testing.assert_allclose(onnx, in_training, atol=1e-3)

    # The comparison can fail: the same person one pixel to the right is another crop, other keypoints.
    x, y, w, h = json.loads(Path(box_file).read_text())[0]
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps([[x + 1, y, w, h]]))
    other, _ = predict(monkeypatch, ckpt, rec, str(moved), tmp_path / "moved_pose.json")
    assert not np.array_equal(other, in_training)


def test_flip_test_is_the_same_in_evaluation_and_prediction(synthetic, one_person, trained_once, tmp_path,
                                                            monkeypatch):
    ann, rec, box_file = one_person
    ckpt, in_training = trained_once
    evaluated, _ = evaluate(monkeypatch, synthetic, ann, ckpt, tmp_path / "results.json", "--flip-test",
                            "--decode", "dark")
    predicted, _ = predict(monkeypatch, ckpt, rec, box_file, tmp_path / "pose.json", "--flip-test",
                           "--decode", "dark")
    np.testing.assert_array_equal(predicted, evaluated)
    assert not np.array_equal(evaluated, in_training)     # the flip test and DARK decoding did something
