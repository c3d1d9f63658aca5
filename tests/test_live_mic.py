"""dancepose-live listening for real through the PulseAudio null sink (``.ci/pulse.sh``).

A click track (120 BPM, 12 s) is played into the sink while ``dancepose-live --input mic`` runs
headless.  From the logged figure: its motion energy follows the clicks (high while they play, low
before and after), its rise and fall locks onto the click rate (a strong spectral line of the vertical
motion at 2 Hz, and its strongest line at a whole number of beats, within 5 %), and it settles within
about a second of silence.
"""
from __future__ import annotations

import subprocess
import time
import wave

import numpy as np
import pytest

from dancepose.models.clock import SAMPLE_RATE
from dancepose.offline.evaluation.score import EvalConfig
from dancepose.offline.metrics import tempo_match

from live_helpers import click_track, live_cmd, live_env, model_args, motion_speed, pulse_ready

pytestmark = [pytest.mark.audio, pytest.mark.display]

#: Length of the click track (s).  The rise and fall's period is read from its last 11 s: over 7 s (an 8-s
#: track) the spectrum's resolution (1 / 7 Hz) was coarser than the 5 % asked of the 1-Hz sway, whose peak
#: landed at 1.055 Hz in 1 of 5 runs (0.99–2.00 in the others).
CLICKS_S = 12.0
#: The click rate (120 BPM) and the whole numbers of beats a motion period may span (the report card's).
CLICK_HZ = 2.0
BAR_BEATS = tuple(m for m in EvalConfig().song_octaves if m >= 1.0)


def test_mic_figure_follows_clicks_and_settles(tmp_path):
    if not pulse_ready():
        pytest.skip("no PulseAudio server (run .ci/pulse.sh)")
    y, clicks = click_track(seconds=CLICKS_S)
    wav = tmp_path / "clicks.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((y * 32767).astype("<i2").tobytes())
    csv, poses = tmp_path / "t.csv", tmp_path / "p.npz"
    # --groove: the bounce marks every beat.  The shipped spread repeats every *bar*, and unaccented clicks
    # leave the meter open (3 or 4) within 7 s: without the bounce the vertical line was at 1 Hz twice and
    # at 1.37 Hz (a 3-beat bar changing to 2) once in three runs.  Its tempo following is tested on drum
    # loops (test_dancer, the report card).
    proc = subprocess.Popen(live_cmd("--input", "mic", *model_args(), "--groove", "--headless", "--size", "320x240",
                                     "--duration", str(int(CLICKS_S + 6)), "--log-timings", str(csv),
                                     "--log-poses", str(poses)),
                            env=live_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.5)  # start-up + the null sink's monitor warming up
        assert proc.poll() is None, proc.communicate()[1]
        t_play = time.monotonic()
        subprocess.run(["paplay", str(wav)], check=True, timeout=30)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    z = np.load(poses)
    t, speed = motion_speed(z["wall_time"], z["poses"])
    t = t - t_play
    during = (t > 0.5) & (t < CLICKS_S)
    assert during.sum() > 100
    # 1. Motion follows the clicks being there: nearly still before them, at half its pace within 6 s of
    # the first click (the tempo locks; 2.0–4.5 s over 18 runs; a correlation of the smoothed speed with
    # the clicks' presence, used before, swung 0.47–0.76 with this ramp: below its 0.5 bound once).
    moving = speed[(t > 1.0) & (t < CLICKS_S)].mean()
    still = speed[(t > -2.0) & (t < 0.0)].mean()
    assert still < 0.1 * moving, (still, moving)            # 0.009–0.025 × in 18 runs
    pace = speed[(t > CLICKS_S - 6.0) & (t < CLICKS_S)].mean()
    second = np.array([speed[(t > s0) & (t < s0 + 1.0)].mean() for s0 in np.arange(1.0, 6.01, 0.5)])
    assert (second >= 0.5 * pace).any(), (second, pace)     # a 1-s window starting by 6 s at half pace
    # 2. The figure's rise and fall locks onto the click rate.
    grid = np.arange(t_play + 1.0, t_play + CLICKS_S, 1 / 60.0)
    wt = z["wall_time"]
    y_mean = np.interp(grid, wt, z["poses"][..., 1].mean(axis=1))
    y_mean = y_mean - np.convolve(y_mean, np.ones(60) / 60, mode="same")
    spec = np.abs(np.fft.rfft(y_mean * np.hanning(len(y_mean)), n=8192)) ** 2
    freqs = np.fft.rfftfreq(8192, 1 / 60.0)
    band = (freqs > 0.4) & (freqs < 4.0)
    floor = np.median(spec[band])

    def line(hz: float) -> float:
        """The strongest power within 5 % of ``hz``, over the band's median power."""
        return spec[np.abs(freqs - hz) <= 0.05 * hz].max() / floor

    # The bounce marks every tracked beat: a line at the click rate.  Over 11 runs alone on the machine it
    # stood 167–586 × the band's median; unrelated rates (1.37, 1.5, 2.5, 3 Hz) 0.2–20 ×.
    assert line(CLICK_HZ) >= 50.0, line(CLICK_HZ)
    # The strongest line is a whole number of beats, as the report card counts tempo following: the bounce,
    # the sway every two beats, or a bar of 3 or 4 (unaccented clicks leave the meter open; a 3-beat bar
    # once took the top line at 0.674 Hz).  A tempo not locked to the clicks (1.37 Hz, 0.74 Hz seen
    # before --groove and beside a busy neighbour) or the learned motion's own ≈ 0.4 Hz cycle fails.
    peak = freqs[band][np.argmax(spec[band])]
    match = tempo_match(motion_period_s=1.0 / peak, beat_period_s=1.0 / CLICK_HZ, tolerance=0.05,
                        octaves=BAR_BEATS)
    assert match["followed"], (peak, match)
    # 3. Silence after the clicks: the figure settles into the idle sway within about a second.
    settled = speed[(t > CLICKS_S + 1.0) & (t < CLICKS_S + 2.5)].mean()
    assert settled < 0.5 * moving, (moving, settled)
