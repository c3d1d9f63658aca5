"""The sampling stage's phase-locked ("beat") spread on a controlled beat: still on the beat, repeating
every bar (3 beats in 3/4, 2 in 4/4), the smooth spread where the beat confidence is gone."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS
from dancepose.models.dancer import N_POSE, BeatReader, Frame, Mixture, SamplingConfig, SamplingStage
from dancepose.models.errors import ModelError
from dancepose.models.features import (COL_BEAT_CONF, COL_BEAT_COS, COL_BEAT_SIN, COL_METER, COL_TEMPO,
                                       N_FEATURES)

BPM = 120.0
BEAT = int(MODEL_FPS * 60 / BPM)  # frames per beat


def _features(*, beats: int, meter: int, confidence: float = 1.0) -> np.ndarray:
    n = beats * BEAT
    phase = (np.arange(n) / BEAT) % 1.0
    f = np.zeros((n, N_FEATURES), np.float32)
    f[:, COL_BEAT_SIN], f[:, COL_BEAT_COS] = np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)
    f[:, COL_TEMPO] = np.log2(BPM / 120.0)
    f[:, COL_BEAT_CONF] = confidence
    f[:, COL_METER] = meter - 3
    return f


def _run(config: SamplingConfig, feats: np.ndarray, seed: int = 0, modes: np.ndarray | None = None):
    """One-component mixture with mean 0 and σ 1 read as pose 1:1: the output is the spread itself
    (identity modes: one per coordinate)."""
    stage = SamplingStage(config, modes=modes)
    stage.reset(np.random.default_rng(seed))
    beat = BeatReader()
    fed, out, smooth = [], [], []
    for i, f in enumerate(feats):
        mixture = Mixture(logits=np.zeros(1, np.float32), mu=np.zeros((1, N_POSE), np.float32),
                          log_sigma=np.zeros((1, N_POSE), np.float32), scale=np.ones(N_POSE, np.float32),
                          offset=np.zeros(N_POSE, np.float32))
        pose = stage(np.zeros((N_POSE // 2, 2), np.float32), Frame(features=f, beat=beat(f), index=i,
                                                                   mixture=mixture))
        fed.append(mixture.feedback)
        out.append(pose.reshape(-1))
        smooth.append((stage.drift_z @ stage.modes) if config.spread == "beat" else stage.eps.copy())
    return np.array(fed), np.array(out), np.array(smooth)


def _corr(x: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(x[:-lag].ravel(), x[lag:].ravel())[0, 1])


BEAT_LOCKED = SamplingConfig(spread="beat", pattern_scale=1.0, pattern_hold=0.8, feedback_spread=False)


@pytest.mark.parametrize("meter,repeat", [(3, 3), (4, 2)])
def test_beat_spread_is_still_on_the_beat_and_repeats_every_bar(meter, repeat):
    feats = _features(beats=120, meter=meter)
    _, y, _ = _run(BEAT_LOCKED, feats)
    y = y[4 * BEAT:]
    speed = np.linalg.norm(np.diff(y, axis=0), axis=1)  # speed[t]: frame t → t + 1
    phase = (np.arange(len(speed)) % BEAT) / BEAT
    on_beat = speed[(phase < 0.07) | (phase > 0.93)].mean()
    mid = speed[np.abs(phase - 0.5) < 0.1].mean()
    assert on_beat < 0.25 * mid, (on_beat, mid)  # eased: the spread stands still on the beat
    bar = _corr(y, repeat * BEAT)
    others = [_corr(y, k * BEAT) for k in range(1, 5) if k % repeat]
    assert bar > 0.5 and bar > max(others) + 0.3, (bar, others)  # repeats every bar, slowly renewed
    assert 0.5 < float(np.mean(y[::BEAT] ** 2)) < 1.5  # unit variance at the beats


def test_beat_spread_renews_so_the_moves_change():
    feats = _features(beats=240, meter=4)
    _, y, _ = _run(BEAT_LOCKED, feats)
    knots = y[4 * BEAT::2 * BEAT]  # the same slot of successive bars
    assert _corr(knots, 1) > 0.6  # held from one bar to the next …
    assert _corr(knots, 40) < 0.3  # … but a different move 80 beats later


def test_low_confidence_gives_the_smooth_spread():
    _, y, smooth = _run(BEAT_LOCKED, _features(beats=40, meter=4, confidence=0.0))
    np.testing.assert_allclose(y, smooth, atol=1e-6)


def test_half_confidence_blends_the_two_at_unit_variance():
    feats = _features(beats=40, meter=4, confidence=0.5 * BEAT_LOCKED.full_confidence)
    _, y, smooth = _run(BEAT_LOCKED, feats)
    locked = (y - np.sqrt(0.75) * smooth) / 0.5  # a = 0.5: y = a·locked + √(1 − a²)·smooth
    speed = np.linalg.norm(np.diff(locked[4 * BEAT:], axis=0), axis=1)
    phase = (np.arange(len(speed)) % BEAT) / BEAT
    assert speed[(phase < 0.07) | (phase > 0.93)].mean() < 0.25 * speed[np.abs(phase - 0.5) < 0.1].mean()
    assert not np.allclose(y, smooth, atol=1e-3)


def test_feedback_is_the_mean_or_the_sample():
    feats = _features(beats=8, meter=4)
    fed, y, _ = _run(BEAT_LOCKED, feats)
    assert np.abs(fed).max() == 0.0 and np.abs(y).max() > 0.1  # the component mean (0) is fed back
    fed2, y2, _ = _run(SamplingConfig(spread="beat", feedback_spread=True), feats)
    np.testing.assert_array_equal(fed2, y2)


def test_beat_spread_moves_in_the_pose_modes():
    """With the model's principal pose modes the variation is whole-body: every output lies in their span,
    with the modes' variance at the beats."""
    rng = np.random.default_rng(3)
    modes = rng.standard_normal((3, N_POSE)).astype(np.float32) * np.array([[2.0], [1.0], [0.5]], np.float32)
    _, y, _ = _run(BEAT_LOCKED, _features(beats=200, meter=3), modes=modes)
    coef, *_ = np.linalg.lstsq(modes.T, y.T, rcond=None)
    np.testing.assert_allclose(coef.T @ modes, y, atol=1e-4)  # in the span of the 3 modes
    on_beats = coef.T[4 * BEAT::BEAT]
    np.testing.assert_allclose(on_beats.std(axis=0), 1.0, atol=0.3)  # unit weights: the modes' own spread


def test_unknown_spread_is_a_model_error():
    with pytest.raises(ModelError, match="spread"):
        SamplingStage(SamplingConfig(spread="wobbly"))
