"""Pictures with matplotlib: poses on images, heatmaps, augmentations, training curves, error analysis.

Colours follow the keypoint metadata's sides: left joints and limbs warm, right cool,
centre green, so a flip that forgot to swap sides shows at a glance.

The ``*_figure`` functions return a matplotlib Figure (the tutorial shows them inline);
:func:`save_figure` writes one atomically as PNG and closes it. No MXNet here.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib
import numpy as np

from simplepose.io import atomic_write
from simplepose.meta import KeypointMeta

matplotlib.use("Agg")   # files only: no display on training machines
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib import patheffects, ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

SIDE_COLOURS = {"left": "#ff7f0e", "right": "#1f77b4", "centre": "#2ca02c"}
# Ground truth beside a prediction: one colour none of the side colours is, dashed, X markers.
GROUND_TRUTH_COLOUR = "#e377c2"
# A dark edge under every limb and joint: a skeleton stands out from figures whose limbs have its colours.
OUTLINE_COLOUR = "#181818"
_OUTLINED = [patheffects.Stroke(linewidth=3.6, foreground=OUTLINE_COLOUR), patheffects.Normal()]


def draw_poses(ax: plt.Axes, poses: np.ndarray, meta: KeypointMeta, kpt_thresh: float = 0.2,
               boxes: np.ndarray | None = None, style: str = "-", colour: str | None = None) -> None:
    """Draw poses onto an axes that shows the image.

    Args:
        poses: (N, K, 3) image pixels, third column a score (or COCO visibility); joints at or below
            ``kpt_thresh`` and the limbs touching them are not drawn.
        boxes: optional (N, 4) (x0, y0, x1, y1), image pixels.
        style: line style of the limbs ("-" predictions, "--" e.g. for ground truth).
        colour: one colour for every limb and joint (e.g. ``GROUND_TRUTH_COLOUR``); default: by side.
    """
    sides = meta.sides
    for n, pose in enumerate(np.asarray(poses)):
        shown = pose[:, 2] > kpt_thresh
        for a, b in meta.skeleton:
            if shown[a] and shown[b]:
                side = sides[a] if sides[a] == sides[b] else "centre"
                ax.plot(pose[[a, b], 0], pose[[a, b], 1], style, color=colour or SIDE_COLOURS[side], lw=2,
                        path_effects=_OUTLINED)
        for side, side_colour in SIDE_COLOURS.items():
            idx = [k for k in np.flatnonzero(shown) if sides[k] == side]
            ax.scatter(pose[idx, 0], pose[idx, 1], s=16, c=colour or side_colour, edgecolors=OUTLINE_COLOUR,
                       linewidths=0.8, zorder=3, marker="o" if colour is None else "X")
        if boxes is not None:
            x0, y0, x1, y1 = boxes[n]
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="white", lw=1, ls=":"))


def pose_array(image: np.ndarray, poses: np.ndarray, meta: KeypointMeta, kpt_thresh: float = 0.2,
               boxes: np.ndarray | None = None) -> np.ndarray:
    """``image`` ((H, W, 3) uint8 RGB) with poses drawn, as an (H, W, 3) uint8 RGB array (e.g. for TensorBoard)."""
    fig = pose_figure(image, poses, meta, kpt_thresh, boxes)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return pixels


def pose_figure(image: np.ndarray, poses: np.ndarray, meta: KeypointMeta, kpt_thresh: float = 0.2,
                boxes: np.ndarray | None = None) -> plt.Figure:
    """A figure of exactly the image's pixel size showing ``image`` ((H, W, 3) uint8 RGB) with ``poses``
    ((N, K, 3), image pixels) drawn by :func:`draw_poses`."""
    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image)
    ax.set_axis_off()
    draw_poses(ax, poses, meta, kpt_thresh, boxes)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    return fig


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG atomically (temporary name, then rename) and close it."""
    # format given: the temporary file ends in .tmp, from which matplotlib cannot guess it.
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight"))
    plt.close(fig)
    return Path(path)


