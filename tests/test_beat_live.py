"""The beat tracker listening for real: a real song with pink noise (10 dB SNR) is played into the
PulseAudio server of ``.ci/pulse.sh`` (into a null sink of the test's own, so that other programs
playing into the default sink do not mix in) and captured through the project's microphone source
(:class:`dancepose.realtime.audio_in.MicSource`) feeding a :class:`FeatureStream`, as live does.

The capture is aligned to the played song a quarter second at a time by normalised cross-correlation of
the audio (not the beats): on a busy machine the player under-runs and the capture holds gaps, so each
captured window gets its own lag.  The beats where the live phase wraps are moved onto the song by the lag
of their window and scored against the song's reference beats where the capture covers it (at least half
of the song): F ≥ 0.75 after the first 5 s.  The same scoring fails on wrong input (reference beats half a
beat off; another signal in place of the song), so the test can fail.
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


@pytest.mark.audio
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
        # The song comes from outside the machine in real life (a DJ, a band): its player runs at the sound
        # server's priority (nice -10; without the right to, nice runs it as it is) so that the machine's
        # work starves the tracker under test, not the music.
        player = subprocess.Popen(["nice", "-n", "-10", "paplay", f"--device={private_sink}", "--latency-msec=1000",
                                   str(wav)])
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
    placed = align_capture(y, cap)
    beats = tracker_output(f)["beats"]  # where the live phase wraps, in seconds of capture
    s, n_ref, covered = score_on_song(beats, placed, ref, n_song=len(y))
    assert covered >= 0.5, f"only {covered:.0%} of the song found in the capture ({len(placed)} windows)"
    assert s["F"] >= 0.75, (s, n_ref, covered, xruns)
    # The same alignment and scoring reject wrong input: they can fail.
    period = float(np.median(np.diff(ref[:, 0])))
    off_beat, _, _ = score_on_song(beats, placed, ref + [period / 2, 0.0], n_song=len(y))
    assert off_beat["F"] < 0.5, off_beat  # the tracker's beats are on the song's beats, not between them
    assert len(align_capture(y[::-1].copy(), cap)) < 0.1 * len(placed)  # another signal is not found


# ----------------------------------------------------------------------------------------- alignment
WIN = SAMPLE_RATE // 2
HOP = SAMPLE_RATE // 4


def _ncc(seg: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``a`` at every position of ``seg`` (len(seg) - len(a) + 1 values)."""
    win = len(a)
    n = 1 << int(np.ceil(np.log2(len(seg) + win)))
    xc = np.fft.irfft(np.fft.rfft(seg, n) * np.conj(np.fft.rfft(a, n)), n)[: len(seg) - win + 1]
    c2 = np.concatenate([[0.0], np.cumsum(seg.astype(np.float64) ** 2)])
    energy = np.sqrt(np.maximum(c2[win:] - c2[:-win], 1e-12))[: len(xc)]
    return xc / (energy * max(float(np.linalg.norm(a)), 1e-12))


def align_capture(y: np.ndarray, cap: np.ndarray, *, r_min: float = 0.7,
                  start_lag_s: tuple[float, float] = (-0.5, 3.0)) -> list[tuple[int, int]]:
    """Where each half second of the capture is in the song: ``[(capture start, lag)]``, lag = capture
    sample − song sample, for the windows found with certainty: normalised correlation above ``r_min``
    and the next window (a quarter second on) found at the same lag, within 10 ms.

    Aligned on what was captured, a quarter second at a time: on a busy machine the player under-runs
    (silence inserted: the lag grows) and the capture drops blocks (the lag shrinks), so the lag moves in
    steps; a window holding a step is simply not placed.  (Searching each *second of the song* in the
    capture lost every second holding a step: 14 s of 40 were found at load 3.5.)  Music repeats, so the
    lag is searched where it can be: near the song's start (``start_lag_s``: a null sink's monitor delivers
    nothing while the sink is idle, so the capture may start with the song's first block, measured 7.5 ms
    late), and after that within half a second of the last lag placed, a quarter second wider for every
    second since.
    """
    placed: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None  # a window found, waiting for its neighbour to agree
    for s in range(0, len(cap) - WIN, HOP):
        c = cap[s:s + WIN]
        if float(np.sqrt(np.mean(c ** 2))) < 1e-3:
            pending = None
            continue  # silence before the song or in a gap: nothing to place
        if placed:
            last_s, last_lag = placed[-1]
            reach = SAMPLE_RATE // 2 + (s - last_s) // 4
            lo_lag, hi_lag = last_lag - reach, last_lag + reach
        else:
            lo_lag, hi_lag = (int(v * SAMPLE_RATE) for v in start_lag_s)
        lo = max(0, s - hi_lag)  # song positions s - lag for lag in [lo_lag, hi_lag]
        seg = y[lo: max(0, s - lo_lag) + WIN]
        if len(seg) < WIN:
            pending = None
            continue
        r = _ncc(seg, c)
        k = int(np.argmax(r))
        found = (s, s - (lo + k)) if r[k] > r_min else None
        if found and pending and abs(found[1] - pending[1]) <= SAMPLE_RATE // 100:
            if not placed or placed[-1][0] != pending[0]:
                placed.append(pending)
            placed.append(found)
        pending = found
    return placed


