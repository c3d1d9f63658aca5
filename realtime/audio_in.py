"""Live audio sources for ``dancepose-live``: microphone, a song file, the built-in demo loop.

Every source is a context manager with the same read-out API (:class:`AudioSource`):

* :meth:`~AudioSource.read` returns the analysis samples (mono float32 at ``SAMPLE_RATE``) that became
  available since the last call — for a microphone what was captured, for a song what has been *heard*
  (the output latency is compensated, so the dancer moves with the sound, not ahead of it);
* :meth:`~AudioSource.now` is the stream clock (seconds) and :meth:`~AudioSource.sample_time` maps an
  analysis sample index to that clock (ADC time for a microphone, DAC time for playback).

The PortAudio callbacks only copy into a preallocated :class:`RingBuffer` (no allocation of sample
buffers, no I/O, no blocking locks); resampling to ``SAMPLE_RATE`` (``soxr.ResampleStream``) happens in
:meth:`read`, on the caller's thread.  Without an audio device a song can still be "played" on a
simulated clock (:class:`SimulatedPlayback`) that advances exactly one display frame per frame, which
is what ``--headless`` uses for reproducible recordings.

Bad samples (NaN, infinite) never reach the features: a song file is cleaned when it is loaded, a
microphone's capture in :meth:`MicSource.read` (:func:`dancepose.models.audio.finite_samples`), each with
one warning line for the whole show.
"""
from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any

import numpy as np

from dancepose.models.audio import finite_samples
from dancepose.models.clock import BLOCK_SIZE, DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.errors import DeviceError, ParameterError

#: Seconds of audio the ring buffers hold (the reader normally lags by one display frame).
RING_SECONDS: float = 4.0
#: Buffer length asked of PulseAudio (via ALSA's pulse plugin).  Without it PulseAudio buffers up to 2 s
#: of output that PortAudio does not report in its DAC times (the figure would dance ahead of the sound)
#: and delivers captured audio in large fragments.
PULSE_LATENCY_MSEC: str = "30"
#: The same for the playback stream (``--input FILE|demo``).  30 ms of output buffer underruns on a busy
#: machine (34–74 xruns in 8 s at load average 8.5, and PulseAudio's clock then stalls: 8 s of song took
#: 25–38 s); 100 ms gave 0–1 xruns, a real-time stream clock, and DAC times still within 1–6 ms of when a
#: click is heard (played into the null sink, captured from its monitor).  The output latency is
#: compensated in :meth:`PlaybackSource.read`, so the dancer stays with the sound.  Capture keeps 30 ms:
#: there the buffer *is* the dancer's reaction delay.
PULSE_OUTPUT_LATENCY_MSEC: str = "100"
#: A playback stream whose callback has not run for this long (s) is restarted (seen with ALSA's pulse
#: plugin after underruns on a loaded machine: PortAudio keeps polling, PulseAudio never asks for data).
STALL_RESTART_S: float = 0.5
#: Consecutive failed restarts (each after ``STALL_RESTART_S`` without progress) before the output is
#: declared dead.  Under heavy load a restart itself can time out ("Wait timed out" while PortAudio starts
#: its thread); one failure must not end a 30-minute performance.
MAX_FAILED_RESTARTS: int = 20


# ----------------------------------------------------------------------------------- sounddevice
def warn_line(msg: str) -> None:
    """The one warning line of ``dancepose-live`` (stderr)."""
    print(f"dancepose-live: warning: {msg}", file=sys.stderr)


class AlsaMessages:
    """ALSA's library messages ("ALSA lib pcm.c:…: underrun occurred", probing noise at start-up),
    counted instead of printed on the user's terminal.

    ALSA prints through one process-wide handler (``snd_lib_error_set_handler``); this installs a
    counting handler in its place.  It runs only when ALSA reports something (never per audio block),
    so it adds no work to the audio thread in normal operation.  Xruns themselves are counted from
    PortAudio's callback status flags (``AudioSource.xruns``, shown in the HUD and the logs).

    Attributes
    ----------
    count : int
        Messages so far.
    underruns : int
        Of those, xrun recoveries (``snd_pcm_recover``).
    installed : bool
        False where libasound is not there (then there is nothing to route).
    """

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        self.count = 0
        self.underruns = 0
        self.installed = False
        name = ctypes.util.find_library("asound")
        if name is None:
            return
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            return
        # void handler(const char *file, int line, const char *function, int err, const char *fmt, ...):
        # the variadic tail is not read (allowed by the calling convention).
        proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.c_char_p)
        self._handler = proto(self._on_message)  # kept alive as long as this object (process lifetime)
        self.installed = lib.snd_lib_error_set_handler(self._handler) == 0

    def _on_message(self, file: bytes, line: int, function: bytes, err: int, fmt: bytes) -> None:
        self.count += 1
        if function == b"snd_pcm_recover":
            self.underruns += 1


