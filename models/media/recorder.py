"""Video recording (H.264 + AAC MP4 by default) for the live recorder and ``dancepose render`` — one
writing path for both.

:class:`Mp4Recorder` pipes raw frames to the bundled ffmpeg, collects the audio as raw 16-bit PCM beside
it, and on :meth:`Mp4Recorder.close` muxes both into the final file with the audio padded/trimmed to
exactly the video's length.  Frames come in two ways:

* :meth:`Mp4Recorder.process` (render): RGB arrays, never blocking the caller — a bounded queue feeds a
  writer thread;
* :meth:`Mp4Recorder.write_frame` (the live recorder process): a raw buffer in ``input_pix_fmt`` (e.g. a
  pygame surface's pixels, ``bgr0``), written at once — the caller is a process of its own that may
  wait for the encoder; with ``max_in_flight`` it also waits while that many frames are inside ffmpeg
  (whose own queues would otherwise hold a slow encoder's backlog as frames: 279 against 146 MB at 1080p).

The encoder and its arguments come from an :class:`~dancepose.models.media.encoders.Encoding`; by default
the one the output's suffix asks for (:mod:`dancepose.models.media.formats`): ``.mp4`` libx264 ``veryfast``
(what ``render`` has always used) + AAC, ``.webm`` VP9 + Opus, ``.mov`` ProRes 4444 + PCM.  With
``alpha=True`` the frames are RGBA and ``.webm`` / ``.mov`` keep the alpha channel (``--background
transparent``); the finished file is probed for it.

Output safety (the policy of :mod:`dancepose.models.outputs`):

* before the work: the path is checked (the encoding's suffix, not under a file, not a device, writable
  folder) and the free space compared with an estimate for the expected duration (:func:`estimate_bytes`);
* the encoder and the audio write into a hidden temporary folder beside the output — the video as
  Matroska and the audio as raw PCM, both readable up to their last byte if the writer is killed
  (:func:`salvage_recording` finishes such a folder); the mux writes a hidden temporary file
  (:func:`~dancepose.models.outputs.atomic_output`) that is probed
  (:func:`~dancepose.models.outputs.verify_media`: video *and* audio streams, every frame, the
  duration) and only then renamed onto the final name;
* any failure — a full disk, the encoder dying, muxing failing — removes every temporary and raises one
  :class:`~dancepose.models.errors.OutputError` (exit 6).  There is no "video only" fallback: audio is
  never silently dropped;
* shutdown is bounded: the writer thread polls its queue with a timeout and a stop flag (no sentinel
  that could block), every join and wait has a deadline, a stuck encoder is killed.

The ffmpeg children run in their own process group, so a Ctrl-C in the terminal reaches only Python,
which finalises the recording; they stay in the caller's session (and scheduling autogroup), so a niced
caller's encoder is niced too.  ``close()`` is idempotent and is also called at interpreter exit.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from dancepose.models.audio import ffmpeg_exe
from dancepose.models.errors import DanceposeError, OutputError, ParameterError
from dancepose.models.media.encoders import Encoding
from dancepose.models.media.formats import VIDEO_SUFFIXES, video_format
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
#: Seconds :meth:`Mp4Recorder.write_frame` waits for the encoder to finish any frame, while
#: ``max_in_flight`` frames are inside it, before taking the encoder's delay to be longer than that and
#: allowing half as many more (up to :data:`MAX_IN_FLIGHT_S` of video).
IN_FLIGHT_STALL_S: float = 0.5
#: The most frames ever held back for, as seconds of video.
MAX_IN_FLIGHT_S: float = 1.0


def in_flight_frames() -> int:
    """Frames the live recorder lets ffmpeg hold at once: x264's own threads (1.5 per core) each hold one,
    plus one per stage before it.  On the 2-core machine 8 encode 1080p as fast as no limit (60 frames/s
    of noise); 4 stalled it."""
    return max(8, 2 * (os.cpu_count() or 1) + 4)


class _InFlight:
    """Frames inside ffmpeg (written minus encoded), from its ``-progress`` ``frame=`` lines read in a thread.

    ffmpeg queues up to 8 frames between each of its reading, scaling and encoding threads: when the encoder
    is slower than the writer those queues fill (at 1920×1080, 8 MB a frame, its RSS rose from 146 to 279 MB).
    :meth:`wait` holds the writer instead, so a recording that falls behind keeps its backlog as the
    caller's poses, not as frames.  An encoder that emits nothing for :data:`IN_FLIGHT_STALL_S` while ``cap``
    frames are inside it needs more before its first output: the cap grows, up to ``max_cap``.
    """

    def __init__(self, stream, *, cap: int, max_cap: int) -> None:
        self.cap, self.max_cap = int(cap), max(int(cap), int(max_cap))
        self.encoded = 0
        self.peak = 0
        self._ended = False
        self._cv = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), name="Mp4Recorder-progress", daemon=True).start()

    def _read(self, stream) -> None:
        try:
            for line in stream:
                if line.startswith(b"frame="):
                    try:
                        n = int(line[6:])
                    except ValueError:
                        continue
                    with self._cv:
                        self.encoded = n
                        self._cv.notify_all()
        finally:
            with self._cv:
                self._ended = True
                self._cv.notify_all()

    def wait(self, written: int) -> None:
        """Return once fewer than :attr:`cap` of the ``written`` frames are still inside the encoder."""
        with self._cv:
            seen, since = self.encoded, time.monotonic()
            while written - self.encoded >= self.cap and not self._ended:
                if self.encoded != seen:
                    seen, since = self.encoded, time.monotonic()
                left = since + IN_FLIGHT_STALL_S - time.monotonic()
                if left > 0:
                    self._cv.wait(left)
                elif self.cap < self.max_cap:
                    self.cap = min(self.max_cap, self.cap + max(2, self.cap // 2))
                    since = time.monotonic()
                else:
                    break
            self.peak = max(self.peak, written + 1 - self.encoded)


#: Bytes per pixel of the raw-video inputs the recorder takes.
INPUT_PIX_FMTS: dict[str, int] = {"rgb24": 3, "bgr0": 4, "rgb0": 4, "bgra": 4, "rgba": 4}
#: Pipe buffer asked for the encoder's input (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by
#: default): a 3.7-MB frame crosses a 64-KiB pipe in 57 context switches; at 1 MiB in 4 (writer + ffmpeg
#: CPU for a 1280x720 frame: 1.9 → 0.8 ms).
PIPE_BYTES: int = 1 << 20
_F_SETPIPE_SZ: int = 1031
#: Names of the parts inside a recording's temporary folder.
VIDEO_PART, AUDIO_PART = "video.mkv", "audio.pcm"
#: The temporary folder of a recording of ``name.ext`` is ``.name.rec-XXXX`` beside it.
TMP_INFIX = ".rec-"


def estimate_bytes(*, width: int, height: int, fps: float, seconds: float, sample_rate: int,
                   channels: int, bits_per_pixel: float = VIDEO_BITS_PER_PIXEL) -> int:
    """Disk space a recording needs at its peak (the encoded video exists twice while muxing).

    Returns
    -------
    int
        Bytes: 2 × video (at ``bits_per_pixel``: the format's) + the temporary 16-bit PCM + the audio track.
    """
    video = width * height * fps * seconds * bits_per_pixel / 8.0
    pcm = seconds * sample_rate * channels * 2
    aac = seconds * AAC_BITRATE / 8.0
    return int(2 * video + pcm + aac)


def _ffmpeg_error(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _disk_full(msg: str, folder: Path) -> bool:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = 1 << 30
    return "No space left" in msg or free < (1 << 20)


def _enlarge_pipe(pipe) -> None:
    """Ask for a :data:`PIPE_BYTES` pipe buffer (best effort: Linux only, capped by the system)."""
    try:
        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, ValueError, AttributeError):
        pass


class Mp4Recorder:
    """Record frames and mono/stereo audio into a video file (default H.264 (yuv420p) + AAC MP4).

    Parameters
    ----------
    path : str or PathLike
        Output file (an extension of ``encoding.suffixes``).  Checked now (see the module docstring);
        written on :meth:`close`.
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
    encoding : Encoding or None
        Encoder and container (:mod:`dancepose.models.media.encoders`); default: the suffix's
        (:meth:`~dancepose.models.media.formats.VideoFormat.encoding`: libx264 ``veryfast`` for ``.mp4``).
    input_pix_fmt : str
        Layout of the frames given (:data:`INPUT_PIX_FMTS`): ``rgb24`` arrays of shape (height, width, 3)
        for :meth:`process` (``rgba``, 4 channels, with ``alpha``), or e.g. ``bgr0`` buffers (a pygame
        surface's pixels) for :meth:`write_frame`.
    alpha : bool
        Keep the frames' alpha channel (``.webm`` or ``.mov``; the probe must find it).
    max_in_flight : int or None
        For :meth:`write_frame`: hold the caller while this many frames are inside ffmpeg (read from its
        progress reports; :func:`in_flight_frames` for the live recorder), so a slow encoder's backlog is
        not kept as frames in ffmpeg's queues.  None: no limit.

    Raises
    ------
    ParameterError
        Bad size/rate/pixel format, or the path has the wrong extension.
    OutputError
        The path cannot be written or its disk has not enough room.

    Notes
    -----
    Use as a context manager, or call :meth:`close` yourself (it is also called at interpreter exit).
    :meth:`abort` discards everything instead.  :attr:`tmp` is the temporary folder (what
    :func:`salvage_recording` finishes if this process dies).
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, fps: float, sample_rate: int,
                 audio_channels: int = 1, drop_when_behind: bool = True, queue_frames: int | None = None,
                 quiet: bool = False, expected_seconds: float | None = None, what: str = "video",
                 encoding: Encoding | None = None, input_pix_fmt: str = "rgb24", alpha: bool = False,
                 max_in_flight: int | None = None) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ParameterError(f"video size must be positive and even, got {width}x{height}")
        if not fps > 0:
            raise ParameterError(f"fps must be positive, got {fps}")
        if sample_rate <= 0 or audio_channels not in (1, 2):
            raise ParameterError(f"invalid sample_rate={sample_rate} or audio_channels={audio_channels}")
        if alpha and input_pix_fmt == "rgb24":
            input_pix_fmt = "rgba"
        if input_pix_fmt not in INPUT_PIX_FMTS:
            raise ParameterError(f"input_pix_fmt must be one of {', '.join(INPUT_PIX_FMTS)}, got {input_pix_fmt!r}")
        check_output_file(path, suffixes=VIDEO_SUFFIXES, what=what)  # a device or a wrong name first
        self.format, self.alpha = video_format(path, alpha=alpha, what=what), bool(alpha)
        self.encoding = encoding or self.format.encoding(alpha=self.alpha)
        seconds = expected_seconds if expected_seconds else UNKNOWN_LENGTH_S
        need = estimate_bytes(width=width, height=height, fps=fps, seconds=seconds, sample_rate=sample_rate,
                              channels=audio_channels, bits_per_pixel=self.format.bits_per_pixel)
        self.path = check_output_file(path, suffixes=self.encoding.suffixes, expected_bytes=need, what=what)
        self.width, self.height, self.fps = int(width), int(height), fps
        self.sample_rate, self.audio_channels = int(sample_rate), int(audio_channels)
        self.drop_when_behind, self.quiet = drop_when_behind, quiet
        self.input_pix_fmt = input_pix_fmt
        if max_in_flight is not None and max_in_flight < 1:
            raise ParameterError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.frame_bytes = self.width * self.height * INPUT_PIX_FMTS[input_pix_fmt]
        try:
            make_folders(self.path.parent)  # the check creates nothing: the recording's folder appears now
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.stem}{TMP_INFIX}", dir=self.path.parent))
        except OSError as exc:
            err = as_output_error(exc, self.path) or OutputError(f"cannot write {self.path}: {exc}")
            raise err from None
        try:
            self._start(queue_frames)
        except BaseException:
            self._kill_encoder()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        atexit.register(self._close_at_exit)

    def _start(self, queue_frames: int | None) -> None:
        self._video_tmp = self.tmp / VIDEO_PART
        self._audio_tmp = self.tmp / AUDIO_PART
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
            self._pcm = open(self._audio_tmp, "wb", buffering=0)  # on disk at once: a salvage finds it all
        except OSError as exc:
            raise (as_output_error(exc, self.path) or exc) from None
        n = queue_frames if queue_frames is not None else max(8, int(round(self.fps)))
        self._queue: queue.Queue = queue.Queue(maxsize=n)
        fps = Fraction(self.fps).limit_denominator(1001)
        enc = self.encoding
        progress = ("-progress", "pipe:1", "-stats_period", "0.02") if self.max_in_flight else ()
        cmd = [ffmpeg_exe(), "-nostdin", "-y", "-v", "error", *progress, *enc.input_args, "-f", "rawvideo",
               "-pix_fmt", self.input_pix_fmt, "-s", f"{self.width}x{self.height}", "-r", str(fps), "-i", "-",
               *enc.video_args, "-an", "-f", "matroska", str(self._video_tmp)]
        # Own process group: a terminal Ctrl-C reaches only Python (same session: a niced caller's
        # encoder is niced too).  stderr is read after ffmpeg ends (at -v error it writes a few lines
        # at most, far below the pipe's buffer).
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE if progress else subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, process_group=0)
        _enlarge_pipe(self._proc.stdin)
        self._in_flight = (_InFlight(self._proc.stdout, cap=self.max_in_flight,
                                     max_cap=max(self.max_in_flight, round(MAX_IN_FLIGHT_S * self.fps)))
                           if progress else None)
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
    def in_flight_peak(self) -> int:
        """Most frames inside the encoder at once so far (with ``max_in_flight``; else 0)."""
        return self._in_flight.peak if self._in_flight is not None else 0

    @property
    def in_flight_limit(self) -> int:
        """Frames allowed inside the encoder now (``max_in_flight``, grown if the encoder's delay is longer;
        0 without a limit)."""
        return self._in_flight.cap if self._in_flight is not None else 0

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

    @property
    def encoder_pid(self) -> int | None:
        """Process id of the ffmpeg encoder (None once it is gone)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def process(self, frame_rgb: np.ndarray) -> bool:
        """Queue one frame for encoding.

        Parameters
        ----------
        frame_rgb : np.ndarray [shape=(height, width, 3)] uint8
            Copied unless it is read-only (then it is assumed not to change).  (height, width, 4) for the
            four-byte ``input_pix_fmt`` values.

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
        shape = (self.height, self.width, INPUT_PIX_FMTS[self.input_pix_fmt])
        if frame.shape != shape or frame.dtype != np.uint8:
            raise ParameterError(f"frame must be uint8 of shape {shape}, got {frame.dtype} {frame.shape}")
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

    def write_frame(self, pixels) -> None:
        """Hand one frame to the encoder now (waits while the encoder is busy).

        For a caller that is itself off the display's path (the live recorder process); do not mix with
        :meth:`process`.

        Parameters
        ----------
        pixels : buffer
            ``width * height`` pixels in ``input_pix_fmt`` (e.g. ``surface.get_buffer()`` of a 32-bit
            pygame surface, ``bgr0`` on little-endian machines).

        Raises
        ------
        OutputError
            The encoder failed (e.g. the disk is full).
        """
        if self._closed:
            raise ParameterError("recorder is closed")
        view = memoryview(pixels).cast("B")
        if view.nbytes != self.frame_bytes:
            raise ParameterError(f"frame must be {self.frame_bytes} bytes ({self.width}x{self.height} "
                                 f"{self.input_pix_fmt}), got {view.nbytes}")
        if self._error is None and self._in_flight is not None:
            self._in_flight.wait(self._written)
        if self._error is None:
            try:
                self._proc.stdin.write(view)
                self._written += 1
            except BaseException as exc:  # noqa: BLE001 — reported below, as process() does
                self._error = exc
        if self._error is not None:
            raise self._encoder_failure()

    def add_audio(self, samples: np.ndarray) -> None:
        """Append audio.

        Parameters
        ----------
        samples : np.ndarray [shape=(n,)] or [shape=(n, audio_channels)] float in [-1, 1]

        Raises
        ------
        OutputError
            The temporary audio cannot be written (full disk).
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
            data = memoryview(pcm).cast("B")
            while data:  # an unbuffered file may take part of a write
                data = data[self._pcm.write(data):]
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
        if _disk_full(msg, self.tmp.parent):
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
            if _disk_full(msg, self.tmp.parent):
                raise OutputError(f"cannot write {self.path}: no space left on its disk")
            raise OutputError(f"cannot write {self.path}: the video encoder failed "
                              f"({msg or self._error or f'exit {self._proc.returncode}'})")

    def _close_audio(self) -> None:
        with self._audio_lock:
            try:
                self._pcm.close()
            except OSError as exc:
                raise (as_output_error(exc, self.path) or exc) from None

    def close(self) -> Path | None:
        """Finish encoding, mux the audio, probe, rename to :attr:`path`.  Idempotent.

        Returns
        -------
        Path or None
            The file, or None if no frame was recorded (nothing is written then).

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
                self._close_audio()
                if self._written == 0:
                    return None
                self._result = mux_recording(self.tmp, self.path, frames=self._written, fps=self.fps,
                                             sample_rate=self.sample_rate, channels=self.audio_channels,
                                             encoding=self.encoding, alpha=self.alpha)
            finally:
                self._kill_encoder(release=True)
                try:
                    self._pcm.close()
                except OSError:
                    pass
                shutil.rmtree(self.tmp, ignore_errors=True)
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
                        self._pcm.close()
                    except OSError:
                        pass
                shutil.rmtree(self.tmp, ignore_errors=True)
                atexit.unregister(self._close_at_exit)

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except DanceposeError as exc:
            print(f"recorder: error: {exc}", file=sys.stderr)


