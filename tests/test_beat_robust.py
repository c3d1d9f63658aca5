"""Bad input for the beat tracker: silence, speech, noise, a sustained chord, clipping and a tempo
change.  Confidence falls where there is no beat to follow, and the displayed phase never jumps."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from dancepose.models.audio import load_audio
from dancepose.models.clock import MODEL_FPS, SAMPLE_RATE
from dancepose.models.features import COL_BEAT_CONF, COL_BEAT_COS, COL_BEAT_SIN, COL_TEMPO, music_features
from dancepose.offline.beats import pink_noise, reference_tempo

from test_beat import song


def conf_after(y: np.ndarray, seconds: float = 3.0) -> np.ndarray:
    """Per-frame confidence after the first ``seconds``."""
    return music_features(y=y)[int(seconds * MODEL_FPS):, COL_BEAT_CONF]


@pytest.fixture(scope="module")
def music_conf(shared_data) -> float:
    y, _ = song(shared_data, "DANCE_R_2", 40.0, 20.0)
    return float(np.mean(conf_after(y, 5.0)))


def phase_steps(f: np.ndarray) -> np.ndarray:
    ph = np.arctan2(f[:, COL_BEAT_SIN], f[:, COL_BEAT_COS]) / (2 * np.pi)
    return (np.diff(ph) % 1.0)


def test_music_is_confident(music_conf):
    assert music_conf > 0.3  # this excerpt holds a 4-s break; full-band passages read 0.7-0.9


def test_silence(music_conf):
    c = conf_after(np.zeros(10 * SAMPLE_RATE, np.float32), 1.0)
    assert c.max() < 0.05


def test_pink_noise(music_conf):
    y = 0.1 * pink_noise(15 * SAMPLE_RATE, rng=np.random.default_rng(0))
    c = conf_after(y, 5.0)
    assert c.mean() < 0.2 * music_conf, (c.mean(), music_conf)


def test_sustained_chord(music_conf):
    t = np.arange(15 * SAMPLE_RATE) / SAMPLE_RATE
    y = sum(np.sin(2 * np.pi * f0 * t) for f0 in (261.6, 329.6, 392.0, 523.3)) * 0.1
    y *= np.minimum(1.0, t / 0.3)  # soft attack, then held
    c = conf_after(y.astype(np.float32), 5.0)
    assert c.mean() < 0.2 * music_conf, (c.mean(), music_conf)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_speech(tmp_path, music_conf):
    text = ("The quick brown fox jumps over the lazy dog. Dancers listen to the music and move with "
            "the beat, but speech has no steady pulse to follow. ") * 3
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(wav), text], check=True, timeout=60)
    y = load_audio(wav)
    c = conf_after(y, 5.0)
    assert len(c) > 10 * MODEL_FPS
    assert c.mean() < 0.2 * music_conf, (c.mean(), music_conf)


def test_music_then_silence_confidence_falls(shared_data, music_conf):
    y, _ = song(shared_data, "DANCE_R_2", 40.0, 12.0)
    y = np.concatenate([y, np.zeros(5 * SAMPLE_RATE, np.float32)])
    f = music_features(y=y)
    assert f[int(7 * MODEL_FPS):int(12 * MODEL_FPS), COL_BEAT_CONF].mean() > 0.5
    assert f[int(14 * MODEL_FPS):, COL_BEAT_CONF].max() < 0.1
    assert phase_steps(f).max() < 0.3  # the phase free-runs, no jump


def test_clipping(shared_data, music_conf):
    """A song driven 30 dB into hard clipping: no NaN, no phase jump; confidence lower than clean."""
    y, ref = song(shared_data, "DANCE_R_2", 40.0, 20.0)
    clipped = np.clip(y * 31.6, -1.0, 1.0)
    f = music_features(y=clipped)
    assert np.isfinite(f).all()
    c = f[5 * MODEL_FPS:, COL_BEAT_CONF].mean()
    assert c < music_conf, (c, music_conf)
    assert phase_steps(f).max() < 0.3


def test_tempo_change_is_followed_without_jumps(shared_data):
    """20 s of a real song, then the next 25 s played 12 % faster: the tempo read-out moves to the new
    tempo within 8 s and the displayed phase never jumps (per-frame advance below 2× the nominal)."""
    y1, ref = song(shared_data, "DANCE_C_4", 30.0, 45.0)
    bpm = reference_tempo(ref)
    cut = 20 * SAMPLE_RATE
    from scipy.signal import resample_poly

    fast = resample_poly(y1[cut:], 25, 28).astype(np.float32)  # 1.12× faster (and higher)
    y = np.concatenate([y1[:cut], fast])
    f = music_features(y=y)
    tempo = 120.0 * 2.0 ** f[:, COL_TEMPO]
    before = np.median(tempo[12 * MODEL_FPS:20 * MODEL_FPS])
    after = np.median(tempo[28 * MODEL_FPS:])
    assert before == pytest.approx(bpm, rel=0.04)
    assert after == pytest.approx(bpm * 28 / 25, rel=0.04)
    nominal = tempo[1:] / (60.0 * MODEL_FPS)
    assert np.all(phase_steps(f)[5 * MODEL_FPS:] < 2.0 * nominal[5 * MODEL_FPS:])