@functools.lru_cache(maxsize=1)
def alsa_messages() -> AlsaMessages:
    """The process's ALSA message counter (installed on the first call, before PortAudio starts)."""
    return AlsaMessages()


def import_sounddevice() -> Any:
    """Import :mod:`sounddevice`, turning a missing PortAudio library into a :class:`DeviceError`.

    ALSA's messages are routed to :func:`alsa_messages` first (PortAudio's device scan at import
    already triggers some).
    """
    os.environ.setdefault("PULSE_LATENCY_MSEC", PULSE_LATENCY_MSEC)  # read by libpulse per stream
    alsa_messages()
    try:
        import sounddevice as sd
    except OSError:
        raise DeviceError("PortAudio not found: apt-get install libportaudio2") from None
    return sd


def audio_available(*, kind: str = "output") -> bool:
    """True if PortAudio loads and has at least one ``kind`` ("input"/"output") device."""
    try:
        sd = import_sounddevice()
        key = "max_output_channels" if kind == "output" else "max_input_channels"
        return any(d[key] > 0 for d in sd.query_devices())
    except (DeviceError, Exception):  # PortAudio errors are plain Exceptions
        return False


def list_devices() -> str:
    """A human-readable table of the audio devices (``--list-devices``)."""
    sd = import_sounddevice()
    devices = sd.query_devices()
    if len(devices) == 0:
        return "no audio devices (is PulseAudio running? see .ci/pulse.sh)"
    lines = []
    for i, d in enumerate(devices):
        lines.append(f"{i:3d}  {d['name']:<40s} in={d['max_input_channels']:<3d} "
                     f"out={d['max_output_channels']:<3d} {d['default_samplerate']:.0f} Hz")
    return "\n".join(lines)


def resolve_device(spec: str | int | None, *, kind: str) -> int | None:
    """Find a device by index or case-insensitive name substring.

    Parameters
    ----------
    spec : str, int or None
        ``None`` → the system default; an integer (or digit string) → that index; otherwise the first
        device whose name contains ``spec``.
    kind : {"input", "output"}

    Returns
    -------
    int or None
        Device index (None for the default device).

    Raises
    ------
    DeviceError
        No such device, no device of that kind, or no default device.
    """
    sd = import_sounddevice()
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    devices = list(sd.query_devices())
    usable = [i for i, d in enumerate(devices) if d[key] > 0]
    names = ", ".join(f"{i}: {devices[i]['name']}" for i in usable) or "none"
    if not usable:
        raise DeviceError(f"no audio {kind} device found (start PulseAudio, e.g. .ci/pulse.sh, or plug one in)")
    if spec is None or spec == "":
        try:
            sd.query_devices(kind=kind)
        except Exception:
            raise DeviceError(f"no default audio {kind} device; choose one with --device ({names})") from None
        return None
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        if idx not in usable:
            raise DeviceError(f"audio {kind} device {idx} does not exist; available: {names}")
        return idx
    for i in usable:
        if text.lower() in devices[i]["name"].lower():
            return i
    raise DeviceError(f"no audio {kind} device matches {text!r}; available: {names}")


