"""The deploy install, ``pip install "simplepose[deploy]"``: the wheel in a fresh virtual environment with a
current ONNX Runtime and NumPy and neither MXNet nor GluonCV. Predict runs there on an export made here (an image
with --boxes, a video with --track, --detector hog) and agrees with predict here; what needs MXNet (training,
--backend mxnet, a GluonCV detector, a checkpoint as --model) says so in one line, exit status 2. Here too, with
MXNet hidden from the importer: the same lines, no traceback."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simplepose.cli import run_main
from simplepose.errors import SimplePoseError
from simplepose.predict.command import main as predict_main
from simplepose.synthetic.video import VideoSpec, write_video
from tests.test_packaging import build_wheel, fresh_venv, install_wheel, wheelhouse

pytestmark = pytest.mark.usefixtures("drop_log_handlers")

NEEDS_MXNET = "needs MXNet and GluonCV, which are not installed here (mxnet is missing): install simplepose[cpu]"
# Keypoints and boxes (image pixels) here and there: the same ONNX graph on the same crops, another ONNX Runtime,
# NumPy and OpenCV. The JSON rounds to 0.01 pixel; measured: no difference on the session's model, at most 0.02
# pixel on other small models.
ATOL = 0.1


@pytest.fixture(scope="module")
def deploy_bin(tmp_path_factory, request):
    """bin/ of a new virtual environment holding the wheel with the deploy extra; removed afterwards (about
    0.5 GB, and pytest keeps three runs' temporary folders). The wheels it installs are kept in pytest's cache."""
    root = tmp_path_factory.mktemp("deploy")
    start = time.monotonic()
    wheel, _ = build_wheel(root)
    built = time.monotonic()
    python = fresh_venv(root / "venv")
    install_wheel(python, wheel, "deploy", wheelhouse(request, root, "simplepose-deploy-wheelhouse"))
    print(f"deploy install: wheel {built - start:.0f} s, venv and install {time.monotonic() - built:.0f} s")
    yield python.parent
    shutil.rmtree(root / "venv")
    shutil.rmtree(root / "simplepose-deploy-wheelhouse", ignore_errors=True)   # there only without pytest's cache


def run_there(bin_dir: Path, script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """``script`` of the deploy environment, outside the checkout (nothing of it on the path)."""
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([str(bin_dir / script), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def people(path: Path) -> list[list[dict]]:
    """The people of each record of a predict JSON (one record) or JSONL (one per frame)."""
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()] if path.suffix == ".jsonl" else [json.loads(text)]
    return [r["people"] for r in records]


def assert_same_people(there: list[list[dict]], here: list[list[dict]], num_joints: int) -> None:
    assert [len(p) for p in there] == [len(p) for p in here]
    for mine, theirs in zip(there, here):
        for a, b in zip(mine, theirs):
            assert np.shape(a["keypoints"]) == (num_joints, 3)
            np.testing.assert_allclose(a["box"], b["box"], atol=ATOL)
            np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=ATOL)
            assert a["track_id"] == b["track_id"]


def assert_one_line_refusal(res: subprocess.CompletedProcess, needs: str) -> None:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert lines[-1].startswith(f"error: {needs} {NEEDS_MXNET}"), lines[-1]


@pytest.mark.slow
def test_the_deploy_install_has_no_broken_requirements(deploy_bin):
    """The README's deploy line leaves pip check clean (ONNX Runtime with its own dependencies there)."""
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(deploy_bin / "python"), "check"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "No broken requirements found.", res.stdout + res.stderr


@pytest.mark.slow
def test_the_deploy_install_predicts_without_mxnet_as_predict_does_here(deploy_bin, exported_model, trained,
                                                                          synthetic, tmp_path):
    pip = [sys.executable, "-m", "pip", "--python", str(deploy_bin / "python")]
    installed = json.loads(subprocess.run([*pip, "list", "--format", "json"], capture_output=True, text=True,
                                          check=True, timeout=300).stdout)
    # every package's requirements met (in the MXNet installs onnxruntime goes in with --no-deps, here it need not)
    res = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout
    versions = {p["name"].lower(): p["version"] for p in installed}
    print("deploy environment: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    assert {"simplepose", "onnxruntime", "numpy", "opencv-python"} <= set(versions)
    assert not {"mxnet", "mxnet-cu112", "gluoncv", "onnx", "pycocotools", "scipy", "pandas"} & set(versions)
    num_joints = len(json.loads((exported_model / "deploy.json").read_text())["meta"]["names"])

    image = sorted(Path(synthetic["val_images"]).glob("*.jpg"))[1]   # one where HOG finds two people
    video = write_video(tmp_path / "walk.mp4", VideoSpec(num_frames=6, num_people=2, image_size=(320, 240), seed=1))
    cases = {   # name -> (predict's arguments, what it writes)
        "boxes": (["--input", image, "--boxes", synthetic["val_ann"]], [f"{image.stem}.json"]),
        "track": (["--input", video["video"], "--boxes", video["boxes"], "--track"], ["walk.jsonl"]),
        "hog": (["--input", image, "--detector", "hog", "--det-thresh", "0"], [f"{image.stem}.json"]),
    }
    for name, (args, written) in cases.items():
        out_there, out_here = tmp_path / f"there-{name}", tmp_path / f"here-{name}"
        res = run_there(deploy_bin, "simplepose-predict", "--model", exported_model, "--out", out_there, *args,
                        cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert predict_main(["--model", str(exported_model), "--out", str(out_here), *map(str, args)]) == 0
        for file in written:
            there, here = people(out_there / file), people(out_here / file)
            assert sum(map(len, there)) >= 1, name
            assert_same_people(there, here, num_joints)
    frames = people(tmp_path / "there-track" / "walk.jsonl")
    assert len(frames) == 6 and all(len(f) == 2 for f in frames)
    # confirmed at the third frame (tracking.MIN_HITS): no id before
    assert [sorted(p["track_id"] for p in f) if i >= 2 else [p["track_id"] for p in f]
            for i, f in enumerate(frames)] == [[None, None]] * 2 + [[0, 1]] * 4

    refused = {   # what needs MXNet -> the line's start
        ("simplepose-predict", "--model", exported_model, "--input", image, "--backend", "mxnet"):
            f"--backend mxnet (export {exported_model})",
        ("simplepose-predict", "--model", exported_model, "--input", image, "--detector", "yolo3_mobilenet1.0_coco"):
            "--detector yolo3_mobilenet1.0_coco",
        ("simplepose-predict", "--model", trained, "--input", image):
            f"running checkpoint {trained[:-5]}.params (epoch 3)",
        ("simplepose-train", "--dataset", "synthetic", "--save-dir", tmp_path / "run"): "simplepose-train",
        ("simplepose-export", "--help"): "simplepose-export",
    }
    for (script, *args), needs in refused.items():
        res = run_there(deploy_bin, script, *args, "--out", tmp_path / "refused", cwd=tmp_path) \
            if script == "simplepose-predict" else run_there(deploy_bin, script, *args, cwd=tmp_path)
        assert_one_line_refusal(res, needs)
    assert not (tmp_path / "refused").exists() and not (tmp_path / "run").exists()


# ---- the same lines here, MXNet hidden from the importer -------------------------------------------------------

@pytest.fixture
def without_mxnet(monkeypatch):
    """``import mxnet`` / ``import gluoncv`` fail as where they are not installed, and the modules that import
    them are imported afresh."""
    import simplepose.runtime
    for name in ("mxnet", "gluoncv"):
        monkeypatch.setitem(sys.modules, name, None)   # None: ModuleNotFoundError, name set
    for name in ("simplepose.runtime.mxnet", "simplepose.predict.gluon_detector", "simplepose.model"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delattr(simplepose.runtime, "mxnet", raising=False)


@pytest.mark.usefixtures("without_mxnet")
def test_without_mxnet_a_zoo_detector_backend_mxnet_and_a_checkpoint_are_one_line(exported_model, trained,
                                                                                  synthetic, tmp_path, capsys):
    image = str(sorted(Path(synthetic["val_images"]).glob("*.jpg"))[0])
    for args, needs in ((["--detector", "ssd_512_mobilenet1.0_coco"], "--detector ssd_512_mobilenet1.0_coco"),
                        (["--backend", "mxnet"], f"--backend mxnet (export {exported_model})")):
        assert run_main(lambda: predict_main(["--model", str(exported_model), "--input", image, "--out",
                                              str(tmp_path / "out"), *args])) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {needs} {NEEDS_MXNET}")
    assert run_main(lambda: predict_main(["--model", trained, "--input", image, "--out", str(tmp_path / "out")])) == 2
    assert f"error: running checkpoint {trained[:-5]}.params (epoch 3) {NEEDS_MXNET}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # a misspelt detector is told as such, MXNet or not
    with pytest.raises(SimplePoseError, match="--detector yolo_v3: not a GluonCV detector family"):
        predict_main(["--model", str(exported_model), "--input", image, "--out", str(tmp_path / "out"),
                      "--detector", "yolo_v3"])


def test_run_main_turns_a_missing_mxnet_into_one_line_and_any_other_missing_module_into_a_bug(capsys):
    def needs(name):
        def main():
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return main

    assert run_main(needs("gluoncv"), "simplepose-eval") == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: simplepose-eval needs MXNet and GluonCV, which are not installed here (gluoncv is "
                           "missing): install simplepose[cpu] (or simplepose[gpu], CUDA 11.2) in an environment of its "
                           "own")
    assert run_main(needs("mxnet.gluon")) == 1           # MXNet there but broken: a bug, with its traceback
    assert run_main(needs("scipy")) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_command_that_needs_mxnet_starts_and_says_so_in_one_line(tmp_path):
    """``python -m simplepose.train`` with MXNet hidden: the line names the command, exit status 2."""
    hide = "import sys; sys.modules['mxnet'] = sys.modules['gluoncv'] = None; sys.argv[1:] = ['--dataset', 'synthetic']"
    code = f"{hide}; from simplepose.commands import run_command; raise SystemExit(run_command('simplepose.train'))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert list(tmp_path.iterdir()) == []
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: python -m simplepose.train {NEEDS_MXNET}")