def denormalize(inp: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Model input (3, h, w) float32, normalised -> (h, w, 3) uint8 RGB (inverse of ``transforms.normalize``)."""
    image = inp.transpose(1, 2, 0) * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


def _grid(n: int, cols: int, size: float = 2.2, aspect: float = 1.0) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``n`` panels, at most ``cols`` wide, in as few rows as that allows and then as few
    columns as fill them: 9 panels at most 4 wide are 3 x 3, not 4 + 4 + 1."""
    rows = math.ceil(n / max(1, min(cols, n)))
    cols = max(1, math.ceil(n / rows))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * aspect), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    return fig, axes.ravel()


def heatmap_figure(crop: np.ndarray, heatmaps: np.ndarray, meta: KeypointMeta, joints: np.ndarray | None = None,
                   cols: int = 6, title: str | None = None) -> plt.Figure:
    """The crop with its joints, then one panel per keypoint with its heatmap over the crop.

    Args:
        crop: (h, w, 3) uint8 RGB model input (see :func:`denormalize`).
        heatmaps: (K, h / stride, w / stride) float32, targets or predictions.
        joints: optional (K, 3) model-input pixels + visibility/score, drawn on the first panel.
    """
    h, w = crop.shape[:2]
    fig, axes = _grid(meta.num_joints + 1, cols, aspect=h / w)
    axes[0].imshow(crop)
    if joints is not None:
        draw_poses(axes[0], np.asarray(joints)[None], meta, 0)
    axes[0].set_title("input", fontsize=8)
    colours = SIDE_COLOURS
    for k, (ax, name) in enumerate(zip(axes[1:], meta.names)):
        ax.imshow(crop, alpha=0.5)
        ax.imshow(heatmaps[k], extent=(-0.5, w - 0.5, h - 0.5, -0.5), cmap="magma", alpha=0.6,
                  vmin=0, vmax=max(1.0, float(heatmaps.max())))
        ax.set_title(name, fontsize=7, color=colours[meta.sides[k]])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def augmentation_figure(image: np.ndarray, record: Any, transform: Any, rng: np.random.Generator, n: int = 8,
                        cols: int = 4) -> plt.Figure:
    """The same person under ``n`` random draws of a ``TrainTransform``, joints drawn on each crop.

    The first panel is the crop without augmentation. Joints are drawn with the metadata's side
    colours after the transform (flips swap left and right), so on the colour-coded synthetic
    figures a flip that forgot to swap shows as orange joints on cool-coloured limbs.

    Args:
        image: (H, W, 3) uint8 RGB; record: its ``PersonRecord``; transform: a ``TrainTransform``.
    """
    from simplepose.data.transforms import Augmentation
    meta = transform.meta
    h, w = transform.input_size
    fig, axes = _grid(n + 1, cols, aspect=h / w)
    for i, ax in enumerate(axes[:n + 1]):
        aug = Augmentation() if i == 0 else transform.sample(record, rng)
        inp, joints = transform.apply(image, record, aug)
        ax.imshow(denormalize(inp, transform.mean, transform.std))
        draw_poses(ax, joints[None], meta, 0)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        label = "no augmentation" if i == 0 else \
            f"scale x{aug.scale_mult:.2f}, rot {aug.rotation:+.0f}" + (", flip" if aug.flip else "") + \
            (", half body" if aug.half_body else "")
        ax.set_title(label, fontsize=7)
    fig.tight_layout()
    return fig


