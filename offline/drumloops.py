"""Synthesised drum loops for controlled reactivity tests (tempo, silence gaps, quiet vs loud).

Everything is numpy and deterministic for a given ``seed``: a kick (pitch-swept sine, 150 → 45 Hz), a
snare (band-limited noise + 185 Hz body) and a closed hi-hat (high-passed noise).  The pattern is a
4/4 "four on the floor" beat: kick on every beat, snare on 2 and 4, hats on every eighth note (quiet), so the
quarter-note pulse dominates and ``librosa.beat.beat_track`` finds the requested tempo.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from dancepose.models.clock import SAMPLE_RATE
from dancepose.models.errors import ParameterError

#: The tempi of the tempo-following test (BPM).
TEST_TEMPI: tuple[int, ...] = (80, 100, 120, 140, 160)


@dataclass(frozen=True)
class Section:
    """A stretch of a test track: ``start_s``–``end_s``, music on or off, gain in dB."""

    start_s: float
    end_s: float
    music: bool
    gain_db: float = 0.0


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    freq = 45.0 + 105.0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * np.exp(-t / 0.07)).astype(np.float64)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * sr)) / sr
    b, a = signal.butter(2, [1500 / (sr / 2), min(0.95, 7000 / (sr / 2))], btype="band")
    noise = signal.lfilter(b, a, rng.standard_normal(t.size)) * np.exp(-t / 0.05)
    body = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.03)
    x = 1.6 * noise + 0.5 * body
    return x / np.max(np.abs(x))


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.05 * sr)) / sr
    b, a = signal.butter(4, min(0.95, 7000 / (sr / 2)), btype="high")
    x = signal.lfilter(b, a, rng.standard_normal(t.size)) * np.exp(-t / 0.012)
    return x / np.max(np.abs(x))


def drum_loop(*, bpm: float, seconds: float, sr: int = SAMPLE_RATE, seed: int = 0,
              gain_db: float = 0.0) -> np.ndarray:
    """A 4/4 drum loop.

    Parameters
    ----------
    bpm : float
        Tempo in beats (quarter notes) per minute, 30–300.
    seconds : float
        Length.
    sr : int
        Sample rate (default ``clock.SAMPLE_RATE``).
    seed : int
        Seed of the noise in snare and hats.
    gain_db : float
        Overall gain; 0 dB peaks near −3 dBFS.

    Returns
    -------
    np.ndarray [shape=(round(seconds * sr),)] float32 mono.  Beat ``k`` starts at ``k · 60 / bpm`` s.
    """
    if not 30 <= bpm <= 300:
        raise ParameterError(f"bpm must be within 30–300, got {bpm}")
    if seconds <= 0:
        raise ParameterError(f"seconds must be positive, got {seconds}")
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    y = np.zeros(n + sr, dtype=np.float64)
    kick, snare, hat = _kick(sr), _snare(sr, rng), _hat(sr, rng)
    beat = 60.0 / bpm
    n_eighths = int(np.ceil(seconds / (beat / 2)))
    for e in range(n_eighths):
        start = int(round(e * beat / 2 * sr))
        if start >= n:
            break
        if e % 2 == 0:
            q = e // 2
            y[start:start + kick.size] += kick
            if q % 2 == 1:
                y[start:start + snare.size] += 0.25 * snare
        y[start:start + hat.size] += 0.25 * hat
    y = y[:n]
    y *= 0.7 / max(1e-9, np.max(np.abs(y)))
    return (y * 10 ** (gain_db / 20)).astype(np.float32)


def sectioned_loop(*, bpm: float, sections: tuple[Section, ...], sr: int = SAMPLE_RATE,
                   seed: int = 0) -> np.ndarray:
    """One continuous loop (the beat grid never restarts) gated and scaled by ``sections``.

    Returns float32 ``(round(sections[-1].end_s * sr),)``; silent sections are exact zeros.
    """
    if not sections:
        raise ParameterError("sections must not be empty")
    total = sections[-1].end_s
    y = drum_loop(bpm=bpm, seconds=total, sr=sr, seed=seed).astype(np.float64)
    gain = np.zeros_like(y)
    for s in sections:
        a, b = int(round(s.start_s * sr)), int(round(s.end_s * sr))
        gain[a:b] = 10 ** (s.gain_db / 20) if s.music else 0.0
    return (y * gain).astype(np.float32)


def gap_sections(*, music_s: float = 8.0, silence_s: float = 4.0, repeats: int = 2) -> tuple[Section, ...]:
    """Music, silence, music, silence … music (``repeats`` gaps)."""
    out, t = [], 0.0
    for _ in range(repeats):
        out += [Section(t, t + music_s, True), Section(t + music_s, t + music_s + silence_s, False)]
        t += music_s + silence_s
    out.append(Section(t, t + music_s, True))
    return tuple(out)


def dynamics_sections(*, section_s: float = 8.0, quiet_db: float = -20.0,
                      repeats: int = 2) -> tuple[Section, ...]:
    """Alternating quiet (``quiet_db``) and loud (0 dB) sections, starting quiet."""
    out = []
    for k in range(2 * repeats):
        out.append(Section(k * section_s, (k + 1) * section_s, True, quiet_db if k % 2 == 0 else 0.0))
    return tuple(out)


def section_mask(*, sections: tuple[Section, ...], n_frames: int, fps: float,
                 key: str = "music") -> np.ndarray:
    """Per-frame value of a section attribute (``"music"`` → bool, ``"gain_db"`` → float; ``(n_frames,)``).

    Frame ``t`` is at time ``t / fps``; frames after the last section get False / −inf.
    """
    t = np.arange(n_frames) / fps
    if key == "music":
        out = np.zeros(n_frames, dtype=bool)
    elif key == "gain_db":
        out = np.full(n_frames, -np.inf)
    else:
        raise ParameterError(f"key must be 'music' or 'gain_db', got {key!r}")
    for s in sections:
        sel = (t >= s.start_s) & (t < s.end_s)
        out[sel] = s.music if key == "music" else (s.gain_db if s.music else -np.inf)
    return out
