"""Dance metrics on 2D pose arrays: beat alignment, tempo, kinetic features, FID_k, diversity, sanity.

Every function is keyword-only, pure numpy/scipy and works on canonical poses ``(T, J, 2)`` in
*normalised body units* (torso length ≈ 1, y down) at a given ``fps``.  Use :func:`normalise_poses` to
bring pixel or centimetre tracks to those units and :func:`resample_poses` to compare tracks recorded at
different rates (the report resamples everything to ``clock.MODEL_FPS``).

Definitions
-----------
Every derivative is a **forward difference** (``p[t+1] − p[t]``), never a central one (``np.gradient``):
a central difference has zero response at the frame-rate Nyquist, so a figure alternating between two
poses every frame would look still to it — the jitter a viewer sees first.

* **Mean joint speed** ``v(t)``: mean over joints of ``|p[t+1] − p[t]| · fps`` (torso lengths per
  second), the step from frame t to t + 1, at time (t + ½) / fps.
* **Kinematic beats** (Bailando, Li et al. 2022): local minima of ``v(t)`` smoothed by a Gaussian of
  σ = 83 ms (5 frames at 60 fps).
* **Jitter** (:func:`high_frequency_share`): the share of the pose's power above 4 Hz — pelvis-relative
  joint coordinates in torso lengths, Welch power spectral density (Hann segments of 4 s, half
  overlapping, linear detrend per segment), summed over every joint coordinate; compared with real dance
  on the same songs.  Real dance on this skeleton: ≈ 10⁻⁴.
* **Step ratio** (:func:`step_ratio`): mean forward-difference step ÷ mean central-difference step
  (half of ``p[t+1] − p[t−1]``), pelvis-relative: ≈ 1.01 for smooth motion, 2–4 for a figure that
  alternates 1 % of its height every frame.
* **Beat Align Score** (Bailando): ``mean over music beats b of exp(-d(b)² / 2σ²)``, σ = 50 ms, with
  ``d(b)`` the distance from ``b`` to the nearest kinematic beat.
* **Beat phase**: phase of each kinematic beat inside the music-beat interval that contains it (0 = on
  the beat, 0.5 = half a beat late).  ``resultant`` measures how consistent the phase is; ``on_beat =
  resultant · cos(2π · mean phase)`` is +1 for motion locked *on* the beats, −1 for half a beat off.
* **Motion period**: dominant period of the body's rise and fall (autocorrelation of the mean joint height
  after removing slow drift).  A figure bouncing at 2 Hz → 0.5 s → 120 BPM.
* **Kinetic features** (FID_k-style, 2D): for every window of ``window_s`` seconds and every joint but
  the pelvis, on pelvis-relative coordinates: mean speed and mean acceleration magnitude (first and second
  forward differences) and spread (RMS distance from the window mean) → ``3 · (J − 1)`` numbers per window.
* **Diversity** (Bailando's Div_k): mean pairwise Euclidean distance between kinetic-feature vectors.
* **Fréchet distance** between Gaussian fits of two feature sets (FID formula).
* **Freeze ratio**: fraction of frames whose mean joint speed, averaged over ``window_s`` = 0.5 s, is
  below ``FREEZE_SPEED`` = 0.1 torso lengths per second (real dance: ≈ 0; a still figure: 1).
* **Limb plausibility**: a limb is *stretched* when longer than 1.5 × its reference length (the 75th
  percentile of its length over the sequence, robust to 2D foreshortening, or a given reference); reports the fraction of frames with any stretched limb and the
  largest length ratio.
* **In frame**: fraction of frames whose joints all lie inside ``FrameBounds`` (body units, pelvis
  origin: ``|x| ≤ 4``, ``-3.5 ≤ y ≤ 2.5``; y down, so the head may rise 3.5 torsos above the pelvis and
  the feet reach 2.5 below) — or inside the image when pixel bounds are given.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal
from scipy import linalg

from dancepose.models.errors import ParameterError
from dancepose.models.clock import resample
from dancepose.models.skeleton import LIMBS, Joint, limb_lengths, torso_length

#: Gaussian σ (s) smoothing the mean joint speed before picking kinematic beats (Bailando: 5 / 60 s).
KINEMATIC_SIGMA_S: float = 5.0 / 60.0
#: σ (s) of the Beat Align Score kernel (Bailando: 3 frames at 60 fps).
BAS_SIGMA_S: float = 3.0 / 60.0
#: Mean joint speed (torso lengths / s, 0.5 s average) below which a frame counts as frozen.
FREEZE_SPEED: float = 0.1
#: A limb longer than this × its reference length is implausible.
LIMB_STRETCH: float = 1.5
#: Jitter: pose power above this frequency (Hz) — faster than any dance move, what a viewer sees as twitching.
JITTER_CUTOFF_HZ: float = 4.0
#: Jitter: Welch segment length (s).
JITTER_SEGMENT_S: float = 4.0
#: Frames a per-frame figure works on at a time: an hour-long track (108,000 frames) never has its
#: float64 copies, differences and norms all in memory at once (each would be 13–26 MB); the results are
#: the same as over the whole track at once.
CHUNK_FRAMES: int = 8192


@dataclass(frozen=True)
class FrameBounds:
    """An axis-aligned box the figure must stay inside (same units as the poses)."""

    x_min: float = -4.0
    x_max: float = 4.0
    y_min: float = -3.5
    y_max: float = 2.5


def _check_poses(poses: np.ndarray) -> np.ndarray:
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 2:
        raise ParameterError(f"poses must have shape (T, J, 2), got {p.shape}")
    if p.shape[0] < 2:
        raise ParameterError(f"need at least 2 pose frames, got {p.shape[0]}")
    return p


def _check_shape(poses: np.ndarray) -> np.ndarray:
    """:func:`_check_poses` without the float64 copy (for functions that convert a chunk at a time)."""
    p = np.asarray(poses)
    if p.ndim != 3 or p.shape[-1] != 2:
        raise ParameterError(f"poses must have shape (T, J, 2), got {p.shape}")
    if p.shape[0] < 2:
        raise ParameterError(f"need at least 2 pose frames, got {p.shape[0]}")
    return p


def _chunks(n: int):
    """``(a, b)`` bounds covering ``range(n)`` :data:`CHUNK_FRAMES` at a time."""
    return ((a, min(n, a + CHUNK_FRAMES)) for a in range(0, n, CHUNK_FRAMES))


def _check_fps(fps: float) -> float:
    if not np.isfinite(fps) or fps <= 0:
        raise ParameterError(f"fps must be positive, got {fps}")
    return float(fps)


# ------------------------------------------------------------------------------- preparation
def normalise_poses(*, poses: np.ndarray, center: bool = True) -> np.ndarray:
    """Scale a track to torso length 1 (median over frames) and put the median pelvis at the origin.

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
        Canonical 2D joints in any unit (pixels, cm).  NaN = unknown.
    center : bool
        Subtract the median pelvis position (one offset for the whole track, motion is kept).

    Returns
    -------
    np.ndarray [shape=(T, J, 2)] float64 in torso lengths.
    """
    p = _check_shape(poses)
    torso = np.concatenate([torso_length(np.asarray(p[a:b], dtype=np.float64)) for a, b in _chunks(len(p))])
    scale = np.nanmedian(torso) if np.isfinite(torso).any() else np.nan
    if not np.isfinite(scale) or scale <= 0:
        raise ParameterError("cannot normalise poses: torso length is zero or unknown")
    out = np.empty(p.shape)
    for a, b in _chunks(len(p)):
        np.divide(np.asarray(p[a:b], dtype=np.float64), scale, out=out[a:b])
    if center:
        out -= np.nanmedian(out[:, Joint.PELVIS, :], axis=0)
    return out


def remove_drift(*, poses: np.ndarray, fps: float, window_s: float = 4.0) -> np.ndarray:
    """Remove slow travel across the floor: subtract the pelvis' moving average over ``window_s``.

    Real ballroom couples travel metres; the renderer keeps the figure centred.  Bounces and sways
    faster than ``window_s`` are kept.  Returns ``(T, J, 2)``.
    """
    p = _check_poses(poses)
    fps = _check_fps(fps)
    size = max(1, int(round(window_s * fps)))
    pelvis = ndimage.uniform_filter1d(p[:, Joint.PELVIS, :], size=size, axis=0, mode="nearest")
    return p - pelvis[:, None, :]


def resample_poses(*, poses: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear interpolation of a track to another frame rate.

    Returns ``(T', J, 2)`` with ``T' = floor((T - 1) · fps_out / fps_in) + 1`` frames; frame ``k`` is
    at time ``k / fps_out``.
    """
    p = _check_poses(poses)
    fps_in, fps_out = _check_fps(fps_in), _check_fps(fps_out)
    n_out = int(np.floor((p.shape[0] - 1) * fps_out / fps_in + 1e-9)) + 1
    times = np.arange(n_out) / fps_out
    out = np.empty((n_out,) + p.shape[1:])
    for a, b in _chunks(n_out):   # resample's temporaries are 5 copies of what it returns
        out[a:b] = resample(p, fps=fps_in, times=times[a:b])
    return out


