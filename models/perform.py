"""Audio → dance: the one path from music to poses, whole songs and streams alike.

:class:`Performer` couples the causal :class:`~dancepose.models.features.FeatureStream` with a
:class:`~dancepose.models.dancer.Dancer`: feed audio chunks of any size to :meth:`Performer.process`
and it returns the poses of the model frames those chunks completed.  :func:`perform` is the same
performer fed a whole signal at once, so an offline render, the evaluation and the live window dance
the same dance to the same audio (chunk-size independent, like the features).

Live use (one performer per performance)::

    performer = Performer(dancer=dancer, seed=seed)
    ...
    poses = performer.process(block)        # (n, J, 2) body units, n ≥ 0 new model frames
    rows = performer.last_features          # (n, N_FEATURES) the features those poses answered
    first = performer.frames_done - len(poses)  # model-frame index of poses[0]: t = index / MODEL_FPS
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .clock import MODEL_FPS, SAMPLE_RATE
from .errors import ParameterError
from .features import N_FEATURES, FeatureConfig, FeatureStream


@dataclass(frozen=True)
class Performance:
    """A whole performance on the model clock: frame ``t`` is at ``t / MODEL_FPS`` s of the audio.

    ``poses`` [shape=(T, N_JOINTS, 2)] body units; ``features`` [shape=(T, N_FEATURES)] the music
    features each pose answered; ``fps`` = MODEL_FPS.
    """

    poses: np.ndarray
    features: np.ndarray
    fps: int = MODEL_FPS

    @property
    def seconds(self) -> float:
        return len(self.poses) / self.fps


class Performer:
    """Streaming audio → poses with one dancer.

    Parameters
    ----------
    dancer : dancepose.models.dancer.Dancer
        Reset with ``seed`` now and by :meth:`reset`.
    seed : int
        Generation seed (same audio + dancer + seed → same dance).
    feature_config : FeatureConfig
        Of the feature extractor (the default is what every dancer is trained on).

    Attributes
    ----------
    features : FeatureStream
        The extractor (read-outs for displays: ``tempo_bpm``, ``beat_phase``, ``beat_confidence`` …).
    last_features : np.ndarray [shape=(n, N_FEATURES)]
        The feature rows of the last :meth:`process` call.
    """

    def __init__(self, *, dancer, seed: int = 0, feature_config: FeatureConfig = FeatureConfig()) -> None:
        self.dancer = dancer
        self.features = FeatureStream(config=feature_config)
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        """Start again: no audio heard, the dancer at rest with a new seed."""
        self.seed = int(seed)
        self.features.reset()
        self.dancer.reset(self.seed)
        self.last_features = np.zeros((0, N_FEATURES), np.float32)

    @property
    def frames_done(self) -> int:
        """Model frames performed so far."""
        return int(self.features.frames_done)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed mono float32 audio at ``SAMPLE_RATE``; return the poses of the frames it completed.

        Parameters
        ----------
        chunk : np.ndarray [shape=(n_samples,)]

        Returns
        -------
        np.ndarray [shape=(n_new, N_JOINTS, 2)] float32, body units (``n_new`` may be 0).
        """
        return self.dance(self.analyse(chunk))

    def analyse(self, chunk: np.ndarray) -> np.ndarray:
        """The first half of :meth:`process`: the feature rows [shape=(n_new, N_FEATURES)] of the frames
        ``chunk`` completed (also kept as :attr:`last_features`); :meth:`dance` them, in order, later.
        The live engine analyses in one display frame and dances in the next (half the work each)."""
        feats = self.features.process(np.asarray(chunk, dtype=np.float32).reshape(-1))
        self.last_features = feats
        return feats

    def dance(self, rows: np.ndarray) -> np.ndarray:
        """The second half of :meth:`process`: the dancer's poses [shape=(n, N_JOINTS, 2)] for feature
        rows [shape=(n, N_FEATURES)] from :meth:`analyse`, every row once and in order."""
        return self.dancer.steps(rows)


def one_blas_thread():
    """A context in which numpy's BLAS (OpenBLAS) uses one thread.

    A model step multiplies matrices of a few hundred numbers: a second BLAS thread has nothing to share,
    and OpenBLAS's idle worker spins on ``sched_yield`` between the calls — measured beside
    ``dancepose-live`` 60–80 % of a core of system time (a 2-core machine then has one core left for the
    show, its recorder and any neighbour; offline, for ffmpeg).  Set at run time (``threadpoolctl``): the
    environment variable only counts before numpy's first import.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def perform(audio: np.ndarray | str | os.PathLike, *, dancer, seed: int = 0,
            feature_config: FeatureConfig = FeatureConfig()) -> Performance:
    """The dancer dancing to a whole signal (or audio file), exactly as it would live.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)] or path
        Mono audio at ``SAMPLE_RATE`` (time 0 = pose frame 0), or a file any ffmpeg decodes.
    dancer : dancepose.models.dancer.Dancer
    seed : int
        Generation seed.
    feature_config : FeatureConfig

    Returns
    -------
    Performance — poses [shape=(T, N_JOINTS, 2)] in body units at MODEL_FPS and their features
    [shape=(T, N_FEATURES)], ``T = n_samples // HOP_LENGTH`` (+1 for the frame at time 0).
    """
    if isinstance(audio, (str, os.PathLike)):
        from .audio import load_audio

        y = load_audio(audio, sr=SAMPLE_RATE)
    else:
        y = np.asarray(audio, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"audio must be mono (n_samples,), got shape {y.shape}")
    performer = Performer(dancer=dancer, seed=seed, feature_config=feature_config)
    with one_blas_thread():
        poses = performer.process(y)
    return Performance(poses=poses, features=performer.last_features)
