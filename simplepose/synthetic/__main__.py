"""``python -m simplepose.synthetic --out DIR [--feet] ...``: write the dataset, print its paths."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..cli import run_main, setup_logging
from .writer import DatasetSpec, ensure_dataset, generate


def build_parser() -> argparse.ArgumentParser:
    """The generator's command line; defaults are DatasetSpec's."""
    width, height = DatasetSpec.image_size
    ap = argparse.ArgumentParser(prog="python -m simplepose.synthetic",
                                 description="Write the synthetic stick-figure COCO keypoint dataset; "
                                             "reuse a complete one made with the same options.")
    ap.add_argument("--out", required=True, help="output directory (required; created if needed)")
    ap.add_argument("--train-images", type=int, default=DatasetSpec.num_train_images,
                    help="images in the train split (default: %(default)s)")
    ap.add_argument("--val-images", type=int, default=DatasetSpec.num_val_images,
                    help="images in the val split (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=DatasetSpec.seed,
                    help="base seed; image i of a split is drawn from the seed, the split and i (default: %(default)s)")
    ap.add_argument("--width", type=int, default=width, help="image width, pixels, >= 32 (default: %(default)s)")
    ap.add_argument("--height", type=int, default=height, help="image height, pixels, >= 32 (default: %(default)s)")
    ap.add_argument("--feet", action="store_true",
                    help="23 keypoints: COCO's 17 plus COCO-WholeBody's 6 foot points, drawn (default: off)")
    ap.add_argument("--force", action="store_true",
                    help="regenerate even if a complete dataset with these options exists (default: off)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or reuse) the dataset named by argv and print ``key: path`` lines of its files."""
    ns = build_parser().parse_args(argv)
    spec = dict(num_train_images=ns.train_images, num_val_images=ns.val_images, seed=ns.seed,
                image_size=(ns.width, ns.height), feet=ns.feet)
    paths = generate(ns.out, **spec) if ns.force else ensure_dataset(ns.out, **spec)
    for key, value in paths.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    setup_logging()
    sys.exit(run_main(main))
