"""Command lines: one-line errors before any training, other keypoint sets, several devices."""
import json
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import eval_simple_pose
import simplepose.runtime.mxnet
import train_simple_pose
from simplepose.rundir.checkpoint import load_manifest
from simplepose.errors import SimplePoseError
from tests.custom_keypoints import CROWDPOSE_NAMES, CROWDPOSE_SIGMAS, write_crowdpose_like

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "8", "-j", "0",
         "--log-interval", "0", "--num-epochs", "1"]


def data_args(paths):
    return ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]


@pytest.mark.parametrize("flags,message", [
    (["--input-size", "255,190"], "--input-size '255,190': need 'height,width', both positive multiples of 32"),
    (["--batch-size", "0"], "--batch-size 0: must be an integer in [1, 4096]"),
    (["--lr-decay-epoch", "120,90"], "--lr-decay-epoch '120,90': epochs must be strictly increasing"),
    (["--model", "simple_pose_vgg16"], "--model 'simple_pose_vgg16': unknown model"),
    (["--num-joints", "16"], "--num-joints 16: "),
    (["--train-ann", "/nonexistent/a.json"], "/nonexistent/a.json: annotation file not found"),
    (["--warmup-epochs", "5"], "--warmup-epochs 5: must be in [0, --num-epochs)"),
    (["--dtype", "float16"], "--dtype float16 needs GPUs"),
    (["--gpus", "0,0"], "--gpus '0,0': need distinct non-negative ids"),
    (["--gpus", "0"], "--gpus 0: this machine's MXNet sees 0 GPU(s)"),
    (["--seed", "-1"], "--seed -1: must be an integer in [0, 4294967295]"),
    (["-j", "-1"], "-j -1: must be an integer in [0, 256]"),
])
def test_bad_flags_fail_in_one_line_before_training(synthetic, tmp_path, flags, message):
    save = tmp_path / "run"
    res = subprocess.run([sys.executable, "train_simple_pose.py", *data_args(synthetic), *SMALL,
                          "--save-dir", str(save), *flags], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, res.stderr
    assert "Traceback" not in res.stderr
    assert not list(save.glob("*.params"))


FAILED_STARTS = {   # command -> (its arguments in a folder T, a part of its one error line)
    "train": (["--train-ann", "T/missing.json", "--train-images", "T", "--save-dir", "T/run", "--logging-file",
               "T/logs/train.log"], "T/missing.json: annotation file not found"),
    "train, a bad value": (["--save-dir", "T/run", "--lr", "nan"], "--lr nan: must be a finite number"),
    "eval": (["--params", "T/ckpt", "--results-json", "T/results/r.json", "--metrics-json", "T/metrics/m.json",
              "--analysis", "T/analysis"], "T/ckpt.json: checkpoint manifest not found"),
    "export": (["--params", "T/ckpt", "--out", "T/export"], "T/ckpt.json: checkpoint manifest not found"),
    "predict, a video OpenCV cannot open": (["--model", "T/model", "--input", "T/in/clip.mp4", "--out", "T/out"],
                                            "T/in/clip.mp4: OpenCV cannot open this video"),
}


@pytest.mark.usefixtures("drop_log_handlers")
@pytest.mark.parametrize("command", FAILED_STARTS)
def test_a_failed_start_creates_nothing(tmp_path, capsys, command):
    """Until its checks pass a command logs to stderr only: no run directory, log file or output folder."""
    from simplepose.cli import run_main
    from simplepose.export.command import main as export_main
    from simplepose.predict.command import main as predict_main
    mains = {"train": train_simple_pose.main, "eval": eval_simple_pose.main, "export": export_main,
             "predict": predict_main}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "clip.mp4").write_bytes(b"not a video")
    before = sorted(tmp_path.rglob("*"))
    argv, message = FAILED_STARTS[command]
    status = run_main(lambda: mains[command.split(",")[0]]([a.replace("T", str(tmp_path), 1) for a in argv]))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("error: ") and message.replace("T", str(tmp_path), 1) in err[-1], err
    assert sorted(tmp_path.rglob("*")) == before


