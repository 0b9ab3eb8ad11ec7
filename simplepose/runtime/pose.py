"""The one inference path: image + box -> crop -> heatmaps -> keypoints in image pixels.

Validation during training (``simplepose.training.validation``), evaluation (``eval_simple_pose.py``)
and prediction (``simplepose.predict.command``) all go this way:

1. A box becomes a ``geometry.Crop`` (widened to the input's aspect ratio, padded 1.25), and the
   crop is cut from the image file by ``data.samples.read_crop``, the code that cuts training's
   validation samples: (h, w, 3) uint8 BGR.
2. ``forward`` (``runtime.mxnet.mxnet_forward``, or an export's ``runtime.onnx.onnx_forward``) normalises
   a batch of such crops (``runtime.mxnet.InputNormalizer`` on the device, or
   ``data.transforms.normalize_batch`` in NumPy: the same numbers) and runs the network:
   (B, K, h/4, w/4) float32 heatmaps.
3. Optional flip test: the mirrored crops' heatmaps are flipped back (channels swapped,
   misalignment undone by the codec) and averaged with the plain ones.
4. The codec decodes heatmaps to model-input pixels; the crop maps them back to image pixels.

NumPy only: the network is any callable from crops to heatmaps, so an ONNX Runtime deployment
runs this without MXNet.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Sequence

import numpy as np

from simplepose.codec import HeatmapCodec
from simplepose.data.coco import read_image_region
from simplepose.data.decode import MAX_IMAGE_PIXELS
from simplepose.data.samples import read_crop
from simplepose.geometry import Crop

# (B, h, w, 3) uint8 BGR crops -> (B, K, h/4, w/4) float32 heatmaps
Forward = Callable[[np.ndarray], np.ndarray]


class BoxCrops:
    """Dataset of model-input crops, one per person box: ``crops[i]`` is (h, w, 3) uint8 BGR.

    Args:
        image_paths: N image files. boxes: (N, 4) (x0, y0, x1, y1), image pixels.
        input_size: (height, width) of the model input.
        max_pixels: largest image read, pixels (0: no limit; ``decode.check_size``).
    Attributes:
        crops: the N ``geometry.Crop`` (for mapping keypoints back to image pixels).
        areas: (N,) float64, image pixels squared, each crop's area (Simple Baselines' OKS-NMS area).
    """

    def __init__(self, image_paths: Sequence[str], boxes: np.ndarray, input_size: tuple[int, int],
                 max_pixels: int = MAX_IMAGE_PIXELS):
        self.paths, self.max_pixels = list(image_paths), max_pixels
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.crops = [Crop.from_box(b, self.input_size) for b in boxes]
        self.areas = np.array([c.area for c in self.crops], np.float64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_crop(partial(read_image_region, self.paths[i], f"box {i}", max_pixels=self.max_pixels),
                         self.crops[i].matrix, self.input_size)


def frame_crop(image: np.ndarray, crop: Crop, input_size: tuple[int, int]) -> np.ndarray:
    """The (h, w, 3) uint8 crop of a decoded (H, W, 3) uint8 image (a video frame), same channel order.

    ``read_crop`` as for a file: a region decode equals the whole image under the region, so a frame's crop
    is the file's crop, bit for bit.
    """
    return read_crop(lambda _reduction, _region: image, crop.matrix, input_size)


def keypoints_in_image(heatmaps: np.ndarray, crops: Sequence[Crop], codec: HeatmapCodec) -> np.ndarray:
    """Decode (B, K, h, w) heatmaps of ``crops`` -> (B, K, 3) float32: x, y image pixels and the peak score."""
    coords, maxvals = codec.decode(heatmaps)
    xy = [crop.to_image(c) for crop, c in zip(crops, coords)]
    xy = np.stack(xy) if xy else np.zeros(coords.shape, np.float32)
    return np.concatenate([xy, maxvals[..., None]], axis=-1)


def crop_heatmaps(forward: Forward, crops: np.ndarray, codec: HeatmapCodec,
                  flip_index: np.ndarray | None = None) -> np.ndarray:
    """Heatmaps of (B, h, w, 3) uint8 crops; with ``flip_index`` ((K,) left/right permutation) the flip test."""
    heatmaps = forward(crops)
    if flip_index is not None:
        mirrored = forward(np.ascontiguousarray(crops[:, :, ::-1]))
        heatmaps = 0.5 * (heatmaps + codec.flip_back(mirrored, flip_index))
    return heatmaps


def predict_keypoints(forward: Forward, batches: Iterable[np.ndarray], crops: Sequence[Crop], codec: HeatmapCodec,
                      flip_index: np.ndarray | None = None) -> np.ndarray:
    """Run ``forward`` over batches of crops and decode them, in ``crops`` order.

    Args:
        batches: (B, h, w, 3) uint8 BGR crops of ``crops``, in order (a ``BoxCrops`` batched).
        flip_index: (K,) left/right permutation; given, the flip test is used.
    Returns:
        (N, K, 3) float32 keypoints, image pixels, with heatmap scores.
    """
    parts, done = [], 0
    for x in batches:
        parts.append(keypoints_in_image(crop_heatmaps(forward, x, codec, flip_index), crops[done:done + len(x)], codec))
        done += len(x)
    if done != len(crops):
        raise RuntimeError(f"{done} crops decoded, {len(crops)} expected")
    return np.concatenate(parts) if parts else np.zeros((0, 0, 3), np.float32)