# ------------------------------------------------------------------------------- speed / energy
def joint_speed(*, poses: np.ndarray, fps: float) -> np.ndarray:
    """Mean joint speed per frame.

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
    fps : float

    Returns
    -------
    np.ndarray [shape=(T,)] in pose units per second: ``[t]`` is the forward step from frame t to t + 1
    (time (t + ½) / fps); the last frame repeats the last step.  NaN joints ignored.
    """
    p = _check_shape(poses)
    fps = _check_fps(fps)
    out = np.empty(len(p) - 1)
    for a, b in _chunks(len(p) - 1):
        vel = np.diff(np.asarray(p[a:b + 1], dtype=np.float64), axis=0) * fps
        speed = np.linalg.norm(vel, axis=-1)
        with np.errstate(invalid="ignore"):
            out[a:b] = np.nanmean(np.where(np.isfinite(speed), speed, np.nan), axis=1)
    out = np.nan_to_num(out, nan=0.0)
    return np.append(out, out[-1])


def motion_energy(*, poses: np.ndarray, fps: float, window_s: float = 0.5) -> np.ndarray:
    """Mean joint speed averaged over a centred window of ``window_s`` seconds.  Returns ``(T,)``."""
    fps = _check_fps(fps)
    v = joint_speed(poses=poses, fps=fps)
    size = max(1, int(round(window_s * fps)))
    return ndimage.uniform_filter1d(v, size=size, mode="nearest")


