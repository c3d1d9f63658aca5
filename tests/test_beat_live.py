"""The beat tracker listening for real: a real song with pink noise (10 dB SNR) is played into the
PulseAudio server of ``.ci/pulse.sh`` (into a null sink of the test's own, so that other programs
playing into the default sink do not mix in) and captured through the project's microphone source
(:class:`dancepose.realtime.audio_in.MicSource`) feeding a :class:`FeatureStream`, as live does.

The captured signal is aligned to the played one by cross-correlating the audio second by second (not
the beats); the beats where the live phase wraps are then scored against the song's reference beats:
F ≥ 0.75 after the first 5 s.
"""
from __future__ import annotations

import os
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


@pytest.fixture
def private_sink(monkeypatch):
    """A null sink of our own on the PulseAudio server (others may be playing into the default one);
    the microphone is its monitor (PULSE_SOURCE, read by the ALSA pulse plugin when the stream opens)."""
    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    name = f"dancepose_beattest_{os.getpid()}"
    out = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={name}"], capture_output=True,
                         text=True, timeout=10)
    if out.returncode != 0:
        pytest.skip(f"cannot create a null sink: {out.stderr.strip()}")
    # The microphone is its monitor: PULSE_SOURCE (read by the ALSA pulse plugin when a stream opens) and,
    # for a PortAudio that was initialised earlier in this process, the server's default source too.
    info = subprocess.run(["pactl", "info"], capture_output=True, text=True, timeout=10).stdout
    before = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("Default Source:")),
                  None)
    monkeypatch.setenv("PULSE_SOURCE", f"{name}.monitor")
    subprocess.run(["pactl", "set-default-source", f"{name}.monitor"], timeout=10, check=False)
    try:
        yield name
    finally:
        if before:
            subprocess.run(["pactl", "set-default-source", before], timeout=10, check=False)
        subprocess.run(["pactl", "unload-module", out.stdout.strip()], timeout=10, check=False)


def test_live_mic_beats_match_reference(shared_data, tmp_path, private_sink):
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
        player = subprocess.Popen(["paplay", f"--device={private_sink}", "--latency-msec=1000", str(wav)])
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
        xruns = mic.xruns
    assert player.returncode == 0
    cap = np.concatenate(captured)
    f = np.concatenate(feats)
    assert len(cap) > len(y)
    # Where each second of the song is in the capture: cross-correlation of the audio, second by
    # second (on a loaded machine the player under-runs and the capture drops blocks now and then,
    # which shifts the alignment).  Only seconds found with certainty (r > 0.8) are scored.
    win, lag, starts, lags = SAMPLE_RATE, 0, [], []
    for w in range(win, len(y) - win, win):  # from 1 s: the capture may start a few ms into the song
        a = y[w:w + win]
        # until the first certain second: search the whole capture; then near the last lag
        lo = 0 if not lags else max(0, w + lag - SAMPLE_RATE)
        seg = cap if not lags else cap[lo:lo + 3 * SAMPLE_RATE]
        if len(seg) < 2 * win:
            break
        n = 1 << int(np.ceil(np.log2(len(seg) + win)))
        xc = np.fft.irfft(np.fft.rfft(seg, n) * np.conj(np.fft.rfft(a, n)), n)[: len(seg) - win + 1]
        # Normalised by the capture's energy under the window: the raw cross-correlation of repetitive,
        # noisy music peaks at louder whole bars elsewhere, the normalised one at the true position.
        c2 = np.concatenate([[0.0], np.cumsum(seg.astype(np.float64) ** 2)])
        energy = np.sqrt(np.maximum(c2[win:] - c2[:-win], 1e-12))[: len(xc)]
        k = lo + int(np.argmax(xc / energy))
        if np.corrcoef(cap[k:k + win], a)[0, 1] > 0.8:
            lag = k - w
            starts.append(w)
            lags.append(lag)
    starts, lags = np.array(starts), np.array(lags)
    assert len(starts) >= 0.5 * len(y) / win, f"only {len(starts)} s of the song found in the capture"
    est = tracker_output(f)["beats"] * SAMPLE_RATE
    ref_s = ref[:, 0] * SAMPLE_RATE
    keep_est, keep_ref = [], []
    for w, lg in zip(starts, lags):  # beats of each well-aligned second, in song samples
        e = est - lg
        keep_est.append(e[(e >= w) & (e < w + win)])
        keep_ref.append(ref_s[(ref_s >= w) & (ref_s < w + win)])
    s = _scores(np.concatenate(keep_ref) / SAMPLE_RATE, np.concatenate(keep_est) / SAMPLE_RATE)
    assert s["F"] >= 0.75, (s, xruns, len(starts))
