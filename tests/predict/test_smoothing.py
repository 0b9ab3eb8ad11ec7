"""Tests for simplepose.predict.smoothing: the One Euro filter and its use per track."""
from __future__ import annotations

import numpy as np
import pytest

from simplepose.predict.smoothing import OneEuroFilter, PoseSmoother

FPS = 30.0


def run(filt: OneEuroFilter, samples: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Filter (T, ...) samples taken 1 / fps seconds apart."""
    return np.stack([filt(x, 1.0 / fps) for x in samples])


def test_a_constant_signal_is_unchanged():
    samples = np.tile(np.array([[123.25, 45.5], [0.0, -7.0]]), (60, 1, 1))
    assert np.array_equal(run(OneEuroFilter(), samples), samples)


def test_noise_variance_drops_on_a_slow_signal():
    """A point drifting 5 px/s right and 3 px/s up with 2 px of noise: the error variance falls from ~4 px^2
    to under 1.2 px^2 (measured 0.70-0.87 over seeds 0-2), the mean error stays under 0.6 px."""
    t = np.arange(300) / FPS
    truth = np.stack([5 * t, 100 - 3 * t], axis=1)
    noisy = truth + np.random.default_rng(0).normal(0, 2.0, truth.shape)
    err = run(OneEuroFilter(), noisy)[30:] - truth[30:]
    assert np.var(noisy[30:] - truth[30:]) == pytest.approx(4.05, abs=0.1)
    assert np.var(err) < 1.2
    assert np.abs(err.mean(axis=0)).max() < 0.6


def test_lag_is_bounded_on_a_fast_signal():
    """A ramp of 300 px/s (10 px a frame): after 1 s the filter trails by 2.4 px; with beta = 0 (a plain
    1 Hz low-pass) it would trail by 48 px, so the speed term is what keeps up."""
    ramp = (300.0 * np.arange(90) / FPS)[:, None]
    lag = ramp[30:] - run(OneEuroFilter(), ramp)[30:]
    assert 2.0 < lag.max() < 3.0
    assert (run(OneEuroFilter(beta=0.0), ramp)[30:] - ramp[30:]).min() < -45.0


def test_the_first_sample_passes_and_parameters_are_checked():
    assert OneEuroFilter()(np.array([3.0, 4.0]), 0.0).tolist() == [3.0, 4.0]
    for bad in (dict(min_cutoff=0.0), dict(beta=-1.0), dict(d_cutoff=-2.0)):
        with pytest.raises(ValueError):
            OneEuroFilter(**bad)
    with pytest.raises(ValueError):
        PoseSmoother(fps=0.0)


def poses(x: float, y: float, k: int = 3) -> np.ndarray:
    """(k, 3) keypoints at (x + i, y) with scores 0.5."""
    return np.array([[x + i, y, 0.5] for i in range(k)])


def test_each_track_has_its_own_filter_whatever_the_order():
    """Two still people listed in alternating order are returned unchanged (a shared filter would blend them)."""
    smoother = PoseSmoother(FPS)
    a, b = poses(10.0, 20.0), poses(300.0, 400.0)
    for f in range(10):
        ids = np.array([5, 9]) if f % 2 else np.array([9, 5])
        out = smoother.update(np.stack([a, b] if f % 2 else [b, a]), ids)
        assert out.dtype == np.float32
        assert np.array_equal(out, np.stack([a, b] if f % 2 else [b, a]).astype(np.float32))


def test_pose_smoother_filters_xy_with_the_frame_time_and_keeps_scores():
    """Per track, x and y go through a One Euro filter stepped 1/fps per frame (2/fps across a missed frame);
    the scores pass unchanged."""
    rng = np.random.default_rng(3)
    track = [poses(100.0 + 4 * f, 50.0) + np.c_[rng.normal(0, 2, (3, 2)), rng.uniform(0, 1, 3)] for f in range(12)]
    smoother, reference = PoseSmoother(FPS), OneEuroFilter()
    last = 0
    for f, pose in enumerate(track):
        if f == 6:
            smoother.update(np.zeros((0, 3, 3)), np.zeros(0, np.int64))   # the track is missed here
            continue
        out = smoother.update(pose[None], np.array([0]))[0]
        np.testing.assert_allclose(out[:, :2], reference(pose[:, :2], (f - last) / FPS), rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out[:, 2], pose[:, 2].astype(np.float32))
        last = f
    assert not np.allclose(out[:, :2], track[-1][:, :2], atol=0.1)   # it did smooth


def test_a_track_gone_too_long_starts_afresh():
    smoother = PoseSmoother(FPS, forget_after=0.1)      # 3 frames
    smoother.update(poses(0.0, 0.0)[None], np.array([1]))
    for _ in range(4):
        smoother.update(np.zeros((0, 3, 3)), np.zeros(0, np.int64))
    far = poses(500.0, 500.0)
    # a fresh filter returns its first sample as it is; the old one would have dragged it towards (0, 0)
    np.testing.assert_array_equal(smoother.update(far[None], np.array([1]))[0], far.astype(np.float32))
    assert list(smoother.filters) == [1]
