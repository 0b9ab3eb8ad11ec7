"""Export for deployment: MXNet symbol and ONNX reload equal the live model; evaluate an export (predict: test_predict)."""
import json
import re
from pathlib import Path

import mxnet as mx
import numpy as np
import onnxruntime  # noqa: F401  (a test dependency: the ONNX round trip must run in CI)
import pytest
from mxnet import gluon

import eval_simple_pose
from simplepose.rundir.checkpoint import load_manifest
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.transforms import normalize_batch
from simplepose.runtime.describe import load_deploy
from simplepose.runtime.load import load_model
from simplepose.runtime.describe import checkpoint_description
from simplepose.runtime.mxnet import load_described_net

TOLERANCE = 1e-4


@pytest.fixture(scope="session")
def exported(exported_model):
    """The session's export of ``trained`` (tests/conftest.py): read here, never changed (copies are)."""
    return exported_model


def crops_of(synthetic, n=6):
    """Real validation crops as the loaders give them, (n, 64, 64, 3) uint8 BGR."""
    from simplepose.data.samples import PoseSamples
    from simplepose.data.transforms import ValTransform
    from simplepose.codec import HeatmapCodec
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    samples = PoseSamples(ds, ValTransform((64, 64)), HeatmapCodec((64, 64)))
    return np.stack([samples[i][0] for i in range(n)])


@pytest.mark.filterwarnings("ignore:Cannot decide type:UserWarning")   # SymbolBlock.imports without an input
def test_export_reloads_match_the_live_model(trained, exported, synthetic):
    doc = load_deploy(exported)
    tag = re.fullmatch(r"simple_pose_resnet18_v1b-([0-9a-f]{12})-0000\.params", Path(doc["params"]).name).group(1)
    assert sorted(p.name for p in exported.iterdir()) == [
        "deploy.json", f"simple_pose_resnet18_v1b-{tag}-0000.params", f"simple_pose_resnet18_v1b-{tag}-symbol.json",
        f"simple_pose_resnet18_v1b-{tag}.onnx"]
    assert doc["input_size"] == [64, 64] and doc["meta"]["names"][0] == "nose" and doc["codec"] == "standard"
    assert doc["mean"] == [0.485, 0.456, 0.406] and doc["stride"] == 4 and doc["epoch"] == 3
    x = crops_of(synthetic)
    inputs = mx.nd.array(normalize_batch(x, doc["mean"], doc["std"]))
    live = load_described_net(checkpoint_description(load_manifest(trained)), [mx.cpu()])
    expected = live(inputs).asnumpy()
    assert expected.shape == (6, 17, 16, 16) and expected.max() > 0.05      # a trained, peaked output
    block = gluon.SymbolBlock.imports(doc["symbol"], ["data"], doc["params"])
    diffs = {"mxnet symbol": float(np.abs(block(inputs).asnumpy() - expected).max())}
    for backend in ("onnx", "mxnet"):
        loaded = load_model(exported, backend)
        assert loaded.backend == backend
        diffs[f"deploy {backend}"] = float(np.abs(loaded.forward(x) - expected).max())
    # Dynamic batch axis: one crop at a time works too.
    onnx_forward = load_model(exported, "onnx").forward
    diffs["onnx batch 1"] = float(np.abs(onnx_forward(x[:1]) - expected[:1]).max())
    print("max abs difference to the live model:", diffs)
    assert max(diffs.values()) < TOLERANCE, diffs


def test_evaluating_an_export_equals_its_checkpoint(trained, exported, synthetic, tmp_path):
    figures = {}
    for name, params in (("checkpoint", trained), ("export", str(exported))):
        out = tmp_path / f"{name}.json"
        assert eval_simple_pose.main(["--params", params, "--ann", synthetic["val_ann"], "--images",
                                      synthetic["val_images"], "-j", "0", "--metrics-json", str(out)]) == 0
        figures[name] = json.loads(out.read_text())
    assert figures["export"]["model"].endswith("(onnx)")
    assert figures["export"]["AP"] == pytest.approx(figures["checkpoint"]["AP"], abs=1e-3)
    assert figures["export"]["per_keypoint_ap"].keys() == figures["checkpoint"]["per_keypoint_ap"].keys()