def training_curves_figure(rows: Sequence[dict[str, Any]], title: str | None = None) -> plt.Figure:
    """Four panels over epochs: weighted L2 loss (train, val; log scale), learning rate,
    HeatmapAccuracy (train, val) and validation COCO AP and PCK@0.2. Missing values (null) are skipped."""
    panels = [("loss (weighted L2)", [("train_loss", "train"), ("val_loss", "val")], True),
              ("learning rate", [("lr", "lr")], False),
              ("HeatmapAccuracy", [("train_acc", "train"), ("val_acc", "val")], False),
              ("val AP, PCK@0.2 (GT boxes)", [("val_ap", "AP"), ("val_pck_0.2", "PCK@0.2")], False)]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, (name, series, log_scale) in zip(axes, panels):
        for key, label in series:
            pts = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, "o-", ms=3, label=label)
        if log_scale and ax.has_data():
            ax.set_yscale("log")
            # 1-2-5 steps with plain labels: a loss falling within one decade still gets several labels.
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))   # epochs are whole numbers
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(series) > 1 and ax.has_data():
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pr_curves_figure(analysis: Any, title: str | None = None) -> plt.Figure:
    """Precision-recall curves at OKS 0.50 ... 0.95 from a ``scoring.analysis.ErrorAnalysis``; the legend gives
    each threshold's AP (mean precision over COCO's 101 recall points, as COCOeval)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    cmap = plt.get_cmap("viridis")
    t_count = len(analysis.oks_thresholds)
    for t, thr in enumerate(analysis.oks_thresholds):
        prec = analysis.precision[t]
        valid = prec > -1
        ap = float(prec[valid].mean()) if valid.any() else float("nan")
        ax.plot(analysis.recall[valid], prec[valid], color=cmap(t / max(t_count - 1, 1)),
                label=f"OKS {thr:.2f}: AP {ap:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title or "precision-recall at each OKS threshold", fontsize=9)
    fig.tight_layout()
    return fig


def per_keypoint_ap_figure(per_keypoint_ap: dict[str, float], meta: KeypointMeta,
                           title: str | None = None) -> plt.Figure:
    """Horizontal bars of the AP of each keypoint (OKS on that keypoint alone), coloured by side."""
    names = list(per_keypoint_ap)
    sides = dict(zip(meta.names, meta.sides))
    fig, ax = plt.subplots(figsize=(5.5, 0.25 * len(names) + 1.2))
    y = np.arange(len(names))
    ax.barh(y, [per_keypoint_ap[n] for n in names], color=[SIDE_COLOURS[sides.get(n, "centre")] for n in names])
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("AP (OKS on that keypoint alone)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "per-keypoint AP", fontsize=9)
    fig.tight_layout()
    return fig


def worst_instances_figure(instances: Sequence[Any], images: Sequence[np.ndarray], meta: KeypointMeta,
                           cols: int = 4, kpt_thresh: float = 0.2) -> plt.Figure:
    """Each instance (``scoring.analysis.InstanceOKS``) cropped from its image: prediction solid, ground truth dashed.

    Args:
        images: (H, W, 3) uint8 RGB, one per instance.
    """
    fig, axes = _grid(len(instances), cols, size=2.6)
    for ax, inst, image in zip(axes, instances, images):
        x, y, w, h = inst.bbox
        x0, y0 = max(0, int(x - 0.25 * w)), max(0, int(y - 0.25 * h))
        x1, y1 = min(image.shape[1], int(math.ceil(x + 1.25 * w))), min(image.shape[0], int(math.ceil(y + 1.25 * h)))
        ax.imshow(image[y0:y1, x0:x1], extent=(x0 - 0.5, x1 - 0.5, y1 - 0.5, y0 - 0.5))
        draw_poses(ax, inst.gt[None], meta, 0, style="--", colour=GROUND_TRUTH_COLOUR)
        if inst.pred is not None:
            draw_poses(ax, inst.pred[None], meta, kpt_thresh)
        ax.set_xlim(x0 - 0.5, x1 - 0.5)
        ax.set_ylim(y1 - 0.5, y0 - 0.5)
        ax.set_title(f"OKS {inst.oks:.2f}  image {inst.image_id}", fontsize=7)
    fig.suptitle("people with the lowest OKS", fontsize=9)
    fig.legend(handles=_prediction_legend(), loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))   # room for the legend below the panels
    return fig


def _prediction_legend() -> list[Line2D]:
    """Legend entries telling a prediction (solid, coloured by side) from the ground truth (dashed, one colour)."""
    return [Line2D([], [], color=SIDE_COLOURS["left"], marker="o", ls="-", lw=2,
                   label="prediction (orange left, blue right)"),
            Line2D([], [], color=GROUND_TRUTH_COLOUR, marker="X", ls="--", lw=2, label="ground truth")]
