"""Samples that name their record when they fail, and can stand in for a bad image.

``GuardedSamples`` wraps ``PoseSamples`` for the training loader. Loading runs in
MXNet's DataLoader workers, so whatever goes wrong there reaches the training
process only as the exception raised in the worker; this wrapper makes sure that
exception names the image file, image id and annotation id:

- bad input (an image that cannot be decoded or is truncated: ``SimplePoseError``)
  is raised as it is with ``on_bad_record="error"``; with ``"skip"`` the sample is
  replaced by a black crop with zero targets and zero weights (it adds nothing to the
  loss, the gradient or HeatmapAccuracy) and flagged, so the training loop counts it;
- any other exception (a crash) is re-raised as ``SampleError`` with the record.

Each sample is ``(crop, heatmaps, weights, bad)``: the first three as ``PoseSamples``,
``bad`` an int32 scalar: -1, or the dataset index of the record that was skipped.
"""
from __future__ import annotations

import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.data.coco import ON_BAD_RECORD
from simplepose.data.samples import PoseSamples


class SampleError(RuntimeError):
    """An unexpected failure while loading one record (not bad input: a bug or a library crash)."""


class GuardedSamples:
    """``PoseSamples`` whose failures name the record; see the module docstring."""

    def __init__(self, samples: PoseSamples, on_bad_record: str = "error"):
        if on_bad_record not in ON_BAD_RECORD:
            raise SimplePoseError(f"--on-bad-record {on_bad_record!r}: use one of {', '.join(ON_BAD_RECORD)}")
        self.samples = samples
        self.on_bad_record = on_bad_record

    def __len__(self) -> int:
        return len(self.samples)

    def describe(self, idx: int) -> str:
        """'FILE (image I, annotation A)' of dataset index ``idx``."""
        rec = self.samples.dataset.records[idx]
        return f"{rec.image_path} (image {rec.image_id}, annotation {rec.ann_id})"

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        idx = key[0] if isinstance(key, tuple) else key
        try:
            crop, heatmaps, weights = self.samples[key]
        except SimplePoseError:
            if self.on_bad_record == "error":
                raise
            return (*self._blank(), np.int32(idx))
        except Exception as exc:
            # One line: the worker's traceback does not cross the process boundary anyway.
            raise SampleError(f"{self.describe(idx)}: loading failed: {type(exc).__name__}: {exc}") from exc
        return crop, heatmaps, weights, np.int32(-1)

    def _blank(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.samples.codec.input_size
        hh, hw = self.samples.codec.heatmap_size
        k = self.samples.dataset.meta.num_joints
        return (np.zeros((h, w, 3), np.uint8), np.zeros((k, hh, hw), np.float32),
                np.zeros((k, 1, 1), np.float32))
