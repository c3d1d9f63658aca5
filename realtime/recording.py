"""The recording sink of a live performance: what the window shows, with the audio, to an MP4.

The samples of each frame go to :meth:`Mp4Recorder.add_audio` and the drawn surface to
:meth:`Mp4Recorder.process` as many times as needed to keep the video at ``DISPLAY_FPS`` on the *audio*
clock (a late frame is repeated, an early one skipped), so picture and sound stay in sync and a
``--duration`` recording is exactly that long.  Encoding runs in the recorder's thread.  Key ``r``
starts/stops a recording (a new file named by the time after the first).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE


class _Recording:
    """One Mp4Recorder paced on the audio clock."""

    def __init__(self, path: Path, *, size: tuple[int, int], alpha: bool = False) -> None:
        from dancepose.models.media.recorder import Mp4Recorder

        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        self.rec = Mp4Recorder(path, width=self.size[0], height=self.size[1], fps=DISPLAY_FPS,
                               sample_rate=SAMPLE_RATE, drop_when_behind=False, quiet=True, alpha=alpha,
                               what="--record")
        self.samples = 0
        self.frames = 0

    def add(self, y, surface) -> None:
        from dancepose.models.media.draw import surface_to_rgb, surface_to_rgba

        if len(y):
            self.rec.add_audio(y)
            self.samples += len(y)
        target = self.samples * DISPLAY_FPS // SAMPLE_RATE
        if self.frames >= target:
            return
        if surface.get_size() != self.size:
            if surface.get_width() >= self.size[0] and surface.get_height() >= self.size[1]:
                surface = surface.subsurface((0, 0, self.size[0], self.size[1]))
            else:
                import pygame

                surface = pygame.transform.smoothscale(surface, self.size)
        rgb = surface_to_rgba(surface) if self.rec.alpha else surface_to_rgb(surface)
        while self.frames < target:
            self.rec.process(rgb)
            self.frames += 1


def auto_record_path(suffix: str = ".mp4") -> Path:
    """``dancepose-live-YYYYmmdd-HHMMSS.mp4`` in the working folder (``.webm`` for a transparent stage)."""
    return Path(time.strftime("dancepose-live-%Y%m%d-%H%M%S") + suffix)


class RecordingSink:
    """Records the window's surface (after it was drawn) and the frame's audio.

    Parameters
    ----------
    window : dancepose.realtime.window.Window
        Whose ``surface`` is recorded (so list it before this sink).
    path : Path or None
        Record from the start to this file (``--record``); None: only when ``r`` is pressed.
    quiet : bool

    Attributes
    ----------
    recordings : list of Path
        Finished files.
    dropped_frames : int
    """

    def __init__(self, *, window, path: Path | None = None, quiet: bool = False) -> None:
        self.window = window
        self.path = path
        self.quiet = quiet
        self.recordings: list[Path] = []
        self.dropped_frames = 0
        self.alpha = bool(getattr(window, "transparent", False))
        self._rec: _Recording | None = (_Recording(path, size=window.size, alpha=self.alpha)
                                        if path is not None else None)

    @property
    def recording(self) -> bool:
        return self._rec is not None

    def handle(self, action: str) -> None:
        if action != "record":
            return
        if self._rec is None:
            path = (self.path if (self.path and not self.recordings)
                    else auto_record_path(".webm" if self.alpha else ".mp4"))
            self._rec = _Recording(path, size=self.window.size, alpha=self.alpha)
        else:
            self.stop()

    def send(self, frame) -> None:
        if self._rec is not None:
            self._rec.add(frame.samples, self.window.surface)

    def stop(self) -> None:
        """Finish the current recording (if any)."""
        if self._rec is None:
            return
        rec, self._rec = self._rec, None
        self.dropped_frames += rec.rec.dropped_frames
        out = rec.rec.close()
        if out is not None:
            self.recordings.append(out)
            if not self.quiet:
                print(f"dancepose-live: recorded {out} ({rec.frames / DISPLAY_FPS:.2f} s)", file=sys.stderr)

    close = stop
