"""Pack person crops for training: decode a small JPEG per sample instead of the whole image.

``simplepose-pack --ann A.json --images DIR --out PACK --input-size 128,96`` (also ``python -m
simplepose.data.pack``): the command line of ``data.pack``, which says what a pack holds.
"""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.pack"))

import argparse
from pathlib import Path
from typing import Sequence

from simplepose.cli import check_output_file, command_parser, setup_logging
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.pack import pack
from simplepose.flags import SCALE_FACTOR, integer, parse_input_size
from simplepose.options import add_image_options


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The pack command's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.pack", __doc__.split("\n")[0], prog)
    p.add_argument("--ann", required=True, metavar="FILE", help="COCO-format annotation file")
    p.add_argument("--images", required=True, metavar="DIR", help="its image directory")
    p.add_argument("--out", required=True, metavar="PACK",
                   help="output path without suffix: writes PACK.bin and PACK.npz")
    p.add_argument("--input-size", default="256,192", metavar="H,W", help="model input height,width the pack is for")
    p.add_argument("--scale-factor", type=SCALE_FACTOR, default=0.30, metavar="X",
                   help="train scale jitter the pack must cover")
    p.add_argument("--quality", type=integer(1, 100), default=95, metavar="N", help="JPEG quality of the stored crops")
    p.add_argument("--category-id", default=None, metavar="IDS",
                   help="keypoint categories to read, e.g. 1 or 1,3 (default: every category sharing the one list)")
    add_image_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    h, w = parse_input_size(args.input_size)
    setup_logging()
    check_output_file(Path(args.out).with_suffix(".bin"), "--out")
    dataset = COCOKeyPoints(args.ann, args.images, category_id=args.category_id, max_pixels=args.max_image_pixels,
                            allow_outside_root=args.allow_outside_root)
    pack(dataset, args.out, (h, w), args.scale_factor, args.quality)
    return 0
