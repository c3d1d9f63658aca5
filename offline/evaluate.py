"""``dancepose evaluate``: the dancer's report card, with real dance as the reference for every figure.

Rows (one per song and kind):

* ``generated`` — the model dancing to a validation song of Dance with Melody (songs it was not trained
  on, :data:`dancepose.offline.dataset.VALIDATION_SONGS`), scored on the danced segment of the song;
* ``gt`` — the real dance against its own music;
* ``gt_mismatched`` — the same real dance against the beats of *another* song (a reference for chance);
* ``file`` — pose files given on the command line (e.g. ``dancepose render --save-pose``) with their audio;
* ``loop`` — the model on synthesised drum loops (80–160 BPM, silence gaps, quiet vs loud).

Summary: BAS, tempo, diversity and FID_k (generated vs real, with real-vs-real references: GT of the
validation songs vs GT of the training songs, and AIST++ street dance vs DwM), freeze, limb and frame
checks, reactivity, and targets marked ✓/✗.  Written as a table on stdout, ``report.json`` and one PNG
per song (music beats vs kinematic beats; motion energy over the loudness envelope).

Music beats come from ``librosa.beat.beat_track`` (non-causal; fine offline) with a 256-sample hop
(10.7 ms at 24 kHz); the default 512 hop quantises the lag too coarsely to tell 160 BPM from 80.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dancepose.models.audio import load_audio
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import InputError, ParameterError
from dancepose.models.skeleton import adapt, rotate_yaw_project, to_body_units
from dancepose.offline import drumloops, metrics
from dancepose.offline.dataset import VALIDATION_SONGS

BEAT_HOP: int = 256
#: Tempo of the silence-gap and quiet/loud loops.
GAP_BPM: int = 120


@dataclass(frozen=True)
class EvalConfig:
    """Knobs of the report (defaults = the documented targets)."""

    window_s: float = 2.0                 # kinetic-feature window
    frame_size: tuple[int, int] = (1280, 720)
    loop_seconds: float = 20.0            # length of each tempo loop
    song_octaves: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0)  # beat or bar (waltz: 3 beats)
    loop_octaves: tuple[float, ...] = (0.5, 1.0, 2.0)
    tempo_tolerance: float = 0.05
    # targets
    bas_factor: float = 1.05
    diversity_factor: float = 0.9
    max_freeze: float = 0.02
    max_stretched: float = 0.01
    min_in_frame: float = 0.999
    max_settle_s: float = 1.0
    max_resume_beats: float = 2.0


@dataclass
class Track:
    """A pose track with its music, ready to score (all on the model clock)."""

    name: str
    kind: str
    poses: np.ndarray            # (T, J, 2) body units
    y: np.ndarray | None         # audio at SAMPLE_RATE, time 0 = pose frame 0
    in_frame: float | None = None
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------- music
def track_beats(*, y: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[float, np.ndarray]:
    """Tempo (BPM) and beat times (s) of a signal with ``librosa.beat.beat_track`` (hop 256)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size < sr or not np.any(y):
        return float("nan"), np.zeros(0)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=BEAT_HOP, units="time")
    return float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)


#: Frames quieter than this (0.5-s RMS, dBFS) count as silence for the freeze ratio.
AUDIBLE_DBFS = -45.0


def loudness_db(*, y: np.ndarray, n_frames: int, window_s: float = 0.5) -> np.ndarray:
    """Loudness envelope: RMS level (dBFS, floor −80) over ``window_s`` centred on each model frame.

    Returns ``(n_frames,)``; frame t is at time t / MODEL_FPS.
    """
    from scipy import ndimage

    y = np.asarray(y, dtype=np.float64)
    n = n_frames * HOP_LENGTH
    power = np.zeros(n)
    m = min(n, y.size)
    power[:m] = y[:m] ** 2
    hop_power = power.reshape(n_frames, HOP_LENGTH).mean(axis=1)
    smooth = ndimage.uniform_filter1d(hop_power, size=max(1, int(round(window_s * MODEL_FPS))),
                                      mode="nearest")
    return np.maximum(10 * np.log10(smooth + 1e-12), -80.0)


# ----------------------------------------------------------------------------------- loading
def _dwm_dir(data: Path) -> Path:
    data = Path(data)
    if (data / "dance_with_melody").is_dir():
        data = data / "dance_with_melody"
    if not data.is_dir() or not any(data.glob("*/motion.npz")):
        raise InputError(f"{data} holds no Dance-with-Melody sequences (*/motion.npz)")
    return data


