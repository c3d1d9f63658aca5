"""The causal music-feature extractor: chunked = whole, causality, tempo and beat phase on pulse trains."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.audio import load_audio
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import ParameterError
from dancepose.models.features import (COL_ACTIVITY, COL_BEAT_COS, COL_BEAT_SIN, COL_ONSET, N_FEATURES,
                                       FeatureStream, compute_melbank, load_melbank, music_features)


def pulse_train(bpm: float, seconds: float, *, start: float = 0.5, seed: int = 0) -> np.ndarray:
    """Noise bursts (decaying, 33 ms) at a known tempo."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    n = 800
    env = np.exp(-np.arange(n) / 150.0)
    for t in np.arange(start, seconds, 60.0 / bpm):
        i = int(t * SAMPLE_RATE)
        k = min(n, len(y) - i)
        y[i:i + k] += 0.5 * (rng.standard_normal(k) * env[:k]).astype(np.float32)
    return y


def chunked(y: np.ndarray, rng: np.random.Generator, max_chunk: int = 3000) -> np.ndarray:
    stream, out, i = FeatureStream(), [], 0
    while i < len(y):
        n = int(rng.integers(0, max_chunk))  # zero-length chunks included
        out.append(stream.process(y[i:i + n]))
        i += n
    return np.concatenate(out)


def test_melbank_file_matches_librosa():
    np.testing.assert_allclose(load_melbank(), compute_melbank(), rtol=1e-6, atol=1e-9)


