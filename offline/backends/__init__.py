"""Pose-detector backends for ``dancepose extract``.

Every backend is a context manager with ``process(frame_bgr) -> list[Person]``; ``Person.points`` are in
the pixels of the frame given, on the backend's own skeleton (``SOURCE_SKELETON[backend]``), which
:func:`dancepose.models.skeleton.adapt` maps onto the canonical one.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, TextIO

import numpy as np

from dancepose.models.errors import ParameterError

BACKENDS: tuple[str, ...] = ("mediapipe", "openpose")
#: Source skeleton name (for ``skeleton.adapt``) and number of points of each backend.
SOURCE_SKELETON: dict[str, tuple[str, int]] = {"mediapipe": ("mediapipe33", 33), "openpose": ("coco18", 18)}
#: Frames a backend must see before its output no longer depends on where reading started.  MediaPipe
#: in video mode carries state from frame to frame (region of interest, landmark and visibility filters):
#: started 15 frames early its landmarks already match a run from the start bit for bit, but the
#: visibilities still differ by up to 0.19; by 120 frames by 1.4e-4, by 240 frames not at all (measured
#: on the 70 s shared clip at frame 600).  OpenPose is stateless.  Resumed runs and the segments of
#: ``extract --ray`` re-process this many frames before their first one.
WARMUP_FRAMES: dict[str, int] = {"mediapipe": 240, "openpose": 0}


@dataclass(frozen=True)
class Person:
    """One detected person.

    Attributes
    ----------
    points : np.ndarray [shape=(n, 2)] float32
        x, y in pixels of the processed frame; NaN where the part was not found.
    confidence : np.ndarray [shape=(n,)] float32
        0…1 per point (0 where not found).
    score : float
        Overall detection score (used only to rank people).
    """

    points: np.ndarray
    confidence: np.ndarray
    score: float = 1.0

    def bbox(self, *, min_confidence: float = 0.05) -> np.ndarray | None:
        """``[x0, y0, x1, y1]`` of the confident points, or None if fewer than two."""
        ok = np.isfinite(self.points).all(axis=1) & (self.confidence >= min_confidence)
        if ok.sum() < 2:
            return None
        p = self.points[ok]
        return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], dtype=np.float64)


class Detector(Protocol):
    """What every backend provides."""

    name: str

    def __enter__(self) -> "Detector": ...

    def __exit__(self, *exc: object) -> None: ...

    def process(self, frame_bgr: np.ndarray) -> list[Person]: ...


def make_detector(backend: str, *, static_image: bool = False, openpose_model: Path | None = None) -> Detector:
    """Create (not yet enter) the detector of ``backend``.

    Parameters
    ----------
    backend : {"mediapipe", "openpose"}
    static_image : bool
        MediaPipe: independent images (no tracking between frames).
    openpose_model : Path or None
        OpenPose network (``.pb`` GraphDef or Caffe ``.prototxt``); required for ``"openpose"``.
    """
    if backend == "mediapipe":
        from .mediapipe_backend import MediaPipeDetector

        return MediaPipeDetector(static_image_mode=static_image)
    if backend == "openpose":
        from .openpose_backend import OpenPoseDetector

        return OpenPoseDetector(model=openpose_model)
    raise ParameterError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")


@contextlib.contextmanager
def native_stderr_redirected() -> Iterator[TextIO]:
    """Silence native (C/C++) writes to file descriptor 2 for a whole run; yield a stream for messages.

    MediaPipe, TensorFlow Lite and FFmpeg log from C++ threads at unpredictable times; during extraction
    descriptor 2 points to /dev/null and progress bars / messages go to the yielded stream, which
    writes to the original stderr.  Everything is restored on exit (also on exceptions), so the CLI's
    one-line error message is visible.
    """
    try:
        own_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        own_fd = None
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:   # no descriptor 2 at all
        yield sys.stderr
        return
    if own_fd == 2:
        stream: TextIO = os.fdopen(os.dup(saved), "w", buffering=1, errors="replace",
                                   encoding=getattr(sys.stderr, "encoding", None) or "utf-8")
    else:   # sys.stderr already goes elsewhere (a log file, pytest capture): keep using it
        stream = sys.stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield stream
    finally:
        stream.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        if stream is not sys.stderr:
            stream.close()
