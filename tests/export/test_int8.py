"""INT8 exports: the graph passes (``export.graph``), each against the unrewritten graph under ONNX Runtime;
quantization (``export.quantize``) against the FP32 model."""
from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

import eval_simple_pose
from simplepose.errors import SimplePoseError
from simplepose.export.command import main as export_main
from simplepose.export.graph import float_tail, fold_batchnorm, int8_ready, name_nodes
from simplepose.export.int8_accuracy import split_calibration
from simplepose.export.subpixel import deconv_to_conv, depth_to_space, phase_kernel, pointwise_conv_first
from simplepose.export.quantize import CALIBRATION_METHOD, calibration_crops, quantize_int8
from simplepose.runtime.describe import deploy_codec, deploy_meta, file_sha256, load_deploy
from simplepose.runtime.load import load_model
from simplepose.runtime.onnx import onnx_forward

# float32 through 20 layers: differences of a few ulps of the heatmaps' magnitude (about 1) are rounding.
TOLERANCE = 1e-5


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The model's first output for input ``x``, ONNX Runtime on one thread, no graph optimisation (so that ONNX
    Runtime's own fusions do not hide what a pass did)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module")
def exported_onnx(exported_model) -> onnx.ModelProto:
    """The ONNX graph of the trained 64x64 ResNet-18 export (MXNet's ONNX export, BatchNorm statistics of 3 epochs)."""
    return onnx.load(str(next(Path(exported_model).glob("*.onnx"))))


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    """(3, 3, 64, 64) float32: normalised random crops (the model input's range)."""
    return np.random.default_rng(4).normal(size=(3, 3, 64, 64)).astype(np.float32)


def ops(model: onnx.ModelProto) -> collections.Counter:
    return collections.Counter(node.op_type for node in model.graph.node)


def attr(node: onnx.NodeProto, name: str):
    return next(helper.get_attribute_value(a) for a in node.attribute if a.name == name)


def fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """The names of the one float Conv left in an INT8 model (not an empty name) and of the nodes after it."""
    (conv,) = [n for n in model.graph.node if n.op_type == "Conv"]
    assert conv.name.startswith("conv") and conv.name.endswith("_fwd")
    names = [n.name for n in model.graph.node]
    return names[names.index(conv.name):]


def test_name_nodes_names_every_convolution_after_its_output(exported_onnx, crops):
    assert sum(not n.name for n in exported_onnx.graph.node if n.op_type in ("Conv", "ConvTranspose")) == 24
    named = name_nodes(exported_onnx)
    names = [n.name for n in named.graph.node]
    assert all(names) and len(set(names)) == len(names)
    assert names == [n.name for n in name_nodes(exported_onnx).graph.node]     # deterministic
    assert {n.name for n in exported_onnx.graph.node if n.name} <= set(names)   # MXNet's names kept
    assert np.array_equal(run(named, crops), run(exported_onnx, crops))


def test_name_nodes_never_reuses_a_taken_name():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    nodes = [helper.make_node("Relu", ["x"], ["y0"], name="y"), helper.make_node("Relu", ["y0"], ["y"])]
    named = name_nodes(helper.make_model(helper.make_graph(nodes, "g", [x], [y])))
    assert [n.name for n in named.graph.node] == ["y", "y_2"]


def test_fold_batchnorm_removes_every_batchnorm_and_keeps_the_heatmaps(exported_onnx, crops):
    folded = fold_batchnorm(name_nodes(exported_onnx))
    assert ops(exported_onnx)["BatchNormalization"] == 23 and ops(folded)["BatchNormalization"] == 0
    assert ops(folded)["ConvTranspose"] == 3 and all(len(n.input) == 3 for n in folded.graph.node
                                                     if n.op_type in ("Conv", "ConvTranspose"))
    before, after = run(exported_onnx, crops), run(folded, crops)
    assert np.abs(before).max() > 0.1            # trained: heatmaps far from zero, so the comparison means something
    assert np.abs(after - before).max() < TOLERANCE
    onnx.checker.check_model(folded)


