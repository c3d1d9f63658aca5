"""MP4 recording (H.264 + AAC) for the live window and ``dancepose render`` — one writing path for both.

:class:`Mp4Recorder` takes RGB frames from the render loop without blocking it (a bounded queue feeds a
writer thread that pipes them to the bundled ffmpeg through ``imageio_ffmpeg.write_frames``), collects the
audio in a temporary 16-bit WAV, and on :meth:`Mp4Recorder.close` muxes both into the final MP4 with the
audio padded/trimmed to exactly the video's length.  The output is written under a temporary name and
renamed, so a half-written file never carries the final name.  ``close()`` is idempotent and is also
registered with :mod:`atexit`; the ffmpeg children run in their own process group, so a Ctrl-C in the
terminal reaches only Python, which finalises the recording.

:func:`dancepose.models.media.probe.probe_streams` checks what was written.
"""
from __future__ import annotations

import atexit
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

from dancepose.models.audio import ffmpeg_exe
from dancepose.models.errors import InputError, ParameterError

_SENTINEL = None


def _wait_uninterrupted(proc: subprocess.Popen) -> tuple[int, bool]:
    """Wait for ``proc`` even through Ctrl-C; returns (returncode, interrupted)."""
    interrupted = False
    while True:
        try:
            proc.wait()
            return proc.returncode, interrupted
        except KeyboardInterrupt:
            interrupted = True