def test_shape_and_frame_count():
    for n in (0, 1, HOP_LENGTH - 1, HOP_LENGTH, 5 * HOP_LENGTH + 7):
        f = music_features(y=np.zeros(n, np.float32))
        assert f.shape == (n // HOP_LENGTH + 1, N_FEATURES)
        assert np.isfinite(f).all()


def test_real_song_whole_equals_random_chunks(shared_data):
    y = load_audio(shared_data / "dance_with_melody" / "DANCE_R_2" / "audio.mp3", offset=20.0, duration=25.0)
    whole = music_features(y=y)
    for seed in (0, 1):
        parts = chunked(y, np.random.default_rng(seed))
        assert parts.shape == whole.shape
        np.testing.assert_allclose(parts, whole, rtol=1e-4, atol=1e-4)


def test_causal_future_audio_does_not_change_past_frames():
    rng = np.random.default_rng(3)
    y = rng.standard_normal(SAMPLE_RATE * 4).astype(np.float32) * 0.1
    base = music_features(y=y)
    y2 = y.copy()
    cut = 2 * SAMPLE_RATE
    y2[cut:] = rng.standard_normal(len(y) - cut).astype(np.float32)  # change only the future
    changed = music_features(y=y2)
    last_past = cut // HOP_LENGTH  # frame t uses samples before t*HOP
    np.testing.assert_array_equal(changed[: last_past + 1], base[: last_past + 1])
    assert not np.allclose(changed[last_past + 1:], base[last_past + 1:])


@pytest.mark.parametrize("bpm", [80, 100, 120, 140, 160])
def test_tempo_and_beat_phase_on_pulse_trains(bpm):
    y = pulse_train(bpm, 16.0)
    stream = FeatureStream()
    f = stream.process(y)
    assert abs(stream.tempo_bpm - bpm) / bpm < 0.03
    # After 8 s the phase at every click is locked and anticipates it: the frame just before a click
    # (which has not heard it yet) already reads phase ≈ 0 (within 1/6 of a beat, incl. ±½ frame rounding).
    clicks = np.arange(0.5, 16.0, 60.0 / bpm)
    frames = np.round(clicks * MODEL_FPS).astype(int)
    frames = frames[(clicks > 8.0) & (frames < len(f))]
    phase = np.arctan2(f[frames, COL_BEAT_SIN], f[frames, COL_BEAT_COS]) / (2 * np.pi)
    assert np.all(np.abs(phase) < 0.16), phase
    # ... and half a beat later it reads ≈ 0.5
    half = np.round((clicks + 30.0 / bpm) * MODEL_FPS).astype(int)
    half = half[(clicks > 8.0) & (half < len(f))]
    ph_half = np.arctan2(f[half, COL_BEAT_SIN], f[half, COL_BEAT_COS]) / (2 * np.pi) % 1.0
    assert np.all(np.abs(ph_half - 0.5) < 0.15), ph_half


def test_onsets_peak_right_after_clicks_and_activity_gates_silence():
    y = pulse_train(120, 6.0)
    y[3 * SAMPLE_RATE:] = 0.0  # silence after 3 s
    f = music_features(y=y)
    click_frames = (np.arange(0.5, 3.0, 0.5) * MODEL_FPS).astype(int) + 1
    other = np.setdiff1d(np.arange(10, 85), np.concatenate([click_frames, click_frames + 1]))
    assert f[click_frames, COL_ONSET].min() > 3 * f[other, COL_ONSET].max()
    assert f[60:85, COL_ACTIVITY].mean() > 0.8
    assert f[3 * MODEL_FPS + 15:, COL_ACTIVITY].max() < 0.1  # 0.5 s after the music stops


def test_bad_parameters():
    with pytest.raises(ParameterError):
        FeatureStream().process(np.zeros((10, 2), np.float32))


def test_live_controls_fix_tempo_and_tap():
    """The live-control API the performer wires to keys and flags: --bpm and tap tempo."""
    from dancepose.models.clock import SAMPLE_RATE
    from dancepose.models.features import FeatureStream

    s = FeatureStream()
    s.fix_tempo(133.0)
    s.process(np.zeros(SAMPLE_RATE * 2, dtype=np.float32))
    assert abs(s.tempo_bpm - 133.0) < 0.5
    s.fix_tempo(None)
    s2 = FeatureStream()
    s2.process(np.zeros(SAMPLE_RATE, dtype=np.float32))
    for k in range(4):  # taps every 0.5 s = 120 BPM ending now
        s2.tap(1.0 - 1.5 + 0.5 * k)
    assert abs(s2.tempo_bpm - 120.0) < 0.5
    assert s2.beat_phase < 0.1 or s2.beat_phase > 0.9
    assert s2.beats_per_bar in (3, 4) and 0.0 <= s2.bar_phase < 1.0
    before = s2.beat_count
    s2.process(np.zeros(SAMPLE_RATE, dtype=np.float32))
    assert s2.beat_count - before in (1, 2, 3)


def test_phase_decoding_inverts_the_sin_cos_columns():
    """beat_phase / bar_phase / row_beat_phase: the one decoding of the phase columns, any leading shape."""
    from dancepose.models.features import COL_BAR_COS, COL_BAR_SIN, bar_phase, beat_phase, row_beat_phase

    rng = np.random.default_rng(0)
    beat, bar = rng.uniform(0.0, 1.0, (2, 7, 5))
    f = np.zeros((7, 5, N_FEATURES), np.float32)
    f[..., COL_BEAT_SIN], f[..., COL_BEAT_COS] = np.sin(2 * np.pi * beat), np.cos(2 * np.pi * beat)
    f[..., COL_BAR_SIN], f[..., COL_BAR_COS] = 3 * np.sin(2 * np.pi * bar), 3 * np.cos(2 * np.pi * bar)
    got = beat_phase(features=f)
    assert got.shape == (7, 5) and np.all((got >= 0) & (got < 1))
    np.testing.assert_allclose(np.exp(2j * np.pi * got), np.exp(2j * np.pi * beat), atol=1e-5)  # (mod 1)
    np.testing.assert_allclose(np.exp(2j * np.pi * bar_phase(features=f)), np.exp(2j * np.pi * bar), atol=1e-5)
    rows = f.reshape(-1, N_FEATURES)
    np.testing.assert_allclose([row_beat_phase(r) for r in rows], beat_phase(features=rows), atol=1e-6)
