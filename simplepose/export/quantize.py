"""An INT8 model from an FP32 export: ONNX Runtime's static quantization, calibrated on person crops.

The FP32 graph is first made quantizable (``export.graph.int8_ready``: nodes named, BatchNorm folded, the head's
deconvolutions rewritten as convolutions, which ONNX Runtime 1.16 does not quantize and on which its per-channel
quantization fails). Then ``onnxruntime.quantization.quantize_static`` with what is fast on an x86 CPU with VNNI:
QOperator format (QLinearConv), weights int8 per output channel, activations uint8 (U8S8; S8S8 gives no
speed-up there), ranges by min/max over the calibration crops. The last layer (the 1x1 Conv making the K heatmaps)
stays FP32: the heatmaps' peaks are what decoding reads, and that layer is 0.1% of the multiply-adds.

No MXNet; ONNX Runtime (and onnx) only when called.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import onnx

from simplepose.data.coco import PersonRecord
from simplepose.data.paths import data_paths
from simplepose.data.transforms import normalize_batch
from simplepose.errors import SimplePoseError
from simplepose.export.graph import float_tail, int8_ready
from simplepose.runtime.pose import BoxCrops
from simplepose.tempfiles import temporary_file

log = logging.getLogger(__name__)

CALIBRATION_METHOD = "onnxruntime quantize_static, QOperator, per-channel, U8S8, MinMax"
CALIBRATION_BATCH = 8


def check_crops(crops: np.ndarray, input_size: Sequence[int], where: str) -> None:
    """Calibration crops must be (N >= 1, h, w, 3) uint8 at the model's input size (h, w)."""
    h, w = input_size
    if not (isinstance(crops, np.ndarray) and crops.dtype == np.uint8 and crops.ndim == 4
            and crops.shape[1:] == (h, w, 3) and len(crops) >= 1):
        found = f"{crops.dtype} {crops.shape}" if isinstance(crops, np.ndarray) else type(crops).__name__
        raise SimplePoseError(f"{where}: calibration crops are {found}, expected (N >= 1, {h}, {w}, 3) uint8 BGR "
                              "crops at the model's input size")


CALIBRATION_SIZE = 100


def calibration_source(desc: dict[str, object], ann: str | None, images: str | None) -> tuple[str, str]:
    """(annotation file, image folder) to calibrate on: ``ann``/``images`` (--calib-ann/--calib-images, given
    together), else the validation data the checkpoint ``desc`` was trained with, else its training data."""
    if bool(ann) != bool(images):
        raise SimplePoseError("--calib-ann and --calib-images go together: an annotation file of person boxes and "
                              "the folder of its images")
    if ann and images:
        return str(ann), str(images)
    data = desc.get("data")
    if isinstance(data, dict):
        for train in (False, True):
            try:
                paths = data_paths({"dataset": None, "data_dir": None, **data}, train)
            except SimplePoseError:
                continue
            key = "train" if train else "val"
            if paths.get(f"{key}_ann") and os.path.isfile(paths[f"{key}_ann"]):
                return paths[f"{key}_ann"], paths[f"{key}_images"]
    raise SimplePoseError(f"--int8: {desc['checkpoint']} names no training or validation data that is still there "
                          "to calibrate on; give --calib-ann FILE and --calib-images DIR (about 100 people)")


def calibration_crops(people: Sequence[PersonRecord], input_size: Sequence[int], count: int
                      ) -> tuple[np.ndarray, list[str]]:
    """Up to ``count`` person crops of ``people`` (``export.int8_accuracy.split_calibration``'s calibration part),
    spread evenly over them (every one when there are fewer): ((N, h, w, 3) uint8 BGR crops at ``input_size``
    (h, w), cut from the annotation boxes as evaluation cuts them (``runtime.pose.BoxCrops``), the N image files
    they come from)."""
    picked = [people[i] for i in np.unique(np.linspace(0, len(people) - 1, min(count, len(people))).round()
                                           .astype(int))]
    boxes = BoxCrops([p.image_path for p in picked], np.stack([p.bbox for p in picked]),
                     (int(input_size[0]), int(input_size[1])))
    return np.stack([boxes[i] for i in range(len(boxes))]), sorted({p.image_path for p in picked})


def calibration_batches(crops: np.ndarray, mean: Sequence[float], std: Sequence[float], input_name: str = "data",
                        batch_size: int = CALIBRATION_BATCH) -> Iterator[dict[str, np.ndarray]]:
    """The model inputs of ``crops`` ((N, h, w, 3) uint8 BGR), ``batch_size`` at a time, normalised as every
    runtime normalises them (``data.transforms.normalize_batch``): {input_name: (b, 3, h, w) float32}."""
    for start in range(0, len(crops), batch_size):
        yield {input_name: normalize_batch(crops[start:start + batch_size], mean, std)}


def quantize_int8(fp32_onnx: str | os.PathLike, out: str | os.PathLike, crops: np.ndarray,
                  mean: Sequence[float], std: Sequence[float]) -> dict[str, object]:
    """Write the INT8 model of ``fp32_onnx`` (an export's ONNX file) to ``out``, calibrated on ``crops``
    ((N, h, w, 3) uint8 BGR person crops at the model's input size, normalised with ``mean``/``std``: RGB, 0-1).

    ``out`` is written in place: an export stages it in its temporary folder. The rewritten FP32 graph is kept
    beside ``out`` as a marked temporary file while ONNX Runtime calibrates (its own temporary folder, for the
    augmented model, is ONNX Runtime's). Returns what deploy.json records: the calibration's method, crop count
    and the node kept FP32.
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    out = Path(out)
    model = onnx.load(str(fp32_onnx))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    check_crops(crops, dims[2:4], str(fp32_onnx))
    ready = int8_ready(model)
    kept = float_tail(ready)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration_batches(crops, mean, std, model.graph.input[0].name)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    staged = temporary_file(out.parent, "int8-ready", ".onnx")
    try:
        onnx.save(ready, str(staged))
        # ONNX Runtime's quantizer advises its pre-processing (shape inference, graph optimisation) on the root
        # logger, twice; int8_ready has done what it would do here, so the advice is dropped, other messages pass.
        root, advice = logging.getLogger(), lambda record: not record.getMessage().startswith("Please consider")
        root.addFilter(advice)
        try:
            quantize_static(str(staged), str(out), Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=kept,
                            calibrate_method=CalibrationMethod.MinMax)
        finally:
            root.removeFilter(advice)
    finally:
        staged.unlink(missing_ok=True)
    # No path: ``out`` is in the export's temporary folder; the export's last line names the final file.
    log.info("quantized to INT8 on %d calibration crops (%s; the heatmap layer, %d nodes, kept FP32)", len(crops),
             CALIBRATION_METHOD, len(kept))
    return {"method": CALIBRATION_METHOD, "crops": int(len(crops)), "fp32_nodes": kept}
