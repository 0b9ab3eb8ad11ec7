"""Transfer learning (--init-from, --use-pretrained with another K) and GluonCV's plain .params evaluated directly."""
import hashlib
import json
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import train_simple_pose
from simplepose.rundir.checkpoint import load_manifest
from simplepose.errors import SimplePoseError
from simplepose.meta import COCO_KEYPOINT_NAMES, KeypointMeta
from simplepose.training.build import build_net
from simplepose.config import TrainConfig
from simplepose.training.transfer import match_joints
from tests.custom_keypoints import CROWDPOSE_NAMES, CROWDPOSE_SIGMAS, CROWDPOSE_SKELETON, write_crowdpose_like

TINY = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "8", "-j", "0",
        "--log-interval", "0", "--lr-decay-epoch", "2", "--seed", "3", "--flip-prob", "0"]
CROWDPOSE = KeypointMeta.build(CROWDPOSE_NAMES, CROWDPOSE_SKELETON, sigmas=CROWDPOSE_SIGMAS, skeleton_one_based=True)


def arrays(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def net_arrays(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def build(meta, **flags):
    cfg = TrainConfig.from_dict({"model": "simple_pose_resnet18_v1b", "input_size": [64, 64], "mode": "imperative",
                                 "dataset": "synthetic", **flags})
    return build_net(cfg, meta, [mx.cpu()], None)


@pytest.fixture(scope="module")
def crowdpose_like(synthetic, tmp_path_factory):
    """The synthetic set with CrowdPose's 14 keypoints (head = nose, neck = mid-shoulders) and sigmas file."""
    out = tmp_path_factory.mktemp("crowdpose")
    sigmas = out / "sigmas.json"
    sigmas.write_text(json.dumps(CROWDPOSE_SIGMAS))
    return {"train_ann": write_crowdpose_like(synthetic["train_ann"], out / "train.json"),
            "train_images": synthetic["train_images"],
            "val_ann": write_crowdpose_like(synthetic["val_ann"], out / "val.json"),
            "val_images": synthetic["val_images"], "sigmas": str(sigmas)}


def test_match_joints_by_key_and_never_on_an_ambiguous_name():
    assert match_joints(["Nose", "Left_Eye"], ["left_eye", "nose", "head"]) == [(0, 1), (1, 0)]
    # A key shared by two source joints matches neither; the caller's key decides what is "the same name".
    assert match_joints(["head", "HEAD", "neck"], ["head", "neck"]) == [(1, 2)]
    assert match_joints(["L_Eye", "Right Shoulder"], ["left_eye", "right_shoulder"]) == [(0, 0), (1, 1)]
    assert match_joints(["L_Eye"], ["left_eye"], key=str.lower) == []


def test_17_keypoint_checkpoint_initialises_a_14_keypoint_model(trained, caplog):
    source = arrays(load_manifest(trained)["params"])
    with caplog.at_level("INFO"):
        net = build(CROWDPOSE, init_from=trained)
    mine = net_arrays(net)
    body = [k for k in mine if not k.startswith("final_layer")]
    assert any(k.startswith("deconv_layers") for k in body) and any(k.startswith("resnet") for k in body)
    for key in body:   # backbone and deconvolutions, BatchNorm statistics included
        np.testing.assert_array_equal(mine[key], source[key], err_msg=key)
    weight, bias = mine["final_layer.weight"], mine["final_layer.bias"]
    assert weight.shape == (14, 256, 1, 1) and source["final_layer.weight"].shape == (17, 256, 1, 1)
    for i, name in enumerate(CROWDPOSE_NAMES[:12]):
        j = COCO_KEYPOINT_NAMES.index(name)
        np.testing.assert_array_equal(weight[i], source["final_layer.weight"][j])
        assert bias[i] == source["final_layer.bias"][j]
    # head and neck: fresh rows, not any source row.
    for i in (12, 13):
        assert not any(np.array_equal(weight[i], row) for row in source["final_layer.weight"])
    assert f"{len(body)} parameters loaded, 2 re-initialised (final_layer.weight, final_layer.bias)" in caplog.text
    assert "12 of 14 keypoint rows copied from the source's 17" in caplog.text


def test_a_source_of_another_input_size_is_logged(trained, caplog):
    with caplog.at_level("WARNING"):
        build(CROWDPOSE, init_from=trained, input_size=[96, 64], mean=[0.5, 0.5, 0.5])
    assert "was trained with input size [64, 64], this run uses [96, 64]" in caplog.text
    assert "mean [0.485, 0.456, 0.406], this run uses [0.5, 0.5, 0.5]" in caplog.text
    assert "std" not in caplog.text


def gluoncv_params(path, k=17):
    """A GluonCV simple_pose model initialised, run once and saved as GluonCV's save_parameters writes it."""
    from gluoncv.model_zoo import get_model
    net = get_model("simple_pose_resnet18_v1b", num_joints=k, pretrained=False, pretrained_base=False)
    net.initialize(mx.init.MSRAPrelu())
    net(mx.nd.zeros((1, 3, 64, 64)))
    net.save_parameters(str(path))
    return str(path)


def test_plain_params_of_17_outputs_are_taken_as_coco(tmp_path, caplog):
    params = gluoncv_params(tmp_path / "model.params")
    with caplog.at_level("INFO"):
        net = build(CROWDPOSE, init_from=params)
    assert "names no keypoints; its final layer has 17 outputs: taking them as COCO's 17" in caplog.text
    assert "input size, mean and std are unknown" in caplog.text
    source = arrays(params)
    np.testing.assert_array_equal(net_arrays(net)["final_layer.weight"][:12],
                                  source["final_layer.weight"][[COCO_KEYPOINT_NAMES.index(n)
                                                                for n in CROWDPOSE_NAMES[:12]]])


def test_plain_params_of_another_count_reinitialise_the_final_layer(tmp_path, caplog):
    params = gluoncv_params(tmp_path / "five.params", k=5)
    with caplog.at_level("INFO"):
        net = build(CROWDPOSE, init_from=params)
    assert "final layer: re-initialised (the source names no keypoints" in caplog.text
    np.testing.assert_array_equal(net_arrays(net)["resnet.0.weight"], arrays(params)["resnet.0.weight"])
    assert not net_arrays(net)["final_layer.bias"].any()


def test_a_file_of_another_model_is_refused(tmp_path):
    foreign = tmp_path / "other.params"
    mx.nd.save(str(foreign), {"fc.weight": mx.nd.ones((3, 3))})
    with pytest.raises(SimplePoseError, match="no parameter matches SimplePoseResNet's names and shapes"):
        build(CROWDPOSE, init_from=str(foreign))


def test_use_pretrained_with_14_keypoints_from_gluoncvs_model_store(tmp_path, monkeypatch, caplog):
    """GluonCV's store looks in $MXNET_HOME/models for NAME-HASH8.params whose SHA-1 is its table's."""
    from gluoncv.model_zoo import model_store
    home = tmp_path / "mxhome"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("MXNET_HOME", str(home))
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")   # offline even where there is a network
    name = "simple_pose_resnet18_v1b"
    with pytest.raises(SimplePoseError, match=rf"put GluonCV's file {name}-\w{{8}}.params into {home / 'models'}"):
        build(CROWDPOSE, use_pretrained=True)
    staged = gluoncv_params(tmp_path / "staged.params")
    sha1 = hashlib.sha1(Path(staged).read_bytes()).hexdigest()
    monkeypatch.setitem(model_store._model_sha1, name, sha1)
    Path(staged).rename(home / "models" / f"{name}-{sha1[:8]}.params")
    with caplog.at_level("INFO"):
        net = build(CROWDPOSE, use_pretrained=True)
    assert "12 of 14 keypoint rows copied" in caplog.text
    source = arrays(home / "models" / f"{name}-{sha1[:8]}.params")
    np.testing.assert_array_equal(net_arrays(net)["final_layer.weight"][0],
                                  source["final_layer.weight"][COCO_KEYPOINT_NAMES.index("left_shoulder")])


@pytest.mark.usefixtures("drop_log_handlers")
def test_train_from_init_from_is_a_fresh_run_recorded_in_its_config(trained, crowdpose_like, tmp_path):
    save = tmp_path / "run"
    data = ["--train-ann", crowdpose_like["train_ann"], "--train-images", crowdpose_like["train_images"],
            "--val-ann", crowdpose_like["val_ann"], "--val-images", crowdpose_like["val_images"],
            "--sigmas", crowdpose_like["sigmas"]]
    # The source's run directory: its best checkpoint (or latest) is found as for --resume.
    assert train_simple_pose.main(TINY + data + ["--num-epochs", "1", "--save-dir", str(save),
                                                 "--init-from", str(Path(trained).parent)]) == 0
    config = json.loads((save / "config.json").read_text())
    assert config["init_from"] == str(Path(trained).parent)
    manifest = load_manifest(save / "simple_pose_resnet18_v1b-epoch0001.json")
    assert manifest["config"]["init_from"] == config["init_from"] and manifest["epoch"] == 1
    rows = [json.loads(line) for line in (save / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    log = (save / "train.log").read_text()
    assert "initialised from checkpoint" in log and "12 of 14 keypoint rows copied" in log
    with pytest.raises(SimplePoseError, match="init_from cannot change when resuming"):
        train_simple_pose.main(["--resume", str(save), "--init-from", trained])
    with pytest.raises(SimplePoseError, match="--use-pretrained-base and --init-from exclude each other"):
        train_simple_pose.main(TINY + data + ["--init-from", trained, "--use-pretrained-base"])
    with pytest.raises(SimplePoseError, match="--init-from .*nowhere: no such file"):
        train_simple_pose.main(TINY + data + ["--init-from", str(tmp_path / "nowhere"), "--save-dir",
                                              str(tmp_path / "x")])


def gluoncv_checkpoint(trained, params, out_dir):
    """A checkpoint of ``params``' weights: the ``trained`` fixture's manifest (64x64, ResNet-18, COCO's 17)
    naming a copy of them."""
    import shutil
    ckpt = load_manifest(trained)
    out_dir.mkdir()
    shutil.copy(params, out_dir / "ckpt.params")
    shutil.copy(ckpt["states"], out_dir / "ckpt.states")
    doc = json.loads(Path(trained).read_text())
    doc.update(params="ckpt.params", states="ckpt.states")
    (out_dir / "ckpt.json").write_text(json.dumps(doc))
    return str(out_dir / "ckpt.json")


@pytest.mark.usefixtures("drop_log_handlers")
@pytest.mark.parametrize("weights", ["random", "trained"])
def test_gluoncv_params_evaluate_as_the_same_weights_in_a_checkpoint(weights, synthetic, trained, tmp_path):
    import eval_simple_pose
    from gluoncv.model_zoo import get_model
    plain = gluoncv_params(tmp_path / "gluoncv.params")
    if weights == "trained":   # GluonCV's model with trained weights, saved by GluonCV: a non-trivial AP
        net = get_model("simple_pose_resnet18_v1b", num_joints=17, pretrained=False, pretrained_base=False)
        net.load_parameters(load_manifest(trained)["params"])
        net.save_parameters(plain)
    ckpt = gluoncv_checkpoint(trained, plain, tmp_path / "ckpt")
    data = ["--ann", synthetic["val_ann"], "--images", synthetic["val_images"], "-j", "0", "--flip-test"]
    out = {}
    for run, args in (("gluoncv", ["--params-file", plain, "--model", "simple_pose_resnet18_v1b", "--num-joints",
                                   "17", "--input-size", "64,64", "--mean", "0.485,0.456,0.406",
                                   "--std", "0.229,0.224,0.225", "--score-threshold", "0.2"]),
                      ("checkpoint", ["--params", ckpt])):
        assert eval_simple_pose.main(args + data + ["--metrics-json", str(tmp_path / f"{run}.json"),
                                                    "--results-json", str(tmp_path / f"{run}-results.json")]) == 0
        out[run] = json.loads((tmp_path / f"{run}.json").read_text())
    gluon, ours = ({k: v for k, v in out[run].items() if k != "model"} for run in ("gluoncv", "checkpoint"))
    assert gluon == ours   # every statistic, per keypoint too
    assert (tmp_path / "gluoncv-results.json").read_text() == (tmp_path / "checkpoint-results.json").read_text()
    assert (out["gluoncv"]["AP"] > 0.05) == (weights == "trained")
    assert out["gluoncv"]["model"].startswith("plain parameter file")


@pytest.mark.usefixtures("drop_log_handlers")
def test_plain_params_flags_are_checked(synthetic, trained, tmp_path):
    import eval_simple_pose
    plain = gluoncv_params(tmp_path / "gluoncv.params")
    data = ["--ann", synthetic["val_ann"], "--images", synthetic["val_images"], "-j", "0"]
    with pytest.raises(SimplePoseError, match="a plain .params file .*give --model NAME"):
        eval_simple_pose.main(["--params", plain] + data)
    with pytest.raises(SimplePoseError, match="--num-joints 14: .*gluoncv.params has 17 keypoints"):
        eval_simple_pose.main(["--params", plain, "--model", "simple_pose_resnet18_v1b", "--num-joints", "14"] + data)
    five = gluoncv_params(tmp_path / "five.params", k=5)
    with pytest.raises(SimplePoseError, match="five.params: parameters of a model with 5 keypoints"):
        eval_simple_pose.main(["--params", five, "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64"] + data)
    with pytest.raises(SimplePoseError, match="--mean 0.5,0.5,0.5: .* was trained with mean 0.485,0.456,0.406"):
        eval_simple_pose.main(["--params", trained, "--mean", "0.5,0.5,0.5"] + data)


@pytest.mark.usefixtures("drop_log_handlers")
def test_export_a_plain_params_file(synthetic, crowdpose_like, tmp_path):
    from simplepose.export import command as export
    from simplepose.runtime.describe import load_deploy
    plain = gluoncv_params(tmp_path / "gluoncv.params")
    assert export.main(["--params", plain, "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64",
                        "--no-onnx", "--out", str(tmp_path / "coco")]) == 0
    doc = load_deploy(tmp_path / "coco")
    assert doc["meta"]["names"] == list(COCO_KEYPOINT_NAMES) and doc["input_size"] == [64, 64]
    assert (doc["sigma"], doc["codec"], doc["mean"]) == (2.0, "standard", [0.485, 0.456, 0.406])
    fourteen = gluoncv_params(tmp_path / "crowd.params", k=14)
    with pytest.raises(SimplePoseError, match="plain .params file of 14 keypoints; give --ann FILE"):
        export.main(["--params", fourteen, "--model", "simple_pose_resnet18_v1b", "--out", str(tmp_path / "x")])
    with pytest.raises(SimplePoseError, match="a model of 17 keypoints; .* names 14"):
        export.main(["--params", plain, "--model", "simple_pose_resnet18_v1b", "--ann", crowdpose_like["val_ann"],
                     "--out", str(tmp_path / "x")])
    assert export.main(["--params-file", fourteen, "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64",
                        "--ann", crowdpose_like["val_ann"], "--std", "0.2,0.2,0.2", "--no-onnx",
                        "--out", str(tmp_path / "crowd")]) == 0
    doc = load_deploy(tmp_path / "crowd")
    assert doc["meta"]["names"] == CROWDPOSE_NAMES and doc["std"] == [0.2, 0.2, 0.2]
