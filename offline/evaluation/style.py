"""Style: does a dancer dance like the person it learned from?  Figures and a picture.

Every figure compares pose tracks in body units at MODEL_FPS, *pelvis-relative* (each joint minus the
pelvis, so travel and the body's rise and fall do not count as style) and *body-normalised* (torso
length 1, the skeleton's convention):

* **pose distance** to the source — the Fréchet distance between Gaussians fitted to the two sets of
  poses (the FID formula on the 28 pelvis-relative coordinates);
* **speed** — mean joint speed, forward differences (torso lengths per second);
* **jitter** — the share of pose power above 4 Hz (:func:`jitter`: the report card's
  ``metrics.high_frequency_share``), and its ratio to the source's;
* **joint ranges** — per joint the 5th–95th percentile extent in x and y;
* **replay** — the longest stretch that copies the source frame for frame (:func:`longest_copy`):
  generated frames each within ``tolerance`` of the source between two consecutive frames, the source
  advancing by 0, 1 or 2 frames per frame (a copy played a little slower or faster counts as a copy too), judged on the
  dancer with its dynamics stage off (:func:`unscaled`: scaling towards the rest pose would hide a replay).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dancepose.models.clock import MODEL_FPS
from dancepose.models.errors import ParameterError
from dancepose.models.skeleton import JOINT_NAMES, N_JOINTS, Joint

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


def jitter(tracks: np.ndarray | list[np.ndarray], *, fps: float = MODEL_FPS) -> float:
    """Jitter of one track or several: :func:`dancepose.offline.metrics.high_frequency_share` (the share
    of pelvis-relative pose power above 4 Hz), averaged over tracks weighted by their length."""
    from dancepose.offline.metrics import high_frequency_share

    tracks = tracks if isinstance(tracks, (list, tuple)) else [tracks]
    values, weights = [], []
    for p in tracks:
        if len(p) >= 8:
            v = high_frequency_share(poses=p, fps=fps)
            if np.isfinite(v):
                values.append(v)
                weights.append(len(p))
    return float(np.average(values, weights=weights)) if values else float("nan")


def joint_ranges(poses: np.ndarray) -> dict[str, list[float]]:
    """Per joint the 5th–95th percentile extent of its pelvis-relative x and y (torso lengths)."""
    rel = relative_poses(poses).reshape(-1, N_JOINTS - 1, 2)
    lo, hi = np.percentile(rel, 5, axis=0), np.percentile(rel, 95, axis=0)
    return {JOINT_NAMES[j]: [round(float(hi[i, 0] - lo[i, 0]), 3), round(float(hi[i, 1] - lo[i, 1]), 3)]
            for i, j in enumerate(_NON_PELVIS)}


def longest_copy(*, generated: np.ndarray, source: np.ndarray, tolerance: float = 0.15,
                 max_advance: int = 2) -> int:
    """The longest run of generated frames that copies the source frame for frame (frames).

    Frame ``t`` copies the source at ``n`` when its pose is on average within ``tolerance`` torso lengths
    per joint (pelvis-relative) of the source's pose between frames ``n`` and ``n + 1`` (the nearest point
    of that segment: a copy played at another rate falls between source frames); a run continues from
    ``(t − 1, m)`` to ``(t, n)`` when ``0 ≤ n − m ≤ max_advance``.  Dynamic programming over all source
    frames, so a copy of a repeated passage is found whichever repeat it follows.

    Parameters
    ----------
    generated, source : np.ndarray [shape=(T, J, 2)], [shape=(N, J, 2)]
        Body units at the same frame rate; concatenate several sources with a NaN frame between them.
    """
    from dancepose.models.moves import CopyTracker

    relative_poses(generated)  # (checks the shape)
    g = np.asarray(generated, dtype=np.float64)
    g = g[np.isfinite(g).all(axis=(1, 2))]  # frames with a missing joint are left out
    if len(source) < 2 or len(g) == 0:
        return 0
    tracker = CopyTracker(source, tolerance=tolerance, max_advance=max_advance)
    return max(tracker.update(pose) for pose in g)


@dataclass(frozen=True)
class StyleMusic:
    """A piece of music the style is judged on: mono audio at SAMPLE_RATE (or an audio file, read when
    it is danced to, its first ``seconds``), its tempo and metre."""

    name: str
    y: object                     # np.ndarray [shape=(n_samples,)] or a path
    bpm: float
    beats_per_bar: int = 4
    seconds: float | None = None  # of a file: how much of it

    def audio(self) -> np.ndarray:
        if isinstance(self.y, np.ndarray):
            return self.y
        from dancepose.models.audio import load_audio

        return load_audio(self.y, duration=self.seconds)


def dancer_figures(*, tracks: list[np.ndarray], source: list[np.ndarray], source_jitter: float) -> dict:
    """Pose distance to the source, speed, jitter (and ÷ the source's) and joint ranges of ``tracks``."""
    allp = np.concatenate(tracks)
    j = jitter(tracks)
    return {"pose_distance": pose_distance(a=allp, b=np.concatenate(source)),
            "speed": float(np.mean([mean_speed(t) for t in tracks])), "jitter": j,
            "jitter_over_source": j / source_jitter if source_jitter > 0 else float("nan"),
            "ranges": joint_ranges(allp)}


def unscaled(dancer):
    """The same dancer with its dynamics stage off (the moves at their own size)."""
    import dataclasses

    if not dancer.stages.dynamics.enabled:
        return dancer
    return dancer.with_stages(dynamics=dataclasses.replace(dancer.stages.dynamics, enabled=False))


def _copy_bars(poses: np.ndarray, source_all: np.ndarray, m: StyleMusic) -> float:
    bar_s = m.beats_per_bar * 60.0 / m.bpm if m.bpm > 0 else float("nan")
    return longest_copy(generated=poses, source=source_all) / MODEL_FPS / bar_s


def style_report(*, dancer, music: list[StyleMusic], out_dir, seed: int = 0, groove: bool | None = None,
                 default=None) -> dict:
    """The style section of ``dancepose evaluate`` for a personal dancer.

    The person's source motion (``moves.npz``, mirrored copies left out), the personal dancer and the
    default dancer (``default``, None: the shipped one) dancing to ``music``: per dancer
    :func:`dancer_figures`, the longest copy of the source (bars, per piece), the targets, and
    ``style.png`` in ``out_dir`` (source, personal and default poses side by side).
    """
    from pathlib import Path

    from dancepose.models.dancer import Dancer
    from dancepose.models.perform import perform

    from .targets import check_targets

    source = dancer.moves[0].runs(mirrored=False)
    source_all = np.concatenate([np.concatenate([r, np.full((1, N_JOINTS, 2), np.nan, np.float32)])
                                 for r in source])
    default = default if default is not None else Dancer.load(None).with_groove(groove)
    src_jitter = jitter(source)
    tracks = {"personal": [], "default": []}
    copies = {"personal": [], "default": []}
    for m in music:
        y = m.audio()
        for name, d in (("personal", dancer), ("default", default)):
            tracks[name].append(perform(y, dancer=d, seed=seed).poses)
            # copying is judged on the moves themselves: the dynamics stage only scales them towards
            # the rest pose, which would hide a replay from a pose-distance test
            moves = perform(y, dancer=unscaled(d), seed=seed).poses
            copies[name].append(_copy_bars(moves, source_all, m))
    out = {"source": {"seconds": round(sum(len(r) for r in source) / MODEL_FPS, 2), "speed":
                      float(np.mean([mean_speed(r) for r in source])), "jitter": src_jitter,
                      "ranges": joint_ranges(np.concatenate(source))},
           "music": [m.name for m in music]}
    for name in ("personal", "default"):
        out[name] = dancer_figures(tracks=tracks[name], source=source, source_jitter=src_jitter)
        out[name]["copy_bars"] = max(copies[name]) if copies[name] else float("nan")
        out[name]["copy_bars_by_music"] = copies[name]
    figures = {"pose_distance_ratio": out["personal"]["pose_distance"] / out["default"]["pose_distance"],
               "jitter_over_source": out["personal"]["jitter_over_source"],
               "copy_bars": out["personal"]["copy_bars"]}
    out["figures"] = figures
    out["targets"] = check_targets(figures, targets=STYLE_TARGETS)
    out["picture"] = str(plot_style(path=Path(out_dir) / "style.png", source=source,
                                    personal=tracks["personal"], default=tracks["default"]))
    return out


def loop_music(*, seed: int = 0, seconds: float = 20.0) -> list[StyleMusic]:
    """The report's drum loops (80–160 BPM) as the music to judge a style on when no song is given."""
    from dancepose.offline import drumloops

    return [StyleMusic(name=f"loop_{bpm}bpm", y=drumloops.drum_loop(bpm=bpm, seconds=seconds, seed=seed), bpm=bpm)
            for bpm in drumloops.TEST_TEMPI]


def _targets():
    from .targets import Target

    return (
        Target("style_pose_distance", "pose_distance_ratio", "<=", 0.5,
               "pose distance to the source ÷ the default dancer's (Fréchet, pelvis-relative poses)"),
        Target("style_jitter", "jitter_over_source", "<=", 1.5, "jitter ÷ the source's (power above 4 Hz)"),
        Target("style_not_replayed", "copy_bars", "<=", 2.0,
               "longest stretch copying the source frame for frame (bars of the music)"),
    )


#: The style targets of issue 15 (targets as data, checked by :func:`.targets.check_targets`).
STYLE_TARGETS = _targets()


def pick_frames(tracks: list[np.ndarray], *, n: int, step_s: float = 0.4) -> list[np.ndarray]:
    """``n`` poses ``step_s`` apart from the middle of the longest track (fewer apart if it is short)."""
    t = max(tracks, key=len)
    step = max(1, min(int(round(step_s * MODEL_FPS)), (len(t) - 1) // max(n - 1, 1)))
    start = max(0, (len(t) - step * (n - 1)) // 2)
    return [t[min(start + k * step, len(t) - 1)] for k in range(n)]


def plot_style(*, path, source: list[np.ndarray], personal: list[np.ndarray], default: list[np.ndarray],
               n: int = 8, size: tuple[int, int] = (240, 300)) -> "Path":
    """PNG: rows of ``n`` poses — the source, the personal dancer, the default dancer — drawn as the
    renderer draws them (:func:`dancepose.models.media.draw.render_frame`)."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dancepose.models.media import draw
    from dancepose.models.outputs import atomic_output

    w, h = size
    stage = draw.make_stage(w, h, background=(24, 26, 34))
    rows = [("source (the person)", source), ("personal dancer", personal), ("default dancer", default)]
    fig, axes = plt.subplots(len(rows), 1, figsize=(n * w / 100, len(rows) * (h / 100 + 0.3)), dpi=100)
    for ax, (label, tracks) in zip(axes, rows):
        frames = [draw.render_frame(p, stage=stage) for p in pick_frames(tracks, n=n)]
        ax.imshow(np.concatenate(frames, axis=1))
        ax.set_title(label, fontsize=10, loc="left")
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def format_style(style: dict) -> list[str]:
    """The style section as text lines (for the report's table)."""
    def f(v, nd=3):
        return "–" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"

    src, per, dfl = style["source"], style["personal"], style["default"]
    lines = ["", f"style (personal dancer vs its source, {src['seconds']:.0f} s; music: "
             f"{', '.join(style['music'])})",
             "figure                                source    personal   default",
             f"pose distance to the source (FD)      –         {f(per['pose_distance']):9s}  {f(dfl['pose_distance'])}",
             f"mean joint speed (torso/s)            {f(src['speed'], 2):9s} {f(per['speed'], 2):9s}  {f(dfl['speed'], 2)}",
             f"jitter (power > 4 Hz)                 {f(src['jitter'], 5):9s} {f(per['jitter'], 5):9s}  {f(dfl['jitter'], 5)}",
             f"  ÷ source                            1         {f(per['jitter_over_source'], 2):9s}  "
             f"{f(dfl['jitter_over_source'], 2)}",
             f"longest copy of the source (bars)     –         {f(per['copy_bars'], 2):9s}  {f(dfl['copy_bars'], 2)}",
             "joint range x / y (5–95 %, torso lengths):"]
    for j in src["ranges"]:
        lines.append(f"  {j:12s} " + "   ".join(f"{k} {style[k]['ranges'][j][0]:.2f}/{style[k]['ranges'][j][1]:.2f}"
                                                  for k in ("source", "personal", "default")))
    for key, t in style["targets"].items():
        lines.append(f"  {'✓' if t['ok'] else '✗'} {key:20s} {f(t['value'], 3)} (target {t['comparison']} "
                     f"{t['threshold']}: {t['rule']})")
    lines.append(f"picture: {style['picture']}")
    return lines


__all__ = ["unscaled", "STYLE_TARGETS", "StyleMusic", "dancer_figures", "format_style", "jitter", "loop_music",
           "joint_ranges", "longest_copy", "mean_speed", "pick_frames", "plot_style", "pose_distance",
           "relative_poses", "style_report"]
