"""The report's pictures: per song, music beats vs kinematic beats and motion energy over loudness."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dancepose.models.clock import MODEL_FPS
from dancepose.models.outputs import atomic_output
from dancepose.offline import metrics
from dancepose.offline.evaluation.load import loudness_db


def plot_song(*, path: Path, title: str, panels: list[tuple[str, np.ndarray, np.ndarray | None]],
              beats: dict[str, tuple[np.ndarray, np.ndarray]],
              loudness: dict[str, np.ndarray | None] | None = None) -> Path:
    """PNG: per panel, music beats vs kinematic beats over the smoothed joint speed (top) and motion energy
    over the loudness envelope (bottom).

    panels: (label, poses (T, J, 2), audio or None); beats[label] = (music beats, kinematic beats);
    loudness[label]: the panel's loudness envelope (T,) dBFS when its audio is not given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import ndimage

    fig, axes = plt.subplots(2 * len(panels), 1, figsize=(12, 2.6 * 2 * len(panels)), squeeze=False)
    for i, (label, poses, y) in enumerate(panels):
        t = np.arange(len(poses)) / MODEL_FPS
        speed = ndimage.gaussian_filter1d(metrics.joint_speed(poses=poses, fps=MODEL_FPS),
                                          metrics.KINEMATIC_SIGMA_S * MODEL_FPS)
        mb, kb = beats[label]
        ax = axes[2 * i, 0]
        ax.plot(*_envelope(t, speed), lw=0.8, color="0.3", label="mean joint speed (smoothed)")
        ax.vlines(mb, 0, 1, transform=ax.get_xaxis_transform(), color="tab:red", lw=0.6, alpha=0.6)
        ax.plot(kb, np.interp(kb, t, speed), "v", color="tab:blue", ms=4, label="kinematic beats")
        ax.plot([], [], color="tab:red", lw=0.8, label="music beats")
        ax.set_ylabel("torso/s")
        ax.set_title(f"{title} — {label}: music beats vs kinematic beats", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
        ax = axes[2 * i + 1, 0]
        energy = metrics.motion_energy(poses=poses, fps=MODEL_FPS)
        ax.plot(*_envelope(t, energy), color="tab:green", lw=1.0, label="motion energy (0.5 s)")
        ax.set_ylabel("torso/s")
        level = loudness_db(y=y, n_frames=len(poses)) if y is not None else (loudness or {}).get(label)
        if level is not None:
            ax2 = ax.twinx()
            ax2.plot(*_envelope(t, level), color="tab:orange", lw=0.8, alpha=0.8, label="loudness (0.5 s)")
            ax2.set_ylabel("dBFS")
            ax2.legend(loc="upper left", fontsize=7)
        ax.set_xlabel("time (s)")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=80)
    finally:
        plt.close(fig)
    return path


#: Points a curve keeps across the picture (12 in at 80 dpi is 960 pixels): longer ones are drawn as
#: their min/max envelope, which looks the same and costs the same for a 40-s song and a 1-hour set.
PLOT_POINTS: int = 4000


def _envelope(t: np.ndarray, y: np.ndarray, *, points: int = PLOT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(t, y)`` as they are up to ``2 * points`` samples, else the min and max of ``points`` buckets."""
    if len(y) <= 2 * points:
        return t, y
    edges = np.linspace(0, len(y), points + 1).astype(int)
    lo = np.minimum.reduceat(y, edges[:-1])
    hi = np.maximum.reduceat(y, edges[:-1])
    mid = t[(edges[:-1] + edges[1:]) // 2]
    return np.repeat(mid, 2), np.column_stack([lo, hi]).ravel()
