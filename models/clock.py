"""The one clock of dancepose: sample rate, hop and frame rates, defined once.

Every module that turns audio into frames or frames into pictures imports these numbers; nothing else
hard-codes a rate.  ``SAMPLE_RATE = MODEL_FPS * HOP_LENGTH`` exactly, so feature frame ``t`` and pose
frame ``t`` share the time stamp ``t / MODEL_FPS`` seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Pose (model) frames per second.  Feature frames are produced at the same rate.
MODEL_FPS: int = 30
#: Audio samples between two feature frames.
HOP_LENGTH: int = 800
#: Analysis sample rate (Hz); every input is resampled to it.
SAMPLE_RATE: int = MODEL_FPS * HOP_LENGTH  # 24000
#: FFT window (samples) of the spectral features, ~85 ms.
N_FFT: int = 2048
#: Mel bands of the spectral features.
N_MELS: int = 24
#: Display refresh of the live window; poses are interpolated between model frames.
DISPLAY_FPS: int = 60
#: Sample rate of the song muxed into rendered MP4s (full bandwidth; analysis stays at SAMPLE_RATE).
OUTPUT_SAMPLE_RATE: int = 48000
#: Audio block size of the live input stream (samples at SAMPLE_RATE), a quarter hop = 8.3 ms.
BLOCK_SIZE: int = HOP_LENGTH // 4

assert SAMPLE_RATE == MODEL_FPS * HOP_LENGTH
assert HOP_LENGTH % BLOCK_SIZE == 0


@dataclass(frozen=True)
class Clock:
    """Conversions between seconds, samples and frames on the dancepose time base."""

    sample_rate: int = SAMPLE_RATE
    fps: int = MODEL_FPS

    @property
    def hop(self) -> int:
        return self.sample_rate // self.fps

    def frames_for_seconds(self, seconds: float) -> int:
        return int(round(seconds * self.fps))

    def frames_for_samples(self, n_samples: int) -> int:
        """Number of complete feature frames whose window ends within ``n_samples``."""
        return n_samples // self.hop

    def frame_time(self, frame: int) -> float:
        return frame / self.fps


CLOCK = Clock()


def resample(track, *, fps: float, times, first: int = 0):
    """Linear interpolation of a track in time — the one resampler (poses, features, any rate).

    Parameters
    ----------
    track : np.ndarray [shape=(T, ...)]
        Frame ``t`` belongs to time ``(first + t) / fps``.  NaN propagates to the neighbouring output
        frames.
    fps : float > 0
    times : np.ndarray [shape=(n,)]
        Seconds; times before the first / after the last frame hold that frame.
    first : int ≥ 0
        Index of ``track[0]`` in a longer track (a window of a stream): the output equals, bit for bit,
        that of the whole track at every time the window covers.

    Returns
    -------
    np.ndarray [shape=(n, ...)], the dtype of ``track`` (float64 for integer input).
    """
    import numpy as np

    x = np.asarray(track)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if x.shape[0] == 0:
        raise ValueError("cannot resample an empty track")
    last = first + x.shape[0] - 1
    pos = np.clip(np.asarray(times, dtype=np.float64) * fps, float(first), float(last))
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, last)
    w = (pos - i0).astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    return (x[i0 - first] * (1 - w) + x[i1 - first] * w).astype(x.dtype)
