"""GluonCV's model-zoo names as models (``simple_pose_resnet18_v1b``): predict, eval and export find the weights in
GluonCV's model store under ``MXNET_HOME``, with COCO's keypoints and GluonCV's settings; offline, one line naming
the file and the folder, exit 2; a name without published weights, one line naming those with them.

The store is a temporary ``MXNET_HOME`` holding the parameters of a fresh (untrained) ResNet-18 under the name
GluonCV's store expects; its SHA-1 table entry for the name is set to that file's SHA-1, so GluonCV's own check
passes and every step but the download (no network here) is GluonCV's and ours."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from gluoncv.model_zoo import model_store

from simplepose.cli import run_main
from simplepose.errors import SimplePoseError
from simplepose.evaluate import main as eval_main
from simplepose.export.command import main as export_main
from simplepose.meta import COCO_KEYPOINT_NAMES
from simplepose.predict.command import main as predict_main
from simplepose.runtime.describe import describe, file_sha256, is_zoo_source
from simplepose.runtime.load import load_model
from simplepose.zoo import GLUONCV_INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

NAME = "simple_pose_resnet18_v1b"
# GluonCV 0.10.5's table, in its order: no simple_pose_resnet18_v1d.
PUBLISHED = ", ".join(["simple_pose_resnet18_v1b", "simple_pose_resnet50_v1b", "simple_pose_resnet101_v1b",
                       "simple_pose_resnet152_v1b", "simple_pose_resnet50_v1d", "simple_pose_resnet101_v1d",
                       "simple_pose_resnet152_v1d"])


@pytest.fixture(scope="module")
def zoo_home(tmp_path_factory):
    """(MXNET_HOME, SHA-1) of a model store holding a fresh 17-keypoint ResNet-18 SimplePoseResNet's parameters
    (as save_parameters writes them, 60 MB), under the name GluonCV's store gives them once its table holds their
    SHA-1."""
    import mxnet as mx
    from simplepose.model import get_pose_model
    net = get_pose_model(NAME, len(COCO_KEYPOINT_NAMES))
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 64, 64)))
    home = tmp_path_factory.mktemp("mxnet")
    (home / "models").mkdir()
    path = home / "models" / "net.params"
    net.save_parameters(str(path))
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    path.rename(home / "models" / f"{NAME}-{sha1[:8]}.params")
    return home, sha1


@pytest.fixture
def store(zoo_home, monkeypatch):
    """The weights file of ``zoo_home``, MXNET_HOME and GluonCV's table set for it, no network."""
    home, sha1 = zoo_home
    monkeypatch.setitem(model_store._model_sha1, NAME, sha1)
    monkeypatch.setattr(model_store, "download", offline)
    monkeypatch.setenv("MXNET_HOME", str(home))
    stored = home / "models" / f"{NAME}-{model_store.short_hash(NAME)}.params"
    assert stored.is_file()
    return stored


def offline(url, *args, **kwargs):
    """GluonCV's download without a network (what requests raises when the name does not resolve)."""
    raise ConnectionError(f"no network: {url}")


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """An empty MXNET_HOME and no network."""
    monkeypatch.setattr(model_store, "download", offline)
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "empty"))
    return tmp_path / "empty" / "models"


def val_image(synthetic):
    return sorted(Path(synthetic["val_images"]).glob("*.jpg"))[0]


def test_a_zoo_name_is_coco_keypoints_with_gluoncvs_settings_and_the_stores_weights(store):
    loaded = load_model(NAME)
    desc = loaded.description
    assert loaded.backend == "mxnet" and loaded.what == f"GluonCV's {NAME} (weights {store})"
    assert desc["checkpoint"] == str(store) and desc["model"] == NAME
    assert desc["meta"]["names"] == list(COCO_KEYPOINT_NAMES) and desc["meta"]["sigmas_source"].startswith("COCO")
    assert (desc["input_size"], desc["mean"], desc["std"]) == (list(GLUONCV_INPUT_SIZE), list(IMAGENET_MEAN),
                                                                list(IMAGENET_STD))
    assert (desc["sigma"], desc["codec"], desc["stride"]) == (2.0, "standard", 4)
    heatmaps = loaded.forward(np.zeros((2, *GLUONCV_INPUT_SIZE, 3), np.uint8))
    assert heatmaps.shape == (2, 17, 64, 48)


