"""Export a checkpoint for deployment: ``simplepose-export --params CKPT --out DIR``.

A plain ``.params`` file (GluonCV's ``save_parameters``, no manifest) is exported the same way with
``--model NAME --input-size H,W --ann FILE`` (its keypoints: names, flip pairs, sigmas); a 17-keypoint
model without ``--ann`` gets COCO's keypoints. Mean and std default to GluonCV's (``--mean``/``--std``).
GluonCV's model-zoo name (``--params simple_pose_resnet50_v1b``) exports its published weights, from GluonCV's
model store, with COCO's keypoints and GluonCV's settings.

Writes into DIR (TAG: 12 hex digits of the files' SHA-256, see ``simplepose.export.folder``):

- ``NAME-TAG-symbol.json`` and ``NAME-TAG-0000.params``: the hybridized MXNet graph, loadable with
  ``gluon.SymbolBlock.imports(symbol, ["data"], params)``;
- ``NAME-TAG.onnx`` through ``mxnet.onnx`` when the ``onnx`` package is installed (dynamic batch size);
- ``NAME-TAG-int8.onnx`` with ``--int8``: that ONNX graph quantized to INT8 (``export.quantize``), calibrated on
  person crops of ``--calib-ann``/``--calib-images`` or of the checkpoint's own validation (else training) data;
- ``deploy.json`` (switched in last, by one rename): input size, mean/std, stride, sigma, codec and keypoint
  metadata, i.e. everything needed to crop, run and decode (see ``simplepose.runtime.describe``), the files' names and
  SHA-256, the source checkpoint's path and SHA-256, and (``--int8``) the calibration (data, crops, method) and
  ``int8_accuracy``: the AP of the FP32 and INT8 models on people of the calibration file held out of the
  calibration (``export.int8_accuracy``), or why it was not measured.

An export into a folder that holds one replaces it so that a kill at any instant leaves the old export or
the new one, whole; the old files go once the new deploy.json is in place; the user's files stay. What killed
exports left there is removed first, with one log line (``export.folder``).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import mxnet as mx
import numpy as np

from simplepose.cli import check_output_dir, command_parser, setup_logging
from simplepose.data.coco import keypoint_meta
from simplepose.errors import SimplePoseError
from simplepose.export.folder import clean_leftovers, read_previous, switch_in, tagged_names
from simplepose.export.int8_accuracy import int8_accuracy, split_calibration
from simplepose.export.quantize import CALIBRATION_SIZE, calibration_crops, calibration_source, quantize_int8
from simplepose.flags import MEAN, NUM_JOINTS, STD, integer, parse_input_size
from simplepose.io import writing
from simplepose.meta import COCO_KEYPOINT_NAMES
from simplepose.model import gluoncv_pose_weights_file
from simplepose.rundir.checkpoint import is_plain_params
from simplepose.runtime.describe import (DEPLOY_FILE, FORMAT, check_num_joints, coco_meta, deploy_meta, describe,
                                         description_sha256, file_sha256, is_zoo_source, plain_description)
from simplepose.runtime.mxnet import load_described_net, params_num_joints
from simplepose.tempfiles import temporary_dir
from simplepose.zoo import GLUONCV_INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD, csv

log = logging.getLogger(__name__)

# Calibration crops held in memory at once: 5000 at 256x192 are 740 MB.
CALIB_SIZE = integer(1, 5000)


def _export_onnx(symbol: Path, params: Path, input_size: list[int], out: Path) -> None:
    """ONNX with a dynamic batch axis; weights are initializers only (not graph inputs), so ONNX
    Runtime can fold them as constants."""
    import onnx
    from mxnet import onnx as mx_onnx
    h, w = input_size
    # MXNet's exporter logs its steps on the root logger, naming the temporary file: only its warnings pass
    # (export_checkpoint's own line names the final files).
    root, quiet = logging.getLogger(), lambda record: record.levelno >= logging.WARNING
    root.addFilter(quiet)
    try:
        mx_onnx.export_model(str(symbol), str(params), [(1, 3, h, w)], [np.float32], str(out),
                             dynamic=True, dynamic_input_shapes=[(None, 3, h, w)])
    finally:
        root.removeFilter(quiet)
    model = onnx.load(str(out))
    weights = {init.name for init in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def plain_export_description(params: str, model: str, input_size: tuple[int, int] | None = None,
                             ann: str | None = None, category_id: int | None = None, num_joints: int | None = None,
                             mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
                             ) -> dict[str, Any]:
    """The description of a plain ``.params`` file to export: the keypoints of ``ann``'s keypoint category,
    or COCO's 17 when no file is given and the model has 17 outputs (logged); input size default 256,192."""
    k = params_num_joints(params)
    check_num_joints(num_joints, k, params)
    if ann:
        meta = keypoint_meta(ann, category_id)
        if meta.num_joints != k:
            raise SimplePoseError(f"{params}: a model of {k} keypoints; {ann} names {meta.num_joints} "
                                  f"({', '.join(meta.names)}); give the annotation file it was trained on")
    elif k == len(COCO_KEYPOINT_NAMES):
        log.info("%s: no --ann given and 17 keypoints: exporting with COCO's keypoint names, skeleton and sigmas",
                 params)
        meta = coco_meta()
    else:
        raise SimplePoseError(f"{params}: a plain .params file of {k} keypoints; give --ann FILE (an annotation "
                              "file of its keypoints) for their names, flip pairs and sigmas")
    return plain_description(params, model, meta, input_size or GLUONCV_INPUT_SIZE, mean, std)


