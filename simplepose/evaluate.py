"""Evaluate a simplepose model: `python -m simplepose.evaluate --help` (or eval_simple_pose.py).

Runs a checkpoint (or an export directory, or GluonCV's model-zoo model) on the people of a COCO-format
keypoint file, on ground-truth boxes or a detector's, optionally with the flip test, and prints COCO's ten
keypoint statistics and a per-keypoint AP breakdown (when OKS sigmas are known), and always
PCK@0.05/0.1/0.2, AUC, EPE and NME, overall and per keypoint: person boxes (``simplepose.data.boxes``) ->
keypoints (``simplepose.runtime.pose``, the path validation and prediction use) -> scores
(``simplepose.scoring``).
"""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.evaluate"))

import argparse
import dataclasses
import json
import sys
from typing import Sequence

from simplepose.cli import command_parser, setup_logging
from simplepose.codec import METHODS
from simplepose.errors import SimplePoseError
from simplepose.config import DATA_FLAGS
from simplepose.data.keypoint_fields import parse_keypoint_fields
from simplepose.data.paths import prepare_synthetic, resolve_data
from simplepose.flags import FRACTION, MEAN, NUM_JOINTS, STD, integer, parse_input_size, real
from simplepose.options import add_data_options, add_runtime_options, explicit_flags
from simplepose.runtime.describe import check_num_joints, plain_description
from simplepose.runtime.load import BACKENDS, load_model
from simplepose.zoo import GLUONCV_INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD, csv


def eval_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The evaluation command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.evaluate", "Evaluate a simplepose model with COCO keypoint AP "
                       "(when OKS sigmas are known) and PCK, AUC, EPE and NME.", prog)
    p.add_argument("--params", "--params-file", dest="params", required=True, metavar="PATH",
                   help="checkpoint (.json manifest, .params file or prefix), training run directory (its best.json, "
                        "else its latest checkpoint), export directory (deploy.json), GluonCV's model-zoo name "
                        "simple_pose_resnet{18,50,101,152}_v1{b,d} (its published weights, from GluonCV's model "
                        "store in $MXNET_HOME/models; COCO's 17 keypoints, so the annotation file must name them; a "
                        "path of that name wins), or a plain .params file as GluonCV's save_parameters writes it "
                        "(then give --model; keypoints from the annotation file)")
    add_data_options(p, train=False)
    add_runtime_options(p)
    g = p.add_argument_group("model")
    g.add_argument("--model", default=None, metavar="NAME",
                   help="simple_pose_resnet{18,34,50,101,152}_v1{b,d}: required for a plain .params file, checked "
                        "against a checkpoint")
    g.add_argument("--num-joints", type=NUM_JOINTS, default=None, metavar="N",
                   help="keypoint count (GluonCV's flag): checked against the model and the annotation file")
    g.add_argument("--input-size", default=None, metavar="H,W",
                   help="crop 'height,width' (default: the checkpoint's; 256,192 for a plain .params file)")
    g.add_argument("--mean", type=MEAN, default=None, metavar="R,G,B",
                   help=f"RGB normalisation mean of a plain .params file (default: {csv(IMAGENET_MEAN)}, GluonCV's); "
                        "checked against a checkpoint")
    g.add_argument("--std", type=STD, default=None, metavar="R,G,B",
                   help=f"RGB normalisation std of a plain .params file (default: {csv(IMAGENET_STD)}, GluonCV's); "
                        "checked against a checkpoint")
    g.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="runtime of an export directory: auto (its FP32 ONNX model with ONNX Runtime when installed, "
                        "never the INT8 one: the AP reported is the model's), onnx, onnx-int8 (its INT8 model, "
                        "simplepose-export --int8) or mxnet")
    g = p.add_argument_group("evaluation")
    g.add_argument("--boxes", default=None, metavar="FILE",
                   help="person detections in COCO results format (default: ground-truth boxes)")
    g.add_argument("--box-thresh", type=FRACTION, default=0.0, metavar="X", help="minimum detection score")
    g.add_argument("--flip-test", action="store_true", help="average with the mirrored crop's heatmaps")
    g.add_argument("--decode", choices=METHODS, default=None,
                   help="heatmap decoding (default: the codec the model was trained with)")
    g.add_argument("--kpt-thresh", "--score-threshold", dest="kpt_thresh", type=real(0, 1, high_open=True),
                   default=0.2, metavar="X",
                   help="keypoint scores above this count in the instance score and in OKS-NMS "
                        "(--score-threshold is GluonCV validate.py's name; that script uses 0 unless told and applies "
                        "no OKS-NMS: add --oks-nms 1 to score as it does)")
    g.add_argument("--oks-nms", type=real(0, 1, low_open=True), default=0.9, metavar="X",
                   help="OKS-NMS threshold per image; 1 keeps every pose")
    g.add_argument("--sigmas", default=None, metavar="FILE|uniform:X",
                   help="OKS sigmas overriding the model's metadata: a file of K sigmas (JSON list or numbers), "
                        "or uniform:X for the same X > 0 for every keypoint; without sigmas no AP is computed, "
                        "only PCK, AUC, EPE and NME")
    g.add_argument("--metrics-json", default=None, metavar="FILE",
                   help="write every figure (AP, PCK, AUC, EPE, NME, per keypoint too) to this JSON file")
    g.add_argument("--results-json", default=None, metavar="FILE", help="write the predictions in COCO results format")
    g.add_argument("--analysis", default=None, metavar="DIR",
                   help="write error-analysis pictures into DIR: PR curves at OKS 0.50..0.95, per-keypoint AP, "
                        "the worst instances by OKS")
    g.add_argument("--analysis-worst", type=integer(0, 1000), default=8, metavar="K",
                   help="how many lowest-OKS people --analysis draws")
    return p


