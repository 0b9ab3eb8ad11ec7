"""``python -m simplepose.synthetic --out DIR [--feet] ...``: write the dataset, print its paths.

``python -m simplepose.synthetic --video FILE.mp4 [--frames N] [--fps X] [--people N] ...``: write a short
video of moving figures and its ground truth (:mod:`.video`) instead.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..cli import run_main, setup_logging
from .video import VideoSpec, write_video
from .writer import DatasetSpec, ensure_dataset, generate


def build_parser() -> argparse.ArgumentParser:
    """The generator's command line; defaults are DatasetSpec's."""
    width, height = DatasetSpec.image_size
    ap = argparse.ArgumentParser(prog="python -m simplepose.synthetic",
                                 description="Write the synthetic stick-figure COCO keypoint dataset; "
                                             "reuse a complete one made with the same options. With --video, "
                                             "write a short video of moving figures and its ground truth instead.")
    ap.add_argument("--out", metavar="DIR", help="output directory of the dataset (required unless --video; "
                                                 "created if needed)")
    ap.add_argument("--train-images", type=int, default=DatasetSpec.num_train_images,
                    help="images in the train split (default: %(default)s)")
    ap.add_argument("--val-images", type=int, default=DatasetSpec.num_val_images,
                    help="images in the val split (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=DatasetSpec.seed,
                    help="base seed; image i of a split is drawn from the seed, the split and i (default: %(default)s)")
    ap.add_argument("--width", type=int, default=None, metavar="N",
                    help=f"image width, pixels, >= 32 (default: {width})")
    ap.add_argument("--height", type=int, default=None, metavar="N",
                    help=f"image height, pixels, >= 32 (default: {height})")
    ap.add_argument("--feet", action="store_true",
                    help="23 keypoints: COCO's 17 plus COCO-WholeBody's 6 foot points, drawn (default: off)")
    ap.add_argument("--force", action="store_true",
                    help="regenerate even if a complete dataset with these options exists (default: off)")
    w, h = VideoSpec.image_size
    video = ap.add_argument_group("video", f"--video FILE.mp4 instead of --out DIR; --seed, --feet, --width and "
                                           f"--height apply too, the size being {w}x{h} unless given")
    video.add_argument("--video", metavar="FILE", help="write a video of moving figures (MP4), its ground truth "
                                                         "(FILE's stem + .json) and its boxes as detections "
                                                         "(stem + .boxes.json) (default: none)")
    video.add_argument("--frames", type=int, default=VideoSpec.num_frames, metavar="N",
                       help="frames of the video (default: %(default)s)")
    video.add_argument("--fps", type=float, default=VideoSpec.fps, metavar="X",
                       help="frames per second of the video (default: %(default)s)")
    video.add_argument("--people", type=int, default=VideoSpec.num_people, metavar="N",
                       help="people in every frame of the video (default: %(default)s)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or reuse) the dataset, or write the video, named by argv and print ``key: path`` lines of its files."""
    ap = build_parser()
    ns = ap.parse_args(argv)
    if (ns.out is None) == (ns.video is None):
        ap.error("give exactly one of --out DIR (the dataset) and --video FILE.mp4")
    default = VideoSpec.image_size if ns.video else DatasetSpec.image_size
    size = tuple(d if v is None else v for v, d in zip((ns.width, ns.height), default))
    if ns.video:
        paths = write_video(ns.video, VideoSpec(ns.frames, ns.fps, ns.people, size, ns.seed, ns.feet))
    else:
        spec = dict(num_train_images=ns.train_images, num_val_images=ns.val_images, seed=ns.seed,
                    image_size=size, feet=ns.feet)
        paths = generate(ns.out, **spec) if ns.force else ensure_dataset(ns.out, **spec)
    for key, value in paths.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    setup_logging()
    sys.exit(run_main(main))
