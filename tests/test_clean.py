"""Gap filling and One-Euro smoothing (offline/clean.py): property tests on synthetic signals."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dancepose.models.errors import ParameterError
from dancepose.models.posefile import INTERPOLATED, MISSING, OBSERVED, PoseSequence
from dancepose.offline.clean import CleanConfig, OneEuroConfig, clean_sequence, fill_gaps, one_euro

FPS = 30.0


def _linear(t_len: int = 90, n_j: int = 15) -> np.ndarray:
    t = np.arange(t_len, dtype=np.float64)[:, None, None]
    start = np.random.default_rng(0).uniform(0, 300, size=(1, n_j, 2))
    vel = np.random.default_rng(1).uniform(-3, 3, size=(1, n_j, 2))
    return (start + vel * t).astype(np.float32)


def test_interpolation_is_exact_on_linear_motion_and_flags_it():
    truth = _linear()
    kp = truth.copy()
    conf = np.ones(kp.shape[:2], np.float32)
    kp[20:30, 3] = np.nan            # 10 frames, NaN
    conf[40:55, 7] = 0.1             # 15 frames = 0.5 s, low confidence → still interpolated
    out, c, flags = fill_gaps(keypoints=kp, confidence=conf, fps=FPS, min_confidence=0.3, max_gap_seconds=0.5)
    np.testing.assert_allclose(out[20:30, 3], truth[20:30, 3], atol=1e-3)
    np.testing.assert_allclose(out[40:55, 7], truth[40:55, 7], atol=1e-3)
    assert (flags[20:30, 3] == INTERPOLATED).all() and (flags[40:55, 7] == INTERPOLATED).all()
    assert (flags[:20, 3] == OBSERVED).all() and flags[30, 3] == OBSERVED
    assert (c[20:30, 3] > 0).all()
    # untouched joints are returned unchanged
    np.testing.assert_array_equal(out[:, 0], truth[:, 0])


def test_long_and_boundary_gaps_are_flagged_missing():
    kp = _linear()
    conf = np.ones(kp.shape[:2], np.float32)
    kp[20:36, 2] = np.nan            # 16 frames > 0.5 s at 30 fps
    kp[:5, 4] = np.nan               # leading gap: nothing to interpolate from
    kp[-3:, 5] = np.nan              # trailing gap
    out, c, flags = fill_gaps(keypoints=kp, confidence=conf, fps=FPS, max_gap_seconds=0.5)
    for sl, j in ((slice(20, 36), 2), (slice(0, 5), 4), (slice(87, 90), 5)):
        assert (flags[sl, j] == MISSING).all()
        assert np.isnan(out[sl, j]).all() and (c[sl, j] == 0).all()
    assert flags[19, 2] == OBSERVED and flags[36, 2] == OBSERVED


def test_gap_limit_depends_on_fps():
    kp = _linear()
    kp[20:30, 1] = np.nan  # 10 frames
    _, _, f_fast = fill_gaps(keypoints=kp, confidence=np.ones(kp.shape[:2]), fps=30.0, max_gap_seconds=0.5)
    _, _, f_slow = fill_gaps(keypoints=kp, confidence=np.ones(kp.shape[:2]), fps=10.0, max_gap_seconds=0.5)
    assert (f_fast[20:30, 1] == INTERPOLATED).all()
    assert (f_slow[20:30, 1] == MISSING).all()   # 10 frames at 10 fps = 1 s


def test_one_euro_reduces_jitter_of_noisy_sine():
    rng = np.random.default_rng(0)
    t = np.arange(300) / FPS
    # a wrist swinging ±0.1 image heights at 0.8 Hz with 0.5 % of the height of detection noise
    truth = 0.1 * np.sin(2 * np.pi * 0.8 * t)
    noisy = truth + rng.normal(0, 0.005, size=t.shape)
    cfg = OneEuroConfig()
    causal = one_euro(x=noisy, fps=FPS, config=cfg)
    zero_phase = 0.5 * (causal + one_euro(x=noisy[::-1], fps=FPS, config=cfg)[::-1])
    jitter = lambda x: np.std(np.diff(x, 2))  # noqa: E731
    rmse = lambda x: np.sqrt(np.mean((x[30:-30] - truth[30:-30]) ** 2))  # noqa: E731
    assert jitter(causal) < 0.5 * jitter(noisy)
    assert jitter(zero_phase) < 0.5 * jitter(noisy)
    # the forward-backward average has no lag: it is closer to the truth than the raw detections
    assert rmse(zero_phase) < rmse(noisy) < rmse(causal)


def test_one_euro_beta_trades_lag_for_smoothing():
    t = np.arange(200) / FPS
    ramp = np.where(t > 2, (t - 2) * 2.0, 0.0)   # sudden fast move
    slow = one_euro(x=ramp, fps=FPS, config=OneEuroConfig(min_cutoff=0.5, beta=0.0))
    fast = one_euro(x=ramp, fps=FPS, config=OneEuroConfig(min_cutoff=0.5, beta=5.0))
    lag = lambda y: np.mean(np.abs(y[70:] - ramp[70:]))  # noqa: E731
    assert lag(fast) < 0.5 * lag(slow)


def test_one_euro_constant_nan_and_restart():
    x = np.full((50, 3), 7.0)
    x[20:25, 1] = np.nan
    x[25:, 1] = 100.0          # after a gap the filter restarts at the new value (no smear across the gap)
    y = one_euro(x=x, fps=FPS)
    np.testing.assert_allclose(y[:, 0], 7.0, atol=1e-5)
    assert np.isnan(y[20:25, 1]).all()
    assert y[25, 1] == pytest.approx(100.0)


def test_clean_sequence_zero_phase_has_no_lag_on_a_ramp():
    t = np.arange(90)
    kp = np.zeros((90, 15, 2), np.float32)
    kp[..., 0] = (100 + 2.0 * t)[:, None]        # constant speed 60 px/s, 0.25 heights/s at 240 lines
    kp[..., 1] = 120
    seq = PoseSequence(keypoints=kp, confidence=np.ones((90, 15)), fps=FPS, image_size=(320, 240))
    zp = clean_sequence(seq)
    causal = clean_sequence(seq, config=CleanConfig(zero_phase=False))
    mid = slice(30, 60)
    assert np.abs(zp.keypoints[mid] - kp[mid]).max() < 0.1
    assert np.abs(causal.keypoints[mid, :, 0] - kp[mid, :, 0]).mean() > 0.5   # the causal pass lags


def test_clean_sequence_is_resolution_independent():
    rng = np.random.default_rng(3)
    kp = _linear(60) + rng.normal(0, 2, size=(60, 15, 2)).astype(np.float32)
    kp[10:14, 0] = np.nan
    conf = np.ones((60, 15), np.float32)
    a = clean_sequence(PoseSequence(keypoints=kp, confidence=conf, fps=FPS, image_size=(320, 240)))
    b = clean_sequence(PoseSequence(keypoints=kp * 2, confidence=conf, fps=FPS, image_size=(640, 480)))
    np.testing.assert_allclose(b.keypoints, a.keypoints * 2, rtol=1e-4, atol=1e-3)
    assert (a.flags[10:14, 0] == INTERPOLATED).all()
    none = clean_sequence(PoseSequence(keypoints=kp, confidence=conf, fps=FPS, image_size=(320, 240)),
                          config=CleanConfig(smoothing=None))
    assert np.abs(np.diff(a.keypoints[15:], 2, axis=0)).mean() < np.abs(np.diff(none.keypoints[15:], 2, axis=0)).mean()


def test_configs_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        OneEuroConfig().beta = 1.0  # type: ignore[misc]
    with pytest.raises(ParameterError):
        OneEuroConfig(min_cutoff=0)
    with pytest.raises(ParameterError):
        fill_gaps(keypoints=np.zeros((3, 2)), confidence=np.zeros(3), fps=FPS)
