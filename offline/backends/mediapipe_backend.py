"""MediaPipe Pose backend (``mp.solutions.pose``, 33 landmarks, single person with tracking)."""
from __future__ import annotations

import numpy as np

from dancepose.models.errors import ModelError

from dancepose.models.cli import signals_deferred, silence_native_stderr

from . import Person


def _import_mediapipe():
    """``import mediapipe`` without importing TensorFlow.

    ``mediapipe/__init__`` imports ``mediapipe.tasks``, whose ``optional_dependencies`` takes only
    documentation decorators from TensorFlow when it is installed (and falls back to no-ops when it is
    not).  That import cost 5.5 s and about 700 MB per process (RSS 920 → 246 MB measured after one
    frame) — in every Ray worker.  Pose tracking does not use TensorFlow.  If TensorFlow is already
    imported (training in the same process), nothing changes.
    """
    import sys

    if "tensorflow" in sys.modules:
        import mediapipe

        return mediapipe
    sys.modules["tensorflow"] = None   # `import tensorflow…` raises ModuleNotFoundError meanwhile
    try:
        import mediapipe
    finally:
        if "tensorflow" in sys.modules and sys.modules["tensorflow"] is None:
            del sys.modules["tensorflow"]
    return mediapipe


class MediaPipeDetector:
    """MediaPipe Pose as a context manager.

    Parameters
    ----------
    static_image_mode : bool
        True for unrelated images (detector on every frame), False for video (tracking between frames).
    model_complexity : int
        Only 1 ships with the installed mediapipe (0 and 2 would download a model).
    min_detection_confidence, min_tracking_confidence : float
        Passed to ``mp.solutions.pose.Pose``.
    """

    name = "mediapipe"
    tracks = True

    def __init__(self, *, static_image_mode: bool = False, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        self._kwargs = dict(static_image_mode=static_image_mode, model_complexity=model_complexity,
                            min_detection_confidence=min_detection_confidence,
                            min_tracking_confidence=min_tracking_confidence)
        self._pose = None

    def __enter__(self) -> "MediaPipeDetector":
        try:
            with silence_native_stderr(), signals_deferred():
                mp = _import_mediapipe()
                self._pose = mp.solutions.pose.Pose(**self._kwargs)
            self._calls = 0
        except Exception as exc:  # noqa: BLE001 - any failure here is a broken install
            raise ModelError(f"cannot start MediaPipe Pose: {exc}".splitlines()[0]) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def reset(self) -> None:
        """Start tracking afresh: the next frame is processed as the first one after ``__enter__``."""
        if self._pose is None:
            raise RuntimeError("MediaPipeDetector used outside its context manager")
        self._pose.reset()

    def process(self, frame_bgr: np.ndarray) -> list[Person]:
        """Detect the (single) person in ``frame_bgr`` (H, W, 3) uint8 → ``[]`` or ``[Person]`` (33 points)."""
        import cv2

        if self._pose is None:
            raise RuntimeError("MediaPipeDetector used outside its context manager")
        h, w = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        if self._calls < 2:   # the graph logs a few native warnings when it first runs
            with silence_native_stderr():
                result = self._pose.process(rgb)
        else:
            result = self._pose.process(rgb)
        self._calls += 1
        if result.pose_landmarks is None:
            return []
        lm = result.pose_landmarks.landmark
        pts = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float32)
        vis = np.array([p.visibility for p in lm], dtype=np.float32)
        # presence/visibility are probabilities that the point is in view and not occluded
        conf = np.clip(vis, 0.0, 1.0)
        return [Person(points=pts, confidence=conf, score=float(conf.mean()))]
