"""Pictures with matplotlib: poses drawn on an image.

Colours follow the keypoint metadata's sides: left joints and limbs warm, right cool,
centre green, so a flip that forgot to swap sides shows at a glance.
"""
from __future__ import annotations

import os
from typing import Sequence

import matplotlib
import numpy as np

from .meta import KeypointMeta

matplotlib.use("Agg")   # files only: no display on training machines
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

SIDE_COLOURS = {"left": "#ff7f0e", "right": "#1f77b4", "centre": "#2ca02c"}


def draw_poses(ax: plt.Axes, poses: np.ndarray, meta: KeypointMeta, kpt_thresh: float = 0.2,
               boxes: np.ndarray | None = None, style: str = "-") -> None:
    """Draw poses onto an axes that shows the image.

    Args:
        poses: (N, K, 3) image pixels, third column a score (or COCO visibility); joints at or below
            ``kpt_thresh`` and the limbs touching them are not drawn.
        boxes: optional (N, 4) (x0, y0, x1, y1), image pixels.
        style: line style of the limbs ("-" predictions, "--" e.g. for ground truth).
    """
    sides = meta.sides
    for n, pose in enumerate(np.asarray(poses)):
        shown = pose[:, 2] > kpt_thresh
        for a, b in meta.skeleton:
            if shown[a] and shown[b]:
                side = sides[a] if sides[a] == sides[b] else "centre"
                ax.plot(pose[[a, b], 0], pose[[a, b], 1], style, color=SIDE_COLOURS[side], lw=2, alpha=0.9)
        for side, colour in SIDE_COLOURS.items():
            idx = [k for k in np.flatnonzero(shown) if sides[k] == side]
            ax.scatter(pose[idx, 0], pose[idx, 1], s=14, c=colour, edgecolors="white", linewidths=0.5, zorder=3)
        if boxes is not None:
            x0, y0, x1, y1 = boxes[n]
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white", lw=1, ls=":"))


def save_pose_image(path: str | os.PathLike, image: np.ndarray, poses: np.ndarray, meta: KeypointMeta,
                    kpt_thresh: float = 0.2, boxes: np.ndarray | None = None, title: str | None = None,
                    ground_truth: Sequence[np.ndarray] | None = None) -> None:
    """Write a PNG of ``image`` ((H, W, 3) uint8 RGB) with poses; ``ground_truth`` (M, K, 3) dashed."""
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image)
    ax.set_axis_off()
    if ground_truth is not None and len(ground_truth):
        draw_poses(ax, np.asarray(ground_truth), meta, 0, style="--")
    draw_poses(ax, poses, meta, kpt_thresh, boxes)
    if title:
        ax.text(4, 12, title, color="white", fontsize=8, bbox={"facecolor": "black", "alpha": 0.5, "pad": 2})
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    fig.savefig(path, dpi=100, format="png")   # explicit: atomic writes go through a .tmp name
    plt.close(fig)
