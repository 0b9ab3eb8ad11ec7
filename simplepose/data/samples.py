"""Training samples and their order: (input, heatmaps, weights) per person.

Augmentation randomness is keyed by ``(seed, epoch, index)``, and the epoch's
order by ``(seed, epoch)``, so a run is repeatable whatever the number of
loader workers, and a resumed run sees exactly the samples the uninterrupted
run would have seen. The sampler yields ``(index, epoch)`` keys because MXNet's
loader workers keep their own copy of the dataset across epochs.

Each sample is computed geometry first: the augmentation, the affine matrix and
the joints (hence the targets) come from the record alone; then the pixels are
decoded, from a pack of person crops when one covers the crop (``packed``),
else from the image at 1/2, 1/4 or 1/8 resolution when the crop is downsampled
at least that much (JPEG only, ``reduced_decode``), and only the part of it the
warp reads (``decode.decode_region_bgr``), and warped once.

The crop leaves as uint8 BGR, as decoded: the float normalisation runs on the
batch's device (``simplepose.runtime.mxnet.InputNormalizer``, as mmpose's data
preprocessor does), so workers ship a quarter of the bytes of a float32 input and
skip a float pass per sample.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

import numpy as np

from simplepose.codec import HeatmapCodec
from simplepose.geometry import decode_reduction, reduced_matrix, source_region
from simplepose.data.coco import COCOKeyPoints, is_jpeg
from simplepose.data.pack import PackedCrops
from simplepose.data.transforms import TrainTransform, ValTransform, warp


def read_crop(read_region: Callable[[int, tuple[int, int, int, int]], np.ndarray], matrix: np.ndarray,
              input_size: tuple[int, int], reduction: int = 1) -> np.ndarray:
    """The (h, w, 3) uint8 BGR crop of an image: its pixels warped by ``matrix``.

    Args:
        read_region: ``(reduction, region) -> image`` decodes the image at 1/reduction only under
            ``region`` (as ``coco.read_image_region``); the crop is that of the whole image, bit for bit.
        matrix: (2, 3) image pixels -> model-input pixels; input_size: (h, w).
        reduction: decode at 1/``reduction`` (a JPEG only; see ``geometry.decode_reduction``).
    """
    matrix = reduced_matrix(matrix, reduction)
    return warp(read_region(reduction, source_region(matrix, input_size)), matrix, input_size)


class PoseSamples:
    """A person dataset turned into model inputs and targets.

    ``samples[i]`` or ``samples[(i, epoch)]`` is ``(crop, heatmaps, weights)``:
    (h, w, 3) uint8 BGR crop (``InputNormalizer`` makes the model input of a batch of them),
    (K, h/4, w/4) float32 targets, (K, 1, 1) float32 weights (shaped to broadcast against
    the heatmaps in the loss).
    With a ValTransform the crop is not augmented and the epoch is ignored.

    ``packed``: person crops written by ``simplepose.data.pack``, used for every sample whose crop
    they cover (the others decode the original image).

    ``reduced_decode``: decode a JPEG at 1/r resolution (r = 2, 4, 8) when the crop
    is downsampled by at least r (``geometry.decode_reduction``). Targets are
    unchanged (they never depend on the pixels); the input differs from a full
    decode by the box filter of JPEG's DCT scaling, which the full-resolution
    bilinear warp lacks (less aliasing; measured in the README's Performance section).
    """

    def __init__(self, dataset: COCOKeyPoints, transform: ValTransform, codec: HeatmapCodec, seed: int = 0,
                 reduced_decode: bool = False, packed: PackedCrops | None = None):
        self.dataset = dataset
        self.transform = transform
        self.codec = codec
        self.seed = seed
        self.reduced_decode = reduced_decode
        self.packed = packed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx, epoch = key if isinstance(key, tuple) else (key, 0)
        record = self.dataset.records[idx]
        if isinstance(self.transform, TrainTransform):
            rng = np.random.default_rng([self.seed, epoch, idx])
            crop, joints = self.transform.geometry(record, self.transform.sample(record, rng))
        else:
            crop, joints = self.transform.geometry(record)
        size, matrix = self.transform.input_size, crop.matrix
        served = self.packed.crop(idx, matrix, size) if self.packed is not None else None
        if served is not None:
            pixels = warp(*served, size)
        else:
            reduction = decode_reduction(matrix) if self.reduced_decode and is_jpeg(record.image_path) else 1
            pixels = read_crop(partial(self.dataset.read_region, idx), matrix, size, reduction)
        heatmaps, weights = self.codec.encode(joints)
        return pixels, heatmaps, weights[:, None, None]


class EpochSampler:
    """Yields ``(index, epoch)`` keys, shuffled per epoch from ``(seed, epoch)``.

    Call ``set_epoch`` before iterating; works with MXNet's ``DataLoader(sampler=...)``.
    With ``num_parts`` > 1 (distributed workers) part ``part_index`` yields its contiguous
    share of the epoch's order, all parts the same length (the remainder is left out), so
    the parts are disjoint and together cover the epoch. ``set_epoch(epoch, skip)`` leaves out
    the first ``skip`` keys of the part (resuming inside an epoch).
    """

    def __init__(self, length: int, shuffle: bool = True, seed: int = 0, num_parts: int = 1, part_index: int = 0):
        if not 0 <= part_index < num_parts:
            raise ValueError(f"part {part_index} of {num_parts}")
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.num_parts = num_parts
        self.part_index = part_index
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = int(epoch)
        self.skip = int(skip)

    def indices(self, epoch: int) -> np.ndarray:
        """This part's dataset indices of ``epoch``, in order (nothing skipped)."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.length) \
            if self.shuffle else np.arange(self.length)
        per = self.length // self.num_parts
        return order if self.num_parts == 1 else order[self.part_index * per:(self.part_index + 1) * per]

    def __len__(self) -> int:
        per = self.length if self.num_parts == 1 else self.length // self.num_parts
        return max(per - self.skip, 0)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((int(i), self.epoch) for i in self.indices(self.epoch)[self.skip:])
