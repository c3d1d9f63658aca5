"""The sampling stage's phase-locked ("beat") spread on a controlled beat: still on the beat, repeating
every bar (3 beats in 3/4, 2 in 4/4), the smooth spread where the beat confidence is gone; and nothing in
it that twitches: its noise, a flickering confidence and component switches put no power above 4 Hz."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.clock import MODEL_FPS
import dataclasses

from dancepose.models.dancer import (LEGACY_STAGES, N_POSE, BeatReader, Frame, Mixture, SamplingConfig, SamplingStage,
                                     SmoothNoise)
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


def _run(config: SamplingConfig, feats: np.ndarray, seed: int = 0, modes: np.ndarray | None = None,
         means: np.ndarray | None = None, logits: np.ndarray | None = None):
    """By default a one-component mixture with mean 0 and σ 1 read as pose 1:1: the output is the spread
    itself (identity modes: one per coordinate).  ``means`` [shape=(K, N_POSE)] and ``logits`` [shape=(T, K)]
    give other mixtures, frame by frame."""
    stage = SamplingStage(config, modes=modes)
    stage.reset(np.random.default_rng(seed))
    beat = BeatReader()
    mu = np.zeros((1, N_POSE), np.float32) if means is None else means.astype(np.float32)
    fed, out, smooth = [], [], []
    for i, f in enumerate(feats):
        mixture = Mixture(logits=np.zeros(len(mu), np.float32) if logits is None else logits[i], mu=mu,
                          log_sigma=np.zeros_like(mu), scale=np.ones(N_POSE, np.float32),
                          offset=np.zeros(N_POSE, np.float32))
        pose = stage(np.zeros((N_POSE // 2, 2), np.float32), Frame(features=f, beat=beat(f), index=i,
                                                                   mixture=mixture))
        fed.append(mixture.feedback)
        out.append(pose.reshape(-1))
        smooth.append((stage.drift @ stage.modes) if config.spread == "beat" else stage.drift.copy())
    return np.array(fed), np.array(out), np.array(smooth)


def _high_share(x: np.ndarray, cutoff_hz: float = 4.0) -> float:
    """Share of the power of ``x`` [shape=(T, d)] above ``cutoff_hz``: Welch PSD summed over the columns,
    with the report's jitter estimator settings (4-s Hann segments, linear detrend)."""
    from scipy import signal

    from dancepose.offline.metrics import JITTER_SEGMENT_S

    n = int(JITTER_SEGMENT_S * MODEL_FPS)
    f, p = signal.welch(np.asarray(x, np.float64), fs=MODEL_FPS, nperseg=n, noverlap=n // 2, detrend="linear",
                        axis=0)
    p = p.sum(axis=1)
    return float(p[f >= cutoff_hz].sum() / p.sum())


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


# ------------------------------------------------------------------ nothing that twitches
def test_smooth_noise_has_unit_variance_and_no_power_above_4_hz():
    """The shipped noise (3 cascaded one-poles) against AR(1) (1 pole), the spread that made the figure
    twitch: the same variance, ≥ 10⁴ × less power above 4 Hz."""
    rng = np.random.default_rng(0)
    shares = {}
    for poles in (1, 3):
        noise = SmoothNoise(6, r=0.95, poles=poles)
        x = np.array([noise(rng) for _ in range(60 * MODEL_FPS)])
        assert x.shape == (1800, 6)
        np.testing.assert_allclose(x[200:].var(axis=0).mean(), 1.0, atol=0.35)
        shares[poles] = _high_share(x)
    assert shares[1] > 1e-2 and shares[3] < 1e-5, shares


def test_a_flickering_beat_confidence_does_not_shake_the_pose():
    """A confidence that jumps around the full-confidence level every frame: smoothed, the blend of the
    beat spread and the drift does not follow it frame by frame (without smoothing it does)."""
    feats = _features(beats=80, meter=4)
    feats[:, COL_BEAT_CONF] = np.where(np.arange(len(feats)) % 2, 0.1, 0.6)
    shares = {}
    for tau in (0.0, SamplingConfig().confidence_smoothing_s):
        _, y, _ = _run(dataclasses.replace(BEAT_LOCKED, confidence_smoothing_s=tau), feats)
        shares[tau] = _high_share(y[4 * BEAT:])
    assert shares[0.0] > 1e-2 and shares[SamplingConfig().confidence_smoothing_s] < 1e-3, shares


def test_component_switches_glide_instead_of_jumping():
    """Two components a body-unit apart, the most likely one changing every 20 frames: with the mean
    smoothing the pose glides from one to the other (no step above a fifth of the jump, far less power
    above 4 Hz) and gets there; the bare mean jumps."""
    feats = _features(beats=40, meter=4)
    means = np.stack([np.zeros(N_POSE), np.ones(N_POSE)])
    logits = np.zeros((len(feats), 2), np.float32)
    logits[np.arange(len(feats)) // 20 % 2 == 1, 1] = 5.0
    still = dataclasses.replace(BEAT_LOCKED, pattern_scale=0.0, temperature=0.0)
    _, bare, _ = _run(dataclasses.replace(still, mean_smoothing_s=0.0), feats, means=means, logits=logits)
    _, glide, _ = _run(still, feats, means=means, logits=logits)
    assert np.abs(np.diff(bare, axis=0)).max() == pytest.approx(1.0)
    assert np.abs(np.diff(glide, axis=0)).max() < 0.2
    assert np.abs(glide[19::20] - bare[19::20]).max() < 0.01  # within 20 frames (0.67 s) it is there
    assert _high_share(glide) < 0.1 * _high_share(bare)


@pytest.mark.parametrize("meter,span", [(3, 1.0), (4, 0.7)])
def test_moves_take_their_share_of_the_beat_and_start_and_end_still(meter, span):
    """Minimum-jerk moves: in 4/4 each move takes 70 % of the beat, centred between the beats, so the
    pose holds still around the beat; in 3/4 the move flows over the whole beat."""
    config = dataclasses.replace(BEAT_LOCKED, move_span=(1.0, 0.7))
    _, y, _ = _run(config, _features(beats=60, meter=meter))
    y = y[4 * BEAT:]
    speed = np.linalg.norm(np.diff(y, axis=0), axis=1)
    phase = ((np.arange(len(speed)) + 0.5) % BEAT) / BEAT  # of the step t → t + 1
    hold = np.abs(phase - 0.5) > span / 2 + 0.02  # outside the move
    mid = np.abs(phase - 0.5) < 0.1
    if span < 1:  # (what moves in the hold is the drift, faded to a trace at full confidence)
        assert speed[hold].max() < 0.02 * speed[mid].min()
    else:
        assert speed[mid].mean() > 10 * speed[(phase < 0.04) | (phase > 0.96)].mean()
    assert SamplingConfig().ease == "minimum_jerk" and config.move_span == SamplingConfig().move_span


def test_legacy_sampling_is_the_original_design():
    """Model directories written before these stages (LEGACY_STAGES) keep AR(1) noise, the bare mean and
    per-frame confidence: they dance as they did."""
    legacy = LEGACY_STAGES.sampling
    assert (legacy.noise_poles, legacy.mean_smoothing_s, legacy.confidence_smoothing_s) == (1, 0.0, 0.0)
    assert (legacy.ease, legacy.move_span, legacy.spread) == ("cosine", (1.0, 1.0), "smooth")