# ----------------------------------------------------------------------------------- finishing
def _pad_pcm(path: Path, *, n_samples: int, channels: int) -> None:
    """Pad the raw PCM part with silence to ``n_samples`` sample frames (longer parts are trimmed in the
    mux).  Audio is never dropped: a short part means the video ran on past the audio."""
    have = path.stat().st_size // (2 * channels) if path.exists() else 0
    if have >= n_samples:
        return
    block = np.zeros((min(n_samples - have, 1 << 16), channels), "<i2")
    with open(path, "ab") as fh:
        while have < n_samples:
            n = min(n_samples - have, len(block))
            fh.write(block[:n].tobytes())
            have += n


def mux_recording(tmp: Path, path: Path, *, frames: int, fps: float, sample_rate: int, channels: int,
                  encoding: Encoding, alpha: bool = False) -> Path:
    """Mux a recording's parts (``tmp/video.mkv`` with ``frames`` frames, ``tmp/audio.pcm``) into
    ``path``: the audio padded/trimmed to the video's length, probed (the container's codecs, and the
    alpha channel with ``alpha``), then renamed into place.

    Raises
    ------
    OutputError
        Muxing failed (full disk …) or the result does not probe right; nothing at ``path`` then.
    """
    n = int(round(frames * sample_rate / float(fps)))
    try:
        _pad_pcm(tmp / AUDIO_PART, n_samples=n, channels=channels)
    except OSError as exc:
        raise (as_output_error(exc, path) or exc) from None
    timeout = FFMPEG_FINISH_S + frames / float(fps)

    def verify(out: Path) -> None:
        info = verify_media(out, video=True, audio=True, duration=frames / float(fps),
                            tolerance=max(0.1, 2.0 / float(fps)), what=path.name)
        if info["video"]["packets"] != frames:
            raise OutputError(f"{path.name}: {info['video']['packets']} video frames written, {frames} recorded")
        video_format(path).check(info, alpha=alpha, what=path.name)

    with atomic_output(path, verify=verify) as out_tmp:
        cmd = [ffmpeg_exe(), "-nostdin", "-y", "-v", "error", "-i", str(tmp / VIDEO_PART),
               "-f", "s16le", "-ar", str(sample_rate), "-ac", str(channels), "-i", str(tmp / AUDIO_PART),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
               "-af", f"apad=whole_len={n},atrim=end_sample={n}", *encoding.audio_args, *encoding.mux_args,
               str(out_tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, process_group=0)
        try:
            _, err = proc.communicate(timeout=timeout)
        except BaseException as exc:  # timeout, or a second Ctrl-C outside the CLI: stop, clean up
            proc.kill()
            proc.wait(timeout=5.0)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise OutputError(f"cannot write {path}: muxing did not finish within {timeout:.0f} s") from None
            raise
        if proc.returncode != 0 or not out_tmp.is_file():
            msg = _ffmpeg_error(err)
            if _disk_full(msg, path.parent):
                raise OutputError(f"cannot write {path}: no space left on its disk")
            raise OutputError(f"cannot write {path}: muxing video and audio failed "
                              f"({msg or f'ffmpeg exit {proc.returncode}'})")
    return path


def salvage_recording(tmp: str | os.PathLike, path: str | os.PathLike, *, fps: float, sample_rate: int,
                      channels: int = 1, encoding: Encoding | None = None) -> Path | None:
    """Finish the temporary folder of a recording whose writer died (killed process, lost parent): mux
    every frame the encoder wrote with the audio received, then remove the folder.

    Returns
    -------
    Path or None
        The file, or None when no frame was written (the folder is removed then too).

    Raises
    ------
    OutputError
        As :func:`mux_recording`; the folder is removed in any case.
    """
    from dancepose.models.media.probe import probe_streams

    tmp, path = Path(tmp), Path(path)
    try:
        video = tmp / VIDEO_PART
        if not video.is_file() or video.stat().st_size == 0:
            return None
        try:
            info = probe_streams(video)
        except DanceposeError:
            return None  # killed before ffmpeg wrote its header: nothing playable
        frames = int((info.get("video") or {}).get("packets") or 0)
        if frames == 0:
            return None
        return mux_recording(tmp, path, frames=frames, fps=fps, sample_rate=sample_rate, channels=channels,
                             encoding=encoding or video_format(path).encoding())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
