"""A built-in, learnable COCO-format keypoint dataset of rendered stick figures.

``python -m simplepose.synthetic --out DIR`` (or :func:`generate` / :func:`ensure_dataset`) writes a small
dataset laid out like COCO 2017 (see :mod:`.writer`). Every image holds 1-4 frontal stick figures drawn with
thick coloured limbs, small joint discs and a head with a face (nose, eyes, ears). Colours are the same for
every person (:data:`PALETTE_RGB`): the person's left limbs and joints are warm (red/orange/crimson/pink,
yellow joint discs), the right ones cool (blue/violet/green/teal, cyan joint discs). Keypoints are stored
exactly as rendered, on a 1/16-pixel grid, with COCO's visibility read from what was drawn on top.

With ``feet=True`` (``--feet``) the dataset has 23 keypoints: COCO's 17 plus COCO-WholeBody's six foot
points (big toe, small toe, heel per side), drawn as a dark sole with small joint discs below each ankle.

Modules, one job each: :mod:`.figure` (the figure model and its random pose), :mod:`.render` (drawing a
figure and its owner map), :mod:`.background` (background texture, occluders), :mod:`.scene` (a whole image
and its annotations), :mod:`.writer` (files on disk, the completeness manifest). NumPy, OpenCV and the
standard library only: no MXNet.
"""
import importlib
from typing import Any

# The package's names, each imported from its module on first use: ``python -m simplepose.synthetic``
# imports this package before its ``__main__``, so NumPy and OpenCV load inside the command's handling
# of Ctrl-C (``commands.run_command``), not before it.
_HOME = {"PALETTE_RGB": ".render", "GENERATOR_VERSION": ".writer", "DatasetSpec": ".writer",
         "dataset_paths": ".writer", "ensure_dataset": ".writer", "generate": ".writer"}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name], __name__), name)
