"""``python -m simplepose.synthetic --out DIR [--feet] ...``: write the dataset, print its paths.

``python -m simplepose.synthetic --video FILE.mp4 [--frames N] [--fps X] [--people N] ...``: write a short
video of moving figures and its ground truth (:mod:`.video`) instead.
"""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.synthetic.__main__"))

import argparse
from typing import Sequence

from simplepose.cli import command_parser, setup_logging
from simplepose.flags import MAX_COUNT, MAX_SIDE, SEED, integer, real
from simplepose.synthetic.video import VideoSpec, write_video
from simplepose.synthetic.writer import DatasetSpec, ensure_dataset, generate


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The generator's command line; defaults are DatasetSpec's. ``prog``: the name its usage line shows."""
    width, height = DatasetSpec.image_size
    ap = command_parser("simplepose.synthetic", "Write the synthetic stick-figure COCO keypoint dataset; reuse a "
                        "complete one made with the same options. With --video, write a short video of moving "
                        "figures and its ground truth instead.", prog)
    ap.add_argument("--out", metavar="DIR", help="output directory of the dataset (required unless --video; "
                                                 "created if needed)")
    ap.add_argument("--train-images", type=integer(0, MAX_COUNT), default=DatasetSpec.num_train_images, metavar="N",
                    help="images in the train split")
    ap.add_argument("--val-images", type=integer(0, MAX_COUNT), default=DatasetSpec.num_val_images, metavar="N",
                    help="images in the val split")
    ap.add_argument("--seed", type=SEED, default=DatasetSpec.seed, metavar="N",
                    help="base seed; image i of a split is drawn from the seed, the split and i")
    ap.add_argument("--width", type=integer(32, MAX_SIDE), default=None, metavar="N",
                    help=f"image width, pixels (default: {width}; for --video {VideoSpec.image_size[0]})")
    ap.add_argument("--height", type=integer(32, MAX_SIDE), default=None, metavar="N",
                    help=f"image height, pixels (default: {height}; for --video {VideoSpec.image_size[1]})")
    ap.add_argument("--feet", action="store_true",
                    help="23 keypoints: COCO's 17 plus COCO-WholeBody's 6 foot points, drawn")
    ap.add_argument("--force", action="store_true",
                    help="regenerate even if a complete dataset with these options exists")
    video = ap.add_argument_group("video", "--video FILE.mp4 instead of --out DIR; --seed, --feet, --width and "
                                           "--height apply too")
    video.add_argument("--video", metavar="FILE", help="write a video of moving figures (MP4), its ground truth "
                                                         "(FILE's stem + .json) and its boxes as detections "
                                                         "(stem + .boxes.json)")
    video.add_argument("--frames", type=integer(1, 100_000), default=VideoSpec.num_frames, metavar="N",
                       help="frames of the video")
    video.add_argument("--fps", type=real(1, 240), default=VideoSpec.fps, metavar="X",
                       help="frames per second of the video")
    video.add_argument("--people", type=integer(1, 50), default=VideoSpec.num_people, metavar="N",
                       help="people in every frame of the video")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or reuse) the dataset, or write the video, named by argv and print ``key: path`` lines of its files."""
    ap = build_parser()
    ns = ap.parse_args(argv)
    setup_logging()
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
