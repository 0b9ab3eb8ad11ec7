"""Run an exported model on an image: ``python -m simplepose.predict --model DIR --image IMG``.

Crops each person box (the whole image when no boxes are given), runs the export with ONNX
Runtime (or MXNet), decodes with the same codec as evaluation, and writes a PNG with the
skeletons drawn and a JSON of the keypoints. Nothing here needs MXNet unless the MXNet
backend is chosen.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .io import atomic_write, atomic_write_text
from .cli import check_output_file, run_main, setup_logging
from .data.coco import box_to_center_scale, read_image
from .data.transforms import crop_to_image
from .deploy import BACKENDS, deploy_codec, deploy_forward, deploy_meta, deploy_transform, load_deploy
from .errors import SimplePoseError
from .io import read_json

log = logging.getLogger(__name__)


def read_boxes(path: str | os.PathLike, image_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes from JSON: a list of ``[x, y, w, h]``, a list of COCO detections (``bbox``, ``score``),
    or a COCO annotation file (the non-crowd boxes of the image whose ``file_name`` is ``image_path``'s name).

    Returns:
        boxes (N, 4) float32 (x0, y0, x1, y1) image pixels, scores (N,) float32 (1 when not given).
    """
    items = read_json(path, "boxes file")
    if isinstance(items, dict) and isinstance(items.get("annotations"), list):
        name = Path(image_path).name
        ids = {img.get("id") for img in items.get("images", []) if Path(str(img.get("file_name"))).name == name}
        if not ids:
            raise SimplePoseError(f"{path}: no image named {name} in this annotation file")
        items = [a for a in items["annotations"] if a.get("image_id") in ids and not a.get("iscrowd", 0)]
    boxes, scores = [], []
    for i, item in enumerate(items if isinstance(items, list) else [None]):
        box, score = (item.get("bbox"), item.get("score", 1.0)) if isinstance(item, dict) else (item, 1.0)
        try:
            x, y, w, h = (float(v) for v in box)
        except (TypeError, ValueError):
            raise SimplePoseError(f"{path}: box {i} must be [x, y, width, height] or "
                                  "{'bbox': [x, y, width, height], 'score': s}") from None
        if not (w > 0 and h > 0):
            raise SimplePoseError(f"{path}: box {i} {box} has no area")
        boxes.append([x, y, x + w, y + h])
        scores.append(float(score))
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)


def predict_image(doc: dict[str, Any], forward, image: np.ndarray, boxes: np.ndarray,
                  decode: str | None = None) -> np.ndarray:
    """Keypoints of the people in ``boxes``.

    Args:
        image: (H, W, 3) uint8 RGB. boxes: (N, 4) (x0, y0, x1, y1), image pixels.
    Returns:
        (N, K, 3) float32: x, y image pixels and the heatmap score.
    """
    transform, codec = deploy_transform(doc), deploy_codec(doc, decode)
    cs = [box_to_center_scale(b, transform.aspect_ratio) for b in boxes]
    centers = np.array([c for c, _ in cs], np.float32).reshape(-1, 2)
    scales = np.array([s for _, s in cs], np.float32).reshape(-1, 2)
    no_joints = np.zeros((0, 3), np.float32)
    if not len(boxes):
        return np.zeros((0, len(doc["meta"]["names"]), 3), np.float32)
    crops = np.stack([transform.crop(image, no_joints, c, s)[0] for c, s in zip(centers, scales)])
    coords, scores = codec.decode(forward(crops))
    h, w = transform.input_size
    return np.concatenate([crop_to_image(coords, centers, scales, (w, h)), scores[..., None]], axis=-1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simplepose.predict", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="export directory (written by python -m simplepose.export)")
    p.add_argument("--image", required=True, help="image file")
    p.add_argument("--boxes", default=None, help="JSON list of [x, y, w, h] boxes or COCO detections, or a COCO "
                                                  "annotation file (this image's boxes); default: the whole image")
    p.add_argument("--out", default=None, help="PNG to write (default: IMAGE_STEM.pose.png next to the image)")
    p.add_argument("--json", default=None, help="keypoints JSON to write (default: IMAGE_STEM.pose.json)")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help="auto: ONNX Runtime when installed")
    p.add_argument("--decode", choices=("standard", "dark"), default=None, help="default: the model's codec")
    p.add_argument("--kpt-thresh", type=float, default=0.2, help="joints drawn above this score (default 0.2)")
    args = p.parse_args(argv)
    setup_logging()
    stem = Path(args.image).with_suffix("")
    out_png = Path(args.out or f"{stem}.pose.png")
    out_json = Path(args.json or f"{stem}.pose.json")
    check_output_file(out_png, "--out")
    check_output_file(out_json, "--json")
    doc = load_deploy(args.model)
    meta = deploy_meta(doc)
    image = read_image(args.image, "--image")
    if args.boxes:
        boxes, box_scores = read_boxes(args.boxes, args.image)
    else:
        boxes, box_scores = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32), np.ones(1, np.float32)
    forward, backend = deploy_forward(doc, args.backend)
    poses = predict_image(doc, forward, image, boxes, args.decode)
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