def deconv_model(weight: np.ndarray, bias: np.ndarray, h: int, w: int) -> onnx.ModelProto:
    """One ConvTranspose (kernel 4, stride 2, pad 1) on a (N, C_in, h, w) input."""
    c_in, c = weight.shape[:2]
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, c_in, h, w])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, c, 2 * h, 2 * w])
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[4, 4], strides=[2, 2],
                            pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "deconv", [x], [y],
                              [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_deconv_to_conv_places_even_and_odd_output_pixels_right():
    """An impulse at input pixel (i, j) lands on output rows 2i-1..2i+2 and columns 2j-1..2j+2: every phase of
    row and column, checked against ONNX Runtime's ConvTranspose and against the definition."""
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    model = deconv_model(weight, bias, 5, 6)
    rewritten = deconv_to_conv(name_nodes(model))
    assert ops(rewritten) == {"Conv": 1, "Reshape": 2, "Transpose": 3, "Split": 2}
    (conv,) = [n for n in rewritten.graph.node if n.op_type == "Conv"]
    assert attr(conv, "kernel_shape") == [2, 2]     # 2x2: the deconvolution's multiply-adds
    x = np.zeros((1, 2, 5, 6), np.float32)
    x[0, 1, 2, 3] = 1.0
    y = run(rewritten, x)
    assert np.abs(y - run(model, x)).max() < 1e-6
    # Definition: output (Y, X) = sum over input (i, j) and kernel (ky, kx) with Y = 2i + ky - 1, X = 2j + kx - 1.
    expected = np.broadcast_to(bias[:, None, None], (3, 10, 12)).copy()
    for ky in range(4):
        for kx in range(4):
            expected[:, 2 * 2 + ky - 1, 2 * 3 + kx - 1] += weight[1, :, ky, kx]
    assert np.abs(y[0] - expected).max() < 1e-6
    for r in range(2):          # both parities of rows and of columns carry the impulse
        for s in range(2):
            assert np.abs(y[0, :, r::2, s::2] - bias[:, None, None]).max() > 0.01
    random_input = rng.normal(size=(2, 2, 5, 6)).astype(np.float32)
    assert np.abs(run(rewritten, random_input) - run(model, random_input)).max() < 1e-5


def test_phase_kernel_uses_every_deconvolution_weight_once():
    weight = np.arange(2 * 3 * 16, dtype=np.float32).reshape(2, 3, 4, 4) + 1
    kernel, kernel_bias = phase_kernel(weight, np.array([7, 8, 9], np.float32))
    assert kernel.shape == (12, 2, 2, 2)
    assert sorted(kernel.ravel().tolist()) == sorted(weight.ravel().tolist())
    assert kernel_bias.tolist() == [7, 8, 9] * 4             # channel (2a + b) * C + o: phase-major


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_depth_to_space_is_onnx_depth_to_space_less_the_border(dtype):
    """(B, 4C, h, w), channel (2a + b) * C + o -> pixel (2p + a - 1, 2q + b - 1): NumPy's DCR DepthToSpace with
    one pixel cropped each side, in uint8 (as the INT8 model runs it) and float."""
    b, c, h, w = 2, 3, 4, 5
    x = np.random.default_rng(5).integers(0, 256, (b, 4 * c, h, w)).astype(dtype)
    nodes, inits = depth_to_space("x", "y", c, h, w, "d")
    elem = onnx.TensorProto.UINT8 if dtype == np.uint8 else onnx.TensorProto.FLOAT
    graph = helper.make_graph(nodes, "d2s", [helper.make_tensor_value_info("x", elem, [None, 4 * c, h, w])],
                              [helper.make_tensor_value_info("y", elem, [None, c, 2 * h - 2, 2 * w - 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    expected = x.reshape(b, 2, 2, c, h, w).transpose(0, 3, 4, 1, 5, 2).reshape(b, c, 2 * h, 2 * w)
    assert np.array_equal(run(model, x), expected[:, :, 1:-1, 1:-1])


def test_deconv_to_conv_and_int8_ready_keep_the_heatmaps(exported_onnx, crops):
    reference = run(exported_onnx, crops)
    rewritten = deconv_to_conv(name_nodes(exported_onnx))
    assert ops(rewritten)["ConvTranspose"] == 0 and ops(rewritten)["BatchNormalization"] == 23
    assert np.abs(run(rewritten, crops) - reference).max() < TOLERANCE
    ready = int8_ready(exported_onnx)
    assert set(ops(ready)) == {"Conv", "Relu", "Add", "MaxPool", "Reshape", "Transpose", "Split"}
    assert all(n.name for n in ready.graph.node)
    assert np.abs(run(ready, crops) - reference).max() < TOLERANCE
    onnx.checker.check_model(ready)


def test_pointwise_conv_first_rearranges_the_heatmaps_not_the_features(exported_onnx, crops):
    """The heatmaps' 1x1 Conv moved before the last rearrangement: the same heatmaps, and every rearrangement
    Reshape then carries 256 channels but the last one's, which carries the 17 heatmaps."""
    before = deconv_to_conv(fold_batchnorm(name_nodes(exported_onnx)))
    after = pointwise_conv_first(before)
    assert ops(after) == ops(before)
    grouped = [n for n in after.graph.node if n.op_type == "Conv" and attr(n, "group") == 4]
    assert len(grouped) == 1 and grouped[0].output[0] != after.graph.output[0].name
    weights = {i.name: numpy_helper.to_array(i) for i in after.graph.initializer}
    channels = sorted(int(weights[n.input[1]][4]) // 2 for n in after.graph.node      # (B, h, w, 2, 2C)
                      if n.op_type == "Reshape" and weights[n.input[1]].shape == (5,))
    assert channels == [17, 256, 256]
    assert np.abs(run(after, crops) - run(exported_onnx, crops)).max() < TOLERANCE
    onnx.checker.check_model(after)


def test_pointwise_conv_first_leaves_a_rearrangement_read_elsewhere():
    """When something else also reads the rearranged features (here: they are a graph output), moving the Conv
    would not remove their rearrangement: the graph is left as it is. Without that reader the Conv moves."""
    rng = np.random.default_rng(6)
    model = deconv_to_conv(name_nodes(deconv_model(rng.normal(size=(2, 3, 4, 4)).astype(np.float32),
                                                   rng.normal(size=3).astype(np.float32), 3, 4)))
    features = model.graph.output[0].name
    model.graph.initializer.append(numpy_helper.from_array(rng.normal(size=(2, 3, 1, 1)).astype(np.float32), "pw"))
    model.graph.node.append(helper.make_node("Conv", [features, "pw"], ["heat"], name="heat", kernel_shape=[1, 1]))
    model.graph.output.append(helper.make_tensor_value_info("heat", onnx.TensorProto.FLOAT, [None, 2, 6, 8]))
    kept = pointwise_conv_first(model)                  # the features are a graph output too
    assert [n.name for n in kept.graph.node] == [n.name for n in model.graph.node]
    del model.graph.output[0]
    moved = pointwise_conv_first(model)
    assert ops(moved) == ops(model) and [n.op_type for n in moved.graph.node][:2] == ["Conv", "Conv"]
    x = rng.normal(size=(2, 2, 3, 4)).astype(np.float32)
    assert np.abs(run(moved, x) - run(model, x)).max() < 1e-5


def test_float_tail_is_the_heatmap_convolution_and_its_rearrangement(exported_onnx):
    ready = int8_ready(exported_onnx)
    tail = float_tail(ready)
    nodes = {n.name: n for n in ready.graph.node}
    assert [nodes[name].op_type for name in tail] == ["Conv", "Transpose", "Reshape", "Transpose", "Reshape",
                                                      "Split", "Split", "Transpose"]
    assert nodes[tail[-1]].output[0] == ready.graph.output[0].name
    assert numpy_helper.to_array(next(i for i in ready.graph.initializer if i.name == nodes[tail[0]].input[1])
                                 ).shape[:2] == (4 * 17, 256)
    plain = name_nodes(exported_onnx)
    assert float_tail(plain) == [plain.graph.node[-1].name]     # before the passes: the Conv alone
    with pytest.raises(SimplePoseError, match="no name"):
        float_tail(exported_onnx)                  # MXNet's export: unnamed
    with pytest.raises(SimplePoseError, match="not the 1x1 Conv"):
        float_tail(deconv_model(np.ones((1, 1, 4, 4), np.float32), np.zeros(1, np.float32), 2, 2))


@pytest.fixture(scope="module")
def int8_model(exported_model, synthetic, tmp_path_factory):
    """(INT8 ONNX file, calibration record, FP32 ONNX file, calibration crops): the trained export quantized on
    the synthetic validation set's 25 person crops (too few people to hold any out: all are calibrated on)."""
    desc = load_deploy(exported_model)
    split = split_calibration(synthetic["val_ann"], synthetic["val_images"], deploy_meta(desc))
    assert len(split.calibration) == 25 and split.held_out == []
    crops, files = calibration_crops(split.calibration, desc["input_size"], 100)
    assert crops.shape == (25, 64, 64, 3) and len(files) == 12
    out = tmp_path_factory.mktemp("int8") / "model-int8.onnx"
    record = quantize_int8(desc["onnx"], out, crops, desc["mean"], desc["std"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["model-int8.onnx"]   # its staged graph is gone
    return out, record, desc, crops


def test_int8_heatmaps_and_keypoints_stay_close_to_fp32(int8_model):
    """On the calibration crops: heatmaps (peaks about 1.25) within 0.03, and the decoded keypoints of the peaks
    that count (score > 0.2) within half a heatmap pixel (2 input pixels) but for at most 2% of them."""
    out, record, desc, crops = int8_model
    fp32 = onnx_forward(desc["onnx"], desc["mean"], desc["std"], 1)(crops)
    int8 = onnx_forward(str(out), desc["mean"], desc["std"], 1)(crops)
    assert np.abs(fp32).max() > 1.0
    assert np.abs(int8 - fp32).max() < 0.03
    codec = deploy_codec(desc)
    (xy32, score32), (xy8, _) = codec.decode(fp32), codec.decode(int8)
    shown = score32 > 0.2
    assert shown.sum() > 100
    far = np.linalg.norm(xy8 - xy32, axis=-1)[shown] > 2.0
    assert far.mean() <= 0.02, far.sum()
    # MXNet numbers its layers per process (conv7_fwd, conv11_fwd...): the FP32 node is the one making the output.
    assert record == {"method": CALIBRATION_METHOD, "crops": 25, "fp32_nodes": fp32_nodes(onnx.load(str(out)))}


def test_int8_quantizes_every_convolution_but_the_last(int8_model):
    out, _, _, _ = int8_model
    model = onnx.load(str(out))
    assert ops(model) == {"QLinearConv": 23, "QLinearAdd": 8, "MaxPool": 1, "Reshape": 6, "Transpose": 9,
                          "Split": 6, "QuantizeLinear": 1, "DequantizeLinear": 1, "Conv": 1}
    # The heatmaps' Conv (4 groups: one per output phase) and its rearrangement of 4 x 17 channels stay FP32.
    nodes = {n.name: n for n in model.graph.node}
    conv, *tail = [nodes[name] for name in fp32_nodes(model)]
    assert attr(conv, "group") == 4 and [n.op_type for n in tail] == ["Transpose", "Reshape", "Transpose",
                                                                      "Reshape", "Split", "Split", "Transpose"]
    assert tail[-1].output[0] == model.graph.output[0].name
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weights = {i.name: i for i in model.graph.initializer}
    assert weights[conv.input[1]].data_type == onnx.TensorProto.FLOAT
    qconv = [n for n in model.graph.node if n.op_type == "QLinearConv"]
    # QLinearConv inputs: x, x_scale, x_zero_point, w, w_scale, w_zero_point, ...: U8 activations, S8 weights
    # with one scale per output channel.
    assert {weights[n.input[2]].data_type for n in qconv} == {onnx.TensorProto.UINT8}
    assert {weights[n.input[3]].data_type for n in qconv} == {onnx.TensorProto.INT8}
    assert all(weights[n.input[4]].dims[0] == weights[n.input[3]].dims[0] > 1 for n in qconv)


def test_quantize_refuses_crops_of_another_size(int8_model, tmp_path):
    _, _, desc, crops = int8_model
    with pytest.raises(SimplePoseError, match=r"expected \(N >= 1, 64, 64, 3\) uint8"):
        quantize_int8(desc["onnx"], tmp_path / "x.onnx", crops[:, :32], desc["mean"], desc["std"])
    with pytest.raises(SimplePoseError, match="expected"):
        quantize_int8(desc["onnx"], tmp_path / "x.onnx", crops.astype(np.float32), desc["mean"], desc["std"])
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def int8_export(trained, tmp_path_factory) -> Path:
    """``simplepose-export --int8`` of the trained checkpoint, calibrated by default on its validation data."""
    out = tmp_path_factory.mktemp("int8-export")
    assert export_main(["--params", trained, "--out", str(out), "--int8"]) == 0
    return out


def test_export_int8_writes_and_records_the_int8_model(int8_export, trained, synthetic):
    doc = json.loads((int8_export / "deploy.json").read_text())
    assert doc["int8"] == doc["onnx"].removesuffix(".onnx") + "-int8.onnx"
    assert sorted(p.name for p in int8_export.iterdir()) == sorted(
        ["deploy.json", doc["symbol"], doc["params"], doc["onnx"], doc["int8"]])
    assert doc["sha256"][doc["int8"]] == file_sha256(int8_export / doc["int8"])
    assert doc["calibration"] == {"ann": synthetic["val_ann"], "images": synthetic["val_images"], "image_files": 12,
                                  "method": CALIBRATION_METHOD, "crops": 25,
                                  "fp32_nodes": fp32_nodes(onnx.load(str(int8_export / doc["int8"])))}
    # 25 people on 12 images: a held-out half of 12 would give no meaningful AP, and the record says so.
    assert doc["int8_accuracy"] == {"measured": False, "reason": (
        f"{synthetic['val_ann']} has 25 people on 12 images: a held-out part of 12 people is too few for a "
        "meaningful AP (at least 20); all were calibrated on")}
    int8 = load_model(int8_export, "onnx-int8")
    fp32 = load_model(int8_export, "onnx")
    assert int8.backend == "onnx-int8" and int8.description["int8"] == str(int8_export / doc["int8"])
    crops = np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    assert 0 < np.abs(int8.forward(crops) - fp32.forward(crops)).max() < 0.05   # a different model, close


def test_a_damaged_or_replaced_int8_model_is_refused(int8_export, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(int8_export, copy)
    doc = json.loads((copy / "deploy.json").read_text())
    shutil.copyfile(copy / doc["onnx"], copy / doc["int8"])    # a valid model, not the one the export wrote
    for backend in ("onnx", "onnx-int8"):          # every file is checked, whichever one runs
        with pytest.raises(SimplePoseError, match=f"{doc['int8']}: not the file the export wrote"):
            load_model(copy, backend)
    (copy / doc["int8"]).write_bytes(b"\x12garbage")
    with pytest.raises(SimplePoseError, match=f"{doc['int8']}: cannot load the exported model"):
        load_model(copy, "onnx")
    (copy / doc["int8"]).unlink()
    with pytest.raises(SimplePoseError, match="is missing"):
        load_model(copy, "onnx")


@pytest.mark.parametrize("argv, message", [
    (["--calib-size", "5"], "--calib-size: calibration flags of --int8, which is not given"),
    (["--int8", "--calib-size", "0"], "--calib-size"),
    (["--int8", "--calib-ann", "x.json"], "--calib-ann and --calib-images go together"),
    (["--int8", "--no-onnx"], "--int8 quantizes the ONNX export"),
])
def test_export_int8_bad_flags_are_one_line_before_any_write(trained, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    with pytest.raises((SimplePoseError, SystemExit)) as caught:
        export_main(["--params", trained, "--out", str(out)] + argv)
    text = str(caught.value) if caught.type is SimplePoseError else capsys.readouterr().err
    assert message in text
    assert not out.exists()


def test_backend_onnx_int8_needs_an_int8_export(exported_model, trained):
    with pytest.raises(SimplePoseError, match="has no INT8 model; export the checkpoint again with --int8"):
        load_model(exported_model, "onnx-int8")
    with pytest.raises(SimplePoseError, match=r"is a checkpoint.*simplepose-export --int8"):
        load_model(trained, "onnx-int8")


def test_evaluating_the_int8_export_costs_little_ap(int8_export, synthetic, tmp_path):
    """AP of the INT8 model against the FP32 one on the synthetic validation set (its calibration set here)."""
    figures = {}
    for backend in ("onnx", "onnx-int8"):
        out = tmp_path / f"{backend}.json"
        assert eval_simple_pose.main(["--params", str(int8_export), "--backend", backend, "--ann",
                                      synthetic["val_ann"], "--images", synthetic["val_images"], "-j", "0",
                                      "--metrics-json", str(out)]) == 0
        figures[backend] = json.loads(out.read_text())
    print("AP fp32 / int8:", figures["onnx"]["AP"], figures["onnx-int8"]["AP"])
    assert figures["onnx-int8"]["model"].endswith("(onnx-int8)")
    assert figures["onnx-int8"]["AP"] == pytest.approx(figures["onnx"]["AP"], abs=0.02)


def test_fold_batchnorm_leaves_a_convolution_read_by_another_node():
    """A Conv whose output is also read elsewhere keeps its weights: folding would change what the other reads."""
    rng = np.random.default_rng(3)
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2, 4, 4])
    stats = {n: numpy_helper.from_array(rng.uniform(0.5, 2, 2).astype(np.float32), n)
             for n in ("gamma", "beta", "mean", "var")}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"]),
             helper.make_node("Add", ["bn", "c"], ["y"])]
    graph = helper.make_graph(nodes, "shared", [x], [y], [numpy_helper.from_array(
        rng.normal(size=(2, 2, 1, 1)).astype(np.float32), "w"), *stats.values()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    folded = fold_batchnorm(name_nodes(model))
    assert ops(folded) == ops(model)
    single = helper.make_model(helper.make_graph(nodes[:2], "single", [x], [helper.make_tensor_value_info(
        "bn", onnx.TensorProto.FLOAT, [1, 2, 4, 4])], list(graph.initializer)),
        opset_imports=[helper.make_opsetid("", 13)])
    alone = fold_batchnorm(name_nodes(single))
    assert ops(alone) == {"Conv": 1}
    data = rng.normal(size=(1, 2, 4, 4)).astype(np.float32)
    assert np.abs(run(alone, data) - run(single, data)).max() < 1e-5