class Mp4Recorder:
    """Record RGB frames and mono/stereo audio into an H.264 (yuv420p) + AAC MP4.

    Parameters
    ----------
    path : str or PathLike
        Output ``.mp4``.  Written to a temporary name in the same folder, renamed on close.
    width, height : int
        Frame size in pixels (even numbers: yuv420p).
    fps : float
        Video frame rate.
    sample_rate : int
        Rate of the samples given to :meth:`add_audio`.
    audio_channels : int
        1 or 2.
    drop_when_behind : bool
        True (live): :meth:`process` never blocks; frames that do not fit in the queue are dropped and
        counted (:attr:`dropped_frames`).  False (offline render): :meth:`process` waits for the encoder.
    queue_frames : int
        Capacity of the frame queue (default: one second of video, at least 8).
    quiet : bool
        Do not print the dropped-frames warning on close.

    Notes
    -----
    Use as a context manager, or call :meth:`close` yourself (it is also called at interpreter exit).
    :meth:`abort` discards everything instead.
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, fps: float, sample_rate: int,
                 audio_channels: int = 1, drop_when_behind: bool = True, queue_frames: int | None = None,
                 quiet: bool = False) -> None:
        self.path = Path(path)
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ParameterError(f"video size must be positive and even, got {width}x{height}")
        if not fps > 0:
            raise ParameterError(f"fps must be positive, got {fps}")
        if sample_rate <= 0 or audio_channels not in (1, 2):
            raise ParameterError(f"invalid sample_rate={sample_rate} or audio_channels={audio_channels}")
        if self.path.is_dir():
            raise ParameterError(f"output path is a directory: {self.path}")
        self.width, self.height, self.fps = int(width), int(height), fps
        self.sample_rate, self.audio_channels = int(sample_rate), int(audio_channels)
        self.drop_when_behind, self.quiet = drop_when_behind, quiet
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.stem}.rec-", dir=self.path.parent))
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            self._start(fps, queue_frames)
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        atexit.register(self.close)

    def _start(self, fps: float, queue_frames: int | None) -> None:
        import imageio_ffmpeg

        self._video_tmp = self._tmp / "video.mp4"
        self._audio_tmp = self._tmp / "audio.wav"
        self._wav = wave.open(str(self._audio_tmp), "wb")
        self._wav.setnchannels(self.audio_channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.sample_rate)
        self._audio_samples = 0
        self._audio_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed = False
        self._result: Path | None = None
        self._error: BaseException | None = None
        self._written = 0
        self._dropped = 0
        n = queue_frames if queue_frames is not None else max(8, int(round(fps)))
        self._queue: queue.Queue = queue.Queue(maxsize=n)
        fps_arg = Fraction(fps).limit_denominator(1001) if not isinstance(fps, int) else fps
        self._writer = imageio_ffmpeg.write_frames(
            str(self._video_tmp), (self.width, self.height), fps=fps_arg, codec="libx264",
            pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=None, macro_block_size=2,
            ffmpeg_log_level="error", output_params=["-preset", "veryfast", "-crf", "20"])
        self._writer.send(None)  # starts ffmpeg (in its own process group: immune to terminal Ctrl-C)
        self._thread = threading.Thread(target=self._run, name="Mp4Recorder-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is _SENTINEL:
                return
            if self._error is not None:
                continue  # drain
            try:
                self._writer.send(frame)
                self._written += 1
            except BaseException as exc:  # noqa: BLE001 — reported from close()
                self._error = exc

    # ------------------------------------------------------------------ public API
    @property
    def frames_written(self) -> int:
        """Frames handed to the encoder so far."""
        return self._written

    @property
    def dropped_frames(self) -> int:
        """Frames dropped because the encoder fell behind (only with ``drop_when_behind``)."""
        return self._dropped

    @property
    def audio_samples(self) -> int:
        """Audio sample frames received so far."""
        return self._audio_samples

    @property
    def closed(self) -> bool:
        return self._closed

    def process(self, frame_rgb: np.ndarray) -> bool:
        """Queue one frame for encoding.

        Parameters
        ----------
        frame_rgb : np.ndarray [shape=(height, width, 3)] uint8
            Copied unless it is read-only (then it is assumed not to change).

        Returns
        -------
        bool
            False if the frame was dropped (encoder behind, ``drop_when_behind=True``).
        """
        if self._closed:
            raise ParameterError("recorder is closed")
        if self._error is not None:
            raise InputError(f"video encoder failed: {self._error}")
        frame = np.asarray(frame_rgb)
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ParameterError(f"frame must be uint8 of shape ({self.height}, {self.width}, 3), "
                                 f"got {frame.dtype} {frame.shape}")
        if frame.flags.writeable or not frame.flags.c_contiguous:
            frame = np.array(frame, order="C", copy=True)
        if self.drop_when_behind:
            try:
                self._queue.put_nowait(frame)
            except queue.Full:
                self._dropped += 1
                return False
        else:
            while True:
                try:
                    self._queue.put(frame, timeout=0.5)
                    break
                except queue.Full:
                    if not self._thread.is_alive() or self._error is not None:
                        raise InputError(f"video encoder failed: {self._error}") from None
        return True

    def add_audio(self, samples: np.ndarray) -> None:
        """Append audio.

        Parameters
        ----------
        samples : np.ndarray [shape=(n,)] or [shape=(n, audio_channels)] float in [-1, 1]
        """
        if self._closed:
            return
        y = np.asarray(samples, dtype=np.float32)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] not in (1, self.audio_channels):
            raise ParameterError(f"audio must have shape (n,) or (n, {self.audio_channels}), got {y.shape}")
        if y.shape[1] != self.audio_channels:
            y = np.repeat(y, self.audio_channels, axis=1)
        pcm = (np.clip(np.nan_to_num(y), -1.0, 1.0) * 32767.0).astype("<i2")
        with self._audio_lock:
            if not self._closed:
                self._wav.writeframes(pcm.tobytes())
                self._audio_samples += len(pcm)

    def __enter__(self) -> "Mp4Recorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _stop_writer(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(_SENTINEL, timeout=0.2)
                break
            except queue.Full:
                continue
        interrupted = False
        while self._thread.is_alive():
            try:
                self._thread.join(timeout=0.5)
            except KeyboardInterrupt:
                interrupted = True
        try:
            self._writer.close()  # flushes and waits for ffmpeg to finish the file
        except KeyboardInterrupt:
            interrupted = True
            self._writer.close()
        except Exception as exc:  # noqa: BLE001
            if self._error is None:
                self._error = exc
        with self._audio_lock:
            self._wav.close()
        if interrupted:
            self._interrupted = True

    def close(self) -> Path | None:
        """Finish encoding, mux the audio, rename to :attr:`path`.  Idempotent.

        Returns
        -------
        Path or None
            The MP4, or None if no frame was recorded (nothing is written then).
        """
        with self._close_lock:
            if self._closed:
                return self._result
            self._closed = True
            self._interrupted = False
            try:
                self._stop_writer()
                self._result = self._finalise()
            finally:
                shutil.rmtree(self._tmp, ignore_errors=True)
                atexit.unregister(self.close)
        if self._dropped and not self.quiet:
            print(f"recorder: {self._dropped} frame(s) dropped (encoder fell behind)", file=sys.stderr)
        if self._interrupted:
            raise KeyboardInterrupt
        return self._result

    def abort(self) -> None:
        """Stop and discard the recording (no output file)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._interrupted = False
            try:
                self._stop_writer()
            finally:
                shutil.rmtree(self._tmp, ignore_errors=True)
                atexit.unregister(self.close)

    # ------------------------------------------------------------------ muxing
    def _finalise(self) -> Path | None:
        if self._written == 0 or not self._video_tmp.is_file():
            if self._error is not None:
                raise InputError(f"video encoder failed: {self._error}")
            return None
        out_tmp = self._tmp / ("final" + (self.path.suffix or ".mp4"))
        cmd = [ffmpeg_exe(), "-nostdin", "-y", "-v", "error", "-i", str(self._video_tmp)]
        if self._audio_samples > 0:
            n = int(round(self._written * self.sample_rate / float(self.fps)))
            cmd += ["-i", str(self._audio_tmp), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                    "-af", f"apad=whole_len={n},atrim=end_sample={n}", "-c:a", "aac", "-b:a", "160k"]
        else:
            cmd += ["-map", "0:v:0", "-c:v", "copy"]
        cmd += ["-movflags", "+faststart", str(out_tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        err = b""
        while True:
            try:
                _, err = proc.communicate()
                break
            except KeyboardInterrupt:
                self._interrupted = True
        if proc.returncode != 0 or not out_tmp.is_file():
            # Keep at least the video (a playable file beats no file).
            msg = err.decode("utf-8", "replace").strip().splitlines()
            print(f"recorder: muxing audio failed ({msg[-1] if msg else proc.returncode}); "
                  "writing video only", file=sys.stderr)
            out_tmp = self._video_tmp
        os.replace(out_tmp, self.path)
        return self.path
