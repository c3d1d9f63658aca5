"""Audio sources: ring buffer, simulated clock, demo loop, device errors, real capture via PulseAudio."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.errors import DeviceError, InputError
from dancepose.realtime.audio_in import RingBuffer, SimulatedPlayback, open_source, resolve_device
from dancepose.realtime.demo_loop import DEMO_BARS, DEMO_BPM, demo_loop

from live_helpers import pulse_ready


def test_ring_buffer_wraps_in_order_and_counts_overruns():
    ring = RingBuffer(10)
    x = np.arange(25, dtype=np.float32)
    for i in range(0, 7, 3):          # 0..8 in blocks of 3
        ring.write(x[i:i + 3])
    np.testing.assert_array_equal(ring.read(), x[:9])
    ring.write(x[9:16])               # wraps around the end
    np.testing.assert_array_equal(ring.read(upto=12), x[9:12])
    np.testing.assert_array_equal(ring.read(), x[12:16])
    ring.write(x[:20])                # more than the capacity since the last read
    out = ring.read()
    assert ring.overruns == 1 and len(out) == 10
    np.testing.assert_array_equal(out, x[10:20])
    ring.stamp(5, 1.5)
    assert ring.last_stamp() == (5.0, 1.5)


def test_simulated_playback_is_frame_exact():
    y = np.linspace(-0.5, 0.5, SAMPLE_RATE, dtype=np.float32)  # 1 s
    src = SimulatedPlayback(y, loop=False)
    got = []
    while not src.finished:
        src.on_frame()
        got.append(src.read())
    out = np.concatenate(got)
    assert len(got) == DISPLAY_FPS
    np.testing.assert_array_equal(out, y)
    assert src.now() == pytest.approx(1.0) and src.sample_time(SAMPLE_RATE) == pytest.approx(1.0)


def test_demo_loop_has_the_announced_tempo_and_a_quiet_last_bar():
    from dancepose.models.features import FeatureStream

    y = demo_loop()
    assert y.dtype == np.float32 and len(y) == round(DEMO_BARS * 4 * 60 / DEMO_BPM * SAMPLE_RATE)
    assert 0.5 < np.abs(y).max() <= 1.0
    fs = FeatureStream()
    fs.process(y[: 12 * SAMPLE_RATE])
    assert fs.tempo_bpm == pytest.approx(DEMO_BPM, rel=0.05)
    bar = int(4 * 60 / DEMO_BPM * SAMPLE_RATE)
    busy = np.sqrt(np.mean(y[:bar] ** 2))
    last = np.sqrt(np.mean(y[-bar + SAMPLE_RATE // 2:] ** 2))  # after the single kick
    assert last < 0.05 * busy


def test_open_source_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        open_source(input_spec=str(tmp_path / "missing.wav"), simulate=True)
    with pytest.raises(DeviceError):
        resolve_device("definitely-not-a-device-42", kind="input")


@pytest.mark.audio
def test_mic_records_what_is_played_through_the_null_sink():
    """A real capture: a sounddevice OutputStream plays a tone into PulseAudio's null sink and
    MicSource (sounddevice.InputStream on its monitor) hears it, resampled to SAMPLE_RATE."""
    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    from dancepose.realtime.audio_in import MicSource, PlaybackSource

    t = np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    got = []
    with MicSource() as mic:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:  # the null sink's monitor needs a moment to start
            got.append(mic.read())
            time.sleep(0.02)
        with PlaybackSource(tone, label="tone") as player:
            t0 = time.monotonic()
            while not player.finished and time.monotonic() - t0 < 6.0:
                player.read()
                got.append(mic.read())
                time.sleep(0.02)
        got.append(mic.read())
    y = np.concatenate(got)
    assert mic.samples_read == len(y) > SAMPLE_RATE
    loud = np.flatnonzero(np.abs(y) > 0.25)
    assert len(loud) > 0.5 * SAMPLE_RATE, "the played tone was not captured"
    seg = y[loud[0]: loud[0] + SAMPLE_RATE // 2]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / SAMPLE_RATE)
    spec[freqs < 100.0] = 0.0  # on a busy machine the capture holds short gaps: their steps are low-frequency
    f = freqs[np.argmax(spec)]
    assert f == pytest.approx(440.0, abs=5.0)


_STARVE = r"""
import sys, time
import numpy as np
from dancepose.realtime.audio_in import PlaybackSource, alsa_messages
sys.setswitchinterval(2.0)  # the main thread keeps the GIL: the audio callback cannot run → real underruns
y = (0.2 * np.sin(np.arange(48000 * 4) / 5.0)).astype(np.float32)
with PlaybackSource(y, label="starved") as p:
    time.sleep(0.5)
    for _ in range(3):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.4:  # pure Python: holds the GIL
            pass
        time.sleep(0.3)
        p.read()
