#!/usr/bin/env python
"""Heatmap codec round trip: random sub-pixel joints -> encode -> decode, error in model-input pixels.

    .venv/bin/python bench/codec_roundtrip.py [--joints 20000] [--input-size 256,192] [--sigma 2]

Compares the ``standard`` codec (GluonCV: integer-rounded Gaussian centre, argmax + quarter-pixel
step) with ``dark`` (sub-pixel Gaussian centre, Newton step on the log heatmap) on the same joints,
and prints the mean and 95th-percentile Euclidean error of each and the ratio standard / dark.
Three sets: joints anywhere in the input; kept 3 sigma inside the map (every Gaussian whole);
anywhere, with network-like heatmaps (blurred and noisy). Goal: ratio >= 5 on the first.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simplepose.codec import HeatmapCodec  # noqa: E402


def round_trip_errors(codec: HeatmapCodec, joints: np.ndarray, noise: float = 0.0, chunk: int = 512,
                      seed: int = 0) -> np.ndarray:
    """(N,) Euclidean errors, model-input pixels, of decoding the encoding of (N, 2) joints.

    ``noise`` > 0 makes the heatmaps network-like: blurred (sigma 1 heatmap pixel) plus Gaussian
    noise of that standard deviation.
    """
    rng = np.random.default_rng(seed)
    errors = []
    for i in range(0, len(joints), chunk):
        part = joints[i:i + chunk]
        heatmaps, _ = codec.encode(np.c_[part, np.full(len(part), 2.0)].astype(np.float32))
        if noise:
            heatmaps = np.stack([cv2.GaussianBlur(m, (0, 0), 1.0) for m in heatmaps])
            heatmaps += rng.normal(0, noise, heatmaps.shape).astype(np.float32)
        decoded, _ = codec.decode(heatmaps[None])
        errors.append(np.linalg.norm(decoded[0] - part, axis=1))
    return np.concatenate(errors)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--joints", type=int, default=20000)
    p.add_argument("--input-size", default="256,192")
    p.add_argument("--sigma", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    h, w = (int(v) for v in args.input_size.split(","))
    rng = np.random.default_rng(args.seed)
    inner = 3 * args.sigma * 4
    print(f"{args.joints} random joints per set in a {h}x{w} input, sigma {args.sigma} heatmap pixels, stride 4")
    ratios = {}
    sets = (("anywhere in the input", 0.0, 0.0), ("3 sigma inside the map", inner, 0.0),
            ("anywhere, network-like heatmaps (blur + noise 0.02)", 0.0, 0.02))
    for label, margin, noise in sets:
        joints = rng.uniform([margin, margin], [w - 1 - margin, h - 1 - margin], (args.joints, 2)).astype(np.float32)
        print(f" joints {label}:")
        means = {}
        for method in ("standard", "dark"):
            tic = time.perf_counter()
            err = round_trip_errors(HeatmapCodec((h, w), 4, args.sigma, method), joints, noise)
            per_joint_us = (time.perf_counter() - tic) / len(joints) * 1e6
            means[method] = err.mean()
            print(f"  {method:<8} mean error {err.mean():.4f} px, p95 {np.percentile(err, 95):.4f} px, "
                  f"max {err.max():.4f} px ({per_joint_us:.1f} us per joint to encode and decode)")
        ratios[label] = means["standard"] / means["dark"]
        print(f"  ratio standard / dark mean error: {ratios[label]:.1f}x")
    ratio = ratios["anywhere in the input"]
    print(f"goal: dark >= 5x smaller error than standard anywhere in the input: {ratio:.1f}x "
          f"{'PASS' if ratio >= 5 else 'FAIL'}")

if __name__ == "__main__":
    main()
