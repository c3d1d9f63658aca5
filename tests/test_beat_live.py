"""The beat tracker listening for real: a real song with pink noise (10 dB SNR) is played into the
PulseAudio null sink (``.ci/pulse.sh``) and captured through the project's microphone source
(:class:`dancepose.realtime.audio_in.MicSource`) feeding a :class:`FeatureStream`, as live does.

The captured signal is aligned to the played one by cross-correlating the audio (not the beats); the
beats where the live phase wraps are then scored against the song's reference beats: F ≥ 0.75.
"""
from __future__ import annotations

import subprocess
import time
import wave

import numpy as np
import pytest

from dancepose.models.clock import SAMPLE_RATE
from dancepose.models.features import FeatureStream
from dancepose.offline.beats import _scores, add_noise, tracker_output

from live_helpers import pulse_ready
from test_beat import song

pytestmark = pytest.mark.audio


def test_live_mic_beats_match_reference(shared_data, tmp_path):
    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    from dancepose.realtime.audio_in import MicSource

    y, ref = song(shared_data, "DANCE_C_7", 40.0, 30.0)
    y = add_noise(y, snr_db=10.0, rng=np.random.default_rng(0))
    y = (0.5 * y / np.abs(y).max()).astype(np.float32)
    wav = tmp_path / "song.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((y * 32767).astype("<i2").tobytes())
    stream = FeatureStream()
    feats, captured = [], []
    with MicSource() as mic:
        time.sleep(0.5)
        player = subprocess.Popen(["paplay", str(wav)])
        try:
            t_end = None
            while True:
                time.sleep(0.02)
                chunk = mic.read()
                captured.append(chunk)
                feats.append(stream.process(chunk))
                if player.poll() is not None:
                    t_end = t_end or time.monotonic()
                    if time.monotonic() - t_end > 1.0:
                        break
        finally:
            if player.poll() is None:
                player.kill()
    assert player.returncode == 0
    cap = np.concatenate(captured)
    f = np.concatenate(feats)
    assert len(cap) > len(y)
    # Where in the capture the song starts: cross-correlation of the audio.
    n = 1 << int(np.ceil(np.log2(len(cap) + len(y))))
    xc = np.fft.irfft(np.fft.rfft(cap, n) * np.conj(np.fft.rfft(y, n)), n)[: len(cap) - len(y) // 2]
    lag = int(np.argmax(xc))
    seg = cap[lag:lag + len(y)]
    assert np.corrcoef(seg[: len(y)], y[: len(seg)])[0, 1] > 0.8  # it really is the song we played
    beats = tracker_output(f)["beats"] - lag / SAMPLE_RATE
    s = _scores(ref[:, 0], beats[beats > 0])
    assert s["F"] >= 0.75, s
