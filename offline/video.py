"""Reading videos and images for pose extraction (OpenCV), with one-line ``InputError`` on bad input.

Frames are BGR ``uint8`` arrays of shape ``(H, W, 3)`` as OpenCV gives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from dancepose.models.errors import InputError

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg",
                                              ".mpeg", ".wmv", ".flv"})
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video.

    ``n_frames`` is the declared frame count (may be approximate, 0 when unknown).
    """

    fps: float
    n_frames: int
    width: int
    height: int


def media_kind(path: Path) -> str:
    """``"video"`` or ``"image"`` from the file extension; ``InputError`` for anything else."""
    ext = path.suffix.lower()
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    raise InputError(f"{path}: unsupported file type {ext or '(no extension)'!r} "
                     f"(videos: {', '.join(sorted(VIDEO_EXTENSIONS))}; "
                     f"images: {', '.join(sorted(IMAGE_EXTENSIONS))})")


def _open(path: Path):
    import cv2

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(f"{path}: cannot open video (corrupt or not a video)")
    return cap


def probe_video(path: Path) -> VideoInfo:
    """Open ``path`` and read its first frame; ``InputError`` if it is not a readable video."""
    import cv2

    cap = _open(path)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(f"{path}: cannot decode any frame (corrupt or truncated video)")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        h, w = frame.shape[:2]
    finally:
        cap.release()
    if not (0 < fps < 1000):
        raise InputError(f"{path}: video has no valid frame rate ({fps})")
    return VideoInfo(fps=fps, n_frames=max(n, 0), width=int(w), height=int(h))


def _seek(cap, start: int) -> bool:
    """Seek ``cap`` to frame ``start`` if the container lands exactly there (checked by timestamp)."""
    import cv2

    fps = cap.get(cv2.CAP_PROP_FPS)
    if not (0 < fps < 1000) or not cap.set(cv2.CAP_PROP_POS_FRAMES, start - 1) or not cap.grab():
        return False
    return abs(cap.get(cv2.CAP_PROP_POS_MSEC) - 1000.0 * (start - 1) / fps) < 250.0 / fps


def iter_frames(path: Path, *, start: int = 0, stop: int | None = None,
                seek: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame_bgr (H, W, 3) uint8)`` for frames ``start ≤ index < stop`` (stop=None: to the end).

    Frames before ``start`` are grabbed and discarded (exact, unlike keyframe seeking).  ``seek=True``
    seeks instead (OpenCV decodes from the previous keyframe) when the frame before ``start`` then has
    the timestamp it should have, and falls back to grabbing otherwise (frame-identical to reading from
    the start on the shared videos; much faster far into long videos).
    """
    cap = _open(path)
    try:
        if seek and start > 1 and not _seek(cap, start):
            cap.release()
            cap = _open(path)
            seek = False
        for _ in range(0 if seek and start > 1 else start):
            if not cap.grab():
                return
        index = start
        while stop is None or index < stop:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            yield index, frame
            index += 1
    finally:
        cap.release()


def read_image(path: Path) -> np.ndarray:
    """Read an image as BGR ``(H, W, 3)`` uint8; ``InputError`` if missing or undecodable."""
    import cv2

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InputError(f"{path}: cannot decode image (corrupt or not an image)")
    return img