def _pelvis_relative(poses: np.ndarray) -> np.ndarray:
    """Joints relative to the pelvis, NaN filled by 0 [shape=(T, J, 2)] (the pelvis itself is 0)."""
    p = _check_poses(poses)
    return np.nan_to_num(p - p[:, Joint.PELVIS:Joint.PELVIS + 1, :])


def pose_spectrum(*, poses: np.ndarray, fps: float, segment_s: float = JITTER_SEGMENT_S
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Power spectral density of the pose, summed over every pelvis-relative joint coordinate.

    Welch's estimate (``scipy.signal.welch``): Hann segments of ``segment_s`` seconds (the whole track
    when shorter), half overlapping, each linearly detrended; one-sided, density scaling.

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
        Body units (any scale: :func:`high_frequency_share` is a ratio).
    fps : float
    segment_s : float

    Returns
    -------
    (freqs [shape=(n,)] Hz, power [shape=(n,)] pose units² / Hz).
    """
    fps = _check_fps(fps)
    p = _check_shape(poses)
    nper = max(4, min(len(p), int(round(segment_s * fps))))
    # three joints at a time: Welch's segments of every coordinate at once take ~1.3 KB per frame (140 MB
    # for an hour); one coordinate at a time would be 8x slower (scipy's per-call cost)
    pelvis = np.asarray(p[:, Joint.PELVIS:Joint.PELVIS + 1, :], dtype=np.float64)
    columns = []
    for j in range(0, p.shape[1], 3):
        x = np.nan_to_num(np.asarray(p[:, j:j + 3, :], dtype=np.float64) - pelvis).reshape(len(p), -1)
        freqs, power = signal.welch(x, fs=fps, window="hann", nperseg=nper, noverlap=nper // 2,
                                    detrend="linear", scaling="density", axis=0)
        columns.append(power)
    return freqs, np.concatenate(columns, axis=1).sum(axis=1)


def high_frequency_share(*, poses: np.ndarray, fps: float, cutoff_hz: float = JITTER_CUTOFF_HZ,
                         segment_s: float = JITTER_SEGMENT_S) -> float:
    """Jitter: the share of the pose's power above ``cutoff_hz`` (:func:`pose_spectrum`).

    Real dance's spectrum falls steeply above a few Hz (≈ 10⁻⁴ of its power above 4 Hz on the
    Dance-with-Melody songs); frame-to-frame twitching puts power up to the Nyquist frequency.  Judge it
    as a ratio to real dance on the same songs.

    Returns
    -------
    float in [0, 1]; NaN for a still figure.
    """
    freqs, power = pose_spectrum(poses=poses, fps=fps, segment_s=segment_s)
    total = float(power.sum())
    if not total * (freqs[1] - freqs[0]) > 1e-12:  # variance of a millionth of a torso: still
        return float("nan")
    return float(power[freqs >= cutoff_hz].sum()) / total


def step_ratio(*, poses: np.ndarray) -> float:
    """Mean forward-difference step ÷ mean central-difference step (pelvis-relative joints).

    Forward: ``|p[t+1] − p[t]|``; central: ``|p[t+1] − p[t−1]| / 2``, both averaged over frames 1 … T−2
    and all joints.  ≈ 1 for smooth motion; a figure that jumps back and forth between frames takes long
    forward steps that the central difference does not see (2–4 for ±1 % of the body height every frame).

    Returns
    -------
    float; inf for a pure alternation (no central step), NaN for a still figure or fewer than 3 frames.
    """
    p = _check_shape(poses)
    if len(p) < 3:
        return float("nan")
    fwd_steps = np.empty((len(p) - 2, p.shape[1]))
    cen_steps = np.empty((len(p) - 2, p.shape[1]))
    for a, b in _chunks(len(p) - 2):
        r = _pelvis_relative(p[a:b + 2])
        fwd_steps[a:b] = np.linalg.norm(r[2:] - r[1:-1], axis=-1)
        cen_steps[a:b] = np.linalg.norm(r[2:] - r[:-2], axis=-1)
    fwd = float(fwd_steps.mean())
    cen = float(cen_steps.mean()) / 2.0
    if cen > 0:
        return fwd / cen
    return float("inf") if fwd > 0 else float("nan")


def kinematic_beats(*, poses: np.ndarray, fps: float, sigma_s: float = KINEMATIC_SIGMA_S) -> np.ndarray:
    """Times (s) of the local minima of the Gaussian-smoothed mean joint speed (Bailando).

    Returns
    -------
    np.ndarray [shape=(n_beats,)] seconds from the first frame: the minimum of a parabola through each
    local minimum and its neighbours (a minimum between two equal forward steps is half-way between
    them), a forward step sitting half a frame after its first frame.
    """
    fps = _check_fps(fps)
    v = joint_speed(poses=poses, fps=fps)
    v = ndimage.gaussian_filter1d(v, sigma=sigma_s * fps, mode="nearest")
    a, b, c = v[:-2], v[1:-1], v[2:]
    i = np.flatnonzero((b < a) & (b <= c))
    den = a[i] - 2 * b[i] + c[i]
    off = np.where(den > 0, 0.5 * (a[i] - c[i]) / np.where(den > 0, den, 1.0), 0.0)
    return (i + 1 + np.clip(off, -0.5, 0.5) + 0.5) / fps


def beat_align_score(*, music_beats: np.ndarray, kinematic_beats: np.ndarray,
                     sigma_s: float = BAS_SIGMA_S) -> float:
    """Bailando's Beat Align Score: mean over music beats of ``exp(-d² / 2σ²)``.

    Parameters
    ----------
    music_beats : np.ndarray [shape=(n,)]
        Music beat times (s).
    kinematic_beats : np.ndarray [shape=(m,)]
        Kinematic beat times (s), same time origin.
    sigma_s : float
        Tolerance (s), 50 ms as in Bailando.

    Returns
    -------
    float in [0, 1]; NaN when there are no music beats, 0 when there is no kinematic beat.
    """
    mb = np.asarray(music_beats, dtype=np.float64).ravel()
    kb = np.asarray(kinematic_beats, dtype=np.float64).ravel()
    if sigma_s <= 0:
        raise ParameterError(f"sigma_s must be positive, got {sigma_s}")
    if mb.size == 0:
        return float("nan")
    if kb.size == 0:
        return 0.0
    d = _nearest_distance(mb, kb)
    return float(np.mean(np.exp(-d ** 2 / (2 * sigma_s ** 2))))


def _nearest_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``min_j |a_i − b_j|`` for every ``a_i`` (``b`` non-empty) in O((n + m) log m) time and O(n) memory,
    bit for bit the all-pairs minimum (which took 400 MB for an hour of beats)."""
    b = np.sort(b)
    j = np.searchsorted(b, a)
    left = np.abs(a - b[np.maximum(j - 1, 0)])
    right = np.abs(a - b[np.minimum(j, len(b) - 1)])
    return np.minimum(left, right)


