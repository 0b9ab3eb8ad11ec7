"""GluonCV's model-zoo facts, stated once: model names and the settings its simple_pose models were trained with.

No MXNet here: a name is checked, and the settings of a model known only by its weights are filled in, before any
framework loads. Getting the weights themselves (GluonCV's model store, which also says which names it publishes
weights for) is ``model.gluoncv_pose_weights_file``.
"""
from __future__ import annotations

import re

from simplepose.errors import SimplePoseError

MODEL_NAME = re.compile(r"^(?:simple_pose_)?resnet(18|34|50|101|152)_v1([bd])$")
# A model named as GluonCV's get_model(name, pretrained=True) takes it: the prefix is part of the name there
# (a bare resnet50_v1b is GluonCV's ImageNet classifier).
ZOO_PREFIX = "simple_pose_"
# What GluonCV's scripts/pose/simple_pose assume of a model known only by its weights (their flags' defaults):
# model input (height, width) pixels, RGB mean/std in [0, 1] units (ImageNet's), target sigma in heatmap pixels.
GLUONCV_INPUT_SIZE = (256, 192)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GLUONCV_SIGMA = 2.0


def parse_model_name(name: str) -> str:
    """``simple_pose_resnet50_v1b`` (or ``resnet50_v1b``) -> backbone name ``resnet50_v1b``."""
    m = MODEL_NAME.match(name)
    if not m:
        raise SimplePoseError(
            f"--model {name!r}: unknown model; use simple_pose_resnet{{18,34,50,101,152}}_v1{{b,d}}")
    return f"resnet{m.group(1)}_v1{m.group(2)}"


def is_zoo_name(text: str) -> bool:
    """True for GluonCV's model-zoo name of a simple_pose model (``simple_pose_resnet50_v1b``), whether or not
    GluonCV publishes weights for it (it does for some: ``model.gluoncv_pose_weights_file`` says which)."""
    return text.startswith(ZOO_PREFIX) and MODEL_NAME.match(text) is not None


def csv(values: tuple[float, ...]) -> str:
    """(0.485, 0.456, 0.406) -> '0.485,0.456,0.406': a default as a flag spells it."""
    return ",".join(f"{v:g}" for v in values)