def check_stored(args: argparse.Namespace, desc: dict, input_size: tuple[int, int] | None) -> None:
    """--model, --input-size, --mean, --std and --num-joints, when given, against a checkpoint's or export's
    description ``desc``: a difference raises one line naming the flag and the stored value."""
    if args.model and args.model != desc["model"]:
        raise SimplePoseError(f"--model {args.model}: {args.params} holds a {desc['model']}")
    if input_size is not None and desc.get("format"):
        raise SimplePoseError(f"--input-size: {args.params} is an export with a fixed input size "
                              f"{desc['input_size']}; evaluate its checkpoint instead")
    for flag in ("mean", "std"):
        value = getattr(args, flag)
        if value and list(value) != list(desc[flag]):
            raise SimplePoseError(f"--{flag} {','.join(map(str, value))}: {args.params} was trained with {flag} "
                                  f"{','.join(map(str, desc[flag]))}; --{flag} sets the normalisation of a plain "
                                  ".params file only")
    check_num_joints(args.num_joints, len(desc["meta"]["names"]), args.params)


def check_flags(args: argparse.Namespace) -> None:
    """--keypoint-fields and the output paths, checked before any work (flag values are checked by the parser): one
    line naming the first bad one."""
    from simplepose.cli import check_output_dir, check_output_file
    parse_keypoint_fields(args.keypoint_fields)
    for flag, path in (("--results-json", args.results_json), ("--metrics-json", args.metrics_json)):
        if path:
            check_output_file(path, flag)
    if args.analysis:
        check_output_dir(args.analysis, "--analysis")


def evaluation_data(args: argparse.Namespace, given: set[str], desc: dict) -> dict:
    """The data evaluated: this command line's data flags, else the validation data the model was trained with
    (``desc["data"]``; a plain .params has none), resolved to absolute paths and generated when synthetic."""
    data = {k: getattr(args, k) for k in DATA_FLAGS + ("category_id", "synthetic_train_images",
                                                       "synthetic_val_images") if hasattr(args, k)}
    if not given & set(DATA_FLAGS) and desc.get("data"):
        data.update({k: v for k, v in desc["data"].items() if k in data and k not in given and v is not None})
    resolve_data(data, train=False)
    if not data.get("val_ann"):
        raise SimplePoseError("no evaluation data: give --ann and --images, --data-dir, or --dataset synthetic")
    prepare_synthetic(data["dataset"], data["data_dir"], data["synthetic_train_images"], data["synthetic_val_images"])
    return data


def load_plain(args: argparse.Namespace, ctx: list, meta, input_size: tuple[int, int] | None):
    """(forward, description, what, input size) of a plain .params file: the keypoints are the annotation
    file's (``meta``), the rest GluonCV's defaults or this command line's flags."""
    from simplepose.runtime.mxnet import params_num_joints
    input_size = input_size or GLUONCV_INPUT_SIZE
    normalise = {k: list(getattr(args, k)) if getattr(args, k) else default
                 for k, default in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD))}
    check_num_joints(args.num_joints, params_num_joints(args.params), args.params)
    loaded = load_model(args.params, ctx=ctx, plain=plain_description(args.params, args.model, meta, input_size,
                                                                     **normalise))
    return loaded.forward, loaded.description, loaded.what, input_size


