"""The beat tracker on real music: training inputs = live inputs, the filter alone, the whole tracker,
tap tempo and fixed tempo.  Figures on every song (k-fold by song) are in ``benchmarks/beats.py``."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.audio import load_audio
from dancepose.models.beat import BarPointer, BeatNet, BeatTracker
from dancepose.models.clock import MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import ParameterError
from dancepose.models.features import COL_BEAT_ACT, FeatureStream, music_features
from dancepose.offline.beats import (add_noise, beat_targets, evaluate_clip, phase_wraps, reference_tempo,
                                     stretched_inputs, tracker_output, _scores)


def song(shared, name: str, offset: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Audio excerpt and its reference beats (time 0 = excerpt start)."""
    path = shared / "dance_with_melody" / name / "audio.mp3"
    y = load_audio(path, offset=offset, duration=duration)
    ref = np.loadtxt(shared / "beats" / f"{name}.beats", ndmin=2)
    ref = ref[(ref[:, 0] >= offset) & (ref[:, 0] < offset + duration)].copy()
    ref[:, 0] -= offset
    return y, ref


def test_training_inputs_equal_live_inputs(shared_data):
    """The batch inputs the network is trained on are the ones the stream computes frame by frame."""
    y, _ = song(shared_data, "DANCE_W_3", 20.0, 12.0)
    f = music_features(y=y)
    act = BeatNet.load().run(stretched_inputs(y))
    np.testing.assert_allclose(f[:, COL_BEAT_ACT], act[:, 1] + act[:, 2], atol=2e-4)


@pytest.mark.parametrize("name,bpb", [("DANCE_W_3", 3), ("DANCE_C_4", 4)])
def test_bar_pointer_on_reference_activation(shared_data, name, bpb):
    """The filter alone, fed a noisy activation made from the reference beats of a real song: beats on
    time (phase predicted ``lag`` frames ahead), tempo within 2 %, meter right."""
    ref = np.loadtxt(shared_data / "beats" / f"{name}.beats", ndmin=2)
    ref = ref[ref[:, 0] < 60.0]
    n = int(60.0 * MODEL_FPS)
    rng = np.random.default_rng(0)
    act = 0.6 * beat_targets(ref, n_frames=n, lag=2) + 0.4 * rng.dirichlet([8, 1, 0.5], size=n)
    f = BarPointer(lag=2)
    phase, bpm, meter = [], [], []
    for a in act:
        f.step(a)
        b, _, _, t, m = f.readout()
        phase.append(b), bpm.append(t), meter.append(m.argmax())
    s = _scores(ref[:, 0], phase_wraps(np.array(phase)))
    assert s["F"] > 0.95, s
    assert np.median(bpm[300:]) == pytest.approx(reference_tempo(ref), rel=0.02)
    assert f.config.meters[int(np.bincount(meter[300:]).argmax())] == bpb


@pytest.mark.parametrize("name,offset", [("DANCE_W_3", 30.0), ("DANCE_R_2", 40.0)])
def test_real_song_excerpt_clean_and_noisy(shared_data, name, offset):
    """40 s of a real song, clean and with pink noise at 10 dB SNR: beats from the causal phase match
    the reference (F after the first 5 s), tempo within 4 %, meter right."""
    y, ref = song(shared_data, name, offset, 40.0)
    clean = evaluate_clip(y=y, ref=ref, librosa_too=False)
    assert clean["F"] >= 0.8, clean
    assert clean["tempo_ok"] and clean["meter_ok"], clean
    noisy = evaluate_clip(y=add_noise(y, snr_db=10.0, rng=np.random.default_rng(1)), ref=ref, librosa_too=False)
    assert noisy["F"] >= 0.7, noisy


def test_phase_is_a_prediction(shared_data):
    """On the reference beats the displayed phase is near 0 (within ±0.12 beat on average), i.e. the
    beat is marked when it sounds, not a network lag later."""
    y, ref = song(shared_data, "DANCE_C_4", 30.0, 30.0)
    f = music_features(y=y)
    out = tracker_output(f)
    t = ref[ref[:, 0] > 8.0, 0]
    fr = t * MODEL_FPS
    i = np.floor(fr).astype(int)
    i = i[i + 1 < len(f)]
    from dancepose.models.features import COL_BEAT_COS, COL_BEAT_SIN

    ph = np.arctan2(f[:, COL_BEAT_SIN], f[:, COL_BEAT_COS]) / (2 * np.pi)
    ph = np.unwrap(ph * 2 * np.pi) / (2 * np.pi)
    at = np.interp(fr[: len(i)], np.arange(len(ph)), ph)
    err = (at + 0.5) % 1.0 - 0.5
    assert abs(float(np.mean(err))) < 0.12, err
    assert len(out["beats"]) > 0


def test_fix_tempo_holds_and_still_tracks_phase(shared_data):
    y, ref = song(shared_data, "DANCE_C_4", 30.0, 30.0)
    bpm = reference_tempo(ref)
    stream = FeatureStream()
    stream.fix_tempo(bpm * 0.98)
    f = stream.process(y)
    assert stream.tempo_bpm == pytest.approx(bpm * 0.98)
    s = _scores(ref[:, 0], tracker_output(f)["beats"])
    assert s["F"] >= 0.75, s
    stream.fix_tempo(None)
    stream.process(y[: 10 * SAMPLE_RATE])
    assert stream.tempo_bpm == pytest.approx(bpm, rel=0.04)
    with pytest.raises(ParameterError):
        stream.fix_tempo(1000.0)


def test_tap_sets_tempo_and_phase():
    """Taps over quiet noise: the tempo comes from the intervals, the beat sits on the taps, the beat
    counter counts."""
    rng = np.random.default_rng(0)
    stream = FeatureStream()
    stream.process(0.001 * rng.standard_normal(SAMPLE_RATE).astype(np.float32))
    for _ in range(4):
        stream.process(0.001 * rng.standard_normal(SAMPLE_RATE // 2).astype(np.float32))
        stream.tap()  # now: every 0.5 s = 120 BPM
    assert stream.tempo_bpm == pytest.approx(120.0, rel=0.03)
    assert min(stream.beat_phase, 1 - stream.beat_phase) < 0.1
    stream.process(0.001 * rng.standard_normal(SAMPLE_RATE // 4).astype(np.float32))
    assert stream.beat_phase == pytest.approx(0.5, abs=0.12)
    n0 = stream.beat_count
    stream.process(0.001 * rng.standard_normal(2 * SAMPLE_RATE).astype(np.float32))
    assert 3 <= stream.beat_count - n0 <= 5
    assert stream.beats_per_bar in (3, 4)
    assert 0.0 <= stream.bar_phase < 1.0
