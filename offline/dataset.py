"""(pose, music) pairs for training and evaluation, on the model clock.

Two kinds of source:

* **Dance with Melody** sequence folders (``motion.npz`` + ``audio.mp3``; 3D mocap at 25 fps): the 3D
  canonical joints are kept, and every training window is projected to 2D with a random camera yaw and
  mirrored at random (augmentation);
* **pose files** (``*.pose.npz`` from ``dancepose extract``) with their music: the video they came from
  (the ``source`` recorded in the file) or an audio file with the same stem beside the pose file.

Music features are computed from the start of the song with the causal extractor (exactly as the live
dancer hears it), and poses are resampled to ``MODEL_FPS`` so feature frame ``t`` and pose frame ``t``
share the time ``t / MODEL_FPS`` of the song.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancepose.models.audio import load_audio
from dancepose.models.clock import MODEL_FPS, resample
from dancepose.models.errors import DanceposeError, InputError
from dancepose.models.features import music_features
from dancepose.models.posefile import PoseSequence
from dancepose.models.skeleton import N_JOINTS, adapt, mirror, rotate_yaw_project, to_body_units

#: Dance-with-Melody songs held out for validation (split by song, never by frames of a song).  None of
#: them shares motion segments with another sequence (see the data README), so nothing leaks; one per
#: Latin style plus three waltzes.
VALIDATION_SONGS: tuple[str, ...] = ("DANCE_C_8", "DANCE_R_8", "DANCE_W_4", "DANCE_W_18", "DANCE_W_34")

AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".flac", ".ogg", ".aac", ".opus", ".mp4", ".webm", ".mkv",
                  ".mov")


@dataclass
class Song:
    """One danced song on the model clock.

    ``features`` [shape=(T, N_FEATURES)] — music features at frames 0 … T-1 of the song;
    ``poses3d`` [shape=(T, J, 3)] (mocap, y up) or ``poses2d`` [shape=(T, J, 2)] (image, y down);
    ``valid`` [shape=(T,)] — frames that have a pose.
    """

    name: str
    features: np.ndarray
    valid: np.ndarray
    poses3d: np.ndarray | None = None
    poses2d: np.ndarray | None = None
    style: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.valid.sum())


def load_dwm_motion(folder: str | os.PathLike) -> tuple[np.ndarray, float, float]:
    """The mocap of a Dance-with-Melody sequence folder on the canonical skeleton.

    Returns ``(joints (n, J, 3) y-up, fps, audio_offset_s)``: frame i ↔ song time offset + i / fps.
    """
    folder = Path(folder)
    try:
        with np.load(folder / "motion.npz", allow_pickle=False) as z:
            joints = z["joints"][: int(z["n_frames"])].astype(np.float32)
            fps = float(z["fps"])
            offset = float(z["audio_offset_s"])
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"cannot read {folder / 'motion.npz'}: {exc}") from None
    canon, _ = adapt(joints, source="dwm23")
    return canon, fps, offset


def load_dwm_sequence(folder: str | os.PathLike) -> Song:
    """A Dance-with-Melody sequence folder → :class:`Song` (3D canonical joints, model clock)."""
    folder = Path(folder)
    canon, fps, offset = load_dwm_motion(folder)
    n = len(canon)
    end_s = offset + n / fps
    y = load_audio(folder / "audio.mp3", duration=end_s + 0.1)
    feats = music_features(y=y)
    t_song = np.arange(len(feats)) / MODEL_FPS
    t_dance = t_song - offset
    valid = (t_dance >= 0) & (t_dance <= (n - 1) / fps)
    poses = np.zeros((len(feats), N_JOINTS, 3), dtype=np.float32)
    poses[valid] = resample(canon, fps=fps, times=t_dance[valid])
    first, last = np.flatnonzero(valid)[[0, -1]]
    style = {"C": "cha-cha", "R": "rumba", "T": "tango", "W": "waltz"}.get(folder.name.split("_")[1][:1], "")
    return Song(name=folder.name, features=feats[: last + 1], valid=valid[: last + 1],
                poses3d=poses[: last + 1], style=style, meta={"audio": str(folder / "audio.mp3"),
                                                               "audio_offset_s": offset})


def find_audio_for(pose_path: Path, seq: PoseSequence) -> Path:
    """The music of a pose file: its source video, or an audio file with the same stem beside it."""
    stem = pose_path.name.removesuffix(".pose.npz")
    for suffix in AUDIO_SUFFIXES:
        cand = pose_path.with_name(stem + suffix)
        if cand.is_file():
            return cand
    src = Path(seq.source.split("|")[0].strip()) if seq.source else None
    if src is not None and src.is_file():
        return src
    raise InputError(f"no music found for {pose_path.name}: put {stem}.wav (or .mp3/.mp4) beside it, "
                     f"or keep the source video at {seq.source or '?'}")


def load_pose_file(path: str | os.PathLike, *, audio: str | os.PathLike | None = None) -> Song:
    """A ``.pose.npz`` (video pose) with its music → :class:`Song` (2D, model clock)."""
    path = Path(path)
    seq = PoseSequence.load(path)
    audio_path = Path(audio) if audio else find_audio_for(path, seq)
    y = load_audio(audio_path, duration=seq.duration + 0.1)
    feats = music_features(y=y)
    n = min(len(feats), int(np.floor(seq.duration * MODEL_FPS)))
    kp = seq.keypoints.copy()
    kp[seq.flags == 2] = np.nan
    t = np.arange(n) / MODEL_FPS
    poses = resample(kp, fps=seq.fps, times=t).astype(np.float32)
    valid = np.isfinite(poses).all(axis=(1, 2))
    if valid.sum() < MODEL_FPS:
        raise InputError(f"{path.name} has less than a second of usable pose")
    return Song(name=path.name.removesuffix(".pose.npz"), features=feats[:n], valid=valid,
                poses2d=poses, meta={"audio": str(audio_path), "image_size": seq.image_size})


class SongList(list):
    """The songs that loaded, and in :attr:`failed` one ``"name: reason"`` line per item that did not."""

    failed: tuple[str, ...] = ()


def load_songs(paths: list[str | os.PathLike], *, quiet: bool = False) -> SongList:
    """Load every DwM folder / pose file named (directories are searched for both).

    One bad item does not stop the batch (the policy of extract and fetch): it is reported on one line
    and listed in ``SongList.failed``; the caller exits non-zero at the end.  A single named item, or a
    batch where nothing loads, raises the ``InputError`` at once.
    """
    from dancepose.models.cli import progress

    items: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(f"training data not found: {p}")
        if p.is_dir() and (p / "motion.npz").is_file():
            items.append(p)
        elif p.is_dir():
            found = sorted(q.parent for q in p.glob("*/motion.npz")) + sorted(p.glob("*.pose.npz"))
            if not found:
                raise InputError(f"{p} holds no Dance-with-Melody sequences and no .pose.npz files")
            items += found
        elif p.name.endswith(".pose.npz"):
            items.append(p)
        else:
            raise InputError(f"unsupported training data {p} (want a sequence folder or a .pose.npz)")
    songs = SongList()
    failed: list[str] = []
    for item in progress(items, desc="loading songs", unit="song", quiet=quiet):
        try:
            songs.append(load_dwm_sequence(item) if item.is_dir() else load_pose_file(item))
        except (DanceposeError, KeyError, ValueError) as exc:  # a bad file, whatever way it is bad
            err = exc if isinstance(exc, DanceposeError) else InputError(f"cannot use {item}: {exc!r}")
            if len(items) == 1:
                raise err from None
            failed.append(f"{item.name}: {err}")
            print(f"dancepose: skipped {failed[-1]}", file=sys.stderr)
    if failed and not songs:
        raise InputError(f"no training data could be read ({len(failed)} items; first: {failed[0]})")
    songs.failed = tuple(failed)
    return songs


def song_poses_2d(song: Song, *, yaw_deg: float = 0.0, mirrored: bool = False) -> np.ndarray:
    """The song's poses in body units (T, J, 2): projected (mocap) or as filmed (video)."""
    if song.poses3d is not None:
        pts = rotate_yaw_project(song.poses3d, yaw_deg=yaw_deg)
    else:
        pts = song.poses2d.copy()
    pts[~song.valid] = np.nan
    out = to_body_units(pts, fps=MODEL_FPS)
    if mirrored:
        out = mirror(out)
    return out