def main(argv: Sequence[str] | None = None) -> int:
    parser = eval_parser()
    args = parser.parse_args(argv)
    given = explicit_flags(parser, argv if argv is not None else sys.argv[1:])
    setup_logging()
    check_flags(args)
    input_size = parse_input_size(args.input_size) if args.input_size else None

    from mxnet import gluon
    from tqdm import tqdm
    from simplepose.data.boxes import detection_boxes, gt_boxes
    from simplepose.rundir.checkpoint import is_plain_params
    from simplepose.codec import HeatmapCodec
    from simplepose.data.coco import COCOKeyPoints
    from simplepose.runtime.mxnet import contexts
    from simplepose.meta import KeypointMeta
    from simplepose.runtime.pose import BoxCrops, predict_keypoints
    from simplepose.scoring.coco import load_coco_gt
    from simplepose.scoring.evaluation import evaluate_poses
    from simplepose.scoring.matching import GroundTruthPeople
    from simplepose.sigma_tables import parse_sigmas_option

    ctx = contexts(args.gpus, args.num_gpus)
    plain = is_plain_params(args.params)
    desc: dict = {}
    if plain and not args.model:
        raise SimplePoseError(f"--params {args.params}: a plain .params file (no checkpoint manifest names it); "
                              "give --model NAME (e.g. simple_pose_resnet50_v1b) and --input-size H,W")
    if not plain:
        loaded = load_model(args.params, args.backend, ctx)
        forward, desc, what = loaded.forward, loaded.description, loaded.what
        check_stored(args, desc, input_size)
        input_size = input_size or desc["input_size"]
    data = evaluation_data(args, given, desc)
    dataset = COCOKeyPoints(data["val_ann"], data["val_images"], category_id=data.get("category_id"),
                            meta=None if plain else KeypointMeta.from_dict(desc["meta"]),
                            keypoint_fields=args.keypoint_fields,
                            max_pixels=args.max_image_pixels, allow_outside_root=args.allow_outside_root)
    if plain:
        forward, desc, what, input_size = load_plain(args, ctx, dataset.meta, input_size)
    check_num_joints(args.num_joints, dataset.meta.num_joints, data["val_ann"])
    meta = dataset.meta
    if args.sigmas:
        sigmas, source = parse_sigmas_option(args.sigmas, meta.num_joints)
        meta = dataclasses.replace(meta, sigmas=sigmas, sigmas_source=source)
    if meta.sigmas is None and args.analysis:
        raise SimplePoseError(f"--analysis: no OKS sigmas are known for keypoints {list(meta.names)} and the error "
                              "analysis is by OKS; give --sigmas FILE (K numbers) or --sigmas uniform:X")
    boxes = detection_boxes(args.boxes, dataset, args.box_thresh) if args.boxes else gt_boxes(dataset)
    crops = BoxCrops(boxes.image_paths, boxes.boxes, input_size, args.max_image_pixels)
    codec = HeatmapCodec(input_size, desc["stride"], desc["sigma"], args.decode or desc["codec"])
    loader = gluon.data.DataLoader(crops, batch_size=args.batch_size * len(ctx), shuffle=False,
                                   num_workers=args.num_workers)
    batches = (b.asnumpy() for b in tqdm(loader, desc="inference", disable=None, leave=False))
    keypoints = predict_keypoints(forward, batches, crops.crops, codec, meta.flip_index if args.flip_test else None)
    gt = load_coco_gt(dataset) if meta.sigmas is not None else None
    report, results = evaluate_poses(keypoints, boxes, crops.areas, meta,
                                     GroundTruthPeople.from_records(dataset.records, meta.num_joints),
                                     dataset.category_id, gt, args.kpt_thresh, args.oks_nms,
                                     analysis=bool(args.analysis))
    settings = {"model": what, "ann": data["val_ann"], "input_size": list(input_size), "flip_test": args.flip_test,
                "decode": codec.method, "kpt_thresh": args.kpt_thresh, "oks_nms": args.oks_nms}
    print(f"{what} on {data['val_ann']}, input {input_size[0]}x{input_size[1]}, "
          f"flip test {'on' if args.flip_test else 'off'}, decode {codec.method}")
    print("\n".join(report.lines()))
    write_outputs(args, settings, report, results, meta, dataset.image_files)
    return 0


def write_outputs(args: argparse.Namespace, settings: dict, report, results: list, meta, image_files: dict) -> None:
    """--results-json, --metrics-json and the --analysis pictures, each when asked for."""
    from simplepose.io import atomic_write_text
    if args.results_json:
        atomic_write_text(args.results_json, json.dumps(results), "--results-json file")
    if args.metrics_json:
        atomic_write_text(args.metrics_json, json.dumps({**settings, **report.to_dict()}, indent=1),
                          "--metrics-json file")
    if args.analysis:
        from simplepose.plot import write_error_analysis
        for path in write_error_analysis(args.analysis, report, meta, image_files, args.analysis_worst,
                                         args.kpt_thresh, args.max_image_pixels):
            print(f"wrote {path}")