def test_fourteen_keypoints_train_and_evaluate_without_code_change(small, tmp_path, capsys):
    train = write_crowdpose_like(small["train_ann"], tmp_path / "cp_train.json")
    val = write_crowdpose_like(small["val_ann"], tmp_path / "cp_val.json")
    save = tmp_path / "cp"
    sigmas = tmp_path / "crowdpose_sigmas.json"
    sigmas.write_text(json.dumps(CROWDPOSE_SIGMAS))
    assert train_simple_pose.main(SMALL + ["--train-ann", train, "--train-images", small["train_images"],
                                           "--val-ann", val, "--val-images", small["val_images"],
                                           "--save-dir", str(save), "--half-body-prob", "0.3",
                                           "--sigmas", str(sigmas)]) == 0
    manifest = load_manifest(save / "simple_pose_resnet18_v1b-epoch0001.json")
    # K = 14 comes from the file's metadata; the config keeps --num-joints as given (not given: None).
    assert manifest["meta"]["names"] == CROWDPOSE_NAMES and manifest["config"]["num_joints"] is None
    assert manifest["meta"]["skeleton"][0] == [12, 13]                    # CrowdPose's head-neck link
    assert mx.nd.load(manifest["params"])["final_layer.weight"].shape == (14, 256, 1, 1)
    row = json.loads((save / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 <= row["val_acc"] <= 1 and np.isfinite(row["val_loss"]) and 0 <= row["val_ap"] <= 1
    assert manifest["meta"]["sigmas"] == CROWDPOSE_SIGMAS                  # the dataset's own OKS sigmas
    report = tmp_path / "cp_eval.json"
    assert eval_simple_pose.main(["--params", str(save / "simple_pose_resnet18_v1b-epoch0001"), "-j", "0",
                                  "--metrics-json", str(report)]) == 0
    figures = json.loads(report.read_text())
    assert figures["AP"] == pytest.approx(row["val_ap"]) and list(figures["per_keypoint_ap"]) == CROWDPOSE_NAMES
    assert "neck" in capsys.readouterr().out
    # Resuming a finished run, or changing what the checkpoint fixes, is a clear error.
    with pytest.raises(SimplePoseError, match="checkpoint is at epoch 1; raise --num-epochs"):
        train_simple_pose.main(["--resume", str(save), "-j", "0"])
    with pytest.raises(SimplePoseError, match="flip_pairs cannot change when resuming"):
        train_simple_pose.main(["--resume", str(save), "--flip-pairs", "0:1", "--num-epochs", "2"])


def test_several_devices_split_the_batch(small, tmp_path, monkeypatch):
    """The GPU path (split_and_load over devices, kvstore 'device') on two CPU contexts."""
    monkeypatch.setattr(simplepose.runtime.mxnet, "contexts", lambda gpus, num_gpus: [mx.cpu(0), mx.cpu(1)])
    save = tmp_path / "multi"
    assert train_simple_pose.main(SMALL + data_args(small) + ["--batch-size", "4", "--save-dir", str(save)]) == 0
    log = (save / "train.log").read_text()
    assert "batches of 8 per epoch, contexts [cpu(0), cpu(1)]" in log      # batch size is per device
    row = json.loads((save / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(row["train_loss"]) and row["samples_per_sec"] > 0


def test_pretrained_weights_offline_say_where_to_put_them(tmp_path, monkeypatch):
    import gluoncv.model_zoo.model_store as store
    from simplepose.errors import MissingFileError
    from simplepose.model import get_pose_model

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    monkeypatch.setattr(store, "download", offline)
    with pytest.raises(MissingFileError, match=rf"resnet18_v1b-[0-9a-f]{{8}}\.params into {tmp_path}/models"):
        get_pose_model("simple_pose_resnet18_v1b", 17, pretrained_base=True)


@pytest.mark.slow
def test_twenty_three_keypoints_train_evaluate_and_analyse_without_code_change(tmp_path, capsys):
    """COCO + 6 foot points (COCO-WholeBody names): flip pairs from the names, OKS sigmas from a file,
    K = 23 from training to evaluation, and COCOeval's OKS computed with those 23 sigmas."""
    from simplepose.meta import COCO_KEYPOINT_NAMES, FOOT_KEYPOINT_NAMES
    from simplepose.sigma_tables import COCO_SIGMAS, FOOT_SIGMAS
    from simplepose.synthetic import generate
    paths = generate(tmp_path / "feet", num_train_images=8, num_val_images=4, seed=11, feet=True)
    names = list(COCO_KEYPOINT_NAMES + FOOT_KEYPOINT_NAMES)
    sigmas = [COCO_SIGMAS[n] for n in COCO_KEYPOINT_NAMES] + list(FOOT_SIGMAS)
    sigma_file = tmp_path / "sigmas23.txt"
    sigma_file.write_text(" ".join(map(str, sigmas)) + "\n")      # whitespace-separated works as well as JSON
    save = tmp_path / "run23"
    assert train_simple_pose.main(SMALL + data_args(paths) + ["--save-dir", str(save), "--sigmas", str(sigma_file),
                                                              "--flip-prob", "0.5"]) == 0
    manifest = load_manifest(save / "simple_pose_resnet18_v1b-epoch0001.json")
    meta = manifest["meta"]
    assert meta["names"] == names and len(meta["names"]) == 23 and meta["sigmas"] == sigmas
    assert [17, 20] in meta["flip_pairs"] and [18, 21] in meta["flip_pairs"] and [19, 22] in meta["flip_pairs"]
    assert mx.nd.load(manifest["params"])["final_layer.weight"].shape == (23, 256, 1, 1)
    assert (save / "plots" / "training_curves.png").is_file()
    row = json.loads((save / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 <= row["val_ap"] <= 1
    report, results, analysis = tmp_path / "eval.json", tmp_path / "results.json", tmp_path / "analysis"
    assert eval_simple_pose.main(["--params", str(save / "best.json"), "-j", "0", "--metrics-json", str(report),
                                  "--results-json", str(results), "--analysis", str(analysis),
                                  "--analysis-worst", "5", "--oks-nms", "1"]) == 0
    figures = json.loads(report.read_text())
    assert list(figures["per_keypoint_ap"]) == names and figures["AP"] == pytest.approx(row["val_ap"])
    assert "right_small_toe" in capsys.readouterr().out
    for name in ("pr_curves.png", "per_keypoint_ap.png", "worst_instances.png"):
        assert (analysis / name).stat().st_size > 5000, name
    # The OKS COCOeval gave the worst people is COCO's formula with the 23 sigmas of the file.
    worst = json.loads((analysis / "worst_instances.json").read_text())
    assert len(worst) == 5 and worst[0]["oks"] <= worst[-1]["oks"] and worst[-1]["oks"] > 0.02   # not all zero
    gt = {a["id"]: a for a in json.loads(Path(paths["val_ann"]).read_text())["annotations"]}
    preds = json.loads(results.read_text())
    var = (2 * np.array(sigmas)) ** 2
    for w in worst:
        g = np.reshape(gt[w["ann_id"]]["keypoints"], (-1, 3))
        vis = g[:, 2] > 0
        best = 0.0
        for p in (p for p in preds if p["image_id"] == w["image_id"]):
            d = np.reshape(p["keypoints"], (-1, 3))
            e = ((d[:, :2] - g[:, :2]) ** 2).sum(1) / var / (gt[w["ann_id"]]["area"] + np.spacing(1)) / 2
            best = max(best, float(np.exp(-e[vis]).mean()))
        assert w["oks"] == pytest.approx(best, abs=1e-4)