def split_songs(songs: list[Song], *, val_songs: int | None, seed: int) -> tuple[list[Song], list[Song]]:
    """Split by song.  DwM validation songs are :data:`VALIDATION_SONGS`; others are drawn by seed.

    ``val_songs=None``: the DwM validation songs present, else ≈ 15 % of the songs (none if only one);
    ``val_songs=N``: exactly N songs (VALIDATION_SONGS first).
    """
    names = [s.name for s in songs]
    preferred = [n for n in VALIDATION_SONGS if n in names]
    if val_songs is None:
        k = len(preferred) if preferred else (int(round(0.15 * len(songs))) if len(songs) > 1 else 0)
        k = max(k, 1) if len(songs) > 1 else 0
    else:
        k = max(0, min(val_songs, len(songs) - 1))
    rng = np.random.default_rng(seed)
    rest = [n for n in names if n not in preferred]
    rng.shuffle(rest)
    chosen = set((preferred + rest)[:k])
    return [s for s in songs if s.name not in chosen], [s for s in songs if s.name in chosen]


def to_beat_clock(song: Song, *, steps_per_beat: int) -> Song:
    """The song on the beat clock: one step each time its tracked beat phase advances 1/N beat.

    Step ``k`` happens at the (fractional) frame where the beat count of the features — the causal beat
    phase, as the live dancer hears it (:func:`dancepose.models.network.beat_advance`) — reaches
    ``k / N``; its pose is the pose at that instant (interpolated).  The features of step ``k`` are those
    of the frame where the dancer noticed step ``k - 1``: there it predicts the pose of step ``k`` and
    moves towards it as the phase advances.  The network thus learns motion per phase step: the same
    moves at any tempo take the same number of steps.
    """
    from dancepose.models.features import beat_phase
    from dancepose.models.network import beat_advance

    n = int(steps_per_beat)
    phase = beat_phase(features=song.features)
    count = np.cumsum(beat_advance(phase, float(phase[0])))
    steps = count * n
    k = np.arange(int(np.ceil(steps[0])), int(np.floor(steps[-1])) + 1)
    if len(k) < 2:
        raise InputError(f"{song.name}: the beat phase barely advances; no beat-clock steps")
    pos = np.interp(k, steps, np.arange(len(steps)))  # fractional frame of every step (steps is non-decreasing)
    frame = np.minimum(np.ceil(pos - 1e-9).astype(int), len(steps) - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, len(steps) - 1)
    valid = song.valid[i0] & song.valid[i1]
    t = pos / MODEL_FPS
    heard = np.concatenate([frame[:1], frame[:-1]])  # step k is predicted when step k - 1 is noticed
    out = Song(name=song.name, features=song.features[heard], valid=valid, style=song.style,
               meta={**song.meta, "steps_per_beat": n, "step_frames": pos})
    if song.poses3d is not None:
        out.poses3d = resample(np.nan_to_num(song.poses3d), fps=MODEL_FPS, times=t).astype(np.float32)
    if song.poses2d is not None:
        out.poses2d = resample(song.poses2d, fps=MODEL_FPS, times=t).astype(np.float32)
    return out