def export_checkpoint(params: str | os.PathLike, out_dir: str | os.PathLike, name: str | None = None,
                      with_onnx: bool | None = None, plain: dict[str, Any] | None = None,
                      int8: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export checkpoint ``params`` (its .json, .params or prefix, or a run directory's best) into ``out_dir``;
    or GluonCV's model-zoo model of that name (its published weights); or the plain ``.params`` file that
    ``plain`` (:func:`plain_export_description`) describes.

    Args:
        name: file name stem (default: the model name).
        with_onnx: None exports ONNX when ``onnx`` is importable; True requires it; False skips it.
        int8: also an INT8 ONNX model, calibrated as this says: ``ann``/``images`` (None: the checkpoint's
            validation, else training, data) and ``size`` (person crops, default 100). Needs ONNX.
    Returns:
        the description written to ``deploy.json`` (file entries: bare names in ``out_dir``).
    An export already in ``out_dir`` is replaced with no instant at which neither loads (``export.folder``).
    """
    kind, desc, what = describe(params, plain, zoo_weights=gluoncv_pose_weights_file)
    if kind == "export":
        raise SimplePoseError(f"--params {params}: an export folder, not a checkpoint; give the checkpoint it was "
                              "exported from (its deploy.json names it under 'checkpoint')")
    name = name or desc["model"]
    if name != Path(name).name or name.startswith(".") or len(name) > 200:
        raise SimplePoseError(f"--name {name!r}: expected a file name stem (no folder, not starting with '.', "
                              "at most 200 characters)")
    if with_onnx is None or with_onnx:
        try:
            import onnx  # noqa: F401  (probing)
            with_onnx = True
        except ImportError:
            if with_onnx:
                raise SimplePoseError("--onnx: the onnx package is not installed (pip install 'onnx<1.15')") from None
            log.warning("onnx is not installed: exporting the MXNet symbol only (pip install 'onnx<1.15' for ONNX)")
            with_onnx = False
    calibration = None
    if int8 is not None:
        if not with_onnx:
            raise SimplePoseError("--int8 quantizes the ONNX export: drop --no-onnx (and pip install 'onnx<1.15')")
        calibration = _calibration(desc, int8)
    out = Path(out_dir)
    previous = read_previous(out)   # refused before anything changes when it is not an export's
    net = load_described_net(desc, [mx.cpu()])
    net.hybridize(static_alloc=True)
    h, w = desc["input_size"]
    net(mx.nd.zeros((1, 3, h, w)))   # builds the cached graph that export writes
    with writing(out, "export"):
        out.mkdir(parents=True, exist_ok=True)
        previous = clean_leftovers(out, previous)
        # Everything is written beside the old export first: a full disk leaves the old one whole.
        tmp = temporary_dir(out, "export")
        try:
            staged = _write_model_files(net, desc, name, with_onnx, tmp)
            if calibration is not None:
                staged["int8"] = tmp / f"{name}-int8.onnx"
                crops, split = calibration.pop("crops_array"), calibration.pop("split")
                calibration.update(quantize_int8(staged["onnx"], staged["int8"], crops, desc["mean"], desc["std"]))
                _flush(staged["int8"])
                calibration["int8_accuracy"] = int8_accuracy(staged["onnx"], staged["int8"], split, desc)
            names = tagged_names(name, staged)
            doc = _description(desc, names, staged, calibration)
            switch_in(out, {names[role]: path for role, path in staged.items()}, doc, previous)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s to %s: %s", what, out, ", ".join(names.values()))
    return doc


def _write_model_files(net: mx.gluon.HybridBlock, desc: dict[str, Any], name: str, with_onnx: bool, tmp: Path
                       ) -> dict[str, Path]:
    """The symbol, parameters and (``with_onnx``) ONNX files of the hybridized ``net`` in ``tmp``, flushed
    to disk (they are renamed into place later); role -> path."""
    net.export(str(tmp / name))
    staged = {"symbol": tmp / f"{name}-symbol.json", "params": tmp / f"{name}-0000.params"}
    if with_onnx:
        staged["onnx"] = tmp / f"{name}.onnx"
        _export_onnx(staged["symbol"], staged["params"], desc["input_size"], staged["onnx"])
    for path in staged.values():
        _flush(path)
    return staged


def _flush(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _calibration(desc: dict[str, Any], int8: dict[str, Any]) -> dict[str, Any]:
    """The calibration crops (``crops_array``, (N, h, w, 3) uint8 BGR), the file's people split into those
    calibrated on and those held out to measure the AP change (``split``, ``export.int8_accuracy``), and the
    record for deploy.json: where they come from (absolute paths), how many crops of how many images. Read before
    anything is written."""
    ann, images = calibration_source(desc, int8.get("ann"), int8.get("images"))
    split = split_calibration(ann, images, deploy_meta(desc))
    crops, files = calibration_crops(split.calibration, desc["input_size"], int8.get("size") or CALIBRATION_SIZE)
    return {"ann": os.path.abspath(ann), "images": os.path.abspath(images), "image_files": len(files),
            "crops_array": crops, "split": split}


def _description(desc: dict[str, Any], names: dict[str, str], staged: dict[str, Path],
                 calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The deploy.json of an export: ``desc`` (the checkpoint's description) with the files' bare ``names``
    (role -> name) and SHA-256, the checkpoint's absolute path and SHA-256, the INT8 model's ``calibration``
    and measured ``int8_accuracy`` (when there is one, both in ``calibration``), and the fields' own SHA-256."""
    int8 = {}
    if calibration is not None:
        calibration = dict(calibration)
        int8 = {"int8": names["int8"], "int8_accuracy": calibration.pop("int8_accuracy"), "calibration": calibration}
    doc = {"format": FORMAT, "input_name": "data", "symbol": names["symbol"], "params": names["params"],
           "onnx": names.get("onnx"), **int8, **desc, "checkpoint": os.path.abspath(desc["checkpoint"]),
           "checkpoint_sha256": file_sha256(desc["checkpoint"]),
           "sha256": {names[role]: file_sha256(path) for role, path in staged.items()}}
    doc["description_sha256"] = description_sha256(doc)
    return doc


PLAIN_FLAGS = ("model", "input_size", "ann", "category_id", "num_joints", "mean", "std")


def plain_from_args(args: argparse.Namespace) -> dict[str, Any] | None:
    """The description of ``--params`` when it is a plain .params file (None for a checkpoint, whose
    manifest fixes all of it, or a zoo name, whose settings are GluonCV's: the plain-file flags are then refused)."""
    if not is_plain_params(args.params):
        given = [f"--{k.replace('_', '-')}" for k in PLAIN_FLAGS if getattr(args, k) is not None]
        if given:
            fixed = ("GluonCV's model-zoo model (COCO's keypoints, GluonCV's input size and normalisation)"
                     if is_zoo_source(args.params) else "a checkpoint, whose manifest fixes these")
            raise SimplePoseError(f"{', '.join(given)}: {args.params} is {fixed}; they describe a plain .params "
                                  "file")
        return None
    if not args.model:
        raise SimplePoseError(f"--params {args.params}: a plain .params file (no checkpoint manifest names it); "
                              "give --model NAME, --input-size H,W and --ann FILE")
    normalise = {k: list(getattr(args, k)) for k in ("mean", "std") if getattr(args, k)}
    return plain_export_description(args.params, args.model, parse_input_size(args.input_size)
                                    if args.input_size else None, args.ann, args.category_id, args.num_joints,
                                    **normalise)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The export command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.export", __doc__.splitlines()[0], prog)
    p.add_argument("--params", "--params-file", dest="params", required=True, metavar="PATH",
                   help="checkpoint: its .json manifest, .params file or prefix, or a training run directory (its "
                        "best.json, else its latest checkpoint); GluonCV's model-zoo name "
                        "simple_pose_resnet{18,50,101,152}_v1{b,d} (its published COCO weights, from GluonCV's "
                        "model store in $MXNET_HOME/models; a path of that name wins); or a plain .params file as "
                        "GluonCV's save_parameters writes it (then give --model, --input-size and --ann)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--name", default=None, metavar="STEM",
                   help="file name stem: STEM-TAG-symbol.json, STEM-TAG-0000.params, STEM-TAG.onnx (and "
                        "STEM-TAG-int8.onnx), TAG from their SHA-256 (default: the model name)")
    g = p.add_argument_group("a plain .params file (no checkpoint manifest)")
    g.add_argument("--model", default=None, metavar="NAME", help="simple_pose_resnet{18,34,50,101,152}_v1{b,d}")
    g.add_argument("--input-size", default=None, metavar="H,W", help="model input height,width (default: 256,192)")
    g.add_argument("--ann", default=None, metavar="FILE",
                   help="annotation file (COCO format) whose keypoint category gives the names, flip pairs and "
                        "sigmas (default: COCO's, for a 17-keypoint model)")
    g.add_argument("--category-id", default=None, metavar="IDS",
                   help="keypoint categories of --ann when it has several")
    g.add_argument("--num-joints", type=NUM_JOINTS, default=None, metavar="N",
                   help="checked against the file when given")
    g.add_argument("--mean", type=MEAN, default=None, metavar="R,G,B",
                   help=f"RGB normalisation mean (default: {csv(IMAGENET_MEAN)})")
    g.add_argument("--std", type=STD, default=None, metavar="R,G,B",
                   help=f"RGB normalisation std (default: {csv(IMAGENET_STD)})")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--onnx", dest="with_onnx", action="store_true", default=None,
                   help="require the ONNX export (default: only when onnx is installed)")
    g.add_argument("--no-onnx", dest="with_onnx", action="store_false", help="skip the ONNX export")
    g = p.add_argument_group("INT8 (about 2-3x faster on one CPU thread; see docs/guide/export-predict.rst)")
    g.add_argument("--int8", action="store_true",
                   help="also write NAME-TAG-int8.onnx: the ONNX model quantized to INT8 (ONNX Runtime, static, "
                        "per-channel), calibrated on person crops; run it with --backend onnx-int8")
    g.add_argument("--calib-ann", default=None, metavar="FILE",
                   help="annotation file (COCO format) of the people to calibrate on (default: the checkpoint's "
                        "validation data, else its training data); every other image with people is held out of "
                        "the calibration to measure the INT8 model's AP change (deploy.json's int8_accuracy)")
    g.add_argument("--calib-images", default=None, metavar="DIR", help="the images of --calib-ann")
    g.add_argument("--calib-size", type=CALIB_SIZE, default=None, metavar="N",
                   help=f"person crops to calibrate on, spread over the file's people (default: {CALIBRATION_SIZE})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    check_output_dir(args.out, "--out")
    given = [f for f, v in (("--calib-ann", args.calib_ann), ("--calib-images", args.calib_images),
                            ("--calib-size", args.calib_size)) if v is not None]
    if given and not args.int8:
        raise SimplePoseError(f"{', '.join(given)}: calibration flags of --int8, which is not given")
    int8 = ({"ann": args.calib_ann, "images": args.calib_images, "size": args.calib_size} if args.int8 else None)
    doc = export_checkpoint(args.params, args.out, args.name, args.with_onnx, plain_from_args(args), int8)
    print(f"exported to {args.out}: " + ", ".join(doc[k] for k in ("symbol", "params", "onnx", "int8")
                                                   if doc.get(k))
          + f", {DEPLOY_FILE}")
    return 0
