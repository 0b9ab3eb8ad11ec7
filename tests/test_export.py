"""Export for deployment: MXNet symbol and ONNX reload equal the live model; predict and evaluate an export."""
import json
from pathlib import Path

import mxnet as mx
import numpy as np
import onnxruntime  # noqa: F401  (a test dependency: the ONNX round trip must run in CI)
import pytest
from mxnet import gluon

import eval_simple_pose
from simplepose.checkpoint import load_manifest
from simplepose.data.coco import COCOKeyPoints, read_image
from simplepose.data.transforms import normalize_batch
from simplepose.deploy import deploy_forward, load_deploy
from simplepose.boxes import gt_boxes
from simplepose.export import export_checkpoint
from simplepose.inference import load_checkpoint_net
from simplepose.predict import main as predict_main, predict_image

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_checkpoint(trained, out)
    return out


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
    assert sorted(p.name for p in exported.iterdir()) == [
        "deploy.json", "simple_pose_resnet18_v1b-0000.params", "simple_pose_resnet18_v1b-symbol.json",
        "simple_pose_resnet18_v1b.onnx"]
    assert doc["input_size"] == [64, 64] and doc["meta"]["names"][0] == "nose" and doc["codec"] == "standard"
    assert doc["mean"] == [0.485, 0.456, 0.406] and doc["stride"] == 4 and doc["epoch"] == 3
    x = crops_of(synthetic)
    inputs = mx.nd.array(normalize_batch(x, doc["mean"], doc["std"]))
    live = load_checkpoint_net(load_manifest(trained), [mx.cpu()])
    expected = live(inputs).asnumpy()
    assert expected.shape == (6, 17, 16, 16) and expected.max() > 0.05      # a trained, peaked output
    block = gluon.SymbolBlock.imports(doc["symbol"], ["data"], doc["params"])
    diffs = {"mxnet symbol": float(np.abs(block(inputs).asnumpy() - expected).max())}
    for backend in ("onnx", "mxnet"):
        forward, used = deploy_forward(doc, backend)
        assert used == backend
        diffs[f"deploy {backend}"] = float(np.abs(forward(x) - expected).max())
    # Dynamic batch axis: one crop at a time works too.
    onnx_forward, _ = deploy_forward(doc, "onnx")
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


def test_predict_draws_and_writes_keypoints(exported, synthetic, tmp_path, capsys):
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    boxes = gt_boxes(ds)
    first = boxes.image_paths[0]
    mine = boxes.image_ids == boxes.image_ids[0]
    box_file = tmp_path / "boxes.json"
    box_file.write_text(json.dumps([[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
                                    for b in boxes.boxes[mine]]))
    png, out = tmp_path / "pose.png", tmp_path / "pose.json"
    assert predict_main(["--model", str(exported), "--image", first, "--boxes", str(box_file),
                         "--out", str(png), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["backend"] == "onnx" and len(result["people"]) == int(mine.sum())
    assert list(result["people"][0]["keypoints"]) == list(ds.meta.names)
    drawn = read_image(str(png), "pose.png")
    assert drawn.shape == read_image(first, "image").shape     # the picture is the image, annotated
    # The keypoints equal the library's on the same boxes, in image pixels.
    doc = load_deploy(exported)
    forward, _ = deploy_forward(doc, "onnx")
    boxes_xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in json.loads(box_file.read_text())], np.float32)
    poses = predict_image(doc, forward, first, boxes_xyxy)
    got = np.array([[v for v in p["keypoints"].values()] for p in result["people"]])
    np.testing.assert_allclose(got, poses, atol=0.01)
    # A COCO annotation file gives the boxes of the image of that name.
    assert predict_main(["--model", str(exported), "--image", first, "--boxes", synthetic["val_ann"],
                         "--out", str(png), "--json", str(out)]) == 0
    from_ann = json.loads(out.read_text())
    doc_ann = json.loads(Path(synthetic["val_ann"]).read_text())
    image_id = next(i["id"] for i in doc_ann["images"] if Path(first).name == Path(i["file_name"]).name)
    np.testing.assert_allclose([p["bbox"] for p in from_ann["people"]],
                               [a["bbox"] for a in doc_ann["annotations"] if a["image_id"] == image_id
                                and not a["iscrowd"]], atol=1e-3)
    # Without boxes the whole image is the person box.
    assert predict_main(["--model", str(exported), "--image", first, "--out", str(png), "--json", str(out),
                         "--backend", "mxnet"]) == 0
    whole = json.loads(out.read_text())
    assert whole["backend"] == "mxnet" and len(whole["people"]) == 1
    h, w = drawn.shape[:2]
    assert whole["people"][0]["bbox"] == [0.0, 0.0, float(w), float(h)]
