"""``python -m simplepose.synthetic --out DIR [--feet] ...``: write the dataset, print its paths."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..cli import command_parser, run_main, setup_logging
from .writer import DatasetSpec, ensure_dataset, generate


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The generator's command line; defaults are DatasetSpec's. ``prog``: the name its usage line shows."""
    width, height = DatasetSpec.image_size
    ap = command_parser("simplepose.synthetic", "Write the synthetic stick-figure COCO keypoint dataset; "
                                                "reuse a complete one made with the same options.", prog)
    ap.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    ap.add_argument("--train-images", type=int, default=DatasetSpec.num_train_images, metavar="N",
                    help="images in the train split")
    ap.add_argument("--val-images", type=int, default=DatasetSpec.num_val_images, metavar="N",
                    help="images in the val split")
    ap.add_argument("--seed", type=int, default=DatasetSpec.seed, metavar="N",
                    help="base seed; image i of a split is drawn from the seed, the split and i")
    ap.add_argument("--width", type=int, default=width, metavar="N", help="image width, pixels, >= 32")
    ap.add_argument("--height", type=int, default=height, metavar="N", help="image height, pixels, >= 32")
    ap.add_argument("--feet", action="store_true",
                    help="23 keypoints: COCO's 17 plus COCO-WholeBody's 6 foot points, drawn")
    ap.add_argument("--force", action="store_true",
                    help="regenerate even if a complete dataset with these options exists")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or reuse) the dataset named by argv and print ``key: path`` lines of its files."""
    ns = build_parser().parse_args(argv)
    setup_logging()
    spec = dict(num_train_images=ns.train_images, num_val_images=ns.val_images, seed=ns.seed,
                image_size=(ns.width, ns.height), feet=ns.feet)
    paths = generate(ns.out, **spec) if ns.force else ensure_dataset(ns.out, **spec)
    for key, value in paths.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
