"""Loading for the report: real dance, pose files, music and reference beats on the model clock.

Music beats of a Dance-with-Melody song come from its reference annotation in ``beats/`` beside
``dance_with_melody/`` (madmom's offline beat/downbeat tracker, see that folder's README) when present —
they also give the metre (beats per bar) — and otherwise from ``librosa.beat.beat_track`` (non-causal;
fine offline) with a 256-sample hop (10.7 ms at 24 kHz; the default 512 hop quantises the lag too
coarsely to tell 160 BPM from 80).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dancepose.models.audio import load_audio
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import InputError
from dancepose.models.skeleton import adapt, rotate_yaw_project, to_body_units
from dancepose.offline import metrics

BEAT_HOP: int = 256
#: Frames quieter than this (0.5-s RMS, dBFS) count as silence for the freeze ratio.
AUDIBLE_DBFS = -45.0


@dataclass
class Track:
    """A pose track with its music, ready to score (all on the model clock).

    ``beats``: music beat times (s from pose frame 0) and ``beats_per_bar`` when known (reference
    annotations); otherwise the scorer tracks the beats of ``y``.
    """

    name: str
    kind: str
    poses: np.ndarray            # (T, J, 2) body units
    y: np.ndarray | None         # audio at SAMPLE_RATE, time 0 = pose frame 0
    in_frame: float | None = None
    beats: np.ndarray | None = None
    beats_per_bar: int | None = None
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


@dataclass(frozen=True)
class ReferenceBeats:
    """Reference beats of a song segment: times (s from the segment start) and the metre."""

    times: np.ndarray
    beats_per_bar: int

    @property
    def tempo_bpm(self) -> float:
        return 60.0 / float(np.median(np.diff(self.times))) if len(self.times) > 1 else float("nan")


def reference_beats(*, path: Path, offset_s: float = 0.0, duration_s: float | None = None
                    ) -> ReferenceBeats | None:
    """Read a ``.beats`` file (``time_s  beat_in_bar`` per line); keep the beats of the segment starting
    at ``offset_s`` (times made relative to it).  None when the file does not exist.

    Raises
    ------
    InputError
        An unreadable or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        return None
    from dancepose.offline.beats import read_beats

    b = read_beats(path)  # the one .beats reader: a malformed file is one InputError line
    t = b[:, 0] - offset_s
    keep = (t >= 0) & ((t <= duration_s) if duration_s is not None else True)
    return ReferenceBeats(times=t[keep], beats_per_bar=int(b[:, 1].max()))


# ----------------------------------------------------------------------------------- dance
def dwm_dir(data: Path) -> Path:
    """The Dance-with-Melody folder of ``data`` (itself or its ``dance_with_melody/``)."""
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
