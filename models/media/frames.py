"""PNG sequences (``dancepose render --save-frames DIR``): every frame a PNG, RGBA when transparent.

:class:`PngSequenceWriter` pipes raw frames to the bundled ffmpeg's PNG encoder (frame-threaded, in its
own process, so it runs beside the drawing) writing ``frame_000000.png`` … into a hidden temporary folder
beside DIR, which replaces DIR only when every frame was written (the output policy of
:mod:`dancepose.models.outputs`): an interrupted or failed render leaves no half sequence.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from dancepose.models.audio import ffmpeg_exe
from dancepose.models.errors import OutputError, ParameterError
from dancepose.models.media.formats import FRAME_PATTERN
from dancepose.models.outputs import as_output_error, atomic_output_dir, check_output_dir

#: Seconds the encoder may take to finish after the last frame (plus one per 100 frames); then killed.
FINISH_S: float = 30.0


class PngSequenceWriter:
    """Write frames as numbered PNGs into a folder.

    Parameters
    ----------
    directory : path-like
        The folder; an existing one is replaced when the new sequence is complete.
    width, height : int
    alpha : bool
        Frames are RGBA ``(height, width, 4)`` and the PNGs keep the alpha; else RGB ``(height, width, 3)``.
    expected_frames : int
        For the free-space check (about 30 kB per 1280×720 frame of a figure).

    Use as a context manager: leaving it normally finishes the sequence, an exception discards it.
    """

    def __init__(self, directory: str | os.PathLike, *, width: int, height: int, alpha: bool,
                 expected_frames: int = 0) -> None:
        if width <= 0 or height <= 0:
            raise ParameterError(f"frame size must be positive, got {width}x{height}")
        need = int(expected_frames * width * height * 0.04)
        self.path = Path(directory)
        check_output_dir(self.path.parent, expected_bytes=need)
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"cannot write into {self.path}: it is not a directory")
        self.width, self.height, self.alpha = int(width), int(height), bool(alpha)
        self.frames = 0
        self._atomic = atomic_output_dir(self.path)
        self._tmp: Path = self._atomic.__enter__()
        pix = "rgba" if self.alpha else "rgb24"
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", pix,
               "-s", f"{self.width}x{self.height}", "-r", "30", "-i", "-", "-c:v", "png", "-pix_fmt", pix,
               "-f", "image2", "-start_number", "0",
               str(self._tmp / FRAME_PATTERN.replace("{:06d}", "%06d"))]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (blocks while the encoder is behind)."""
        f = np.ascontiguousarray(frame, dtype=np.uint8)
        if f.shape != (self.height, self.width, 4 if self.alpha else 3):
            raise ParameterError(f"frame must have shape ({self.height}, {self.width}, "
                                 f"{4 if self.alpha else 3}), got {f.shape}")
        try:
            self._proc.stdin.write(memoryview(f).cast("B"))
        except OSError as exc:
            raise self._failure(exc) from None
        self.frames += 1

    def _failure(self, exc: BaseException | None = None) -> OutputError:
        self._kill()
        err = self._proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
        if isinstance(exc, OSError) and (mapped := as_output_error(exc, self.path)) is not None:
            return mapped
        if err and "No space left" in err[-1]:
            return OutputError(f"cannot write {self.path}: no space left on its disk")
        return OutputError(f"cannot write {self.path}: the PNG encoder failed ({err[-1] if err else exc})")

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5.0)

    def close(self) -> Path:
        """Finish: wait for the encoder (bounded), check every frame is there, move the folder in place."""
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=FINISH_S + self.frames / 100.0)
        except subprocess.TimeoutExpired:
            err: BaseException = OutputError(f"cannot write {self.path}: the PNG encoder did not finish")
            self.abort(err)
            raise err from None
        except OSError as exc:
            err = self._failure(exc)
            self.abort(err)
            raise err from None
        written = len(list(self._tmp.glob("frame_*.png")))
        if self._proc.returncode != 0 or written != self.frames:
            err = self._failure() if self._proc.returncode != 0 else OutputError(
                f"cannot write {self.path}: {written} PNGs written, {self.frames} frames")
            self.abort(err)
            raise err
        self._proc.stderr.close()
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Discard the sequence (no folder at :attr:`path` changes, no temporaries)."""
        self._kill()
        for pipe in (self._proc.stdin, self._proc.stderr):
            try:
                pipe.close()
            except (OSError, ValueError):
                pass
        err = exc or OutputError("aborted")
        try:
            self._atomic.__exit__(type(err), err, None)
        except BaseException:  # noqa: BLE001 - the generator re-raises what it was given
            pass

    def __enter__(self) -> "PngSequenceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc)
