"""Loading for the report: real dance, pose files, music and reference beats on the model clock.

Music beats of a Dance-with-Melody song come from its reference annotation in ``beats/`` beside
``dance_with_melody/`` (madmom's offline beat/downbeat tracker, see that folder's README) when present —
they also give the metre (beats per bar) — and otherwise from librosa's beat tracker (non-causal; fine
offline) with a 256-sample hop (10.7 ms at 24 kHz; the default 512 hop quantises the lag too coarsely to
tell 160 BPM from 80).

Audio is read in blocks (:data:`BLOCK_SECONDS`) and never held whole: the loudness envelope and the beat
tracker's onset envelope are built block by block, and the tempo from the mean of the tempogram summed
block by block.  The results are librosa's ``beat_track`` on the whole signal (onset envelope and beats
bit for bit, the tempogram's mean to float64 round-off), in a few MB instead of 1 GB for a 4-minute song
(its tempogram) and 2.3 GB for 10 minutes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from dancepose.models.audio import audio_blocks
from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import InputError
from dancepose.models.skeleton import adapt, rotate_yaw_project, to_body_units
from dancepose.offline import metrics

BEAT_HOP: int = 256
#: FFT size of the beat tracker's onset envelope (librosa's default).
BEAT_N_FFT: int = 2048
#: Seconds of audio read and analysed at a time (results do not depend on it; a block's spectrogram
#: costs about 1 MB per second: 30-s blocks added 30 MB to the peak).
BLOCK_SECONDS: float = 10.0
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
    loudness: np.ndarray | None = None           # (T,) dBFS per pose frame, when y is not kept
    music: tuple[float, np.ndarray] | None = None  # (tempo BPM, beat times s) tracked, when y is not kept


# ----------------------------------------------------------------------------------- music
Blocks = Callable[[], Iterable[np.ndarray]]   # a fresh pass over the audio, block by block


def array_blocks(y: np.ndarray, *, sr: int = SAMPLE_RATE) -> Blocks:
    """An in-memory signal as :data:`Blocks` (views, no copies)."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    step = max(1, int(BLOCK_SECONDS * sr))
    return lambda: (y[i:i + step] for i in range(0, len(y), step))


def file_blocks(path: Path, *, duration: float | None = None) -> Blocks:
    """The first ``duration`` seconds (None: all) of an audio file at ``SAMPLE_RATE`` as :data:`Blocks`."""
    return lambda: audio_blocks(path, sr=SAMPLE_RATE, duration=duration, block_seconds=BLOCK_SECONDS)


def track_beats(*, y: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[float, np.ndarray]:
    """Tempo (BPM) and beat times (s) of a signal: ``librosa.beat.beat_track`` (hop 256), block by block."""
    return track_beats_blocks(array_blocks(y, sr=sr), sr=sr)


def track_beats_blocks(blocks: Blocks, *, sr: int = SAMPLE_RATE) -> tuple[float, np.ndarray]:
    """Tempo (BPM) and beat times (s) of the audio ``blocks()`` yields (two passes over it).

    ``librosa.beat.beat_track(y=y, sr=sr, hop_length=BEAT_HOP, units="time")`` of the whole signal,
    computed with one block in memory at a time: NaN and no beats for less than a second or silence.
    """
    import librosa

    env = onset_envelope(blocks, sr=sr)
    if env is None:
        return float("nan"), np.zeros(0)
    win = int(librosa.time_to_frames(8.0, sr=sr, hop_length=BEAT_HOP))   # tempo()'s ac_size
    bpm = librosa.feature.tempo(tg=mean_tempogram(env, sr=sr, win_length=win), sr=sr, hop_length=BEAT_HOP,
                                aggregate=None)
    tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=BEAT_HOP, bpm=bpm,
                                           units="time")
    return float(np.atleast_1d(tempo)[0]), np.asarray(beats, dtype=np.float64)


