"""Cleaning of extracted pose tracks: gap filling and One-Euro temporal smoothing.

* Joints below ``min_confidence`` (or NaN) are gaps.  Interior gaps of at most ``max_gap_seconds`` are
  linearly interpolated (flag ``INTERPOLATED``); longer gaps and gaps at either end are ``MISSING``
  (keypoints NaN, confidence 0).
* Observed and interpolated runs are then smoothed with the One-Euro filter (Casiez, Roussel & Vogel,
  CHI 2012), restarting after every missing stretch.  Speeds are measured in image heights per second so
  the parameters do not depend on the resolution.  Offline there is no need to be causal: by default
  the filter runs forward and backward in time and the two are averaged, which cancels its lag
  (``CleanConfig.zero_phase``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from dancepose.models.errors import ParameterError
from dancepose.models.posefile import INTERPOLATED, MISSING, OBSERVED, PoseSequence


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro filter parameters.

    Attributes
    ----------
    min_cutoff : float
        Cut-off frequency (Hz) at rest: lower = smoother but more lag when slow.
    beta : float
        Speed coefficient: the cut-off rises by ``beta`` Hz per unit of speed (image heights per second,
        see :func:`clean_sequence`); higher = less lag on fast moves.
    d_cutoff : float
        Cut-off frequency (Hz) of the speed estimate.
    """

    min_cutoff: float = 1.5
    beta: float = 5.0
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ParameterError(f"OneEuroConfig needs min_cutoff > 0, d_cutoff > 0, beta >= 0, got {self}")


@dataclass(frozen=True)
class CleanConfig:
    """Cleaning parameters.

    Attributes
    ----------
    min_confidence : float
        Joints with lower confidence count as not observed.
    max_gap_seconds : float
        Longest gap that is interpolated; longer gaps are flagged ``MISSING``.
    smoothing : OneEuroConfig or None
        One-Euro parameters; ``None`` disables smoothing.
    zero_phase : bool
        Average a forward and a backward pass (no lag; offline only).  False = causal forward pass.
    """

    min_confidence: float = 0.3
    max_gap_seconds: float = 0.5
    smoothing: OneEuroConfig | None = OneEuroConfig()
    zero_phase: bool = True