def _choose_rate(sd: Any, device: int | None, *, kind: str) -> int:
    """``SAMPLE_RATE`` if the device accepts it, else the device's default rate."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, samplerate=SAMPLE_RATE, channels=1, dtype="float32")
        return SAMPLE_RATE
    except Exception:
        info = sd.query_devices(device, kind=kind)
        return int(round(info["default_samplerate"]))


# ------------------------------------------------------------------------------------ ring buffer
class RingBuffer:
    """Single-producer / single-consumer float32 ring buffer for audio callbacks.

    The producer (the PortAudio thread) calls :meth:`write`, which only copies into preallocated memory
    and then advances :attr:`written` (a Python int: its update is atomic under the GIL).  The consumer
    calls :meth:`read`.  Time stamps: :meth:`stamp` records "sample ``index`` is at stream time ``t``"
    into a two-slot array (a sequence number picks the consistent slot), again without allocation.

    Parameters
    ----------
    capacity : int
        Samples held.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ParameterError(f"ring capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self.written = 0          # total samples written (producer)
        self.read_pos = 0         # total samples consumed (consumer)
        self.overruns = 0         # consumer fell more than `capacity` behind
        self._stamps = np.zeros((2, 2), dtype=np.float64)  # [slot] = (sample index, stream time)
        self._stamp_seq = 0

    def write(self, x: np.ndarray) -> None:
        """Append samples (called from the audio callback). x [shape=(n,)]"""
        n = x.shape[0]
        cap = self.capacity
        if n >= cap:
            x = x[n - cap:]
            self.written += n - cap
            n = cap
        i = self.written % cap
        first = min(n, cap - i)
        self._buf[i:i + first] = x[:first]
        if n > first:
            self._buf[:n - first] = x[first:]
        self.written += n

    def stamp(self, index: int, t: float) -> None:
        """Record that absolute sample ``index`` is at stream time ``t`` (callback-safe)."""
        slot = (self._stamp_seq + 1) & 1
        self._stamps[slot, 0] = index
        self._stamps[slot, 1] = t
        self._stamp_seq += 1

    def last_stamp(self) -> tuple[float, float] | None:
        """The newest (sample index, stream time) pair, or None before the first callback."""
        if self._stamp_seq == 0:
            return None
        row = self._stamps[self._stamp_seq & 1]
        return float(row[0]), float(row[1])

    def read(self, upto: int | None = None) -> np.ndarray:
        """Copy out the samples from :attr:`read_pos` to ``upto`` (default: all written).

        Returns
        -------
        np.ndarray [shape=(n,)] float32 (a new array)
        """
        end = self.written if upto is None else min(int(upto), self.written)
        if end - self.read_pos > self.capacity:
            self.overruns += 1
            self.read_pos = end - self.capacity
        n = end - self.read_pos
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        i = self.read_pos % self.capacity
        first = min(n, self.capacity - i)
        out = np.empty(n, dtype=np.float32)
        out[:first] = self._buf[i:i + first]
        if n > first:
            out[first:] = self._buf[:n - first]
        self.read_pos = end
        return out


# ---------------------------------------------------------------------------------------- sources
class AudioSource:
    """Common API of the live sources (see the module docstring)."""

    #: Human-readable description for the HUD.
    label: str = "audio"
    #: Whether :meth:`read` returns what a listener hears (playback) rather than a captured signal.
    is_playback: bool = False
    #: Whether :meth:`now` is the time of the display frame being made (a clock stepped once per frame,
    #: :class:`SimulatedPlayback`) rather than a running clock: such a frame is already made for its
    #: own moment, and adding the wall-clock wait until it is presented would only add that wait's noise.
    frame_clock: bool = False

    def __init__(self) -> None:
        self.samples_read = 0  # analysis samples returned by read() so far
        self.xruns = 0

    def __enter__(self) -> "AudioSource":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - trivial
        pass

    def stop(self) -> None:  # pragma: no cover - trivial
        pass

    def on_frame(self) -> None:
        """Called once per display frame (the simulated clock advances here)."""

    def now(self) -> float:
        raise NotImplementedError

    def sample_time(self, index: float) -> float:
        """Stream time of analysis sample ``index`` (counted from the first sample read)."""
        raise NotImplementedError

    def read(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """True when a song has been played to its end."""
        return False


class _Resampler:
    """Device rate → ``SAMPLE_RATE`` streaming resampler (identity when the rates match)."""

    def __init__(self, rate: int) -> None:
        self.rate = int(rate)
        self._rs = None
        if self.rate != SAMPLE_RATE:
            import soxr

            self._rs = soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        self.delay_s = 0.0  # soxr's HQ filter delay is a few ms; ignored in the time map

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._rs is None:
            return x
        return np.asarray(self._rs.resample_chunk(x), dtype=np.float32).reshape(-1)


class _DeviceSource(AudioSource):
    """A source backed by one sounddevice stream (``self._stream``): shared stop and clock."""

    _stream: Any = None

    def stop(self) -> None:
        if self._stream is not None:
            try:
                # abort, not stop: Pa_StopStream drains the buffer and can wait forever on ALSA's pulse
                # plugin when the server stalls; nothing queued needs to be heard after the end.
                self._stream.abort()
                self._stream.close()
            except Exception:  # a failing device at shutdown must not hide the real outcome
                pass
            finally:
                self._stream = None

    def now(self) -> float:
        return float(self._stream.time) if self._stream is not None else time.monotonic()


class MicSource(_DeviceSource):
    """Capture from an input device (``--input mic``).

    Parameters
    ----------
    device : str, int or None
        Index or name substring (``None``: default input).
    """

    label = "mic"

    def __init__(self, *, device: str | int | None = None) -> None:
        super().__init__()
        sd = import_sounddevice()
        self._sd = sd
        self.device = resolve_device(device, kind="input")
        self.rate = _choose_rate(sd, self.device, kind="input")
        self._ring = RingBuffer(int(RING_SECONDS * self.rate))
        self._resample = _Resampler(self.rate)
        self._status_count = 0
        self._stream = None
        self._bad_warned = False
        info = sd.query_devices(self.device, kind="input")
        self.label = f"mic: {info['name']}"

    def _callback(self, indata: np.ndarray, frames: int, t: Any, status: Any) -> None:
        # Audio thread: copy, stamp, count — nothing else.
        if status:
            self._status_count += 1
        adc = t.inputBufferAdcTime
        if adc <= 0.0:
            adc = t.currentTime - self._latency - frames / self.rate
        self._ring.stamp(self._ring.written, adc)
        self._ring.write(indata[:, 0])

    def start(self) -> None:
        blocksize = max(1, int(round(BLOCK_SIZE * self.rate / SAMPLE_RATE)))
        self._latency = 0.0
        try:
            self._stream = self._sd.InputStream(device=self.device, samplerate=self.rate, channels=1,
                                                dtype="float32", blocksize=blocksize,
                                                callback=self._callback)
            self._latency = float(self._stream.latency)
            self._stream.start()
        except Exception as exc:  # sounddevice.PortAudioError and friends
            raise DeviceError(f"cannot open audio input {self.label!r}: {exc}") from None

    def sample_time(self, index: float) -> float:
        st = self._ring.last_stamp()
        if st is None:
            return self.now()
        dev_index = index * self.rate / SAMPLE_RATE
        return st[1] + (dev_index - st[0]) / self.rate

    def read(self) -> np.ndarray:
        # NaN/Inf from a broken driver or a virtual device: silence, one warning for the whole show.
        y = finite_samples(self._resample(self._ring.read()), what=self.label,
                           warn=None if self._bad_warned else self._warn_bad)
        self.samples_read += len(y)
        self.xruns = self._status_count + self._ring.overruns
        return y

    def _warn_bad(self, msg: str) -> None:
        self._bad_warned = True
        warn_line(f"{msg} (and from now on without a warning)")


class PlaybackSource(_DeviceSource):
    """Play a signal on an output device and analyse exactly what is heard.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Mono float32 at ``SAMPLE_RATE``.
    device : str, int or None
        Output device index or name substring.
    loop : bool
        Repeat forever (the demo loop) instead of ending.
    label : str
    """

    is_playback = True

    def __init__(self, samples: np.ndarray, *, device: str | int | None = None, loop: bool = False,
                 label: str = "file") -> None:
        super().__init__()
        sd = import_sounddevice()
        self._sd = sd
        self.label = label
        self.loop = loop
        self.device = resolve_device(device, kind="output")
        self.rate = _choose_rate(sd, self.device, kind="output")
        y = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if self.rate != SAMPLE_RATE:
            import soxr

            y = soxr.resample(y, SAMPLE_RATE, self.rate).astype(np.float32)
        if len(y) == 0:
            raise ParameterError("nothing to play: empty signal")
        self._song = y
        self._pos = 0            # next song sample the callback plays (device rate)
        self._ring = RingBuffer(int(RING_SECONDS * self.rate))
        self._resample = _Resampler(self.rate)
        self._status_count = 0
        self._stream = None
        self._done = False
        self.restarts = 0
        self._failed_restarts = 0
        self._last_written = -1
        self._last_progress = time.monotonic()

    def _callback(self, outdata: np.ndarray, frames: int, t: Any, status: Any) -> None:
        # Audio thread: copy song → device and → ring buffer, stamp the DAC time.  No allocation.
        if status:
            self._status_count += 1
        dac = t.outputBufferDacTime
        if dac <= 0.0:
            dac = t.currentTime + self._latency
        song, n_song = self._song, self._song.shape[0]
        out = outdata[:, 0]
        self._ring.stamp(self._ring.written, dac)
        done = 0
        while done < frames:
            p = self._pos
            if p >= n_song:
                if not self.loop:
                    out[done:] = 0.0
                    self._ring.write(out[done:frames])
                    self._pos += frames - done
                    break
                p = self._pos = 0
            n = min(frames - done, n_song - p)
            out[done:done + n] = song[p:p + n]
            self._ring.write(song[p:p + n])
            self._pos += n
            done += n
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]

    def start(self) -> None:
        blocksize = max(1, int(round(BLOCK_SIZE * self.rate / SAMPLE_RATE)))
        self._latency = 0.0
        try:
            # 'high' latency: fewer underruns; the output latency is compensated in read().
            self._stream = self._sd.OutputStream(device=self.device, samplerate=self.rate, channels=1,
                                                 dtype="float32", blocksize=blocksize, latency="high",
                                                 callback=self._callback)
            self._latency = float(self._stream.latency)
            self._start_stream()
        except Exception as exc:
            raise DeviceError(f"cannot open audio output: {exc}") from None

    def _start_stream(self) -> None:
        """Start (or restart) the stream with PulseAudio's playback buffer at
        :data:`PULSE_OUTPUT_LATENCY_MSEC` (libpulse reads the variable when the stream connects)."""
        from dancepose.models.cli import silence_native_stderr

        before = os.environ.get("PULSE_LATENCY_MSEC")
        os.environ["PULSE_LATENCY_MSEC"] = PULSE_OUTPUT_LATENCY_MSEC
        try:
            with silence_native_stderr():  # PortAudio's debug lines when a start times out
                self._stream.start()
        finally:
            if before is None:
                os.environ.pop("PULSE_LATENCY_MSEC", None)
            else:
                os.environ["PULSE_LATENCY_MSEC"] = before

    def _heard_index(self, now: float) -> int:
        """Device-rate index of the sample reaching the listener at stream time ``now``."""
        st = self._ring.last_stamp()
        if st is None:
            return 0
        return int(st[0] + (now - st[1]) * self.rate)

    def sample_time(self, index: float) -> float:
        st = self._ring.last_stamp()
        if st is None:
            return self.now()
        return st[1] + (index * self.rate / SAMPLE_RATE - st[0]) / self.rate

    def _watchdog(self) -> None:
        """Restart a stalled output stream (no callback for ``STALL_RESTART_S``).

        A restart counts as failed until the callback runs again, whether ``start()`` raised or returned:
        ALSA's pulse plugin can take a restart and still never ask for data (a corked stream), and a show
        that waited on it would wait forever.  ``MAX_FAILED_RESTARTS`` in a row (10 s without a callback)
        end the show with a :class:`DeviceError`.
        """
        t = time.monotonic()
        if self._ring.written != self._last_written:
            self._last_written, self._last_progress = self._ring.written, t
            self._failed_restarts = 0
        elif self._stream is not None and not self._done and t - self._last_progress > STALL_RESTART_S:
            self.restarts += 1
            self._last_progress = t
            self._failed_restarts += 1
            error = ""
            try:
                from dancepose.models.cli import silence_native_stderr

                with silence_native_stderr():
                    self._stream.abort()
                self._start_stream()
            except Exception as exc:  # retried after the next STALL_RESTART_S; fatal only if it persists
                error = f": {exc}"
            if self._failed_restarts >= MAX_FAILED_RESTARTS:
                raise DeviceError(f"audio output stopped working: no sound played for "
                                  f"{MAX_FAILED_RESTARTS * STALL_RESTART_S:.0f} s, {MAX_FAILED_RESTARTS} "
                                  f"restarts{error}") from None

    def read(self) -> np.ndarray:
        self._watchdog()
        upto = max(self._ring.read_pos, self._heard_index(self.now()))
        y = self._resample(self._ring.read(upto))
        self.samples_read += len(y)
        self.xruns = self._status_count + self._ring.overruns + self.restarts
        if not self.loop and self._ring.read_pos >= len(self._song):
            self._done = True
        return y

    @property
    def finished(self) -> bool:
        return self._done


class SimulatedPlayback(AudioSource):
    """A song "played" on a simulated clock: exactly ``SAMPLE_RATE / DISPLAY_FPS`` samples per frame.

    Used headless when no audio device exists (or ``--sim-clock``): recordings are then exactly as long
    as the number of frames says, independent of how fast the machine renders.
    """

    is_playback = True
    frame_clock = True

    def __init__(self, samples: np.ndarray, *, loop: bool = False, label: str = "file",
                 wall_clock: bool = False) -> None:
        super().__init__()
        self.label = f"{label} (simulated clock)"
        self.loop = loop
        #: Advance with the wall clock (like a device would, frames late or not) instead of exactly one
        #: display frame per frame: for tests that meet other real-time clocks (Ableton Link).
        self.wall_clock = wall_clock
        self._t0: float | None = None
        self._song = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if len(self._song) == 0:
            raise ParameterError("nothing to play: empty signal")
        self._frames = 0
        self._per_frame = SAMPLE_RATE // DISPLAY_FPS
        if SAMPLE_RATE % DISPLAY_FPS:
            raise ParameterError("SAMPLE_RATE must be a multiple of DISPLAY_FPS for the simulated clock")

    def on_frame(self) -> None:
        if not self.wall_clock:
            self._frames += 1
            return
        t = time.monotonic()
        if self._t0 is None:
            self._t0 = t - 1.0 / DISPLAY_FPS
        self._frames = int((t - self._t0) * DISPLAY_FPS)

    def now(self) -> float:
        return self._frames / DISPLAY_FPS

    def sample_time(self, index: float) -> float:
        return index / SAMPLE_RATE

    def read(self) -> np.ndarray:
        end = self._frames * self._per_frame
        start = self.samples_read
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        n_song = len(self._song)
        if self.loop:
            idx = np.arange(start, end) % n_song
            y = self._song[idx]
        else:
            y = np.zeros(end - start, dtype=np.float32)
            seg = self._song[start:min(end, n_song)]
            y[:len(seg)] = seg
        self.samples_read = end
        return y

    @property
    def finished(self) -> bool:
        return not self.loop and self.samples_read >= len(self._song)


def open_source(*, input_spec: str, device: str | int | None = None, simulate: bool = False,
                allow_simulated: bool = False) -> AudioSource:
    """Build the source for ``--input mic|FILE|demo``.

    Parameters
    ----------
    input_spec : str
        ``"mic"``, ``"demo"`` or a path to any audio/video file.
    device : str, int or None
        ``--device``.
    simulate : bool
        Force the simulated clock (FILE/demo only).
    allow_simulated : bool
        Fall back to the simulated clock when no output device is available (``--headless``).

    Raises
    ------
    DeviceError, InputError, ParameterError
    """
    if input_spec == "mic":
        if simulate:
            raise ParameterError("the simulated clock needs a FILE or demo input, not the microphone")
        return MicSource(device=device)
    if input_spec == "demo":
        from dancepose.realtime.demo_loop import demo_loop

        y, loop, label = demo_loop(), True, "demo loop"
    else:
        from dancepose.models.audio import load_audio
        from dancepose.models.errors import InputError

        path = os.fspath(input_spec)
        if not os.path.exists(path):
            raise InputError(f"input not found: {path} (use --input mic, --input demo or an audio file)")
        y, loop, label = load_audio(path, sr=SAMPLE_RATE, warn=warn_line), False, os.path.basename(path)
        if len(y) == 0:
            raise InputError(f"{path} contains no audio")
    if simulate or (allow_simulated and not audio_available(kind="output")):
        return SimulatedPlayback(y, loop=loop, label=label)
    return PlaybackSource(y, device=device, loop=loop, label=label)