print(p.xruns, alsa_messages().installed, alsa_messages().underruns, alsa_messages().count)
"""


@pytest.mark.audio
def test_alsa_messages_are_counted_not_printed():
    """Real underruns (the callback starved of the GIL) through PulseAudio: PortAudio's status flags count
    them as xruns, and ALSA's "underrun occurred" lines do not reach the user's terminal."""
    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    r = subprocess.run([sys.executable, "-c", _STARVE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    xruns, installed, underruns, count = r.stdout.split()
    assert installed == "True"
    assert int(xruns) >= 1
    assert "ALSA lib" not in r.stderr and "underrun" not in r.stderr, r.stderr


@pytest.mark.audio
def test_mic_capture_with_nan_samples_is_cleaned_with_one_warning(capsys):
    """NaN from a capture device (a float PulseAudio sink carries them from whatever plays into it) reached
    the features live (``probabilities contain NaN`` mid-show).  MicSource.read cleans them, one warning."""
    import os

    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    from dancepose.realtime.audio_in import MicSource

    name = f"dancepose_nantest_{os.getpid()}"
    load = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={name}", "format=float32le",
                           "rate=48000", "channels=1"], capture_output=True, text=True, timeout=10)
    if load.returncode != 0:
        pytest.skip(f"cannot create a float null sink: {load.stderr.strip()}")
    old = os.environ.get("PULSE_SOURCE")
    os.environ["PULSE_SOURCE"] = f"{name}.monitor"
    try:
        y = (0.3 * np.sin(np.arange(48000 * 2) / 7.0)).astype("<f4")
        for k in (1, 2):  # two bad stretches: still one warning
            y[k * 30000: k * 30000 + 100] = np.nan
        got = []
        with MicSource() as mic:
            time.sleep(0.5)
            player = subprocess.Popen(["pacat", f"--device={name}", "--format=float32le", "--rate=48000",
                                       "--channels=1"], stdin=subprocess.PIPE)
            player.communicate(y.tobytes(), timeout=30)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.0:
                got.append(mic.read())
                time.sleep(0.02)
            got.append(mic.read())
    finally:
        if old is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = old
        subprocess.run(["pactl", "unload-module", load.stdout.strip()], timeout=10, check=False)
    cap = np.concatenate(got)
    assert np.isfinite(cap).all() and np.abs(cap).max() > 0.2  # the tone came through, the NaN did not
    err = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert len(err) == 1 and "NaN or infinite samples set to silence" in err[0], err


@pytest.mark.audio
def test_playback_whose_restarts_never_play_ends_with_one_error_not_a_hang():
    """A playback stream that stops calling back and whose restarts are taken but never play (ALSA's pulse
    plugin with a corked stream: a 50-s benchmark show waited 19 min) ends in a DeviceError after
    MAX_FAILED_RESTARTS restarts without sound; a stream that plays again after a restart carries on."""
    from dancepose.realtime import audio_in

    y = (0.1 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE * 60) / SAMPLE_RATE)).astype(np.float32)
    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    src = audio_in.PlaybackSource(y)
    src.start()
    try:
        t0 = time.monotonic()
        while src.samples_read == 0 and time.monotonic() - t0 < 5:
            src.read()
            time.sleep(1 / DISPLAY_FPS)
        assert src.samples_read > 0
        # 1. one stall, a restart that plays: no error, the sound comes back
        src._stream.stop()
        before, t0 = src.samples_read, time.monotonic()
        while time.monotonic() - t0 < 8 and src.samples_read <= before + SAMPLE_RATE:  # a restart may take a few
            src.read()
            time.sleep(1 / DISPLAY_FPS)
        assert src.restarts >= 1 and src.samples_read > before + SAMPLE_RATE
        # 2. restarts that are taken and never play
        src._stream.stop()
        src._start_stream = lambda: None
        limit = audio_in.MAX_FAILED_RESTARTS * audio_in.STALL_RESTART_S + 5.0
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match="audio output stopped working"):
            while time.monotonic() - t0 < limit:
                src.read()
                time.sleep(1 / DISPLAY_FPS)
        assert time.monotonic() - t0 > audio_in.MAX_FAILED_RESTARTS * audio_in.STALL_RESTART_S - 1
    finally:
        src.stop()