def test_a_path_of_a_zoo_name_is_that_path(tmp_path, monkeypatch):
    def no_store(name):
        raise AssertionError(f"{name} was taken for a zoo name")

    monkeypatch.chdir(tmp_path)
    assert is_zoo_source(NAME) and not is_zoo_source(f"models/{NAME}") and not is_zoo_source("resnet18_v1b")
    (tmp_path / f"{NAME}.json").write_text("{}")   # a checkpoint prefix NAME: its manifest
    assert not is_zoo_source(NAME)
    with pytest.raises(SimplePoseError, match="not a simplepose checkpoint manifest"):
        describe(NAME, zoo_weights=no_store)
    (tmp_path / f"{NAME}.json").unlink()
    (tmp_path / NAME).mkdir()                      # a folder NAME: a run directory without checkpoints
    assert not is_zoo_source(NAME)


def test_predict_with_a_zoo_name_runs_gluoncvs_model_on_the_boxes(store, synthetic, tmp_path, capsys):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[10, 8, 40, 60], [30.5, 20, 25, 35]]))
    image = val_image(synthetic)
    status = run_main(lambda: predict_main(["--model", NAME, "--input", str(image), "--boxes", str(boxes),
                                            "--out", str(tmp_path / "out")]))
    assert status == 0, capsys.readouterr().err
    people = json.loads((tmp_path / "out" / f"{image.stem}.json").read_text())["people"]
    assert [p["box"] for p in people] == [[10, 8, 40, 60], [30.5, 20, 25, 35]]
    # The keypoints are the zoo model's on those boxes, through the one inference path.
    from simplepose.runtime.predictor import PosePredictor
    expected = PosePredictor.load(NAME).predict([cv2.imread(str(image))],
                                                [np.array([[10, 8, 50, 68], [30.5, 20, 55.5, 55]])])[0]
    assert [p["keypoints"] for p in people] == [q.to_json()["keypoints"] for q in expected]
    assert all(len(p["keypoints"]) == 17 for p in people)


def test_eval_with_a_zoo_name_scores_coco_keypoints_on_the_given_data(store, synthetic, tmp_path, capsys):
    metrics = tmp_path / "metrics.json"
    status = run_main(lambda: eval_main(["--params", NAME, "--ann", synthetic["val_ann"], "--images",
                                         synthetic["val_images"], "--metrics-json", str(metrics), "-j", "0"]))
    assert status == 0, capsys.readouterr().err
    report = json.loads(metrics.read_text())
    assert report["model"] == f"GluonCV's {NAME} (weights {store})" and report["input_size"] == [256, 192]
    assert list(report["per_keypoint_ap"]) == list(COCO_KEYPOINT_NAMES) and 0 <= report["AP"] <= 1


def test_eval_with_a_zoo_name_refuses_data_without_cocos_keypoints(store, synthetic, tmp_path, capsys):
    doc = json.loads(Path(synthetic["val_ann"]).read_text())
    doc["categories"][0]["keypoints"][0] = "snout"
    ann = tmp_path / "animals.json"
    ann.write_text(json.dumps(doc))
    status = run_main(lambda: eval_main(["--params", NAME, "--ann", str(ann), "--images", synthetic["val_images"]]))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith(f"error: {ann}: keypoints ['snout', 'left_eye'")
    assert "differ from the expected ['nose', 'left_eye'" in err[-1] and "Traceback" not in "".join(err)


def test_export_of_a_zoo_name_carries_cocos_metadata_and_runs_as_the_zoo_model(store, tmp_path, capsys):
    out = tmp_path / "export"
    assert run_main(lambda: export_main(["--params", NAME, "--out", str(out), "--no-onnx"])) == 0
    doc = json.loads((out / "deploy.json").read_text())
    assert doc["model"] == NAME and doc["meta"]["names"] == list(COCO_KEYPOINT_NAMES)
    assert doc["input_size"] == [256, 192] and doc["mean"] == list(IMAGENET_MEAN) and doc["onnx"] is None
    assert doc["checkpoint"] == str(store) and doc["checkpoint_sha256"] == file_sha256(store)
    crops = np.random.default_rng(0).integers(0, 256, (2, 256, 192, 3), np.uint8)
    exported, live = load_model(out, "mxnet"), load_model(NAME)
    np.testing.assert_allclose(exported.forward(crops), live.forward(crops), atol=1e-5)
    # A zoo model's settings are GluonCV's: the flags of a plain .params file are refused.
    status = run_main(lambda: export_main(["--params", NAME, "--out", str(out), "--ann", "x.json"]))
    assert status == 2 and capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --ann: {NAME} is GluonCV's model-zoo model (COCO's keypoints, GluonCV's input size and "
        "normalisation); they describe a plain .params file")


