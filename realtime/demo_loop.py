"""The built-in demo music (``--input demo``): a drum-and-bass loop synthesised with numpy on start.

Kick, snare, closed hi-hat and a bass line at 120 BPM, 16 bars (32 s) with a musical change every four
bars (full groove → half-time breakdown with open bass → busier hats and a new bass riff → a
drum fill and a one-bar stop), so the dancer has beats, tempo feel changes and a short silence to react
to on a fresh machine without any files.  Synthesis takes a few tens of milliseconds.
"""
from __future__ import annotations

import numpy as np

from dancepose.models.clock import SAMPLE_RATE

#: Tempo of the demo loop.
DEMO_BPM: float = 120.0
#: Bars in the loop (4/4).
DEMO_BARS: int = 16


def _env(n: int, tau_s: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau_s * sr)).astype(np.float32)


def _kick(sr: int) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    freq = 45.0 + 110.0 * np.exp(-t / 0.04)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * _env(n, 0.12, sr)).astype(np.float32)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.22 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n).astype(np.float32)
    noise = np.diff(noise, prepend=0.0).astype(np.float32) * 0.6  # brighter
    tone = np.sin(2 * np.pi * 190.0 * t).astype(np.float32)
    return (0.7 * noise * _env(n, 0.05, sr) + 0.5 * tone * _env(n, 0.03, sr)).astype(np.float32)


def _hat(sr: int, rng: np.random.Generator, *, open_: bool = False) -> np.ndarray:
    n = int((0.25 if open_ else 0.05) * sr)
    noise = rng.standard_normal(n).astype(np.float32)
    hp = np.diff(np.diff(noise, prepend=0.0), prepend=0.0).astype(np.float32) * 0.25
    return hp * _env(n, 0.08 if open_ else 0.012, sr)


def _bass_note(midi: int, dur_s: float, sr: int) -> np.ndarray:
    n = int(dur_s * sr)
    t = np.arange(n) / sr
    f = 440.0 * 2 ** ((midi - 69) / 12)
    saw = 2.0 * ((f * t) % 1.0) - 1.0
    sub = np.sin(2 * np.pi * f * t)
    env = np.minimum(1.0, np.arange(n) / (0.005 * sr)) * _env(n, 0.25, sr)
    tail = np.minimum(1.0, (n - np.arange(n)) / (0.01 * sr))
    return ((0.35 * saw + 0.65 * sub) * env * tail).astype(np.float32)


def _add(y: np.ndarray, x: np.ndarray, at: int, gain: float) -> None:
    end = min(len(y), at + len(x))
    if at < end:
        y[at:end] += gain * x[: end - at]


def demo_loop(*, sr: int = SAMPLE_RATE, bpm: float = DEMO_BPM, bars: int = DEMO_BARS,
              seed: int = 0) -> np.ndarray:
    """Synthesise the demo loop.

    Parameters
    ----------
    sr : int
        Sample rate (default: the dancepose ``SAMPLE_RATE``).
    bpm : float
        Tempo.
    bars : int
        Length in 4/4 bars; the arrangement changes every 4 bars.
    seed : int
        Noise seed (drums).

    Returns
    -------
    np.ndarray [shape=(round(bars * 4 * 60 / bpm * sr),)] float32 mono in [-1, 1]; loops seamlessly.
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    n = int(round(bars * 4 * beat * sr))
    y = np.zeros(n, dtype=np.float32)
    kick, snare = _kick(sr), _snare(sr, rng)
    hat, ohat = _hat(sr, rng), _hat(sr, rng, open_=True)
    riffs = ([33, 33, 45, 33, 36, 36, 38, 40], [28, 40, 28, 31, 33, 45, 33, 31],
             [33, 0, 36, 0, 38, 0, 31, 0])

    def at(bar: int, beat_pos: float) -> int:
        return int(round((bar * 4 + beat_pos) * beat * sr))

    for bar in range(bars):
        section = (bar // 4) % 4
        last_bar_of_loop = bar == bars - 1
        if last_bar_of_loop:  # one bar of near silence: the dancer settles, then the loop restarts
            _add(y, kick, at(bar, 0), 0.9)
            continue
        if section == 0:  # groove: four on the floor, backbeat, 8th hats
            for b in range(4):
                _add(y, kick, at(bar, b), 0.9)
            for b in (1, 3):
                _add(y, snare, at(bar, b), 0.6)
            for e in range(8):
                _add(y, hat, at(bar, e / 2), 0.35 if e % 2 else 0.2)
            riff = riffs[0]
        elif section == 1:  # half-time breakdown: kick on 1, snare on 3, open hats
            _add(y, kick, at(bar, 0), 0.9)
            _add(y, kick, at(bar, 2.5), 0.6)
            _add(y, snare, at(bar, 2), 0.6)
            for b in range(4):
                _add(y, ohat, at(bar, b + 0.5), 0.2)
            riff = riffs[2]
        elif section == 2:  # busier: 16th hats, syncopated kick, new riff
            for b in (0, 1.5, 2, 3.5):
                _add(y, kick, at(bar, b), 0.9)
            for b in (1, 3):
                _add(y, snare, at(bar, b), 0.65)
            for s in range(16):
                _add(y, hat, at(bar, s / 4), 0.3 if s % 2 == 0 else 0.15)
            riff = riffs[1]
        else:  # groove again, with a snare fill in the 4th bar of the section
            for b in range(4):
                _add(y, kick, at(bar, b), 0.9)
            for b in (1, 3):
                _add(y, snare, at(bar, b), 0.6)
            if bar % 4 == 3:
                for s in range(8):
                    _add(y, snare, at(bar, 2 + s / 4), 0.3 + 0.04 * s)
            for e in range(8):
                _add(y, hat, at(bar, e / 2), 0.3)
            riff = riffs[0]
        for e, note in enumerate(riff):
            if note:
                _add(y, _bass_note(note, 0.45 * beat, sr), at(bar, e / 2), 0.45)
    peak = float(np.max(np.abs(y)))
    if peak > 0:
        y *= 0.8 / peak
    return y
