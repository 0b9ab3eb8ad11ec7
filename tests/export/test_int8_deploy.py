"""An INT8 export as deployed: its measured AP change (``export.int8_accuracy``) against evaluation's, the
checks of its deploy.json records, and ``--backend auto`` (INT8 for prediction, FP32 for evaluation)."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

import eval_simple_pose
from simplepose.cli import run_main
from simplepose.data.coco import COCOKeyPoints
from simplepose.errors import SimplePoseError
from simplepose.export.command import main as export_main
from simplepose.export.int8_accuracy import HELD_OUT, held_out_images, split_calibration
from simplepose.predict.command import main as predict_main
from simplepose.runtime.describe import deploy_meta, load_deploy
from simplepose.runtime.load import load_model
from simplepose.runtime.predictor import PosePredictor


@pytest.fixture(scope="module")
def measured_export(trained, synthetic, tmp_path_factory) -> Path:
    """``simplepose-export --int8`` of the trained checkpoint calibrated on the synthetic training set (40 images,
    enough people to hold half the images out)."""
    out = tmp_path_factory.mktemp("int8-measured")
    assert export_main(["--params", trained, "--out", str(out), "--int8", "--calib-ann", synthetic["train_ann"],
                        "--calib-images", synthetic["train_images"]]) == 0
    return out


def test_split_calibration_holds_out_every_other_image_and_calibrates_on_the_rest(synthetic, exported_model):
    meta = deploy_meta(load_deploy(exported_model))
    split = split_calibration(synthetic["train_ann"], synthetic["train_images"], meta)
    ids = sorted({r.image_id for r in split.dataset.records})
    assert split.unmeasured is None and len(ids) == 40
    assert sorted({r.image_id for r in split.held_out}) == ids[1::2]
    assert sorted({r.image_id for r in split.calibration}) == ids[0::2]
    assert len(split.held_out) + len(split.calibration) == len(split.dataset.records)
    # A large file: whole images spread over it, about max_people people in all.
    few = held_out_images(split.dataset.records, max_people=10)
    assert set(few) < set(ids[1::2]) and few[0] == ids[1] and few[-1] == ids[-1]
    assert 5 <= sum(r.image_id in few for r in split.dataset.records) <= 10


def test_split_calibration_says_why_it_cannot_measure(synthetic, exported_model, tmp_path):
    meta = deploy_meta(load_deploy(exported_model))
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    doc["categories"][0]["keypoints"] = [f"point{i}" for i in range(17)]
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(doc))
    split = split_calibration(renamed, synthetic["val_images"], meta)
    assert "not the model's" in split.unmeasured and split.held_out == [] and len(split.calibration) == 25
    no_sigmas = dataclasses.replace(meta, sigmas=None, sigmas_source=None)
    split = split_calibration(synthetic["train_ann"], synthetic["train_images"], no_sigmas)
    assert split.unmeasured.startswith("no OKS sigmas") and split.held_out == []


def held_out_file(ann: str, image_ids: list[int], out: Path) -> Path:
    """The annotation file ``ann`` reduced to the images ``image_ids``, as a user would cut it."""
    doc = json.loads(Path(ann).read_text())
    keep = set(image_ids)
    doc["images"] = [i for i in doc["images"] if i["id"] in keep]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in keep]
    out.write_text(json.dumps(doc))
    return out


def test_int8_accuracy_is_what_eval_reports_on_the_held_out_images(measured_export, synthetic, tmp_path):
    doc = json.loads((measured_export / "deploy.json").read_text())
    accuracy = doc["int8_accuracy"]
    records = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"]).records
    ids = held_out_images(records)
    assert accuracy["measured"] is True and accuracy["held_out"] == HELD_OUT
    assert (accuracy["images"], accuracy["people"]) == (20, sum(r.image_id in ids for r in records))
    assert accuracy["data"] == synthetic["train_ann"] and accuracy["boxes"] == "ground-truth boxes"
    assert accuracy["ap_change"] == pytest.approx(accuracy["ap_int8"] - accuracy["ap_fp32"], abs=2e-6)
    # The calibration crops come from the other 20 images only.
    assert doc["calibration"]["image_files"] == 20
    assert doc["calibration"]["crops"] == min(100, len(records) - accuracy["people"])
    ann = held_out_file(synthetic["train_ann"], ids, tmp_path / "held_out.json")
    for backend, key in (("onnx", "ap_fp32"), ("onnx-int8", "ap_int8")):
        out = tmp_path / f"{backend}.json"
        assert eval_simple_pose.main(["--params", str(measured_export), "--backend", backend, "--ann", str(ann),
                                      "--images", synthetic["train_images"], "-j", "0", "--metrics-json",
                                      str(out)]) == 0
        assert json.loads(out.read_text())["AP"] == pytest.approx(accuracy[key], abs=1e-6)
    assert accuracy["ap_fp32"] > 0.05     # a trained model: equal APs above say something


@pytest.mark.parametrize("edit, field", [
    (("int8_accuracy", "ap_int8", float("nan")), "'ap_int8'"),
    (("int8_accuracy", "ap_fp32", -0.25), "'ap_fp32'"),
    (("int8_accuracy", "people", -3), "'people'"),
    (("int8_accuracy", "images", "20"), "'images'"),
    (("int8_accuracy", "measured", "yes"), "'measured'"),
    (("int8_accuracy", "ap_change", 0.5), "'ap_change'"),
    (("calibration", "crops", 0), "'crops'"),
    (("calibration", "fp32_nodes", [3]), "'fp32_nodes'"),
    ((None, "int8_accuracy", [1]), "int8_accuracy"),
])
def test_bad_int8_records_in_deploy_json_are_one_line_exit_2(measured_export, tmp_path, capsys, edit, field):
    copy = shutil.copytree(measured_export, tmp_path / "copy")
    doc = json.loads((copy / "deploy.json").read_text())
    record, key, value = edit
    (doc[record] if record else doc)[key] = value
    (copy / "deploy.json").write_text(json.dumps(doc))          # NaN written as JSON's NaN literal
    assert run_main(lambda: eval_simple_pose.main(["--params", str(copy)])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {copy / 'deploy.json'}")
    assert field in err and err.endswith("; export the checkpoint again (simplepose-export --int8)")


def test_a_missing_int8_file_is_one_line_exit_2(measured_export, tmp_path, capsys):
    copy = shutil.copytree(measured_export, tmp_path / "copy")
    doc = json.loads((copy / "deploy.json").read_text())
    (copy / doc["int8"]).unlink()
    assert run_main(lambda: eval_simple_pose.main(["--params", str(copy)])) == 2
    assert capsys.readouterr().err.strip() == f"error: {copy / doc['int8']}: file of export {copy / 'deploy.json'} " \
                                              "is missing"


def test_auto_runs_the_int8_model_for_prediction_and_the_fp32_one_for_evaluation(measured_export, exported_model):
    assert PosePredictor.load(measured_export).backend == "onnx-int8"
    assert load_model(measured_export).backend == "onnx"                # evaluation's load
    assert PosePredictor.load(exported_model).backend == "onnx"         # no INT8 model: its ONNX one
    assert PosePredictor.load(measured_export, "onnx").backend == "onnx"   # asked for: what runs


@pytest.mark.usefixtures("drop_log_handlers")
def test_predict_and_eval_say_which_model_auto_runs(measured_export, synthetic, tmp_path, capsys):
    image = str(next(Path(synthetic["val_images"]).iterdir()))
    assert predict_main(["--model", str(measured_export), "--input", image, "--out", str(tmp_path / "out")]) == 0
    assert "INFO predicting with simple_pose_resnet18_v1b (onnx-int8) on 1 inputs" in capsys.readouterr().err
    out = tmp_path / "metrics.json"
    assert eval_simple_pose.main(["--params", str(measured_export), "--metrics-json", str(out), "-j", "0"]) == 0
    assert json.loads(out.read_text())["model"] == f"export {measured_export} (onnx)"


def test_backend_onnx_int8_of_an_export_without_int8_is_refused(exported_model):
    with pytest.raises(SimplePoseError, match="has no INT8 model"):
        PosePredictor.load(exported_model, "onnx-int8")