def beat_phase(*, music_beats: np.ndarray, kinematic_beats: np.ndarray) -> dict[str, float]:
    """Phase of the kinematic beats inside the music-beat grid.

    Each kinematic beat between two consecutive music beats gets phase ``(t - b_i) / (b_{i+1} - b_i)``.

    Returns
    -------
    dict with ``resultant`` (0..1, Rayleigh R: 1 = always the same phase), ``mean_phase`` (0..1 of a beat,
    0 = on the beat), ``on_beat`` (``R · cos 2π·mean_phase`` in −1..1) and ``n`` (beats used).
    """
    mb = np.sort(np.asarray(music_beats, dtype=np.float64).ravel())
    kb = np.asarray(kinematic_beats, dtype=np.float64).ravel()
    nan = {"resultant": float("nan"), "mean_phase": float("nan"), "on_beat": float("nan"), "n": 0}
    if mb.size < 2 or kb.size == 0:
        return nan
    inside = (kb >= mb[0]) & (kb < mb[-1])
    kb = kb[inside]
    if kb.size == 0:
        return nan
    i = np.searchsorted(mb, kb, side="right") - 1
    phase = (kb - mb[i]) / (mb[i + 1] - mb[i])
    z = np.mean(np.exp(2j * np.pi * phase))
    return {"resultant": float(abs(z)), "mean_phase": float(np.angle(z) / (2 * np.pi) % 1.0),
            "on_beat": float(z.real), "n": int(kb.size)}


def kinematic_beat_rate(*, poses: np.ndarray, fps: float) -> float:
    """Kinematic beats (speed minima, :func:`kinematic_beats`) per second of motion."""
    fps = _check_fps(fps)
    p = _check_poses(poses)
    return float(len(kinematic_beats(poses=p, fps=fps)) / (p.shape[0] / fps))


def beat_align_chance(*, music_beats: np.ndarray, kinematic_beats: np.ndarray, duration_s: float,
                      n_shifts: int = 200, seed: int = 0, sigma_s: float = BAS_SIGMA_S) -> dict[str, float]:
    """Beat Align Score against its chance level: the same kinematic beats shifted at random.

    The chance level is the mean BAS of the kinematic beats circularly shifted by ``n_shifts`` offsets
    drawn uniformly from ``[0, duration_s)`` (wrapping around the track): same number and spacing of
    beats, no relation to the music.  Plain BAS rises with the number of kinematic beats; the ratio
    does not.

    Returns
    -------
    dict: ``bas``, ``chance`` (mean shifted BAS) and ``ratio`` = bas / chance (≈ 1 for motion unrelated
    to the beats; NaN without music beats or kinematic beats).
    """
    mb = np.asarray(music_beats, dtype=np.float64).ravel()
    kb = np.asarray(kinematic_beats, dtype=np.float64).ravel()
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ParameterError(f"duration_s must be positive, got {duration_s}")
    bas = beat_align_score(music_beats=mb, kinematic_beats=kb, sigma_s=sigma_s)
    if mb.size == 0 or kb.size == 0:
        return {"bas": bas, "chance": float("nan"), "ratio": float("nan")}
    shifts = np.random.default_rng(seed).uniform(0.0, duration_s, n_shifts)
    chance = float(np.mean([beat_align_score(music_beats=mb, kinematic_beats=np.sort((kb + s) % duration_s),
                                             sigma_s=sigma_s) for s in shifts]))
    return {"bas": bas, "chance": chance, "ratio": bas / chance if chance > 0 else float("nan")}


