"""Clean stretches: the parts of a pose track that show the person dancing, whole and continuous.

A frame is dropped, for one of these reasons (counted per source in :class:`StretchReport`):

* ``gap`` — nobody detected (the extractor's long gaps, flagged ``MISSING``);
* ``not_in_view`` — a close-up or the body cut off: a joint missing (the legs of a close-up are not
  seen, or are flagged) or outside the image;
* ``cut`` — within ``margin_s`` of a jump of the body's position or size that no motion makes: the
  median over the ``jump_window_s`` after a frame against the median over the ``jump_window_s`` before
  it moves the pelvis more than ``max_jump`` body sizes, or changes the body size by more than
  ``max_scale_jump`` in log (body size: the RMS distance of the joints from their centre, which a
  foreshortened torso does not shrink).  A camera cut, or the detector jumping to someone else: the
  track is split there, the motion before and after is not continuous;
* ``switch`` — another person took over: a stretch, shorter than its neighbours, between two jumps after
  which the body is back where and as large as it was before the first — much nearer than either jump
  took it (someone passed in front, the detector followed another dancer and came back, a shot of
  someone else between two of the dancer's);
* ``still`` — not moving at all (mean joint speed below ``still_speed`` torso lengths/s for
  ``still_s``): an intro, a pause, a frozen picture;
* ``short`` — what is left is shorter than ``min_stretch_s`` (too short for a phrase).

The thresholds are far outside what a body does (a median pelvis moving 1.5 body sizes in 0.2 s is
about 5 torso lengths a second, a break dancer's fastest in AIST++ is under half that) and inside what
a cut does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dancepose.models.errors import ParameterError
from dancepose.models.posefile import MISSING, PoseSequence
from dancepose.models.skeleton import Joint, torso_length

REASONS = ("gap", "not_in_view", "cut", "switch", "still", "short")


@dataclass(frozen=True)
class StretchConfig:
    """Thresholds of the clean-stretch selection (see the module docstring)."""

    jump_window_s: float = 0.2
    max_jump: float = 1.5
    max_scale_jump: float = 0.4
    margin_s: float = 0.2
    edge_tolerance: float = 0.02
    still_speed: float = 0.1
    still_s: float = 1.0
    min_stretch_s: float = 2.0

    def __post_init__(self) -> None:
        if min(self.jump_window_s, self.max_jump, self.max_scale_jump, self.still_s, self.min_stretch_s) <= 0 \
                or self.margin_s < 0 or self.edge_tolerance < 0:
            raise ParameterError(f"invalid StretchConfig {self}")


@dataclass
class StretchReport:
    """What was kept of one source: seconds kept of the total, and seconds dropped per reason."""

    name: str
    total_s: float
    kept_s: float = 0.0
    stretches: list[tuple[int, int]] = field(default_factory=list)
    dropped_s: dict[str, float] = field(default_factory=lambda: {r: 0.0 for r in REASONS})
    cuts: int = 0
    switches: int = 0

    def line(self) -> str:
        """One line for the user: kept of total, and why the rest went."""
        why = ", ".join(f"{r.replace('_', ' ')} {s:.1f} s" for r, s in self.dropped_s.items() if s >= 0.05)
        return (f"{self.name}: kept {self.kept_s:.1f} of {self.total_s:.1f} s in {len(self.stretches)} "
                f"stretch{'es' if len(self.stretches) != 1 else ''}" + (f" (dropped: {why})" if why else ""))

    def to_dict(self) -> dict:
        return {"name": self.name, "total_s": round(self.total_s, 2), "kept_s": round(self.kept_s, 2),
                "stretches": [list(s) for s in self.stretches], "cuts": self.cuts, "switches": self.switches,
                "dropped_s": {k: round(v, 2) for k, v in self.dropped_s.items()}}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _view_reasons(seq: PoseSequence, *, tol: float) -> np.ndarray:
    """Per frame: "" (in view), "gap" or "not_in_view". [shape=(T,)] object"""
    missing = seq.flags == MISSING
    kp = seq.keypoints
    w, h = seq.image_size
    with np.errstate(invalid="ignore"):
        outside = ((kp[..., 0] < -tol * w) | (kp[..., 0] > (1 + tol) * w)
                   | (kp[..., 1] < -tol * h) | (kp[..., 1] > (1 + tol) * h))
    reason = np.full(len(seq), "", dtype=object)
    reason[(missing | outside).any(axis=1)] = "not_in_view"
    reason[missing.all(axis=1)] = "gap"
    return reason


def body_size(points: np.ndarray) -> np.ndarray:
    """How big the body is drawn: RMS distance of the joints from their mean (never near 0, unlike a
    foreshortened torso).  points [shape=(T, J, 2)] → [shape=(T,)]."""
    p = np.asarray(points, dtype=np.float64)
    ok = np.isfinite(p).all(axis=-1)
    n = ok.sum(axis=1)
    safe = np.maximum(n, 1)[:, None]
    c = np.where(ok[..., None], p, 0.0).sum(axis=1) / safe
    d2 = np.where(ok, np.sum((p - c[:, None]) ** 2, axis=-1), 0.0).sum(axis=1) / safe[:, 0]
    return np.where(n >= 2, np.sqrt(d2), np.nan)


def _rolling_median(x: np.ndarray, size: int) -> np.ndarray:
    from scipy import ndimage

    ok = np.isfinite(x)
    if not ok.any():
        return x
    filled = np.interp(np.arange(len(x)), np.flatnonzero(ok), x[ok])
    return ndimage.median_filter(filled, size=size, mode="nearest")


def _window_medians(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Median of ``x`` [shape=(T, ...)] over the ``w`` frames before each frame and the ``w`` frames from it
    on (NaN where the window leaves the track or holds nothing finite)."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = len(x)
    pad = np.full((w,) + x.shape[1:], np.nan)
    xp = np.concatenate([pad, x, pad])
    win = sliding_window_view(xp, w, axis=0)  # win[i] = xp[i:i + w] (window on the last axis)
    with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=-1)
    return med[:n], med[w:w + n]


def _jumps(seq: PoseSequence, ok: np.ndarray, config: StretchConfig) -> np.ndarray:
    """Frames where the body jumps (position or size) from the ``jump_window_s`` before to the
    ``jump_window_s`` after (window medians: a persistent change, not a one-frame glitch). [shape=(T,)] bool"""
    n = len(seq)
    w = max(2, int(round(config.jump_window_s * seq.fps)))
    if n <= 2 * w:
        return np.zeros(n, bool)
    kp = np.where(ok[:, None, None], seq.keypoints.astype(np.float64), np.nan)
    size = body_size(kp)
    before_p, after_p = _window_medians(kp[:, Joint.PELVIS], w)
    before_s, after_s = _window_medians(size, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        move = np.linalg.norm(after_p - before_p, axis=1) / np.fmax(before_s, after_s)
        grow = np.abs(np.log(after_s / before_s))
        return ((move > config.max_jump) | (grow > config.max_scale_jump)) & ok


def _state(seq: PoseSequence, frames: slice) -> tuple[np.ndarray, float]:
    """Median pelvis position and body size over ``frames``."""
    kp = seq.keypoints[frames].astype(np.float64)
    return np.nanmedian(kp[:, Joint.PELVIS], axis=0), float(np.nanmedian(body_size(kp)))


def _returns(seq: PoseSequence, before: tuple[int, int], mid: tuple[int, int], after: tuple[int, int]) -> bool:
    """After ``mid`` the body is back where and as large as before it: much nearer its state at the end
    of ``before`` than either jump took it away (position in body sizes, size in log ratio × 3)."""
    m = max(1, int(round(0.3 * seq.fps)))
    states = [_state(seq, slice(max(before[0], before[1] - m), before[1])),
              _state(seq, slice(mid[0], min(mid[1], mid[0] + m))),
              _state(seq, slice(max(mid[0], mid[1] - m), mid[1])),
              _state(seq, slice(after[0], min(after[1], after[0] + m)))]
    if not all(np.isfinite(p).all() and np.isfinite(z) and z > 0 for p, z in states):
        return False

    def apart(a: tuple[np.ndarray, float], b: tuple[np.ndarray, float]) -> float:
        return float(np.linalg.norm(a[0] - b[0]) / max(a[1], b[1]) + 3.0 * abs(np.log(a[1] / b[1])))

    back = apart(states[0], states[3])
    return back < 0.5 * min(apart(states[0], states[1]), apart(states[2], states[3]))


def _still(seq: PoseSequence, ok: np.ndarray, config: StretchConfig) -> np.ndarray:
    """Frames inside ``still_s`` windows of (almost) no motion. [shape=(T,)] bool"""
    from scipy import ndimage

    kp = seq.keypoints.astype(np.float64)
    torso = np.nanmedian(torso_length(kp[ok])) if ok.any() else np.nan
    if not np.isfinite(torso) or torso <= 0 or len(kp) < 3:
        return np.zeros(len(kp), bool)
    rel = kp - kp[:, Joint.PELVIS:Joint.PELVIS + 1]
    speed = np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean(axis=1) * seq.fps / torso
    speed = np.concatenate([speed[:1], speed])
    valid = np.isfinite(speed) & ok
    w = max(1, int(round(config.still_s * seq.fps)))
    total = ndimage.uniform_filter1d(np.where(valid, speed, 0.0), size=w, mode="nearest")
    count = ndimage.uniform_filter1d(valid.astype(np.float64), size=w, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        return valid & (total / count < config.still_speed)


def clean_stretches(seq: PoseSequence, *, name: str = "", config: StretchConfig = StretchConfig()
                    ) -> StretchReport:
    """Find the clean stretches of a track (see the module docstring).

    Parameters
    ----------
    seq : PoseSequence
        Pixels, canonical skeleton, cleaned (gaps flagged), any frame rate.
    name : str
        How the report names the source.
    config : StretchConfig

    Returns
    -------
    StretchReport — ``stretches`` are ``(start, stop)`` frame ranges of ``seq``; seconds per reason.
    """
    n, fps = len(seq), float(seq.fps)
    reason = _view_reasons(seq, tol=config.edge_tolerance)
    ok = reason == ""
    jumps = _jumps(seq, ok, config)
    margin = int(round(config.margin_s * fps))
    cut = np.zeros(n, bool)
    for t in np.flatnonzero(jumps):
        cut[max(0, t - margin):t + margin + 2] = True
    reason[ok & cut] = "cut"
    pieces = _runs(reason == "")
    # pieces separated by a jump: another person in between when the body comes back where it was
    switched = set()
    for i in range(1, len(pieces) - 1):
        gap_before = cut[pieces[i - 1][1]:pieces[i][0]].any()
        gap_after = cut[pieces[i][1]:pieces[i + 1][0]].any()
        mid = pieces[i][1] - pieces[i][0]
        if gap_before and gap_after and mid < max(pieces[i - 1][1] - pieces[i - 1][0],
                                                 pieces[i + 1][1] - pieces[i + 1][0]) \
                and _returns(seq, pieces[i - 1], pieces[i], pieces[i + 1]):
            switched.add(i)
            reason[pieces[i][0]:pieces[i][1]] = "switch"
    still = _still(seq, reason == "", config)
    reason[(reason == "") & still] = "still"
    report = StretchReport(name=name, total_s=n / fps, switches=len(switched),
                           cuts=max(0, len(_runs(cut)) - 2 * len(switched)))
    for a, b in _runs(reason == ""):
        if b - a < config.min_stretch_s * fps:
            reason[a:b] = "short"
        else:
            report.stretches.append((a, b))
    report.kept_s = sum(b - a for a, b in report.stretches) / fps
    for r in REASONS:
        report.dropped_s[r] = float(np.sum(reason == r)) / fps
    return report


__all__ = ["REASONS", "StretchConfig", "body_size", "StretchReport", "clean_stretches"]
