"""MP4 recording (H.264 + AAC) for the live window and ``dancepose render`` — one writing path for both.

:class:`Mp4Recorder` takes RGB frames from the render loop without blocking it (a bounded queue feeds a
writer thread that pipes them to the bundled ffmpeg), collects the audio in a temporary 16-bit WAV, and on
:meth:`Mp4Recorder.close` muxes both into the final MP4 with the audio padded/trimmed to exactly the
video's length.

Output safety (the policy of :mod:`dancepose.models.outputs`):

* before the work: the path is checked (``.mp4``, not under a file, not a device, writable folder) and
  the free space compared with an estimate for the expected duration (:func:`estimate_bytes`);
* the encoder and the audio write into a hidden temporary folder beside the output; the mux writes a
  hidden temporary MP4 (:func:`~dancepose.models.outputs.atomic_output`) that is probed
  (:func:`~dancepose.models.outputs.verify_media`: video *and* audio streams, every frame, the
  duration) and only then renamed onto the final name;
* any failure — a full disk, the encoder dying, muxing failing — removes every temporary and raises one
  :class:`~dancepose.models.errors.OutputError` (exit 6).  There is no "video only" fallback: audio is
  never silently dropped;
* shutdown is bounded: the writer thread polls its queue with a timeout and a stop flag (no sentinel
  that could block), every join and wait has a deadline, a stuck encoder is killed.

The ffmpeg children run in their own session, so a Ctrl-C in the terminal reaches only Python, which
finalises the recording.  ``close()`` is idempotent and is also called at interpreter exit.
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
from dancepose.models.errors import DanceposeError, OutputError, ParameterError
from dancepose.models.outputs import (as_output_error, atomic_output, check_output_file, make_folders,
                                      verify_media)

#: H.264 size of dancepose's pictures (bits per pixel per frame) for the free-space check: 3× the
#: 0.0066 measured on a 6.5-min live recording at 1280x720, 60 fps (17.7 MB).  Too low only means a
#: full disk is met while writing, which fails cleanly too.
VIDEO_BITS_PER_PIXEL: float = 0.02
#: AAC bit rate of the final mux (bits/s).
AAC_BITRATE: int = 160_000
#: Seconds of recording the free-space check asks room for when the length is unknown (live).
UNKNOWN_LENGTH_S: float = 60.0
#: Seconds ``close()`` waits for the writer thread to hand its queued frames to the encoder.
WRITER_STOP_S: float = 20.0
#: Seconds (plus one per recorded second) the encoder and the mux may take to finish; then killed.
FFMPEG_FINISH_S: float = 60.0
#: Poll period of the writer thread (s): the longest it takes to notice ``close()``.
_POLL_S: float = 0.1


def estimate_bytes(*, width: int, height: int, fps: float, seconds: float, sample_rate: int,
                   channels: int) -> int:
    """Disk space a recording needs at its peak (the encoded video exists twice while muxing).

    Returns
    -------
    int
        Bytes: 2 × video (at :data:`VIDEO_BITS_PER_PIXEL`) + the temporary 16-bit WAV + the AAC track.
    """
    video = width * height * fps * seconds * VIDEO_BITS_PER_PIXEL / 8.0
    wav = seconds * sample_rate * channels * 2
    aac = seconds * AAC_BITRATE / 8.0
    return int(2 * video + wav + aac)


def _ffmpeg_error(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class Mp4Recorder:
    """Record RGB frames and mono/stereo audio into an H.264 (yuv420p) + AAC MP4.

    Parameters
    ----------
    path : str or PathLike
        Output ``.mp4``.  Checked now (see the module docstring); written on :meth:`close`.
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
    expected_seconds : float or None
        Expected length, for the free-space check (None: :data:`UNKNOWN_LENGTH_S`).
    what : str
        How error messages name the output (``"--record"``, ``"-o"`` …).

    Raises
    ------
    ParameterError
        Bad size/rate, or the path does not end with ``.mp4``.
    OutputError
        The path cannot be written or its disk has not enough room.

    Notes
    -----
    Use as a context manager, or call :meth:`close` yourself (it is also called at interpreter exit).
    :meth:`abort` discards everything instead.
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, fps: float, sample_rate: int,
                 audio_channels: int = 1, drop_when_behind: bool = True, queue_frames: int | None = None,
                 quiet: bool = False, expected_seconds: float | None = None, what: str = "video") -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ParameterError(f"video size must be positive and even, got {width}x{height}")
        if not fps > 0:
            raise ParameterError(f"fps must be positive, got {fps}")
        if sample_rate <= 0 or audio_channels not in (1, 2):
            raise ParameterError(f"invalid sample_rate={sample_rate} or audio_channels={audio_channels}")
        seconds = expected_seconds if expected_seconds else UNKNOWN_LENGTH_S
        need = estimate_bytes(width=width, height=height, fps=fps, seconds=seconds, sample_rate=sample_rate,
                              channels=audio_channels)
        self.path = check_output_file(path, suffixes=(".mp4",), expected_bytes=need, what=what)
        self.width, self.height, self.fps = int(width), int(height), fps
        self.sample_rate, self.audio_channels = int(sample_rate), int(audio_channels)
        self.drop_when_behind, self.quiet = drop_when_behind, quiet
        try:
            make_folders(self.path.parent)  # the check creates nothing: the recording's folder appears now
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.stem}.rec-", dir=self.path.parent))
        except OSError as exc:
            err = as_output_error(exc, self.path) or OutputError(f"cannot write {self.path}: {exc}")
            raise err from None
        try:
            self._start(queue_frames)
        except BaseException:
            self._kill_encoder()
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        atexit.register(self._close_at_exit)

    def _start(self, queue_frames: int | None) -> None:
        self._video_tmp = self._tmp / "video.mp4"
        self._audio_tmp = self._tmp / "audio.wav"
        self._proc: subprocess.Popen | None = None
        self._audio_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._stop = threading.Event()     # close(): finish the queue, then end
        self._discard = threading.Event()  # abort(): drop the queue, then end
        self._closed = False
        self._result: Path | None = None
        self._error: BaseException | None = None
        self._written = 0
        self._dropped = 0
        self._audio_samples = 0
        try:
            self._wav = wave.open(str(self._audio_tmp), "wb")
            self._wav.setnchannels(self.audio_channels)
            self._wav.setsampwidth(2)
            self._wav.setframerate(self.sample_rate)
        except OSError as exc:
            raise (as_output_error(exc, self.path) or exc) from None
        n = queue_frames if queue_frames is not None else max(8, int(round(self.fps)))
        self._queue: queue.Queue = queue.Queue(maxsize=n)
        fps = Fraction(self.fps).limit_denominator(1001)
        cmd = [ffmpeg_exe(), "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{self.width}x{self.height}", "-r", str(fps), "-i", "-",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
               "-an", str(self._video_tmp)]
        # Own session: a terminal Ctrl-C reaches only Python.  stderr is read after ffmpeg ends
        # (at -v error it writes a few lines at most, far below the pipe's buffer).
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        self._thread = threading.Thread(target=self._run, name="Mp4Recorder-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        """Hand queued frames to ffmpeg until stopped.  Never blocks on the queue for long."""
        while True:
            try:
                frame = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._stop.is_set() or self._discard.is_set():
                    return
                continue
            if self._error is not None or self._discard.is_set():
                continue  # drain
            try:
                self._proc.stdin.write(memoryview(frame).cast("B"))
                self._written += 1
            except BaseException as exc:  # noqa: BLE001 — reported by process()/close()
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

        Raises
        ------
        OutputError
            The encoder failed (e.g. the disk is full).
        """
        if self._closed:
            raise ParameterError("recorder is closed")
        if self._error is not None:
            raise self._encoder_failure()
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
                        raise self._encoder_failure() from None
        return True

    def add_audio(self, samples: np.ndarray) -> None:
        """Append audio.

        Parameters
        ----------
        samples : np.ndarray [shape=(n,)] or [shape=(n, audio_channels)] float in [-1, 1]

        Raises
        ------
        OutputError
            The temporary WAV cannot be written (full disk).
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
                self._write_pcm(pcm)

    def _write_pcm(self, pcm: np.ndarray) -> None:
        try:
            self._wav.writeframes(pcm.tobytes())
        except OSError as exc:
            raise (as_output_error(exc, self.path) or exc) from None
        self._audio_samples += len(pcm)

    def __enter__(self) -> "Mp4Recorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
            self.abort()  # a failure mid-way: nothing at the final name
        else:
            self.close()

    # ------------------------------------------------------------------ shutdown
    def _encoder_failure(self) -> OutputError:
        """The encoder's failure as one line (a full disk is named as such)."""
        err = b""
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2.0)
                err = self._proc.stderr.read()
            except (subprocess.TimeoutExpired, ValueError, OSError):
                pass
        msg = _ffmpeg_error(err or b"")
        if "No space left" in msg or shutil.disk_usage(self._tmp.parent).free < (1 << 20):
            return OutputError(f"cannot write {self.path}: no space left on its disk")
        return OutputError(f"cannot write {self.path}: the video encoder failed "
                           f"({msg or self._error or 'ffmpeg ended'})")

    def _kill_encoder(self, *, release: bool = False) -> None:
        """Kill ffmpeg if it still runs; ``release`` also closes its pipes (end of the recorder)."""
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - a kill always ends it
                pass
        if release:
            for pipe in (proc.stdin, proc.stderr):
                try:
                    pipe.close()
                except (OSError, ValueError):
                    pass

    def _stop_writer(self, *, discard: bool) -> None:
        """End the writer thread within :data:`WRITER_STOP_S`, then ffmpeg's input (bounded)."""
        (self._discard if discard else self._stop).set()
        self._thread.join(timeout=WRITER_STOP_S)
        if self._thread.is_alive():  # stuck writing to a stalled ffmpeg: kill it, the write fails
            self._kill_encoder()
            self._thread.join(timeout=5.0)
            if self._error is None:
                self._error = TimeoutError(f"the encoder took more than {WRITER_STOP_S:.0f} s to finish")
        try:
            self._proc.stdin.close()
        except OSError as exc:
            if self._error is None:
                self._error = exc

    def _finish_encoder(self) -> None:
        """Wait (bounded) for ffmpeg to write the video; raise if it failed."""
        timeout = FFMPEG_FINISH_S + self._written / float(self.fps)
        try:
            self._proc.wait(timeout=timeout)
            err = self._proc.stderr.read()
        except subprocess.TimeoutExpired:
            self._kill_encoder()
            raise OutputError(f"cannot write {self.path}: the video encoder did not finish within "
                              f"{timeout:.0f} s") from None
        if self._error is not None or self._proc.returncode != 0:
            msg = _ffmpeg_error(err or b"")
            if "No space left" in msg or shutil.disk_usage(self._tmp.parent).free < (1 << 20):
                raise OutputError(f"cannot write {self.path}: no space left on its disk")
            raise OutputError(f"cannot write {self.path}: the video encoder failed "
                              f"({msg or self._error or f'exit {self._proc.returncode}'})")

    def _finish_audio(self) -> None:
        """Pad the WAV with silence to the video's length (audio is never dropped), close it."""
        n = int(round(self._written * self.sample_rate / float(self.fps)))
        block = np.zeros((self.sample_rate, self.audio_channels), "<i2")
        with self._audio_lock:
            while self._audio_samples < n:
                self._write_pcm(block[: n - self._audio_samples])
            try:
                self._wav.close()
            except OSError as exc:
                raise (as_output_error(exc, self.path) or exc) from None

    def close(self) -> Path | None:
        """Finish encoding, mux the audio, probe, rename to :attr:`path`.  Idempotent.

        Returns
        -------
        Path or None
            The MP4, or None if no frame was recorded (nothing is written then).

        Raises
        ------
        OutputError
            Anything failed (full disk, encoder, mux, probe): no file at :attr:`path`, no temporaries.
        """
        with self._close_lock:
            if self._closed:
                return self._result
            self._closed = True
            try:
                self._stop_writer(discard=False)
                self._finish_encoder()
                if self._written == 0:
                    return None
                self._finish_audio()
                self._result = self._mux()
            finally:
                self._kill_encoder(release=True)
                shutil.rmtree(self._tmp, ignore_errors=True)
                atexit.unregister(self._close_at_exit)
        if self._dropped and not self.quiet:
            print(f"recorder: {self._dropped} frame(s) dropped (encoder fell behind)", file=sys.stderr)
        return self._result

    def abort(self) -> None:
        """Stop and discard the recording (no output file, no temporaries).  Bounded."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._stop_writer(discard=True)
            finally:
                self._kill_encoder(release=True)
                with self._audio_lock:
                    try:
                        self._wav.close()
                    except OSError:
                        pass
                shutil.rmtree(self._tmp, ignore_errors=True)
                atexit.unregister(self._close_at_exit)

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except DanceposeError as exc:
            print(f"recorder: error: {exc}", file=sys.stderr)

    # ------------------------------------------------------------------ muxing
    def _verify(self, tmp: Path) -> None:
        seconds = self._written / float(self.fps)
        info = verify_media(tmp, video=True, audio=True, duration=seconds,
                            tolerance=max(0.1, 2.0 / float(self.fps)), what=self.path.name)
        if info["video"]["packets"] != self._written:
            raise OutputError(f"{self.path.name}: {info['video']['packets']} video frames written, "
                              f"{self._written} recorded")

    def _mux(self) -> Path:
        n = int(round(self._written * self.sample_rate / float(self.fps)))
        timeout = FFMPEG_FINISH_S + self._written / float(self.fps)
        with atomic_output(self.path, verify=self._verify) as out_tmp:
            cmd = [ffmpeg_exe(), "-nostdin", "-y", "-v", "error", "-i", str(self._video_tmp),
                   "-i", str(self._audio_tmp), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                   "-af", f"apad=whole_len={n},atrim=end_sample={n}", "-c:a", "aac", "-b:a",
                   str(AAC_BITRATE), "-movflags", "+faststart", str(out_tmp)]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
            try:
                _, err = proc.communicate(timeout=timeout)
            except BaseException as exc:  # timeout, or a second Ctrl-C outside the CLI: stop, clean up
                proc.kill()
                proc.wait(timeout=5.0)
                if isinstance(exc, subprocess.TimeoutExpired):
                    raise OutputError(f"cannot write {self.path}: muxing did not finish within "
                                      f"{timeout:.0f} s") from None
                raise
            if proc.returncode != 0 or not out_tmp.is_file():
                msg = _ffmpeg_error(err)
                if "No space left" in msg or shutil.disk_usage(self.path.parent).free < (1 << 20):
                    raise OutputError(f"cannot write {self.path}: no space left on its disk")
                raise OutputError(f"cannot write {self.path}: muxing video and audio failed "
                                  f"({msg or f'ffmpeg exit {proc.returncode}'})")
        return self.path