def bar_autocorrelation(*, poses: np.ndarray, fps: float, beat_period_s: float,
                        beats: tuple[int, ...] = (2, 3, 4), tolerance: float = 0.06,
                        signal_kind: str = "vertical") -> dict[str, object]:
    """Which bar length the motion's periodicity marks: autocorrelation at 2, 3 and 4 beats.

    The body's rise and fall (:func:`motion_signal`; ``signal_kind="speed"``: its mean joint speed) is
    autocorrelated (normalised, 1 at lag 0); for
    every ``k`` in ``beats`` the highest value within ``±tolerance`` of the lag ``k · beat_period_s`` is
    taken.  The motion *marks* 3 beats when the 3-beat value is above both the 2- and 4-beat values
    (a waltz's rise and fall once per bar), otherwise 2 or 4 (duple or quadruple metre).

    Returns
    -------
    dict: ``acf`` {k: value}, ``marked`` (3, or 2/4: whichever of those is larger; 0 when the signal is
    too short or flat).
    """
    fps = _check_fps(fps)
    x = motion_signal(poses=poses, fps=fps, signal_kind=signal_kind)
    x = x.sum(axis=1)
    n = x.size
    out: dict[str, object] = {"acf": {k: float("nan") for k in beats}, "marked": 0}
    if not np.isfinite(beat_period_s) or beat_period_s <= 0:
        return out
    max_lag = int(np.ceil(max(beats) * beat_period_s * (1 + tolerance) * fps)) + 1
    if n < 2 * max_lag or not np.any(np.abs(x) > 1e-9):
        return out
    nfft = int(2 ** np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, n=nfft)
    acf = np.fft.irfft(f * np.conj(f), n=nfft)[:max_lag + 1]
    acf = acf / np.arange(n, n - max_lag - 1, -1)  # unbiased
    acf = acf / acf[0]
    vals = {}
    for k in beats:
        lo = int(np.floor(k * beat_period_s * (1 - tolerance) * fps))
        hi = int(np.ceil(k * beat_period_s * (1 + tolerance) * fps))
        vals[k] = float(acf[lo:hi + 1].max())
    others = [vals[k] for k in beats if k != 3]
    if 3 in vals and vals[3] > max(others):
        marked = 3
    else:
        marked = max((k for k in beats if k != 3), key=lambda k: vals[k])
    return {"acf": vals, "marked": int(marked)}


def bar_marked_right(*, marked: int, beats_per_bar: int) -> bool:
    """True when the marked bar fits the metre: 3 for 3/4, 2 or 4 for 2/4 and 4/4."""
    return bool(marked == 3) if beats_per_bar == 3 else marked in (2, 4)


# ------------------------------------------------------------------------------- tempo
def motion_signal(*, poses: np.ndarray, fps: float, signal_kind: str = "vertical",
                  drift_s: float = 4.0) -> np.ndarray:
    """The rise and fall of the body with slow drift removed, zero mean.

    ``"vertical"``: the mean y of all joints after :func:`remove_drift` [shape=(T, 1)]; ``"all"``: every
    drift-removed coordinate [shape=(T, 2J)]; ``"speed"``: the mean joint speed (:func:`joint_speed`,
    forward differences of the pelvis-relative joints) [shape=(T, 1)] — the accents of the motion, where a
    twitch shows.  Motion slower than ``drift_s`` is removed as well.
    """
    fps = _check_fps(fps)
    if signal_kind == "speed":
        x = joint_speed(poses=_pelvis_relative(_check_poses(poses)), fps=fps)[:, None]
    elif signal_kind == "vertical":   # remove_drift's arithmetic, a chunk of frames at a time
        p = _check_shape(poses)
        size = max(1, int(round(drift_s * fps)))
        pelvis = ndimage.uniform_filter1d(np.asarray(p[:, Joint.PELVIS, :], dtype=np.float64), size=size,
                                          axis=0, mode="nearest")
        x = np.empty((len(p), 1))
        for a, b in _chunks(len(p)):
            seg = np.nan_to_num(np.asarray(p[a:b], dtype=np.float64) - pelvis[a:b, None, :])
            x[a:b] = seg[..., 1].mean(axis=1, keepdims=True)
    elif signal_kind == "all":
        p = np.nan_to_num(remove_drift(poses=_check_poses(poses), fps=fps, window_s=drift_s))
        x = p.reshape(p.shape[0], -1)
    else:
        raise ParameterError(f"signal_kind must be 'vertical', 'all' or 'speed', got {signal_kind!r}")
    x = x - ndimage.uniform_filter1d(x, size=max(1, int(round(drift_s * fps))), axis=0, mode="nearest")
    return x - x.mean(axis=0)