def _mel_db_blocks(blocks: Blocks, *, sr: int) -> Iterator[np.ndarray]:
    """librosa's centred log-mel frames of the audio (``power_to_db`` without its ``top_db`` floor),
    block by block: [shape=(N_MELS, n)] float32, frame t from samples ``t·hop − n_fft/2 … + n_fft/2``
    (zeros beyond both ends)."""
    import librosa

    half = BEAT_N_FFT // 2
    buf = np.zeros(half, np.float32)      # samples from the next frame's first one on

    def frames(samples: np.ndarray) -> np.ndarray:
        s = librosa.feature.melspectrogram(y=samples, sr=sr, n_fft=BEAT_N_FFT, hop_length=BEAT_HOP,
                                           center=False, fmax=0.5 * sr)
        return librosa.power_to_db(np.abs(s), top_db=None)

    for block in _with_tail(blocks(), np.zeros(half, np.float32)):
        buf = np.concatenate([buf, block])
        n = 0 if len(buf) < BEAT_N_FFT else 1 + (len(buf) - BEAT_N_FFT) // BEAT_HOP
        if n:
            yield frames(buf[: (n - 1) * BEAT_HOP + BEAT_N_FFT])
            buf = buf[n * BEAT_HOP:]


def _with_tail(blocks: Iterable[np.ndarray], tail: np.ndarray) -> Iterator[np.ndarray]:
    yield from blocks
    yield tail


