"""Run a model on an image: ``python -m simplepose.predict --model DIR_OR_CHECKPOINT --image IMG``.

Crops each person box (the whole image when no boxes are given), runs an export with ONNX Runtime
(or MXNet) or a checkpoint with MXNet, decodes with the same codec as evaluation, along the path
validation and evaluation take (``pose_inference``), and writes a PNG with the skeletons drawn and
a JSON of the keypoints. Nothing here needs MXNet unless the MXNet backend is chosen.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .cli import check_output_file, command_parser, run_main, setup_logging
from .codec import METHODS
from .data.coco import read_image
from .deploy import BACKENDS, deploy_codec, deploy_forward, deploy_meta, is_export, load_deploy
from .errors import SimplePoseError
from .io import JsonRecord, atomic_write, atomic_write_text, read_json
from .pose_inference import BoxCrops, predict_keypoints

log = logging.getLogger(__name__)


def read_boxes(path: str | os.PathLike, image_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes from JSON: a list of ``[x, y, w, h]``, a list of COCO detections (``bbox``, ``score``),
    or a COCO annotation file (the non-crowd boxes of the image whose ``file_name`` is ``image_path``'s name).

    Returns:
        boxes (N, 4) float32 (x0, y0, x1, y1) image pixels, scores (N,) float32 (1 when not given).
    """
    items = read_json(path, "boxes file")
    if isinstance(items, dict):
        doc = JsonRecord(items, path)
        name = Path(image_path).name
        ids = {img.int("id") for img in doc.records("images", []) if Path(img.string("file_name")).name == name}
        if not ids:
            raise SimplePoseError(f"{path}: no image named {name} in this annotation file")
        records = [a for a in doc.records("annotations") if a.int("image_id") in ids and not a.int("iscrowd", 0)]
    elif isinstance(items, list):
        # A bare [x, y, w, h] is checked as the 'bbox' field of its entry.
        records = [JsonRecord(item if isinstance(item, dict) else {"bbox": item}, path, f"box {i}")
                   for i, item in enumerate(items)]
    else:
        raise SimplePoseError(f"{path}: expected a list of [x, y, width, height] boxes or of COCO detections "
                              "({'bbox': [x, y, width, height], 'score': s}), or a COCO annotation file")
    boxes, scores = [], []
    for box in records:
        x, y, w, h = box.numbers("bbox", length=4)
        if not (w > 0 and h > 0):
            raise box.error("bbox", f"is {box.raw('bbox')}: width and height must be positive")
        boxes.append([x, y, x + w, y + h])
        scores.append(box.number("score", 1.0))
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)


def predict_image(doc: dict[str, Any], forward: Callable[[np.ndarray], np.ndarray], image_path: str,
                  boxes: np.ndarray, decode: str | None = None, flip_test: bool = False) -> np.ndarray:
    """Keypoints of the people in ``boxes`` of an image file, in one batch.

    Args:
        doc: the model's description (``deploy.json`` or ``inference.checkpoint_description``);
        forward: its forward function (uint8 crops -> heatmaps).
        boxes: (N, 4) (x0, y0, x1, y1), image pixels.
        decode: heatmap decoding method (default: the model's codec); flip_test: average with the mirrored crops.
    Returns:
        (N, K, 3) float32: x, y image pixels and the heatmap score.
    """
    crops = BoxCrops([image_path] * len(boxes), boxes, doc["input_size"])
    if not len(crops):
        return np.zeros((0, len(doc["meta"]["names"]), 3), np.float32)
    flip_index = deploy_meta(doc).flip_index if flip_test else None
    batch = np.stack([crops[i] for i in range(len(crops))])
    return predict_keypoints(forward, [batch], crops.crops, deploy_codec(doc, decode), flip_index)


def load_model(path: str, backend: str) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, Any], str]:
    """(forward, description, backend used) of an export directory or a checkpoint (MXNet, on the CPU)."""
    if is_export(path):
        doc = load_deploy(path)
        forward, used = deploy_forward(doc, backend)
        return forward, doc, used
    if backend == "onnx":
        raise SimplePoseError(f"--backend onnx: {path} is a checkpoint, which runs with MXNet; export it "
                              "(python -m simplepose.export) to run it with ONNX Runtime")
    import mxnet as mx
    from .inference import load_for_inference
    forward, doc, _ = load_for_inference(path, [mx.cpu()])
    return forward, doc, "mxnet"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The predict command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.predict", __doc__.splitlines()[0], prog)
    p.add_argument("--model", required=True, metavar="PATH",
                   help="export directory (written by python -m simplepose.export) or checkpoint (.json manifest, "
                        ".params file or prefix)")
    p.add_argument("--image", required=True, metavar="FILE", help="image file")
    p.add_argument("--boxes", default=None, metavar="FILE",
                   help="JSON list of [x, y, w, h] boxes or COCO detections, or a COCO annotation file (this image's "
                        "boxes); default: the whole image")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="PNG to write (default: IMAGE_STEM.pose.png next to the image)")
    p.add_argument("--json", default=None, metavar="FILE", help="keypoints JSON to write (default: IMAGE_STEM.pose.json)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="runtime of an export: auto (ONNX Runtime when installed), onnx or mxnet")
    p.add_argument("--decode", choices=METHODS, default=None, help="heatmap decoding (default: the model's codec)")
    p.add_argument("--flip-test", action="store_true", help="average with the mirrored crops' heatmaps")
    p.add_argument("--kpt-thresh", type=float, default=0.2, metavar="X", help="joints drawn above this score")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    stem = Path(args.image).with_suffix("")
    out_png = Path(args.out or f"{stem}.pose.png")
    out_json = Path(args.json or f"{stem}.pose.json")
    check_output_file(out_png, "--out")
    check_output_file(out_json, "--json")
    forward, doc, backend = load_model(args.model, args.backend)
    meta = deploy_meta(doc)
    image = read_image(args.image, "--image")
    if args.boxes:
        boxes, box_scores = read_boxes(args.boxes, args.image)
    else:
        boxes, box_scores = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32), np.ones(1, np.float32)
    poses = predict_image(doc, forward, args.image, boxes, args.decode, args.flip_test)
    people = [{"bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])], "box_score": float(s),
               "keypoints": {name: [round(float(v), 2) for v in kp] for name, kp in zip(meta.names, pose)}}
              for b, s, pose in zip(boxes, box_scores, poses)]
    atomic_write_text(out_json, json.dumps({"image": args.image, "model": doc["model"], "backend": backend,
                                            "people": people}, indent=1))
    from .visualize import save_pose_image
    atomic_write(out_png, lambda tmp: save_pose_image(tmp, image, poses, meta, args.kpt_thresh, boxes,
                                                      f"{doc['model']} ({backend})"))
    print(f"{len(people)} people: {out_png}, {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
