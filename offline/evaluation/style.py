"""Style: does a dancer dance like the person it learned from?  Figures and a picture.

Every figure compares pose tracks in body units at MODEL_FPS, *pelvis-relative* (each joint minus the
pelvis, so travel and the body's rise and fall do not count as style) and *body-normalised* (torso
length 1, the skeleton's convention):

* **pose distance** to the source — the Fréchet distance between Gaussians fitted to the two sets of
  poses (the FID formula on the 28 pelvis-relative coordinates);
* **speed** — mean joint speed, forward differences (torso lengths per second);
* **jitter** — the share of pose power above 4 Hz (:func:`high_band_share`), and its ratio to the
  source's;
* **joint ranges** — per joint the 5th–95th percentile extent in x and y;
* **replay** — the longest stretch that copies the source frame for frame (:func:`longest_copy`):
  generated frames each within ``tolerance`` of a source frame, the source frames advancing by 0, 1 or
  2 frames per frame (a copy played a little slower or faster counts as a copy too).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancepose.models.clock import MODEL_FPS
from dancepose.models.errors import ParameterError
from dancepose.models.skeleton import JOINT_NAMES, N_JOINTS, Joint

#: Pose power above this frequency (Hz) is jitter (real dance has little of it).
JITTER_HZ = 4.0
_NON_PELVIS = [j for j in range(N_JOINTS) if j != Joint.PELVIS]


def relative_poses(poses: np.ndarray) -> np.ndarray:
    """Pelvis-relative, body-normalised poses, flattened: (T, J, 2) → (T, 2 (J − 1)) float64.

    The input is in body units already (torso ≈ 1); rows with a non-finite joint are dropped.
    """
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (N_JOINTS, 2):
        raise ParameterError(f"poses must have shape (T, {N_JOINTS}, 2), got {p.shape}")
    rel = (p[:, _NON_PELVIS] - p[:, Joint.PELVIS:Joint.PELVIS + 1]).reshape(len(p), -1)
    return rel[np.isfinite(rel).all(axis=1)]


def pose_distance(*, a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of the pelvis-relative poses of two tracks [each shape=(T, J, 2)]."""
    from dancepose.offline.metrics import frechet_distance

    return frechet_distance(a=relative_poses(a), b=relative_poses(b))


def mean_speed(poses: np.ndarray, *, fps: float = MODEL_FPS) -> float:
    """Mean joint speed of the pelvis-relative joints, forward differences (torso lengths / s)."""
    rel = relative_poses(poses).reshape(-1, N_JOINTS - 1, 2)
    if len(rel) < 2:
        return float("nan")
    return float(np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean() * fps)


def high_band_share(poses: np.ndarray | list[np.ndarray], *, fps: float = MODEL_FPS,
                    cutoff_hz: float = JITTER_HZ) -> float:
    """Share of the pelvis-relative pose power above ``cutoff_hz`` (mean removed, Hann window).

    ``poses``: one track [shape=(T, J, 2)] or several (their powers pooled; each at least 8 frames).
    """
    tracks = poses if isinstance(poses, (list, tuple)) else [poses]
    high = total = 0.0
    for p in tracks:
        rel = relative_poses(p)
        if len(rel) < 8:
            continue
        x = rel - rel.mean(axis=0)
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x))[:, None], axis=0)) ** 2
        freqs = np.fft.rfftfreq(len(x), d=1.0 / fps)
        total += float(spec[1:].sum())
        high += float(spec[freqs > cutoff_hz].sum())
    return high / total if total > 0 else float("nan")


def joint_ranges(poses: np.ndarray) -> dict[str, list[float]]:
    """Per joint the 5th–95th percentile extent of its pelvis-relative x and y (torso lengths)."""
    rel = relative_poses(poses).reshape(-1, N_JOINTS - 1, 2)
    lo, hi = np.percentile(rel, 5, axis=0), np.percentile(rel, 95, axis=0)
    return {JOINT_NAMES[j]: [round(float(hi[i, 0] - lo[i, 0]), 3), round(float(hi[i, 1] - lo[i, 1]), 3)]
            for i, j in enumerate(_NON_PELVIS)}


def longest_copy(*, generated: np.ndarray, source: np.ndarray, tolerance: float = 0.1,
                 max_advance: int = 2) -> int:
    """The longest run of generated frames that copies the source frame for frame (frames).

    Frame ``t`` copies source frame ``n`` when every joint is on average within ``tolerance`` torso
    lengths of it (pelvis-relative); a run continues from ``(t − 1, m)`` to ``(t, n)`` when
    ``0 ≤ n − m ≤ max_advance`` (dynamic programming over all source frames, so a copy of a repeated
    passage is found whichever repeat it follows).

    Parameters
    ----------
    generated, source : np.ndarray [shape=(T, J, 2)], [shape=(N, J, 2)]
        Body units at the same frame rate; concatenate several sources with a NaN frame between them.
    """
    g = relative_poses(generated).reshape(-1, N_JOINTS - 1, 2).astype(np.float32)
    s_all = np.asarray(source, dtype=np.float64)
    ok = np.isfinite(s_all).all(axis=(1, 2))
    s = np.where(ok[:, None, None], s_all, 0.0)
    s = (s[:, _NON_PELVIS] - s[:, Joint.PELVIS:Joint.PELVIS + 1]).astype(np.float32)
    run = np.zeros(len(s), np.int32)
    best = 0
    for t in range(len(g)):
        near = (np.linalg.norm(s - g[t], axis=-1).mean(axis=1) <= tolerance) & ok
        prev = run.copy()
        for k in range(1, max_advance + 1):
            prev[k:] = np.maximum(prev[k:], run[:-k])
        run = np.where(near, prev + 1, 0).astype(np.int32)
        best = max(best, int(run.max()) if len(run) else 0)
    return best


@dataclass(frozen=True)
class StyleFigures:
    """The style figures of one dancer against its source (see the module docstring)."""

    pose_distance: float
    speed: float
    jitter: float
    jitter_ratio: float
    ranges: dict

    def to_dict(self) -> dict:
        return {"pose_distance": self.pose_distance, "speed": self.speed, "jitter": self.jitter,
                "jitter_ratio": self.jitter_ratio, "ranges": self.ranges}


def style_figures(*, poses: np.ndarray, source: np.ndarray, source_jitter: float | None = None) -> StyleFigures:
    """Pose distance to ``source``, speed, jitter (and ÷ the source's) and joint ranges of ``poses``."""
    sj = high_band_share(source) if source_jitter is None else source_jitter
    j = high_band_share(poses)
    return StyleFigures(pose_distance=pose_distance(a=poses, b=source), speed=mean_speed(poses), jitter=j,
                        jitter_ratio=j / sj if sj and np.isfinite(sj) and sj > 0 else float("nan"),
                        ranges=joint_ranges(poses))


__all__ = ["JITTER_HZ", "StyleFigures", "high_band_share", "joint_ranges", "longest_copy", "mean_speed",
           "pose_distance", "relative_poses", "style_figures"]