def score_on_song(est_s: np.ndarray, placed: list[tuple[int, int]], ref: np.ndarray, *,
                  n_song: int) -> tuple[dict, int, float]:
    """Beats found in the capture (``est_s``, seconds of capture) moved onto the song by the lag of the
    window they fall in, scored against the reference beats of the song covered by placed windows.

    Returns (mir_eval scores, reference beats scored, share of the song covered).
    """
    est = np.asarray(est_s, np.float64) * SAMPLE_RATE
    cov = np.zeros(n_song, bool)
    for s, lag in placed:
        cov[max(0, s - lag): max(0, s - lag + WIN)] = True
    starts = np.array([s for s, _ in placed], dtype=np.int64)
    lags = np.array([lag for _, lag in placed], dtype=np.int64)
    on_song = []
    for e in est:
        i = int(np.searchsorted(starts, e, side="right")) - 1
        if i >= 0 and e < starts[i] + WIN:
            on_song.append(e - lags[i])
    ref_s = ref[:, 0] * SAMPLE_RATE
    ref_s = ref_s[ref_s < n_song]
    ref_in = ref_s[cov[ref_s.astype(np.int64)]]
    # windows overlap and the lag steps between them: one beat can land twice, a few ms apart
    on_song = np.unique(np.round(np.asarray(on_song, np.float64) / (0.01 * SAMPLE_RATE))) * 0.01
    s = _scores(ref_in / SAMPLE_RATE, on_song)
    return s, len(ref_in), float(cov.mean())


def test_alignment_places_a_capture_with_gaps_and_rejects_a_wrong_one(shared_data):
    """The alignment and scoring alone, no sound server, on a song "captured" with the damage a busy
    machine does (a late start, under-run gaps of silence, dropped blocks, noise) where the truth is known:
    every window placed is at its true lag, the song's own beats carried into the capture score F = 1 and
    half a beat off F < 0.5, and a reversed signal is not placed."""
    y, ref = song(shared_data, "DANCE_C_7", 40.0, 30.0)
    y = (0.5 * y / np.abs(y).max()).astype(np.float32)
    rng = np.random.default_rng(1)
    parts, pieces, pos, at = [np.zeros(SAMPLE_RATE // 3, np.float32)], [], 0, SAMPLE_RATE // 3
    while pos < len(y):  # about what load 20 did to a real capture: 9 steps of 10-250 ms in 30 s
        n = min(int(rng.uniform(2.0, 5.0) * SAMPLE_RATE), len(y) - pos)
        parts.append(y[pos:pos + n])
        pieces.append((at, pos, n))  # capture start, song start, length
        at += n
        if rng.random() < 0.8:
            gap = int(rng.uniform(0.01, 0.25) * SAMPLE_RATE)  # under-run: silence inserted
            parts.append(np.zeros(gap, np.float32))
            at += gap
        pos += n + (int(rng.uniform(0.01, 0.05) * SAMPLE_RATE) if rng.random() < 0.2 else 0)  # dropped
    cap = add_noise(np.concatenate(parts), snr_db=20.0, rng=rng).astype(np.float32)

    def true_lags(c0: int) -> set[int]:
        """The lags of the song pieces a window starting at capture sample c0 overlaps (two at a step)."""
        return {a - p for a, p, n in pieces if a < c0 + WIN and c0 < a + n}

    placed = align_capture(y, cap)
    assert all(lag in true_lags(c0) for c0, lag in placed), [(c0, lag, true_lags(c0)) for c0, lag in placed]
    in_capture = [b * SAMPLE_RATE + a - p for a, p, n in pieces for b in ref[:, 0]
                  if p <= b * SAMPLE_RATE < p + n]
    s, n_ref, covered = score_on_song(np.array(in_capture) / SAMPLE_RATE, placed, ref, n_song=len(y))
    assert covered >= 0.8 and s["F"] >= 0.98 and n_ref >= 40, (s, covered, n_ref)
    half = float(np.median(np.diff(ref[:, 0]))) / 2
    off_beat, _, _ = score_on_song(np.array(in_capture) / SAMPLE_RATE + half, placed, ref, n_song=len(y))
    assert off_beat["F"] < 0.5
    assert len(align_capture(y[::-1].copy(), cap)) < 0.1 * len(placed)