def onset_envelope(blocks: Blocks, *, sr: int = SAMPLE_RATE) -> np.ndarray | None:
    """``librosa.onset.onset_strength(y=y, sr=sr, hop_length=BEAT_HOP, aggregate=np.median)`` of the
    audio ``blocks()`` yields, in two passes (the first finds the loudest mel bin: librosa floors the
    spectrogram at 80 dB below it).  None for less than a second of audio or silence.

    Returns
    -------
    np.ndarray [shape=(1 + n_samples // BEAT_HOP,)] float32 or None
    """
    seen = {"n": 0, "heard": False}

    def counted() -> Iterator[np.ndarray]:
        for block in blocks():
            seen["n"] += len(block)
            seen["heard"] = seen["heard"] or bool(np.any(block))
            yield block

    top = None
    for s_db in _mel_db_blocks(counted, sr=sr):
        top = s_db.max() if top is None else max(top, s_db.max())
    n = seen["n"]
    if n < sr or not seen["heard"]:
        return None
    env, prev = [np.zeros(1 + BEAT_N_FFT // (2 * BEAT_HOP), np.float32)], None
    for s_db in _mel_db_blocks(blocks, sr=sr):
        s_db = np.maximum(s_db, top - 80.0)
        both = s_db if prev is None else np.concatenate([prev, s_db], axis=1)
        env.append(np.median(np.maximum(0.0, both[:, 1:] - both[:, :-1]), axis=0))
        prev = s_db[:, -1:]
    return np.concatenate(env)[: 1 + n // BEAT_HOP]


def mean_tempogram(env: np.ndarray, *, sr: int = SAMPLE_RATE, win_length: int,
                   columns: int = 512) -> np.ndarray:
    """The time average of ``librosa.feature.tempogram(onset_envelope=env, …)`` (centred, Hann window,
    each column normalised), computed ``columns`` at a time.

    Returns
    -------
    np.ndarray [shape=(win_length, 1)] float64 — what ``librosa.feature.tempo`` averages (``tg=``).
    """
    import librosa

    env = np.asarray(env)
    n = len(env)
    padded = np.pad(env, (win_length // 2, win_length // 2), mode="linear_ramp", end_values=[0, 0])
    total = np.zeros(win_length)
    for a in range(0, n, columns):
        b = min(n, a + columns)
        tg = librosa.feature.tempogram(onset_envelope=padded[a:b + win_length - 1], sr=sr, hop_length=BEAT_HOP,
                                       win_length=win_length, center=False)
        total += tg.sum(axis=-1)
    return (total / n)[:, None]


def hop_power(blocks: Blocks, *, n_frames: int) -> np.ndarray:
    """Mean square of the audio per model frame ``t`` (samples ``t·HOP … (t+1)·HOP``, zeros past the end).

    Returns
    -------
    np.ndarray [shape=(n_frames,)] float64
    """
    out = np.zeros(n_frames)
    rest, t = np.zeros(0, np.float64), 0
    for block in blocks():
        rest = np.concatenate([rest, np.asarray(block, np.float64) ** 2])
        k = min(len(rest) // HOP_LENGTH, n_frames - t)
        out[t:t + k] = rest[: k * HOP_LENGTH].reshape(k, HOP_LENGTH).mean(axis=1)
        rest, t = rest[k * HOP_LENGTH:], t + k
        if t == n_frames:
            return out
    if len(rest):
        last = np.zeros(HOP_LENGTH)
        last[: len(rest)] = rest
        out[t] = last.mean()
    return out


def loudness_db(*, y: np.ndarray, n_frames: int, window_s: float = 0.5) -> np.ndarray:
    """Loudness envelope: RMS level (dBFS, floor −80) over ``window_s`` centred on each model frame.

    Returns ``(n_frames,)``; frame t is at time t / MODEL_FPS.
    """
    return loudness_from_power(hop_power(array_blocks(y), n_frames=n_frames), window_s=window_s)


def loudness_from_power(power: np.ndarray, *, window_s: float = 0.5) -> np.ndarray:
    """:func:`loudness_db` from the mean square per model frame (:func:`hop_power`)."""
    from scipy import ndimage

    smooth = ndimage.uniform_filter1d(power, size=max(1, int(round(window_s * MODEL_FPS))), mode="nearest")
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
    """A ``.pose.npz`` with its music (given, or found beside it) as a :class:`Track`.

    The music is read block by block, never whole: the track carries its loudness envelope and its
    tracked beats (``loudness``, ``music``), not the audio (``y`` is None).
    """
    from dancepose.models.posefile import MISSING, PoseSequence
    from dancepose.offline.dataset import find_audio_for

    seq = PoseSequence.load(path)
    kp = seq.keypoints.astype(np.float64)
    kp[seq.flags == MISSING] = np.nan
    if len(seq) < 2 or not np.isfinite(kp).any():
        raise InputError(f"{path} holds no usable pose")
    audio_path = Path(audio) if audio else find_audio_for(Path(path), seq)
    (w, h), fps, duration = seq.image_size, seq.fps, seq.duration
    del seq  # its arrays: 0.2 KB a frame
    ok = np.isfinite(kp).all(axis=-1)
    inside = ok & (kp[..., 0] >= 0) & (kp[..., 0] <= w) & (kp[..., 1] >= 0) & (kp[..., 1] <= h)
    in_frame = float(inside.all(axis=1).mean())
    # interpolate short NaN gaps so derivatives exist, then resample to the model clock
    idx = np.arange(len(kp))
    for j in range(kp.shape[1]):
        good = ok[:, j]
        if good.sum() >= 2:
            for c in range(2):
                kp[:, j, c] = np.interp(idx, idx[good], kp[good, j, c])
    p = metrics.resample_poses(poses=kp, fps_in=fps, fps_out=MODEL_FPS)
    del kp
    poses = to_body_units(p, fps=MODEL_FPS)
    del p
    blocks = file_blocks(audio_path, duration=duration + 0.1)
    loudness = loudness_from_power(hop_power(blocks, n_frames=len(poses)))
    name = Path(path).name.removesuffix(".pose.npz")
    return Track(name=name, kind="file", poses=poses, y=None, in_frame=in_frame,
                 extra={"audio": str(audio_path), "image_size": [w, h]}, loudness=loudness,
                 music=track_beats_blocks(blocks))


def in_frame_pixels(*, poses: np.ndarray, frame_size: tuple[int, int]) -> float:
    """Fraction of frames fully inside a ``W×H`` render, with the renderer's own mapping if available."""
    try:
        from dancepose.models.media.draw import pose_to_pixels
    except ImportError:  # renderer not installed: documented body-unit box
        return metrics.in_frame_ratio(poses=poses)
    w, h = frame_size
    px = pose_to_pixels(np.asarray(poses, dtype=np.float32), width=w, height=h)
    return metrics.in_frame_ratio(poses=px, bounds=metrics.FrameBounds(0.0, float(w), 0.0, float(h)))
