"""Validation pictures for TensorBoard: a few validation images with the skeletons the model predicts.

Predicted through the one inference path (``runtime.pose``: ground-truth box -> crop -> heatmaps ->
image pixels), so a picture shows what evaluation would score.
"""
from __future__ import annotations

from typing import Callable

import cv2
import mxnet as mx
import numpy as np
from mxnet import gluon

from simplepose.data.boxes import gt_boxes
from simplepose.codec import HeatmapCodec
from simplepose.data.coco import COCOKeyPoints, read_image
from simplepose.runtime.mxnet import mxnet_forward
from simplepose.runtime.pose import BoxCrops, predict_keypoints
from simplepose.visualize import pose_array

# TensorBoard shows pictures at their size: large images are shrunk to this longer side, pixels.
MAX_SIDE = 480


def validation_pictures(val: COCOKeyPoints, codec: HeatmapCodec, input_size: tuple[int, int], ctx: list[mx.Context],
                        mean: tuple[float, ...], std: tuple[float, ...], dtype: str, count: int = 4
                        ) -> Callable[[gluon.Block], list[np.ndarray]]:
    """``pictures(net)`` -> up to ``count`` (H, W, 3) uint8 RGB pictures: the first validation images,
    each with the poses predicted on all its ground-truth boxes (always the same images, so that epochs
    compare)."""
    boxes = gt_boxes(val)
    image_ids = list(dict.fromkeys(boxes.image_ids.tolist()))[:count]
    chosen = np.flatnonzero(np.isin(boxes.image_ids, image_ids))
    crops = BoxCrops([boxes.image_paths[i] for i in chosen], boxes.boxes[chosen], input_size, val.max_pixels)

    def pictures(net: gluon.Block) -> list[np.ndarray]:
        forward = mxnet_forward(net, ctx, mean, std, dtype)
        batch = np.stack([crops[i] for i in range(len(crops))]) if len(crops) else None
        keypoints = predict_keypoints(forward, [batch] if batch is not None else [], crops.crops, codec)
        out = []
        for image_id in image_ids:
            mine = boxes.image_ids[chosen] == image_id
            path = crops.paths[int(np.argmax(mine))]
            image = read_image(path, f"validation image {image_id}", max_pixels=val.max_pixels)
            scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            poses = keypoints[mine].copy()
            poses[..., :2] *= scale
            out.append(pose_array(image, poses, val.meta))
        return out
    return pictures