def load_dwm_2d(folder: Path) -> tuple[np.ndarray, float, float]:
    """Real dance of a DwM sequence as 2D body units at MODEL_FPS (yaw 0 projection).

    Returns ``(poses (T, J, 2), audio_offset_s, duration_s)``; pose frame t ↔ song time offset + t/30.
    """
    from dancepose.offline.dataset import load_dwm_motion

    canon, fps, offset = load_dwm_motion(folder)
    p2 = metrics.resample_poses(poses=rotate_yaw_project(canon), fps_in=fps, fps_out=MODEL_FPS)
    return to_body_units(p2, fps=MODEL_FPS), offset, (len(canon) - 1) / fps


def load_aistpp_2d(folder: Path, *, view: int = 0) -> list[np.ndarray]:
    """AIST++ 2D keypoints (COCO-17, 60 fps) → list of body-unit tracks at MODEL_FPS (one per file)."""
    out = []
    for f in sorted(Path(folder).glob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            kp = z["keypoints2d"][view, :, :, :2].astype(np.float32)
            ts = z["timestamps"].astype(np.float64) / 1e6
        fps = (len(ts) - 1) / (ts[-1] - ts[0])
        canon, _ = adapt(kp, source="coco17")
        p = metrics.resample_poses(poses=canon, fps_in=fps, fps_out=MODEL_FPS)
        out.append(to_body_units(p, fps=MODEL_FPS))
    return out


def load_pose_track(path: Path, *, audio: Path | None) -> Track:
    """A ``.pose.npz`` with its music (given, or found beside it) as a :class:`Track`."""
    from dancepose.models.posefile import MISSING, PoseSequence
    from dancepose.offline.dataset import find_audio_for

    seq = PoseSequence.load(path)
    kp = seq.keypoints.astype(np.float64).copy()
    kp[seq.flags == MISSING] = np.nan
    if len(seq) < 2 or not np.isfinite(kp).any():
        raise InputError(f"{path} holds no usable pose")
    audio_path = Path(audio) if audio else find_audio_for(Path(path), seq)
    ok = np.isfinite(kp).all(axis=-1)
    w, h = seq.image_size
    inside = ok & (kp[..., 0] >= 0) & (kp[..., 0] <= w) & (kp[..., 1] >= 0) & (kp[..., 1] <= h)
    in_frame = float(inside.all(axis=1).mean())
    # interpolate short NaN gaps so derivatives exist, then resample to the model clock
    idx = np.arange(len(kp))
    for j in range(kp.shape[1]):
        good = ok[:, j]
        if good.sum() >= 2:
            for c in range(2):
                kp[:, j, c] = np.interp(idx, idx[good], kp[good, j, c])
    p = metrics.resample_poses(poses=kp, fps_in=seq.fps, fps_out=MODEL_FPS)
    y = load_audio(audio_path, duration=seq.duration + 0.1)
    name = Path(path).name.removesuffix(".pose.npz")
    return Track(name=name, kind="file", poses=to_body_units(p, fps=MODEL_FPS), y=y, in_frame=in_frame,
                 extra={"audio": str(audio_path), "image_size": [w, h]})


def in_frame_pixels(*, poses: np.ndarray, frame_size: tuple[int, int]) -> float:
    """Fraction of frames fully inside a ``W×H`` render, with the renderer's own mapping if available."""
    try:
        from dancepose.models.media.draw import pose_to_pixels
    except ImportError:  # renderer not installed: documented body-unit box
        return metrics.in_frame_ratio(poses=poses)
    w, h = frame_size
    px = pose_to_pixels(np.asarray(poses, dtype=np.float32), width=w, height=h)
    return metrics.in_frame_ratio(poses=px, bounds=metrics.FrameBounds(0.0, float(w), 0.0, float(h)))


# ----------------------------------------------------------------------------------- scoring
def real_limb_reference(tracks: list[np.ndarray]) -> np.ndarray:
    """The usual (full, unforeshortened) length of every limb in real dance: its 95th percentile over
    the torso-normalised frames of ``tracks`` [each shape=(T, J, 2)].  Returns [shape=(len(LIMBS),)]."""
    from dancepose.models.skeleton import limb_lengths

    lengths = np.concatenate([limb_lengths(metrics.normalise_poses(poses=t)) for t in tracks])
    return np.nanpercentile(lengths, 95, axis=0)


def score_track(track: Track, *, config: EvalConfig = EvalConfig(),
                beats: tuple[float, np.ndarray] | None = None,
                limb_reference: np.ndarray | None = None) -> dict[str, Any]:
    """All per-track figures of one :class:`Track` (JSON-ready dict, plus private arrays under ``_``).

    ``limb_reference``: usual limb lengths from real dance (:func:`real_limb_reference`); the stretch
    check compares against them (a 2D figure often foreshortens a limb, so its own percentiles are no
    anatomy).  Without it, each track's own 75th percentiles are used.  Both are reported.
    """
    fps = MODEL_FPS
    p = track.poses
    tempo, mb = beats if beats is not None else (track_beats(y=track.y) if track.y is not None
                                                  else (float("nan"), np.zeros(0)))
    dur = p.shape[0] / fps
    mb = mb[mb <= dur]
    kb = metrics.kinematic_beats(poses=p, fps=fps)
    period = metrics.motion_period(poses=p, fps=fps)
    octaves = config.loop_octaves if track.kind == "loop" else config.song_octaves
    tm = metrics.tempo_match(motion_period_s=period, beat_period_s=60.0 / tempo if tempo > 0 else math.nan,
                             tolerance=config.tempo_tolerance, octaves=octaves)
    pn = metrics.normalise_poses(poses=p)
    limbs_self = metrics.limb_plausibility(poses=pn)
    limbs = metrics.limb_plausibility(poses=pn, reference=limb_reference) if limb_reference is not None \
        else limbs_self
    in_frame = track.in_frame if track.in_frame is not None else in_frame_pixels(
        poses=p, frame_size=config.frame_size)
    ph = metrics.beat_phase(music_beats=mb, kinematic_beats=kb)
    row = {
        "song": track.name, "kind": track.kind, "seconds": round(dur, 2),
        "music_bpm": tempo, "bas": metrics.beat_align_score(music_beats=mb, kinematic_beats=kb),
        "on_beat": ph["on_beat"], "phase_resultant": ph["resultant"],
        "kinematic_beats_per_music_beat": (len(kb) / len(mb)) if len(mb) else math.nan,
        "motion_period_s": period, "tempo_ratio": tm["ratio"], "tempo_multiple": tm["multiple"],
        "tempo_error": tm["error"], "tempo_followed": tm["followed"],
        "freeze": metrics.freeze_ratio(poses=p, fps=fps),
        "mean_speed": float(np.mean(metrics.joint_speed(poses=p, fps=fps))),
        "stretched_frames": limbs["stretched_frames"], "max_limb_ratio": limbs["max_ratio"],
        "stretched_frames_self": limbs_self["stretched_frames"],
        "in_frame": in_frame, **track.extra,
        "_kinetic": metrics.kinetic_features(poses=p, fps=fps, window_s=config.window_s),
        "_music_beats": mb, "_kinematic_beats": kb,
    }
    return row


def _public(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k.startswith("_"):
            continue
        if isinstance(v, (np.floating, float)):
            v = None if not np.isfinite(v) else round(float(v), 4)
        elif isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, np.bool_):
            v = bool(v)
        out[k] = v
    return out


def _nanmean(values: Sequence[float]) -> float:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _pool(rows: list[dict]) -> np.ndarray:
    feats = [r["_kinetic"] for r in rows if len(r["_kinetic"])]
    return np.concatenate(feats) if feats else np.zeros((0, 0))


# ----------------------------------------------------------------------------------- plots
def plot_song(*, path: Path, title: str, panels: list[tuple[str, np.ndarray, np.ndarray | None]],
              beats: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """PNG: per panel, music beats vs kinematic beats over the smoothed joint speed (top) and motion energy
    over the loudness envelope (bottom).

    panels: (label, poses (T, J, 2), audio or None); beats[label] = (music beats, kinematic beats).
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
        ax.plot(t, speed, lw=0.8, color="0.3", label="mean joint speed (smoothed)")
        for b in mb:
            ax.axvline(b, color="tab:red", lw=0.6, alpha=0.6)
        ax.plot(kb, np.interp(kb, t, speed), "v", color="tab:blue", ms=4, label="kinematic beats")
        ax.plot([], [], color="tab:red", lw=0.8, label="music beats")
        ax.set_ylabel("torso/s")
        ax.set_title(f"{title} — {label}: music beats vs kinematic beats", fontsize=9)
        ax.legend(loc="upper right", fontsize=7)
        ax = axes[2 * i + 1, 0]
        energy = metrics.motion_energy(poses=poses, fps=MODEL_FPS)
        ax.plot(t, energy, color="tab:green", lw=1.0, label="motion energy (0.5 s)")
        ax.set_ylabel("torso/s")
        if y is not None:
            ax2 = ax.twinx()
            ax2.plot(t, loudness_db(y=y, n_frames=len(poses)), color="tab:orange", lw=0.8, alpha=0.8, label="loudness (0.5 s)")
            ax2.set_ylabel("dBFS")
            ax2.legend(loc="upper left", fontsize=7)
        ax.set_xlabel("time (s)")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------- reactivity
def reactivity(*, dancer, config: EvalConfig = EvalConfig(), seed: int = 0, quiet: bool = False
               ) -> tuple[list[dict], dict[str, Any]]:
    """The model on drum loops: tempo following, silence gaps, quiet vs loud.

    Returns (per-loop rows, summary dict).
    """
    from tqdm import tqdm

    from dancepose.models.features import music_features

    rows = []
    for bpm in tqdm(drumloops.TEST_TEMPI, desc="tempo loops", unit="loop", disable=quiet):
        y = drumloops.drum_loop(bpm=bpm, seconds=config.loop_seconds, seed=seed)
        poses = dancer.generate(music_features(y=y), seed=seed)
        # judge the steady state: the first 4 s let the causal beat tracker lock on
        skip = 4 * MODEL_FPS
        tr = Track(name=f"loop_{bpm}bpm", kind="loop", poses=poses[skip:], y=y[skip * HOP_LENGTH:])
        grid = np.arange(0.0, config.loop_seconds, 60.0 / bpm) - skip / MODEL_FPS
        row = score_track(tr, config=config, beats=(float(bpm), grid[grid >= 0]))
        row["requested_bpm"] = bpm
        rows.append(row)

    gap_bpm = GAP_BPM
    sections = drumloops.gap_sections()
    y = drumloops.sectioned_loop(bpm=gap_bpm, sections=sections, seed=seed)
    poses = dancer.generate(music_features(y=y), seed=seed)
    on = drumloops.section_mask(sections=sections, n_frames=len(poses), fps=MODEL_FPS)
    energy = metrics.motion_energy(poses=poses, fps=MODEL_FPS, window_s=0.25)
    sr_ = metrics.settle_and_resume(energy=energy, fps=MODEL_FPS, music_on=on)
    beat_s = 60.0 / gap_bpm
    gaps = {"bpm": gap_bpm, "settle_s": sr_["settle_s"], "resume_s": sr_["resume_s"],
            "resume_beats": [r / beat_s if np.isfinite(r) else math.nan for r in sr_["resume_s"]],
            "silence_level": sr_["silence_level"], "music_level": sr_["music_level"]}

    dyn = drumloops.dynamics_sections()
    y2 = drumloops.sectioned_loop(bpm=gap_bpm, sections=dyn, seed=seed)
    poses2 = dancer.generate(music_features(y=y2), seed=seed)
    gain = drumloops.section_mask(sections=dyn, n_frames=len(poses2), fps=MODEL_FPS, key="gain_db")
    e2 = metrics.motion_energy(poses=poses2, fps=MODEL_FPS)
    t = np.arange(len(poses2)) / MODEL_FPS
    settled = np.zeros(len(t), dtype=bool)
    for s in dyn:  # skip the first 2 s of every section (transition)
        settled |= (t >= s.start_s + 2.0) & (t < s.end_s)
    loud = float(np.mean(e2[settled & (gain > -1)]))
    quiet_e = float(np.mean(e2[settled & (gain < -1)]))
    summary = {
        "tempo": [{"bpm": r["requested_bpm"], "motion_period_s": r["motion_period_s"],
                   "ratio": r["tempo_ratio"], "followed": r["tempo_followed"]} for r in rows],
        "gaps": gaps,
        "dynamics": {"loud_energy": loud, "quiet_energy": quiet_e,
                     "loud_over_quiet": loud / quiet_e if quiet_e > 0 else math.inf,
                     "quiet_db": dyn[0].gain_db},
        "_gap_track": (poses, y, on), "_dyn_track": (poses2, y2),
    }
    return rows, summary


# ----------------------------------------------------------------------------------- main
def _check(value: float, ok: bool) -> str:
    if ok:
        return "✓"
    return "–" if value is None or np.isnan(value) else "✗"


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        return ("never" if np.isinf(v) else "–") if not np.isfinite(v) else f"{v:.{nd}f}"
    return str(v)


def evaluate(*, poses: Sequence[str | os.PathLike] = (), audio: Sequence[str | os.PathLike] = (),
             model_dir: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
             songs: Sequence[str] | None = None, reactivity_tests: bool = False,
             minutes_in_frame: float = 10.0, out_dir: str | os.PathLike = "eval_report", seed: int = 0,
             generate: bool = True, config: EvalConfig = EvalConfig(), quiet: bool = False) -> dict:
    """Score dancing: pose files, the model on validation songs and drum loops, and real dance.

    Parameters
    ----------
    poses : sequence of paths
        ``.pose.npz`` files to score (generated or extracted); their music is ``audio`` (same order) or
        found beside them.
    audio : sequence of paths
        Music of ``poses`` (empty: look beside each pose file).
    model_dir : path or None
        Dancer to generate with (None: the shipped default).
    data : path or None
        Dance-with-Melody folder (or the shared data root holding it): real-dance rows, and the model on
        the validation songs.
    songs : sequence of str or None
        DwM sequences to use (default: ``dataset.VALIDATION_SONGS``).
    reactivity_tests : bool
        Run the drum-loop tests (tempo 80–160 BPM, silence gaps, quiet vs loud).
    minutes_in_frame : float
        Length of the continuous generation of the stay-in-frame test (0: skip).
    out_dir : path
        Where ``report.json`` and the PNGs go.
    seed : int
        Generation seed.
    generate : bool
        False: no model at all (score files and real dance only).
    config : EvalConfig
    quiet : bool
        No progress bars and no table on stdout.

    Returns
    -------
    dict — the report (also written to ``out_dir/report.json``).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if audio and len(audio) != len(poses):
        raise ParameterError(f"give one --audio per pose file ({len(poses)} pose files, {len(audio)} audio)")
    if minutes_in_frame < 0:
        raise ParameterError(f"minutes_in_frame must be ≥ 0, got {minutes_in_frame}")
    if not poses and data is None and not generate:
        raise ParameterError("nothing to evaluate: give pose files, --data or allow generation")
    for p in list(poses) + list(audio):
        if not Path(p).is_file():
            raise InputError(f"file not found: {p}")
    if data is not None:
        _dwm_dir(Path(data))
    if not poses and data is None:
        reactivity_tests = True  # bare `dancepose evaluate`: the model on drum loops
    out_dir.mkdir(parents=True, exist_ok=True)

    dancer = None
    if generate and (data is not None or reactivity_tests or minutes_in_frame > 0):
        from dancepose.models.dancer import Dancer

        dancer = Dancer.load(model_dir)
    rows: list[dict] = []
    plots: list[str] = []
    notes: list[str] = []

    # ---------------------------------------------------------------- pose files
    for i, p in enumerate(tqdm(list(poses), desc="pose files", unit="file", disable=quiet)):
        tr = load_pose_track(Path(p), audio=Path(audio[i]) if audio else None)
        row = score_track(tr, config=config)
        rows.append(row)
        png = out_dir / f"eval_{tr.name}.png"
        plot_song(path=png, title=tr.name, panels=[("file", tr.poses, tr.y)],
                  beats={"file": (row["_music_beats"], row["_kinematic_beats"])})
        plots.append(str(png))

    # ---------------------------------------------------------------- DwM songs
    features_for_long_run: list[np.ndarray] = []
    ref_feats: dict[str, np.ndarray] = {}
    limb_ref: np.ndarray | None = None
    if data is not None:
        from dancepose.models.features import music_features

        dwm = _dwm_dir(Path(data))
        names = list(songs) if songs else [s for s in VALIDATION_SONGS if (dwm / s).is_dir()]
        missing = [s for s in names if not (dwm / s / "motion.npz").is_file()]
        if missing:
            raise InputError(f"unknown Dance-with-Melody sequence(s) in {dwm}: {', '.join(missing)}")
        if not names:
            raise InputError(f"none of the validation songs is in {dwm}")
        loaded = {}
        limb_ref = real_limb_reference([load_dwm_2d(dwm / n)[0] for n in names])
        for name in tqdm(names, desc="songs", unit="song", disable=quiet):
            gt, offset, dur = load_dwm_2d(dwm / name)
            y_song = load_audio(dwm / name / "audio.mp3", duration=offset + dur + 0.2)
            y_seg = y_song[int(round(offset * SAMPLE_RATE)):]
            tempo, mb = track_beats(y=y_seg)
            loaded[name] = (gt, offset, y_song, y_seg, (tempo, mb))
            panels = [("real", gt, y_seg)]
            gt_row = score_track(Track(name=name, kind="gt", poses=gt, y=y_seg), config=config,
                                 beats=(tempo, mb), limb_reference=limb_ref)
            rows.append(gt_row)
            beat_map = {"real": (gt_row["_music_beats"], gt_row["_kinematic_beats"])}
            if dancer is not None:
                feats = music_features(y=y_song)
                features_for_long_run.append(feats)
                gen_all = dancer.generate(feats, seed=seed)
                start = int(round(offset * MODEL_FPS))
                gen = gen_all[start:start + len(gt)]
                g_row = score_track(Track(name=name, kind="generated", poses=gen, y=y_seg), config=config,
                                    beats=(tempo, mb), limb_reference=limb_ref)
                # The whole song, counting only frames where music is audible (resting in a silent
                # intro or outro is the wanted behaviour, not a freeze).
                audible = loudness_db(y=y_song, n_frames=len(gen_all)) > AUDIBLE_DBFS
                g_row["freeze_whole"] = metrics.freeze_ratio(poses=gen_all, fps=MODEL_FPS, mask=audible)
                rows.append(g_row)
                panels.append(("generated", gen, y_seg))
                beat_map["generated"] = (g_row["_music_beats"], g_row["_kinematic_beats"])
            png = out_dir / f"eval_{name}.png"
            plot_song(path=png, title=name, panels=panels, beats=beat_map)
            plots.append(str(png))
        # real dance against another song's beats
        for i, name in enumerate(names):
            if len(names) < 2:
                break
            other = names[(i + 1) % len(names)]
            gt = loaded[name][0]
            tempo, mb = loaded[other][4]
            r = score_track(Track(name=f"{name}~{other}", kind="gt_mismatched", poses=gt, y=loaded[other][3]),
                            config=config, beats=(tempo, mb), limb_reference=limb_ref)
            rows.append(r)
        # real-vs-real references for FID_k / diversity
        train = [d.name for d in sorted(dwm.iterdir()) if (d / "motion.npz").is_file() and d.name not in names]
        if train:
            ref_feats["dwm_train"] = np.concatenate([
                metrics.kinetic_features(poses=load_dwm_2d(dwm / t)[0], fps=MODEL_FPS, window_s=config.window_s)
                for t in tqdm(train, desc="reference dance", unit="song", disable=quiet)])
        aist = dwm.parent / "aistpp_keypoints2d"
        if aist.is_dir():
            ref_feats["aistpp"] = np.concatenate([
                metrics.kinetic_features(poses=p, fps=MODEL_FPS, window_s=config.window_s)
                for p in load_aistpp_2d(aist)])

    # ---------------------------------------------------------------- drum loops
    react = None
    if dancer is not None and reactivity_tests:
        loop_rows, react = reactivity(dancer=dancer, config=config, seed=seed, quiet=quiet)
        rows += loop_rows
        gp, gy, _ = react.pop("_gap_track")
        dp, dy = react.pop("_dyn_track")
        for label, pp, yy in (("silence_gaps", gp, gy), ("quiet_loud", dp, dy)):
            png = out_dir / f"eval_loop_{label}.png"
            gap_bpm = GAP_BPM
            grid = np.arange(0.0, len(pp) / MODEL_FPS, 60.0 / gap_bpm)
            mb = grid[np.abs(yy[np.minimum((grid * SAMPLE_RATE).astype(int), len(yy) - 1)]) > 0]
            kb = metrics.kinematic_beats(poses=pp, fps=MODEL_FPS)
            plot_song(path=png, title=f"drum loop 120 BPM, {label}", panels=[("generated", pp, yy)],
                      beats={"generated": (mb, kb)})
            plots.append(str(png))

    # ---------------------------------------------------------------- long run
    long_run = None
    if dancer is not None and minutes_in_frame > 0:
        from dancepose.models.features import music_features

        n_target = int(round(minutes_in_frame * 60 * MODEL_FPS))
        if not features_for_long_run:
            for bpm in drumloops.TEST_TEMPI:
                features_for_long_run.append(music_features(y=drumloops.drum_loop(bpm=bpm, seconds=60.0,
                                                                                  seed=seed)))
        feats = np.concatenate(features_for_long_run)
        reps = int(np.ceil(n_target / len(feats)))
        feats = np.concatenate([feats] * reps)[:n_target]
        gen = dancer.generate(feats, seed=seed)
        limbs = metrics.limb_plausibility(poses=metrics.normalise_poses(poses=gen), reference=limb_ref)
        long_run = {"minutes": minutes_in_frame,
                    "source": "validation songs, concatenated and looped" if data is not None
                    else "drum loops 80–160 BPM, concatenated and looped",
                    "in_frame": in_frame_pixels(poses=gen, frame_size=config.frame_size),
                    "freeze": metrics.freeze_ratio(poses=gen, fps=MODEL_FPS),
                    "stretched_frames": limbs["stretched_frames"], "max_limb_ratio": limbs["max_ratio"],
                    "max_abs_x": float(np.nanmax(np.abs(gen[..., 0]))),
                    "y_range": [float(np.nanmin(gen[..., 1])), float(np.nanmax(gen[..., 1]))]}

    report = _summarise(rows=rows, react=react, long_run=long_run, ref_feats=ref_feats, config=config,
                        notes=notes)
    report["plots"] = plots
    report["config"] = asdict(config)
    report["model"] = None if dancer is None else str(model_dir or "default")
    tmp = out_dir / "report.json.part"
    tmp.write_text(json.dumps(_jsonable(report), indent=2, ensure_ascii=False))
    os.replace(tmp, out_dir / "report.json")
    if not quiet:
        print(format_report(report))
        print(f"\nreport: {out_dir / 'report.json'}  plots: {len(plots)} PNG in {out_dir}")
    return report


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else round(float(obj), 4)
    return obj


def _summarise(*, rows: list[dict], react: dict | None, long_run: dict | None, ref_feats: dict,
               config: EvalConfig, notes: list[str]) -> dict:
    by = {k: [r for r in rows if r["kind"] == k] for k in ("gt", "gt_mismatched", "generated", "file", "loop")}
    summary: dict[str, Any] = {}
    targets: dict[str, dict] = {}
    gt, gen, mis = by["gt"], by["generated"], by["gt_mismatched"]
    if gt:
        for kind, rs in (("gt", gt), ("gt_mismatched", mis), ("generated", gen), ("file", by["file"])):
            if rs:
                summary[kind] = {k: _nanmean([r[k] for r in rs]) for k in
                                 ("bas", "on_beat", "phase_resultant", "tempo_error", "freeze",
                                  "stretched_frames", "in_frame")}
                summary[kind]["tempo_followed"] = sum(bool(r["tempo_followed"]) for r in rs) / len(rs)
        gt_f = _pool(gt)
        summary["gt"]["diversity"] = metrics.diversity(features=gt_f)
        refs = {}
        for name, f in ref_feats.items():
            refs[name] = {"diversity": metrics.diversity(features=f),
                          "fid_k_vs_gt_val": metrics.frechet_distance(a=gt_f, b=f)}
        summary["references"] = refs
        # which metrics discriminate real pairings? own music vs another song's music, per song
        if mis:
            disc = {}
            own = {r["song"]: r for r in gt}
            for key, sign in (("bas", 1.0), ("on_beat", 1.0), ("tempo_error", -1.0)):
                # tempo_error: lower is better → compare negated values
                pairs = [(sign * float(own[m["song"].split("~")[0]][key]), sign * float(m[key])) for m in mis]
                pairs = [(a, b) for a, b in pairs if np.isfinite(a) and np.isfinite(b)]
                wins = sum(a > b for a, b in pairs)
                mean_own = float(np.mean([a for a, _ in pairs])) if pairs else math.nan
                mean_mis = float(np.mean([b for _, b in pairs])) if pairs else math.nan
                ok = bool(pairs) and wins >= 0.8 * len(pairs) and \
                    mean_own - mean_mis > 0.1 * max(abs(mean_own), abs(mean_mis))
                disc[key] = {"own_music": sign * mean_own, "mismatched_music": sign * mean_mis, "own_wins": wins,
                             "songs": len(pairs), "discriminates": ok}
            summary["discrimination"] = disc
            bad = [k for k, v in disc.items() if not v["discriminates"]]
            good = [k for k, v in disc.items() if v["discriminates"]]
            notes.append("On this (ballroom) data real dance scores "
                         + (f"clearly better with its own music on {', '.join(good)}" if good else
                            "no better with its own music than with another song's")
                         + (f"; {', '.join(bad)} do(es) not discriminate real pairings here "
                            "(speed minima are only weakly beat-locked in ballroom)" if bad else "")
                         + ". Diversity / FID_k / freeze / limbs / frame do not depend on the music.")
        if gen:
            gen_f = _pool(gen)
            summary["generated"]["diversity"] = metrics.diversity(features=gen_f)
            summary["generated"]["fid_k_vs_gt_val"] = metrics.frechet_distance(a=gen_f, b=gt_f)
            if "dwm_train" in ref_feats:
                summary["generated"]["fid_k_vs_dwm_train"] = metrics.frechet_distance(
                    a=gen_f, b=ref_feats["dwm_train"])
            b_gen, b_gt = summary["generated"]["bas"], summary["gt"]["bas"]
            targets["bas"] = {"value": b_gen, "target": config.bas_factor * b_gt,
                              "rule": f"BAS ≥ {config.bas_factor} × real dance BAS on the same songs",
                              "ok": bool(b_gen >= config.bas_factor * b_gt)}
            d_gen, d_gt = summary["generated"]["diversity"], summary["gt"]["diversity"]
            targets["diversity"] = {"value": d_gen, "target": config.diversity_factor * d_gt,
                                    "rule": f"Div_k ≥ {config.diversity_factor} × real dance",
                                    "ok": bool(d_gen >= config.diversity_factor * d_gt)}
            fz = max(max(r.get("freeze_whole", r["freeze"]) for r in gen),
                     long_run["freeze"] if long_run else 0.0)
            targets["freeze"] = {"value": fz, "target": config.max_freeze,
                                 "rule": f"freeze ≤ {config.max_freeze:.0%} (worst song / long run)",
                                 "ok": bool(fz <= config.max_freeze)}
    if long_run is not None:
        targets["in_frame"] = {"value": long_run["in_frame"], "target": config.min_in_frame,
                               "rule": f"all joints inside {config.frame_size[0]}×{config.frame_size[1]} "
                                       f"for {long_run['minutes']:g} min", "ok":
                               bool(long_run["in_frame"] >= config.min_in_frame)}
        st = max([long_run["stretched_frames"]] + [r["stretched_frames"] for r in gen])
        targets["limbs"] = {"value": st, "target": config.max_stretched,
                            "rule": f"frames with a limb > {metrics.LIMB_STRETCH}× its usual length (95th "
                                    f"percentile in real dance) ≤ {config.max_stretched:.0%}",
                            "ok": bool(st <= config.max_stretched)}
        if "freeze" not in targets:
            targets["freeze"] = {"value": long_run["freeze"], "target": config.max_freeze,
                                 "rule": f"freeze ≤ {config.max_freeze:.0%} over the long run",
                                 "ok": bool(long_run["freeze"] <= config.max_freeze)}
    if react is not None:
        n_ok = sum(bool(t["followed"]) for t in react["tempo"])
        targets["tempo"] = {"value": n_ok, "target": len(react["tempo"]),
                            "rule": "motion period = beat period (×½, ×1, ×2) on 80–160 BPM loops",
                            "ok": n_ok == len(react["tempo"])}
        settle = [s for s in react["gaps"]["settle_s"]]
        worst = max((s if np.isfinite(s) else math.inf) for s in settle) if settle else math.nan
        targets["settle"] = {"value": worst, "target": config.max_settle_s,
                             "rule": "motion energy < 20 % of its music level within 1 s of silence",
                             "ok": bool(worst <= config.max_settle_s)}
        res = react["gaps"]["resume_beats"]
        worst_r = max((r if np.isfinite(r) else math.inf) for r in res) if res else math.nan
        targets["resume"] = {"value": worst_r, "target": config.max_resume_beats,
                             "rule": "energy back > 50 % of music level within 2 beats of the music",
                             "ok": bool(worst_r <= config.max_resume_beats)}
    return {"rows": [_public(r) for r in rows], "summary": summary, "targets": targets,
            "reactivity": react, "long_run": long_run, "notes": notes}


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    cols = [("song", "song", 22), ("kind", "kind", 13), ("s", "seconds", 6), ("BPM", "music_bpm", 6),
            ("BAS", "bas", 6), ("onbeat", "on_beat", 7), ("period", "motion_period_s", 7),
            ("ratio", "tempo_ratio", 6), ("tempo", "tempo_followed", 6), ("freeze", "freeze", 7),
            ("stretch", "stretched_frames", 8), ("inframe", "in_frame", 8)]
    lines = ["  ".join(h.ljust(w) for h, _, w in cols)]
    for r in report["rows"]:
        lines.append("  ".join(_fmt(r.get(k), 2 if k in ("seconds", "music_bpm", "motion_period_s")
                                    else 3)[:w].ljust(w) for _, k, w in cols))
    s = report["summary"]
    if s:
        lines.append("")
        for kind in ("gt", "gt_mismatched", "generated", "file"):
            if kind in s:
                lines.append(f"{kind:14s} " + "  ".join(f"{k}={_fmt(v)}" for k, v in s[kind].items()))
        for name, ref in s.get("references", {}).items():
            lines.append(f"reference {name}: " + "  ".join(f"{k}={_fmt(v)}" for k, v in ref.items()))
        for key, d in s.get("discrimination", {}).items():
            lines.append(f"discriminates real pairings? {key}: own {_fmt(d['own_music'])} vs mismatched "
                         f"{_fmt(d['mismatched_music'])} (own wins {d['own_wins']}/{d['songs']}) → "
                         f"{'yes' if d['discriminates'] else 'no'}")
    if report.get("reactivity"):
        r = report["reactivity"]
        lines.append("")
        lines.append("tempo loops: " + "  ".join(
            f"{t['bpm']}→{_fmt(t['ratio'], 2)}{'✓' if t['followed'] else '✗'}" for t in r["tempo"]))
        g = r["gaps"]
        lines.append(f"silence gaps: settle {[_fmt(v, 2) for v in g['settle_s']]} s, resume "
                     f"{[_fmt(v, 2) for v in g['resume_beats']]} beats, silence level "
                     f"{_fmt(g['silence_level'], 2)} × music")
        d = r["dynamics"]
        lines.append(f"quiet ({d['quiet_db']:g} dB) vs loud: energy {_fmt(d['quiet_energy'])} vs "
                     f"{_fmt(d['loud_energy'])} (loud/quiet {_fmt(d['loud_over_quiet'], 2)})")
    if report.get("long_run"):
        lr = report["long_run"]
        lines.append(f"long run {lr['minutes']:g} min ({lr['source']}): in frame {_fmt(lr['in_frame'], 4)}, "
                     f"freeze {_fmt(lr['freeze'])}, stretched {_fmt(lr['stretched_frames'])}")
    if report["targets"]:
        lines.append("")
        lines.append("targets:")
        for key, t in report["targets"].items():
            value = math.nan if t["value"] is None else float(t["value"])
            lines.append(f"  {_check(value, t['ok'])} {key:10s} {_fmt(t['value'])} "
                         f"(target {_fmt(t['target'])}: {t['rule']})")
    for n in report.get("notes", []):
        lines.append(f"note: {n}")
    return "\n".join(lines)