def motion_period(*, poses: np.ndarray, fps: float, signal_kind: str = "vertical",
                  min_period_s: float = 0.25, max_period_s: float = 2.5, drift_s: float = 4.0,
                  min_prominence: float = 4.0) -> float:
    """Dominant period (s) of the motion: the strongest spectral peak of its rise and fall.

    ``signal_kind="vertical"`` (default) uses the body's rise and fall: the mean y of all joints after
    :func:`remove_drift` (yaw-invariant, so a turning couple projected to 2D keeps its period; on the
    Dance-with-Melody waltzes it gives one bar = 3 beats).  ``"all"`` sums the power spectra of every
    drift-removed coordinate (bounces *and* sways).  The power spectrum (Hann window, zero-padded) is
    searched for its highest peak with a period in ``[min_period_s, max_period_s]`` (a spectral peak,
    unlike the highest autocorrelation peak, is not pulled towards short lags or slow multiples by
    aperiodic slow motion); its value is then set by the autocorrelation peak within ±20 % of it, of the
    motion without its components slower than ¾ of that frequency (which would tilt the peak towards
    shorter lags), exact for a periodic motion where the spectral peak of a short excerpt is not.

    Returns
    -------
    float seconds; NaN when the motion shows no periodicity (the peak is less than ``min_prominence``
    times the median power of the band).
    """
    fps = _check_fps(fps)
    x = motion_signal(poses=poses, fps=fps, signal_kind=signal_kind, drift_s=drift_s)
    n = x.shape[0]
    if n < 4 or not np.any(np.abs(x) > 1e-9):
        return float("nan")
    nfft = int(2 ** np.ceil(np.log2(8 * n)))
    power = (np.abs(np.fft.rfft(x * np.hanning(n)[:, None], n=nfft, axis=0)) ** 2).sum(axis=1)
    freqs = np.arange(power.size) * fps / nfft
    band = np.flatnonzero((freqs >= 1.0 / max_period_s) & (freqs <= 1.0 / min_period_s))
    if band.size < 3:
        return float("nan")
    j = int(band[np.argmax(power[band])])
    if power[j] < min_prominence * np.median(power[band]) or not 0 < j < power.size - 1:
        return float("nan")
    pa, pb, pc = (np.log(power[k] + 1e-30) for k in (j - 1, j, j + 1))
    den = pa - 2 * pb + pc
    dj = 0.5 * (pa - pc) / den if den != 0 else 0.0
    f = (j + float(np.clip(dj, -0.5, 0.5))) * fps / nfft
    if f <= 0:
        return float("nan")
    return _refine_period(x, lag=fps / f) / fps


def _refine_period(x: np.ndarray, *, lag: float, span: float = 0.2) -> float:
    """The autocorrelation peak of ``x`` [shape=(n, d)] within ``lag`` × (1 ± ``span``) frames.

    The spectral peak finds *which* periodicity dominates; on a short excerpt (a few periods) its
    position is pulled by the leakage of slower motion by up to ±10 %.  The autocorrelation of a
    periodic signal peaks exactly at its period, so it sets the value (parabolic interpolation).
    Returns ``lag`` unchanged when the autocorrelation has no interior maximum there.
    """
    n = x.shape[0]
    lo, hi = max(1, int(np.floor(lag * (1 - span)))), min(n - 2, int(np.ceil(lag * (1 + span))))
    if hi - lo < 2:
        return float(lag)
    x = _without_slower(x, period=lag)
    lags = np.arange(lo - 1, hi + 2)
    r = np.array([float(np.sum(x[:-k] * x[k:])) / (n - k) for k in lags])
    i = int(np.argmax(r[1:-1])) + 1
    if i in (1, len(r) - 2) and not (r[i] >= r[i - 1] and r[i] >= r[i + 1]):
        return float(lag)
    den = r[i - 1] - 2 * r[i] + r[i + 1]
    di = 0.5 * (r[i - 1] - r[i + 1]) / den if den < 0 else 0.0
    return float(lags[i] + np.clip(di, -0.5, 0.5))


def _without_slower(x: np.ndarray, *, period: float, keep: float = 0.75) -> np.ndarray:
    """``x`` [shape=(n, d)] without its components slower than ``keep`` × 1 / ``period`` (frames).

    A slower component's autocorrelation falls across the lags searched and tilts their peak towards the
    shorter ones: a motion made of a 2-beat bounce and an 8-beat sway, both exactly on the beat, measured
    1.57–1.97 beats with it in (80–160 BPM).  Zeroed in the spectrum of the zero-padded signal (the
    harmonics of the period, which share it, are kept).
    """
    n = x.shape[0]
    spec = np.fft.rfft(x, n=2 * n, axis=0)
    freqs = np.arange(spec.shape[0]) / (2 * n)
    spec[freqs < keep / period] = 0.0
    return np.fft.irfft(spec, n=2 * n, axis=0)[:n]