def commands(tmp_path, synthetic, name):
    """Predict, eval and export of zoo model ``name``, each as its command line runs it: exit status."""
    image = val_image(synthetic)
    return {"predict": lambda: run_main(lambda: predict_main(["--model", name, "--input", str(image), "--out",
                                                              str(tmp_path / "out")])),
            "eval": lambda: run_main(lambda: eval_main(["--params", name, "--ann", synthetic["val_ann"], "--images",
                                                        synthetic["val_images"]])),
            "export": lambda: run_main(lambda: export_main(["--params", name, "--out", str(tmp_path / "export")]))}


def test_offline_each_command_names_the_file_and_the_folder_in_one_line(empty_store, synthetic, tmp_path, capsys):
    file = f"{NAME}-{model_store.short_hash(NAME)}.params"
    for command, run in commands(tmp_path, synthetic, NAME).items():
        assert run() == 2, command
        out, err = capsys.readouterr()
        assert err.strip().splitlines()[-1] == (
            f"error: cannot get GluonCV's pose weights for {NAME} (no connection to GluonCV's model store); run "
            f"once online, or put GluonCV's file {file} into {empty_store}"), command
        assert out == "" and "Traceback" not in err and "Model file not found" not in err, command
    assert not (tmp_path / "out").exists() and not (tmp_path / "export").exists()


def test_the_readmes_real_people_line_offline_is_one_line(empty_store, synthetic, tmp_path, capsys, monkeypatch):
    """``simplepose-predict --model simple_pose_resnet50_v1b --detector yolo3_mobilenet1.0_coco --input photo.jpg``
    where GluonCV's store cannot be reached: the detector's weights are fetched first, and their absence is the one
    line (GluonCV's "Model file not found" and "Downloading ... from URL" withheld); nothing is written."""
    def offline_with_chatter(url, *args, **kwargs):
        print(f"Downloading {url}...")   # as GluonCV's download prints before it connects
        offline(url)
    monkeypatch.setattr(model_store, "download", offline_with_chatter)
    monkeypatch.chdir(tmp_path)
    status = run_main(lambda: predict_main(["--model", "simple_pose_resnet50_v1b", "--detector",
                                            "yolo3_mobilenet1.0_coco", "--input", str(val_image(synthetic))]))
    out, err = capsys.readouterr()
    file = f"yolo3_mobilenet1.0_coco-{model_store.short_hash('yolo3_mobilenet1.0_coco')}.params"
    assert status == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: cannot get GluonCV's detector weights for yolo3_mobilenet1.0_coco (no connection to GluonCV's model "
        f"store); run once online, or put GluonCV's file {file} into {empty_store}"]
    assert not (tmp_path / "predictions").exists()


def test_a_name_without_published_weights_says_which_names_have_them(empty_store, synthetic, tmp_path, capsys):
    for command, run in commands(tmp_path, synthetic, "simple_pose_resnet18_v1d").items():
        assert run() == 2, command
        assert capsys.readouterr().err.strip().splitlines()[-1] == (
            "error: simple_pose_resnet18_v1d: GluonCV publishes no simple_pose weights of this model; it does for "
            f"{PUBLISHED}"), command


def test_a_zoo_name_with_the_onnx_backend_is_refused_before_any_download(empty_store, synthetic, tmp_path, capsys):
    status = run_main(lambda: predict_main(["--model", NAME, "--backend", "onnx", "--input",
                                            str(val_image(synthetic)), "--out", str(tmp_path / "out")]))
    assert status == 2 and capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --backend onnx: {NAME} is GluonCV's model, which runs with MXNet; export it (simplepose-export "
        f"--params {NAME} --out DIR) to run it with ONNX Runtime")
    assert not empty_store.exists()
