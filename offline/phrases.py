"""Cutting a person's clean motion into beat-long units: by the music's beats, or by the motion's own.

* With music (a video's soundtrack), the beats are the project's causal beat tracker run over the
  soundtrack (:func:`dancepose.models.features.music_features`: a beat where its phase wraps, the
  time interpolated within the frame), where it is confident; its grid is extended back over the
  seconds it needs to lock (its offline use).
* Without music, the motion's own rhythm: its *kinematic beats* (speed minima, Bailando) picked by a
  dynamic-programming beat tracker (Ellis 2007, as librosa's — written out here in numpy: librosa's
  compiles with numba on first use, half a minute) on the motion's "stillness" envelope, with the tempo
  from its autocorrelation, so the beats are regular (one tempo, the strongest minima) instead of every
  small dip.

Either way each beat is then moved to the deepest speed minimum within ``snap`` of a beat period, so a
unit runs from one kinematic beat to the next: played onto the beat the dancer hears, the person's
speed minima land on that beat.  Units shorter than ``min_unit_s`` or longer than ``max_unit_s`` are
not kept.

Speeds are forward differences of pelvis-relative joints (``np.gradient``'s central difference hides
frame-to-frame motion).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancepose.models.clock import MODEL_FPS
from dancepose.models.errors import ParameterError
from dancepose.models.skeleton import Joint


@dataclass(frozen=True)
class PhraseConfig:
    """How motion is cut into units (see the module docstring)."""

    snap: float = 0.25
    min_unit_s: float = 0.25
    max_unit_s: float = 1.5
    #: Music beats are those where the tracker's beat confidence is at least this …
    min_confidence: float = 0.3
    #: … and are used when they span at least this share of a stretch (else its kinematic beats).
    music_cover: float = 0.5
    #: Tempo prior of the kinematic beat tracker (BPM of the motion's beats).
    start_bpm: float = 100.0

    def __post_init__(self) -> None:
        if not (0 <= self.snap <= 0.5 and 0 < self.min_unit_s < self.max_unit_s and self.start_bpm > 0):
            raise ParameterError(f"invalid PhraseConfig {self}")


def motion_speed(poses: np.ndarray, *, fps: float = MODEL_FPS, sigma_s: float = 5.0 / 60.0) -> np.ndarray:
    """Mean joint speed of pelvis-relative joints, forward differences, Gaussian-smoothed (σ ``sigma_s``).

    poses [shape=(T, J, 2)] body units → [shape=(T,)] torso lengths per second.
    """
    from scipy import ndimage

    p = np.asarray(poses, dtype=np.float64)
    rel = p - p[:, Joint.PELVIS:Joint.PELVIS + 1]
    v = np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean(axis=1) * fps
    v = np.concatenate([v[:1], v]) if len(v) else np.zeros(len(p))
    return ndimage.gaussian_filter1d(v, sigma=sigma_s * fps, mode="nearest") if sigma_s > 0 else v


def snap_to_minima(beats: np.ndarray, speed: np.ndarray, *, period: float, snap: float) -> np.ndarray:
    """Move every beat (fractional frames) to the deepest local speed minimum within ``snap`` periods.

    Beats without a minimum in reach stay.  The minimum is refined to a fraction of a frame (parabola).
    Returns sorted, de-duplicated beats [shape=(n,)].
    """
    s = np.asarray(speed, dtype=np.float64)
    minima = np.flatnonzero((s[1:-1] < s[:-2]) & (s[1:-1] <= s[2:])) + 1
    out = []
    for b in np.asarray(beats, dtype=np.float64):
        near = minima[np.abs(minima - b) <= snap * period]
        if len(near) == 0:
            out.append(b)
            continue
        m = int(near[np.argmin(s[near])])
        den = s[m - 1] - 2 * s[m] + s[m + 1]
        out.append(m + (0.5 * (s[m - 1] - s[m + 1]) / den if den > 0 else 0.0))
    out = np.unique(np.round(np.array(out), 3))
    return out


def _tempo_period(env: np.ndarray, *, start_bpm: float, fps: float = MODEL_FPS,
                  bpm_range: tuple[float, float] = (60.0, 180.0)) -> float:
    """The envelope's beat period (frames): the autocorrelation peak weighted by a log-normal tempo
    prior (one octave around ``start_bpm``, as librosa's)."""
    x = env - env.mean()
    n = len(x)
    lo = max(2, int(np.floor(60.0 * fps / bpm_range[1])))
    hi = min((n - 2) // 4, int(np.ceil(60.0 * fps / bpm_range[0])))
    if hi <= lo:
        return 60.0 * fps / start_bpm
    nfft = int(2 ** np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, n=nfft)
    ac = np.fft.irfft(spec * np.conj(spec), n=nfft)[:4 * hi + 1] / np.arange(n, n - 4 * hi - 1, -1)
    ac = ac / max(ac[0], 1e-12)
    lags = np.arange(lo, hi + 1)
    # a comb over the first four multiples: the beat whose multiples also recur wins over a fraction of it
    comb = np.array([np.mean([ac[m * k] for m in (1, 2, 3, 4) if m * k <= 4 * hi]) for k in lags])
    prior = np.exp(-0.5 * np.log2(60.0 * fps / lags / start_bpm) ** 2)
    return float(lags[np.argmax(np.maximum(comb, 0.0) * prior)])


def track_beats(env: np.ndarray, *, period: float, tightness: float = 100.0) -> np.ndarray:
    """Dynamic-programming beat tracking (Ellis 2007): beat frames where ``env`` is high and the
    spacing stays near ``period`` frames.  env [shape=(T,)] → frames [shape=(n,)] int, sorted."""
    e = np.asarray(env, dtype=np.float64)
    e = e / (e.std() + 1e-12)
    n = len(e)
    score, back = e.copy(), np.full(n, -1)
    lo, hi = int(round(period / 2)), int(round(2 * period))
    for t in range(lo, n):
        p = np.arange(max(0, t - hi), t - lo + 1)
        if len(p) == 0:
            continue
        cand = score[p] - tightness * np.log((t - p) / period) ** 2
        k = int(np.argmax(cand))
        if cand[k] > 0:
            score[t] += cand[k]
            back[t] = p[k]
    tail = np.arange(max(0, n - int(round(period))), n)
    t = int(tail[np.argmax(score[tail])])
    beats = [t]
    while back[t] >= 0:
        t = int(back[t])
        beats.append(t)
    return np.array(beats[::-1], dtype=np.int64)


def kinematic_beat_frames(poses: np.ndarray, *, config: PhraseConfig = PhraseConfig()) -> np.ndarray:
    """The motion's own beats [shape=(n,)] fractional frames at MODEL_FPS: regular speed minima."""
    from scipy import ndimage

    speed = motion_speed(poses)
    if len(speed) < 2 * MODEL_FPS:
        return np.zeros(0)
    slow = ndimage.gaussian_filter1d(speed, sigma=0.5 * MODEL_FPS, mode="nearest")
    stillness = np.maximum(slow - speed, 0.0)
    if not np.any(stillness > 0):
        return np.zeros(0)
    period = _tempo_period(stillness, start_bpm=config.start_bpm)
    beats = track_beats(stillness, period=period).astype(np.float64)
    if len(beats) < 2:
        return beats
    return snap_to_minima(beats, speed, period=period, snap=config.snap)


def music_beat_times(audio: str | Path, *, seconds: float, min_confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Beats of a soundtrack from the causal tracker: (times s [shape=(n,)], confidence per model frame
    [shape=(T,)]) over its first ``seconds``; only beats where the confidence is ≥ ``min_confidence``."""
    from dancepose.models.audio import load_audio
    from dancepose.models.features import COL_BEAT_CONF, beat_phase, music_features
    from dancepose.offline.beats import phase_wrap_frames

    y = load_audio(audio, duration=seconds + 0.1)
    f = music_features(y=y)
    conf = f[:, COL_BEAT_CONF]
    idx, frac = phase_wrap_frames(beat_phase(features=f))
    keep = conf[idx + 1] >= min_confidence  # the confidence of the frame after the wrap
    return ((idx + frac) / MODEL_FPS)[keep], conf


def units_from_beats(beats: np.ndarray, *, n_frames: int, config: PhraseConfig = PhraseConfig()
                     ) -> list[tuple[float, float]]:
    """(start, end) fractional frames between consecutive beats inside ``[0, n_frames - 1]`` whose length
    is within ``min_unit_s``…``max_unit_s``; one frame is kept free at the start for velocities."""
    b = np.asarray(beats, dtype=np.float64)
    b = b[(b >= 1.0) & (b <= n_frames - 1)]
    out = []
    for s, e in zip(b[:-1], b[1:]):
        if config.min_unit_s * MODEL_FPS <= e - s <= config.max_unit_s * MODEL_FPS:
            out.append((float(s), float(e)))
    return out


def segment_stretch(poses: np.ndarray, *, offset_s: float, music: tuple[np.ndarray, np.ndarray] | None,
                    config: PhraseConfig = PhraseConfig()) -> tuple[list[tuple[float, float]], str]:
    """Units of one clean stretch and how it was cut (``"music"`` or ``"motion"``).

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
        The stretch in body units at MODEL_FPS.
    offset_s : float
        Time of its first frame in the source (for the music's beats).
    music : (beat times s, confidence per model frame) or None
        From :func:`music_beat_times`.
    """
    n = len(poses)
    speed = motion_speed(poses)
    if music is not None:
        beats = (music[0] - offset_s) * MODEL_FPS
        beats = beats[(beats >= 0) & (beats <= n - 1)]
        if len(beats) >= 3 and beats[-1] - beats[0] >= config.music_cover * n:
            # the causal tracker locks after a few seconds: its grid, at its median period, is extended
            # back to the stretch's start (and on to its end) — the offline use of a causal tracker
            period = float(np.median(np.diff(beats)))
            head = beats[0] - period * np.arange(int(beats[0] // period), 0, -1)
            tail = beats[-1] + period * np.arange(1, int((n - 1 - beats[-1]) // period) + 1)
            beats = snap_to_minima(np.concatenate([head, beats, tail]), speed, period=period, snap=config.snap)
            return units_from_beats(beats, n_frames=n, config=config), "music"
    beats = kinematic_beat_frames(poses, config=config)
    return units_from_beats(beats, n_frames=n, config=config), "motion"


__all__ = ["PhraseConfig", "kinematic_beat_frames", "motion_speed", "music_beat_times", "segment_stretch",
           "snap_to_minima", "units_from_beats"]