def tempo_match(*, motion_period_s: float, beat_period_s: float, tolerance: float = 0.08,
                octaves: tuple[float, ...] = (0.5, 1.0, 2.0)) -> dict[str, float | bool]:
    """Compare the motion period with the music's beat period, allowing octave (×2 / ×½) matches.

    Returns
    -------
    dict: ``ratio`` (motion period / beat period), ``multiple`` (the allowed multiple closest to it in log
    scale), ``error`` (relative deviation from that multiple) and ``followed`` (error ≤ tolerance).
    """
    if not (np.isfinite(motion_period_s) and np.isfinite(beat_period_s)) or beat_period_s <= 0 \
            or motion_period_s <= 0:
        return {"ratio": float("nan"), "multiple": float("nan"), "error": float("nan"), "followed": False}
    ratio = motion_period_s / beat_period_s
    mult = min(octaves, key=lambda m: abs(np.log(ratio / m)))
    err = abs(ratio / mult - 1.0)
    return {"ratio": float(ratio), "multiple": float(mult), "error": float(err),
            "followed": bool(err <= tolerance)}


# ------------------------------------------------------------------------------- kinetic features
def kinetic_features(*, poses: np.ndarray, fps: float, window_s: float = 2.0,
                     hop_s: float | None = None) -> np.ndarray:
    """2D kinetic features per window (FID_k-style).

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
        Normalised body units.
    fps : float
    window_s, hop_s : float
        Window length and hop (default: hop = window, i.e. non-overlapping windows).

    Returns
    -------
    np.ndarray [shape=(n_windows, 3 * (J - 1))]: per non-pelvis joint, on pelvis-relative coordinates,
    mean speed, mean acceleration magnitude and spread (RMS distance from the window mean), grouped
    feature-major (all speeds, then all accelerations, then all spreads).  ``n_windows`` may be 0.
    """
    p = _check_shape(poses)
    fps = _check_fps(fps)
    hop_s = window_s if hop_s is None else hop_s
    w = max(3, int(round(window_s * fps)))
    h = max(1, int(round(hop_s * fps)))
    keep = [j for j in range(p.shape[1]) if j != Joint.PELVIS]
    starts = list(range(0, p.shape[0] - w + 1, h))
    per_chunk = max(1, CHUNK_FRAMES // h)     # windows whose frames are converted together
    rows = []
    for i in range(0, len(starts), per_chunk):
        first, last = starts[i], starts[min(len(starts), i + per_chunk) - 1]
        q = np.asarray(p[first:last + w], dtype=np.float64)
        rel = np.nan_to_num(q[:, keep, :] - q[:, Joint.PELVIS:Joint.PELVIS + 1, :])
        vel = np.diff(rel, axis=0) * fps   # [t]: frame t → t + 1
        acc = np.diff(vel, axis=0) * fps   # [t]: around frame t + 1
        speed = np.linalg.norm(vel, axis=-1)
        accm = np.linalg.norm(acc, axis=-1)
        for s in (s - first for s in starts[i:i + per_chunk]):
            seg = rel[s:s + w]
            spread = np.sqrt(np.mean(np.sum((seg - seg.mean(axis=0)) ** 2, axis=-1), axis=0))
            # the w - 1 steps and w - 2 accelerations inside the window's w frames
            rows.append(np.concatenate([speed[s:s + w - 1].mean(0), accm[s:s + w - 2].mean(0), spread]))
    return np.array(rows).reshape(len(rows), 3 * len(keep))


def diversity(*, features: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between feature vectors (Bailando's Div_k).

    features : np.ndarray [shape=(n, d)], n ≥ 2.  Returns float (NaN when n < 2).
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ParameterError(f"features must have shape (n, d), got {f.shape}")
    n = f.shape[0]
    if n < 2:
        return float("nan")
    d = np.sqrt(np.maximum(0.0, np.sum((f[:, None, :] - f[None, :, :]) ** 2, axis=-1)))
    return float(d[np.triu_indices(n, k=1)].mean())


def frechet_distance(*, a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    ``|μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½)``.  a [shape=(n, d)], b [shape=(m, d)], n, m ≥ 2.
    ``eps`` is added to the diagonals so few windows in many dimensions stay well defined.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ParameterError(f"feature sets must be (n, d) with equal d, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        return float("nan")
    mu_a, mu_b = a.mean(0), b.mean(0)
    eye = np.eye(a.shape[1]) * eps
    ca = np.atleast_2d(np.cov(a, rowvar=False)) + eye
    cb = np.atleast_2d(np.cov(b, rowvar=False)) + eye
    covmean = linalg.sqrtm(ca @ cb)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    fd = float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)


# ------------------------------------------------------------------------------- sanity
def freeze_ratio(*, poses: np.ndarray, fps: float, threshold: float = FREEZE_SPEED,
                 window_s: float = 0.5, mask: np.ndarray | None = None) -> float:
    """Fraction of frames whose 0.5-s mean joint speed is below ``threshold`` (torso lengths / s).

    ``mask`` [shape=(T,)] bool, optional: count only these frames (e.g. where music is audible — resting
    in a silence is the wanted behaviour, not a freeze).
    """
    e = motion_energy(poses=poses, fps=fps, window_s=window_s)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != e.shape:
            raise ParameterError(f"mask must have shape {e.shape}, got {mask.shape}")
        e = e[mask]
        if e.size == 0:
            return float("nan")
    return float(np.mean(e < threshold))


def limb_plausibility(*, poses: np.ndarray, factor: float = LIMB_STRETCH,
                      reference: np.ndarray | None = None) -> dict[str, float]:
    """How often a limb is stretched beyond ``factor`` × its reference length.

    Parameters
    ----------
    poses : np.ndarray [shape=(T, J, 2)]
    factor : float
    reference : np.ndarray [shape=(len(LIMBS),)] or None
        Reference limb lengths; None → the 75th percentile of each limb's length over the sequence (in a 2D
        projection limbs are often foreshortened, never lengthened, so the median under-estimates them).

    Returns
    -------
    dict: ``stretched_frames`` (fraction of frames with any stretched limb), ``max_ratio`` (largest
    length / reference over all frames and limbs), ``worst_limb`` (index into ``LIMBS``).
    """
    p = _check_shape(poses)
    lengths = np.empty((len(p), len(LIMBS)))
    for a, b in _chunks(len(p)):
        lengths[a:b] = limb_lengths(np.asarray(p[a:b], dtype=np.float64))
    ref = np.nanpercentile(lengths, 75, axis=0) if reference is None else np.asarray(reference, dtype=np.float64)
    if ref.shape != (len(LIMBS),):
        raise ParameterError(f"reference must have shape ({len(LIMBS)},), got {ref.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.divide(lengths, np.where(ref > 1e-9, ref, np.nan), out=lengths)
    ratio = np.nan_to_num(ratio, nan=1.0, copy=False)
    stretched = (ratio > factor).any(axis=1)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape)[1]
    return {"stretched_frames": float(stretched.mean()), "max_ratio": float(ratio.max()),
            "worst_limb": int(worst)}


def in_frame_ratio(*, poses: np.ndarray, bounds: FrameBounds = FrameBounds()) -> float:
    """Fraction of frames whose joints all lie inside ``bounds`` (NaN joints count as outside)."""
    p = _check_poses(poses)
    x, y = p[..., 0], p[..., 1]
    with np.errstate(invalid="ignore"):
        ok = (x >= bounds.x_min) & (x <= bounds.x_max) & (y >= bounds.y_min) & (y <= bounds.y_max)
    return float(ok.all(axis=1).mean())


# ------------------------------------------------------------------------------- reactivity
def settle_and_resume(*, energy: np.ndarray, fps: float, music_on: np.ndarray,
                      settle_fraction: float = 0.2, resume_fraction: float = 0.5,
                      skip_s: float = 2.0, min_gap_s: float = 1.0) -> dict[str, list[float] | float]:
    """How fast motion stops when the music stops and comes back when it resumes.

    Parameters
    ----------
    energy : np.ndarray [shape=(T,)]
        Motion energy (:func:`motion_energy`).
    fps : float
    music_on : np.ndarray [shape=(T,)] bool
        True where music plays.
    settle_fraction, resume_fraction : float
        Thresholds as fractions of the *music level* = median energy over music frames (the first
        ``skip_s`` seconds of the track excluded).
    skip_s : float
    min_gap_s : float
        Silences shorter than this are not judged (a stop at the very end of the track is not a gap).

    Returns
    -------
    dict: ``music_level``; ``settle_s`` (per silence gap: seconds from silence onset until the energy first
    falls below ``settle_fraction · level``; NaN if it never does within the gap); ``resume_s`` (per
    music restart: seconds until the energy first exceeds ``resume_fraction · level``); ``silence_level``
    (median energy over the second half of the gaps, as a fraction of the music level).
    """
    fps = _check_fps(fps)
    e = np.asarray(energy, dtype=np.float64).ravel()
    on = np.asarray(music_on, dtype=bool).ravel()
    if e.shape != on.shape:
        raise ParameterError(f"energy and music_on must have the same length, got {e.shape} and {on.shape}")
    skip = int(round(skip_s * fps))
    mask = on.copy()
    mask[:skip] = False
    level = float(np.median(e[mask])) if mask.any() else float("nan")
    edges = np.diff(on.astype(np.int8))
    stops = np.nonzero(edges == -1)[0] + 1
    starts = np.nonzero(edges == 1)[0] + 1
    settle, resume, quiet = [], [], []
    for s in stops:
        nxt = starts[starts > s]
        end = int(nxt[0]) if nxt.size else e.size
        if end - s < int(round(min_gap_s * fps)):
            continue  # a stop too short to judge (e.g. the track's last frame)
        below = np.nonzero(e[s:end] < settle_fraction * level)[0]
        settle.append(float(below[0] / fps) if below.size else float("nan"))
        half = s + (end - s) // 2
        if end > half:
            quiet.append(float(np.median(e[half:end]) / level) if level > 0 else float("nan"))
    for s in starts:
        nxt = stops[stops > s]
        end = int(nxt[0]) if nxt.size else e.size
        above = np.nonzero(e[s:end] > resume_fraction * level)[0]
        resume.append(float(above[0] / fps) if above.size else float("nan"))
    return {"music_level": level, "settle_s": settle, "resume_s": resume,
            "silence_level": float(np.mean(quiet)) if quiet else float("nan")}