def fill_gaps(*, keypoints: np.ndarray, confidence: np.ndarray, fps: float, min_confidence: float = 0.3,
              max_gap_seconds: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linearly interpolate short gaps per joint; flag the rest missing.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, J, D)]
        Coordinates; NaN = not detected.
    confidence : np.ndarray [shape=(T, J)]
    fps : float
        Frames per second (converts ``max_gap_seconds`` to frames, ``floor``).
    min_confidence : float
    max_gap_seconds : float

    Returns
    -------
    keypoints : np.ndarray [shape=(T, J, D)] float32, NaN where missing
    confidence : np.ndarray [shape=(T, J)] float32, linearly interpolated in gaps, 0 where missing
    flags : np.ndarray [shape=(T, J)] uint8, OBSERVED / INTERPOLATED / MISSING
    """
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    conf = np.array(confidence, dtype=np.float32, copy=True)
    if kp.ndim != 3 or conf.shape != kp.shape[:2]:
        raise ParameterError(f"keypoints (T, J, D) and confidence (T, J) expected, got {kp.shape}, {conf.shape}")
    if fps <= 0 or max_gap_seconds < 0:
        raise ParameterError("fps must be > 0 and max_gap_seconds >= 0")
    max_gap = int(math.floor(max_gap_seconds * fps + 1e-9))
    t_len, n_j = conf.shape
    observed = np.isfinite(kp).all(-1) & (conf >= min_confidence)
    flags = np.where(observed, OBSERVED, MISSING).astype(np.uint8)
    t = np.arange(t_len)
    for j in range(n_j):
        obs = np.flatnonzero(observed[:, j])
        if len(obs) == 0:
            continue
        gaps = np.flatnonzero(np.diff(obs) > 1)
        for g in gaps:
            a, b = obs[g], obs[g + 1]
            if b - a - 1 <= max_gap:
                w = ((t[a + 1:b] - a) / float(b - a)).astype(np.float32)
                kp[a + 1:b, j] = (1 - w)[:, None] * kp[a, j] + w[:, None] * kp[b, j]
                conf[a + 1:b, j] = (1 - w) * conf[a, j] + w * conf[b, j]
                flags[a + 1:b, j] = INTERPOLATED
    missing = flags == MISSING
    kp[missing] = np.nan
    conf[missing] = 0.0
    return kp, conf, flags


def one_euro(*, x: np.ndarray, fps: float, config: OneEuroConfig = OneEuroConfig(),
             valid: np.ndarray | None = None) -> np.ndarray:
    """One-Euro filter along axis 0, independently for every other element.

    Parameters
    ----------
    x : np.ndarray [shape=(T, ...)]
        Signal; NaN entries are left NaN and restart the filter after them.
    fps : float
        Sampling rate (Hz).
    config : OneEuroConfig
    valid : np.ndarray [shape=(T, ...)] bool or None
        Where the signal may be used (default: finite entries).  The filter restarts after invalid entries.

    Returns
    -------
    np.ndarray [shape=x.shape] float32
    """
    x = np.asarray(x, dtype=np.float64)
    if fps <= 0:
        raise ParameterError(f"fps must be > 0, got {fps}")
    valid = np.isfinite(x) if valid is None else (np.asarray(valid, bool) & np.isfinite(x))
    dt = 1.0 / fps

    def alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    a_d = alpha(config.d_cutoff)
    out = np.full(x.shape, np.nan)
    prev_x = np.zeros(x.shape[1:])
    prev_dx = np.zeros(x.shape[1:])
    started = np.zeros(x.shape[1:], dtype=bool)
    for t in range(x.shape[0]):
        v = valid[t]
        xt = np.where(v, x[t], 0.0)
        dx = np.where(started, (xt - prev_x) / dt, 0.0)
        dx_hat = a_d * dx + (1 - a_d) * prev_dx
        cutoff = config.min_cutoff + config.beta * np.abs(dx_hat)
        a = alpha(cutoff)
        x_hat = np.where(started, a * xt + (1 - a) * prev_x, xt)
        prev_x = np.where(v, x_hat, prev_x)
        prev_dx = np.where(v, np.where(started, dx_hat, 0.0), prev_dx)
        out[t] = np.where(v, x_hat, np.nan)
        started = v
    return out.astype(np.float32)


def clean_sequence(seq: PoseSequence, *, config: CleanConfig = CleanConfig()) -> PoseSequence:
    """Gap filling then One-Euro smoothing of a whole sequence (returns a new one).

    Parameters
    ----------
    seq : PoseSequence
        keypoints (T, J, 2) in pixels, confidence (T, J).
    config : CleanConfig

    Returns
    -------
    PoseSequence with filled/flagged gaps and smoothed keypoints (NaN where ``MISSING``).

    Coordinates are smoothed in units of the image height (``seq.image_size[1]``), so ``beta`` is per
    image-height-per-second whatever the resolution.
    """
    kp, conf, flags = fill_gaps(keypoints=seq.keypoints, confidence=seq.confidence, fps=seq.fps,
                                min_confidence=config.min_confidence, max_gap_seconds=config.max_gap_seconds)
    if config.smoothing is not None and len(kp):
        scale = float(max(seq.image_size[1], 1))
        valid = np.repeat((flags != MISSING)[..., None], kp.shape[-1], axis=-1)
        x = kp / scale
        y = one_euro(x=x, fps=seq.fps, config=config.smoothing, valid=valid)
        if config.zero_phase:
            y = 0.5 * (y + one_euro(x=x[::-1], fps=seq.fps, config=config.smoothing, valid=valid[::-1])[::-1])
        kp = y * scale
    return replace(seq, keypoints=kp.astype(np.float32), confidence=conf, flags=flags)
