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
#: Seconds of video after which every backend starts afresh, in every run.  MediaPipe in video mode
#: carries state from frame to frame: the region it tracks (taken from the previous frame's landmarks and
#: renewed only when the person is lost), landmark filters, and a visibility low-pass that keeps its memory
#: through frames without anybody.  Two runs started at different frames of one shot differ by 1–50 px for
#: as long as the dancer stays tracked (measured on the shared clips: on the 13-s portrait clip runs started
#: at frames 50–350 never coincided with the run from frame 0; on the 70-s clip they did after 176–627
#: frames, at frames where both lost the dancer), so no warm-up makes a run started late equal a run from
#: frame 0.  Starting afresh at every multiple of this length instead makes any run that starts at such a
#: frame — a resumed extraction, a segment of ``extract --ray`` — give what the run from frame 0 gives, bit
#: for bit.  A reset (a graph restart and one detection pass) costs about 90 ms of CPU: 1.7 % of the
#: extraction (18.1 → 18.4 ms a frame on the 70-s clip); it leaves the pose jitter as it was (share of power
#: above 4 Hz after cleaning 0.318 → 0.327 on the 70-s clip, 0.162 → 0.157 on the portrait clip).
STATE_BLOCK_SECONDS: float = 10.0


def state_block(fps: float) -> int:
    """Frames in one state block (:data:`STATE_BLOCK_SECONDS`) of a video at ``fps``."""
    return max(1, int(round(STATE_BLOCK_SECONDS * fps)))


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
    #: Whether the detector carries state from frame to frame (tracking): after a reset it looks afresh.
    tracks: bool

    def __enter__(self) -> "Detector": ...

    def __exit__(self, *exc: object) -> None: ...

    def process(self, frame_bgr: np.ndarray) -> list[Person]: ...

    def reset(self) -> None:
        """Forget everything carried from earlier frames (as if just entered)."""


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
