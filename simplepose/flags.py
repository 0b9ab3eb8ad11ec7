"""The ``type=`` of every numeric flag: each number is checked where it enters, before any work.

One bound per flag, stated once: the parser applies it to the typed text (a bad value is one line
naming the flag, exit status 2: see :func:`simplepose.cli.command_parser`), the help text states it
(:class:`simplepose.cli.HelpFormatter` appends :meth:`Bound.describe`), and a stored training config
(a checkpoint's, on ``--resume``, export, evaluation) is checked against the same bound
(:func:`check_value`).

    p.add_argument("--seed", type=integer(0, 2**32 - 1), ...)
    p.add_argument("--box-thresh", type=FRACTION, ...)
    p.add_argument("--std", type=numbers(3, 0, 1, low_open=True), ...)
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Sequence

from simplepose.errors import SimplePoseError

__all__ = ["Bound", "integer", "real", "numbers", "check_value", "FRACTION", "SEED", "PORT", "MEAN", "STD",
           "SCALE_FACTOR", "NUM_JOINTS", "BACKBONE_STRIDE", "parse_ints", "parse_input_size", "gpu_ids"]

# The ResNet backbone's total stride: model input sides must be multiples of it.
BACKBONE_STRIDE = 32


@dataclass(frozen=True)
class Bound:
    """An argparse ``type``: text -> a number (or ``count`` comma-separated numbers) within
    [``low``, ``high``] (ends excluded when ``*_open``); ``kind`` is ``int`` or ``float`` (finite)."""
    kind: type
    low: float | None
    high: float | None
    low_open: bool = False
    high_open: bool = False
    count: int | None = None   # None: one number; n: exactly n comma-separated numbers

    def __call__(self, text: str) -> Any:
        """The value of ``text``; raises ``argparse.ArgumentTypeError`` ``'TEXT: must be ...'`` (the text
        quoted when it is not numbers of the kind asked)."""
        parts = text.split(",") if self.count is not None else [text]
        try:
            values = [self._parse(part.strip()) for part in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {self.describe()}") from None
        value = tuple(values) if self.count is not None else values[0]
        if self.count is not None and len(values) != self.count:
            raise argparse.ArgumentTypeError(f"{text!r}: {self.describe()}")
        if not self.accepts(value):
            raise argparse.ArgumentTypeError(f"{text}: {self.describe()}")
        return value

    def _parse(self, text: str) -> int | float:
        if self.kind is int:
            if len(text) > 30:   # int() of thousands of digits is slow, and no bound here is that long
                raise ValueError(text)
            return int(text)
        return float(text)

    def accepts(self, value: Any) -> bool:
        """``value`` (typed: a number, or ``count`` of them, e.g. from a stored config) is within the bound."""
        values = list(value) if self.count is not None else [value]
        return (self.count is None or len(values) == self.count) and all(self._within(v) for v in values)

    def _within(self, v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if isinstance(v, float) and (not math.isfinite(v) or (self.kind is int and not v.is_integer())):
            return False
        low_ok = self.low is None or (v > self.low if self.low_open else v >= self.low)
        high_ok = self.high is None or (v < self.high if self.high_open else v <= self.high)
        return low_ok and high_ok

    def describe(self) -> str:
        """``must be an integer in [0, 4294967295]``, ``must be 3 comma-separated finite numbers in (0, 1]``..."""
        what = {int: "an integer", float: "a finite number"}[self.kind]
        if self.count is not None:
            what = f"{self.count} comma-separated {'integers' if self.kind is int else 'finite numbers'}"
        if self.low is not None and self.high is not None:
            left, right = "[("[self.low_open], "])"[self.high_open]
            span = f"in {left}{_show(self.low)}, {_show(self.high)}{right}"
        elif self.low is not None:
            span = f"{'>' if self.low_open else '>='} {_show(self.low)}"
        elif self.high is not None:
            span = f"{'<' if self.high_open else '<='} {_show(self.high)}"
        else:
            span = ""
        return f"must be {what} {span}".rstrip()


def _show(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def integer(low: int | None, high: int | None) -> Bound:
    """An integer flag in [``low``, ``high``] (None: unbounded on that side)."""
    return Bound(int, low, high)


def real(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> Bound:
    """A finite number flag in the interval from ``low`` to ``high`` (open ends when ``*_open``)."""
    return Bound(float, low, high, low_open, high_open)


def numbers(count: int, low: float | None, high: float | None, low_open: bool = False) -> Bound:
    """``count`` comma-separated finite numbers, each in the interval from ``low`` to ``high``; a tuple."""
    return Bound(float, low, high, low_open, count=count)


FRACTION = real(0, 1)                 # thresholds, probabilities: [0, 1]
SEED = integer(0, 2 ** 32 - 1)        # what NumPy's legacy seeding and MXNet's mx.random.seed take
PORT = integer(1, 65535)
MAX_COUNT = 1_000_000                 # images, epochs, intervals: beyond any run on one machine
MAX_BATCH = 4096                      # samples per device or per forward pass
MAX_WORKERS = 256                     # processes on one machine
MAX_SIDE = 8192                       # a generated image's side, pixels (8192 x 8192 x 3: 200 MB)
MAX_GPUS = 64                         # devices of one machine
# Largest image decoded by default, pixels: Pillow's Image.MAX_IMAGE_PIXELS (a 24-bit image of 256 MiB).
# 0 means no limit of ours (OpenCV keeps its own, 2**30 pixels).
MAX_IMAGE_PIXELS = 89_478_485
MAX_IMAGE_PIXELS_LIMIT = 2 ** 40      # --max-image-pixels: 3 TB of pixels, beyond any image one machine holds
# Normalisation in [0, 1] units (pixel / 255): a mean of 123.7 (pixel units) would train on silently
# wrong inputs, a std of 0 divides by zero.
MEAN = numbers(3, 0, 1)
STD = numbers(3, 0, 1, low_open=True)
SCALE_FACTOR = real(0, 1, high_open=True)   # crop scale jitter: a draw of 1 - 1 would be an empty crop
NUM_JOINTS = integer(1, 1000)


def check_value(bound: Bound, flag: str, value: Any, source: str | None = None) -> None:
    """Raise SimplePoseError ``[SOURCE: ]FLAG VALUE: must be ...`` when a stored ``value`` breaks ``bound``."""
    if not bound.accepts(value):
        shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        raise SimplePoseError(f"{source + ': ' if source else ''}{flag} {shown}: {bound.describe()}")


def parse_ints(text: str, flag: str) -> list[int]:
    """'256,192' -> [256, 192]; anything else raises SimplePoseError naming ``flag``."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SimplePoseError(f"{flag} {text!r}: expected comma-separated integers") from None


def parse_input_size(text_or_list: str | Sequence[int], flag: str = "--input-size") -> tuple[int, int]:
    """'256,192' or [256, 192] -> (256, 192): the model input (height, width) in pixels.

    Both must be positive multiples of 32, the backbone's stride, and at most ``flags.MAX_SIDE`` (8192).
    """
    values = parse_ints(text_or_list, flag) if isinstance(text_or_list, str) else list(text_or_list)
    if len(values) != 2 or any(type(v) is not int or not 0 < v <= MAX_SIDE or v % BACKBONE_STRIDE for v in values):
        raise SimplePoseError(f"{flag} {text_or_list!r}: need 'height,width', both positive multiples of "
                              f"{BACKBONE_STRIDE} (the backbone's stride) up to {MAX_SIDE}, e.g. 256,192")
    return values[0], values[1]


def gpu_ids(gpus: str | None, num_gpus: int) -> list[int]:
    """GPU ids from --gpus ('0,1'), else range(--num-gpus); empty means CPU."""
    if gpus:
        ids = parse_ints(gpus, "--gpus")
        if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
            raise SimplePoseError(f"--gpus {gpus!r}: need distinct non-negative ids")
        return ids
    return list(range(num_gpus))
