"""Recording a live performance without costing the show a frame: the display hands each frame's pose,
HUD state and audio to a recorder *process*, which redraws and encodes it.

The display loop's whole cost per frame is :meth:`FrameRing.push`: the shown pose (120 bytes), the HUD's
numbers and the frame's audio samples copied into a shared-memory ring (a few microseconds, no
allocation, no lock, no system call).  The recorder process
(:mod:`dancepose.realtime.recorder_process`, niced, with its ffmpeg) reads the ring, draws the same
:class:`~dancepose.realtime.window.Scene` at the recording's size (fixed when it starts: a window resized
or made fullscreen later is recorded at the starting size), paces the video on the *audio* clock (a late
display frame is repeated, an early one skipped: picture and sound stay within a frame) and writes the
file through :class:`~dancepose.models.media.recorder.Mp4Recorder`.

If the encoder falls behind, the recording falls behind (the ring holds a minute; the recorder process
keeps what it took out) and the show does not; the end says how far behind it ran.  Finalised on q,
Ctrl-C, SIGTERM and window close: :meth:`RecordingSink.close` asks the recorder to finish and waits while it
makes progress.  If the live process dies, the recorder process finishes the file on its own; if the
recorder process dies, the show goes on and the frames it had encoded are kept
(:func:`~dancepose.models.media.recorder.salvage_recording`).  Key ``r`` starts/stops a recording (a new
file named by the time after the first); a stopped recording finishes in its own process while the show
goes on.

Ring protocol (one writer, one reader): the writer fills a record (frame index at both ends) and its
audio, then publishes the new counts in the header; the reader takes records up to the published count
and checks the two indices.  The reader publishes how far it has read, so the writer knows when the
ring is full.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.errors import DanceposeError, OutputError
from dancepose.models.skeleton import N_JOINTS

# ---------------------------------------------------------------------------------------- the ring
#: Header slots (int64): what the live process writes …
H_MAGIC, H_FRAMES, H_AUDIO, H_STOP, H_PARENT = 0, 1, 2, 3, 4
#: … and what the recorder process writes: records taken from the ring, records encoded, its state, audio
#: taken, video frames written (a record is 0, 1 or more video frames on the audio clock), its pid.
H_READ, H_ENCODED, H_STATE, H_AUDIO_READ, H_VIDEO_FRAMES, H_PID = 8, 9, 10, 11, 12, 13
HEADER_SLOTS = 16
RING_MAGIC = 0x44505231  # "DPR1"
#: Recorder states (``H_STATE``).
STARTING, RUNNING, DONE, FAILED = 0, 1, 2, 3
#: Text areas (UTF-8, NUL-padded): the recording's temporary folder, and the result path or the error.
TEXT_BYTES = 1024
#: Numbers in the HUD part of a record (``HudInfo.NUMERIC``).
N_HUD = 11
#: The HUD's tempo note (text after the BPM, e.g. "Link 230 BPM, half time"): UTF-8 bytes, carried only in
#: the records where it changes (``R_NOTE_SET`` = 1), so the recorder shows the note each frame showed.
NOTE_BYTES = 128
#: A record: index, audio samples up to this frame, pose (J×2), HUD shown (0/1), HUD numbers, tempo note
#: changed here (0/1) and its bytes, index.
R_INDEX, R_AUDIO, R_POSE = 0, 1, 2
R_SHOW = R_POSE + 2 * N_JOINTS
R_HUD = R_SHOW + 1
R_NOTE_SET = R_HUD + N_HUD
R_NOTE = R_NOTE_SET + 1
R_CHECK = R_NOTE + NOTE_BYTES // 8
RECORD_LEN = R_CHECK + 1
#: Ring capacity: 68 s of display frames, 87 s of audio (≈ 10.4 MB of shared memory).
RING_FRAMES = 4096
RING_SAMPLES = 1 << 21
#: Niceness of the recorder process and its encoder: the display loop comes first.  Pinned to one core
#: beside a busy machine (load 11–17), 20-s shows with recording: late display frames 485–558 at nice 0,
#: 154–180 at 5, 107–135 at 10, 56–72 at 19 (two runs each, interleaved); the recording ran 5–10 s
#: behind in every case.  A recorder that falls behind keeps what the show sent (in its own memory)
#: and catches up when the machine is free.
RECORDER_NICE = 19
#: Seconds without any progress after which a finishing recorder is declared stuck (and killed).
STUCK_S = 20.0


class FrameRing:
    """The shared-memory ring between the live process (writer) and the recorder process (reader).

    Parameters
    ----------
    name : str or None
        Attach to this segment (reader); None creates one (writer).
    frames, samples : int
        Capacity in display frames and audio samples (writer; the reader reads them from the config).
    """

    def __init__(self, *, name: str | None = None, frames: int = RING_FRAMES, samples: int = RING_SAMPLES) -> None:
        self.n_frames, self.n_samples = int(frames), int(samples)
        size = HEADER_SLOTS * 8 + 2 * TEXT_BYTES + self.n_frames * RECORD_LEN * 8 + self.n_samples * 4
        if name is None:
            self.shm = shared_memory.SharedMemory(create=True, size=size)
            self.owner = True
        else:
            self.shm = _attach(name)
            self.owner = False
        buf = self.shm.buf
        o = 0
        self.header = np.ndarray((HEADER_SLOTS,), np.int64, buf, o)
        o += HEADER_SLOTS * 8
        self._text = np.ndarray((2, TEXT_BYTES), np.uint8, buf, o)
        o += 2 * TEXT_BYTES
        self.records = np.ndarray((self.n_frames, RECORD_LEN), np.float64, buf, o)
        o += self.n_frames * RECORD_LEN * 8
        self.audio = np.ndarray((self.n_samples,), np.float32, buf, o)
        if self.owner:
            self.header[:] = 0
            self.header[H_MAGIC] = RING_MAGIC
            # touch every page now: the show's first pass through the ring would otherwise pay a page
            # fault every few frames (a new page of audio)
            self.records[:] = 0.0
            self.audio[:] = 0.0
        self._frames = int(self.header[H_FRAMES])
        self._samples = int(self.header[H_AUDIO])
        self._note = ""  # the tempo note of the last record written (writer)

    @property
    def name(self) -> str:
        return self.shm.name

    # ------------------------------------------------------------------ writer (live process)
    def push(self, pose: np.ndarray, hud: tuple | None, samples: np.ndarray, note: str = "") -> bool:
        """Hand over one display frame: its shown pose [shape=(J, 2)], HUD numbers (None: hidden), audio
        [shape=(n,)] and the HUD's tempo note.  False (nothing written) when the ring is full."""
        n = samples.shape[0]
        i, a = self._frames, self._samples
        h = self.header
        if i - h[H_READ] >= self.n_frames or a + n - h[H_AUDIO_READ] > self.n_samples:
            return False
        if n:
            j = a % self.n_samples
            k = min(n, self.n_samples - j)
            self.audio[j:j + k] = samples[:k]
            if k < n:
                self.audio[:n - k] = samples[k:]
        a += n
        row = self.records[i % self.n_frames]
        row[R_INDEX] = i
        row[R_AUDIO] = a
        row[R_POSE:R_SHOW] = pose.reshape(-1)
        if hud is None:
            row[R_SHOW] = 0.0
        else:
            row[R_SHOW] = 1.0
            row[R_HUD:R_NOTE_SET] = hud
        if note != self._note:  # rare (a tempo event): the bytes travel in this record only
            data = note.encode("utf-8")[:NOTE_BYTES]
            area = row[R_NOTE:R_CHECK].view(np.uint8)
            area[:] = 0
            area[:len(data)] = np.frombuffer(data, np.uint8)
            row[R_NOTE_SET] = 1.0
            self._note = note
        else:
            row[R_NOTE_SET] = 0.0
        row[R_CHECK] = i
        self._frames, self._samples = i + 1, a
        h[H_AUDIO] = a   # published after the record: the reader reads up to the counts it sees
        h[H_FRAMES] = i + 1
        return True

    # ------------------------------------------------------------------ reader (recorder process)
    def published(self) -> tuple[int, int]:
        """(frames, audio samples) the writer has published."""
        return int(self.header[H_FRAMES]), int(self.header[H_AUDIO])

    def record(self, i: int) -> np.ndarray | None:
        """A copy of record ``i`` (None if it is not whole: overwritten or not yet complete)."""
        row = self.records[i % self.n_frames].copy()
        if int(row[R_INDEX]) != i or int(row[R_CHECK]) != i:
            return None
        return row

    @staticmethod
    def note_of(row: np.ndarray, previous: str) -> str:
        """The tempo note a record (from :meth:`record`) shows, given the one before it."""
        if not row[R_NOTE_SET]:
            return previous
        return bytes(row[R_NOTE:R_CHECK].view(np.uint8)).split(b"\0", 1)[0].decode("utf-8", "ignore")

    def read_audio(self, start: int, end: int) -> np.ndarray:
        """A copy of the audio samples ``start`` … ``end`` (absolute counts)."""
        n = end - start
        j = start % self.n_samples
        k = min(n, self.n_samples - j)
        if k == n:
            return self.audio[j:j + n].copy()
        return np.concatenate([self.audio[j:], self.audio[:n - k]])

    # ------------------------------------------------------------------ both
    def get_text(self, slot: int) -> str:
        return bytes(self._text[slot]).split(b"\0", 1)[0].decode("utf-8", "replace")

    def set_text(self, slot: int, text: str) -> None:
        data = text.encode("utf-8")[: TEXT_BYTES - 1]
        self._text[slot, :] = 0
        self._text[slot, :len(data)] = np.frombuffer(data, np.uint8)

    def close(self) -> None:
        """Detach (and remove the segment, for its creator)."""
        self.header = self._text = self.records = self.audio = None  # drop the views before closing
        try:
            self.shm.close()
        except BufferError:  # pragma: no cover - a view still alive somewhere
            return
        if self.owner:
            try:
                self.shm.unlink()
            except FileNotFoundError:
                pass


def _attach(name: str) -> shared_memory.SharedMemory:
    """Open an existing segment without registering it with this process's resource tracker: Python < 3.13
    registers every segment it opens, and the tracker removes them when this process exits — the
    creator's segment, still in use (3.13's ``track=False``)."""
    from multiprocessing import resource_tracker

    register = resource_tracker.register
    resource_tracker.register = lambda *args, **kwargs: None
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = register


# ---------------------------------------------------------------------------------------- the process
@dataclass(frozen=True)
class RecorderConfig:
    """What the recorder process is told when it starts (sent as JSON on its stdin).

    Attributes
    ----------
    ring : str
        Shared-memory name of the :class:`FrameRing`.
    ring_frames, ring_samples : int
    path : str
        Output file.
    width, height : int
        Recording size (even).
    fps : int
    sample_rate : int
    encoder : str
        ``--encoder`` (:data:`~dancepose.models.media.encoders.ENCODER_CHOICES`).
    style : dict
        The figure style: ``{"kind": "stick"|"openpose", **fields}``.
    background : None, [r, g, b] or str
    floor_units : float or None
    source : str
        The source's label (the HUD's last field).
    parent : int
        Process id of the live process (the recorder finishes on its own if it disappears).
    nice : int
        Niceness added to the recorder process (its encoder inherits it).
    quiet : bool
    """

    ring: str
    ring_frames: int
    ring_samples: int
    path: str
    width: int
    height: int
    fps: int
    sample_rate: int
    encoder: str
    style: dict
    background: object
    floor_units: float | None
    source: str
    parent: int
    nice: int = RECORDER_NICE
    quiet: bool = False


def style_to_dict(style) -> dict:
    from dancepose.models.media.draw import OpenPoseStyle

    return {"kind": "openpose" if isinstance(style, OpenPoseStyle) else "stick", **asdict(style)}


def style_from_dict(d: dict):
    from dancepose.models.media.draw import FigureStyle, OpenPoseStyle

    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "kind"}
    return OpenPoseStyle(**kw) if d.get("kind") == "openpose" else FigureStyle(**kw)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1",
                "OPENBLAS_NUM_THREADS": "1"})
    return env


class RecorderProcess:
    """One recording: its ring and its recorder process, seen from the live process.

    Parameters
    ----------
    path : Path
        Checked now (extension, folder, free space for a minute): an unwritable path fails before the
        show, as ``--record`` always has.
    size : (int, int)
        Window size now (made even): the recording's size.
    style, background, floor_units
        What the window draws with.
    source : str
        The HUD's source label.
    encoder : str
    quiet : bool
    """

    def __init__(self, path: Path, *, size: tuple[int, int], style, background, floor_units: float | None,
                 source: str, encoder: str = "libx264", quiet: bool = False, nice: int = RECORDER_NICE) -> None:
        from dancepose.models.media.encoders import RECORD_SUFFIXES
        from dancepose.models.media.recorder import UNKNOWN_LENGTH_S, estimate_bytes
        from dancepose.models.outputs import check_output_file

        w, h = size[0] - size[0] % 2, size[1] - size[1] % 2
        need = estimate_bytes(width=w, height=h, fps=DISPLAY_FPS, seconds=UNKNOWN_LENGTH_S,
                              sample_rate=SAMPLE_RATE, channels=1)
        self.path = check_output_file(path, suffixes=RECORD_SUFFIXES, expected_bytes=need, what="--record")
        self.size = (w, h)
        self.ring = FrameRing()
        bg = list(background) if isinstance(background, tuple) else (None if background is None else str(background))
        cfg = RecorderConfig(ring=self.ring.name, ring_frames=self.ring.n_frames, ring_samples=self.ring.n_samples,
                             path=str(self.path), width=w, height=h, fps=DISPLAY_FPS, sample_rate=SAMPLE_RATE,
                             encoder=encoder, style=style_to_dict(style), background=bg, floor_units=floor_units,
                             source=source, parent=os.getpid(), nice=nice, quiet=quiet)
        self.ring.header[H_PARENT] = os.getpid()
        try:
            # Own process group: a terminal Ctrl-C reaches only the live process, which finalises; same
            # session (and scheduling autogroup), so its niceness ranks it below the show.
            self.proc = subprocess.Popen([sys.executable, "-m", "dancepose.realtime.recorder_process"],
                                         stdin=subprocess.PIPE, env=_child_env(), process_group=0)
            self.proc.stdin.write(json.dumps(asdict(cfg)).encode())
            self.proc.stdin.close()
        except OSError as exc:
            self.ring.close()
            raise OutputError(f"cannot start the recorder process: {exc}") from None
        self.pushed = 0
        self.dropped = 0
        self.max_behind = 0
        self.full = False
        self.stopped_at: float | None = None
        self.result: Path | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.stuck = False
        self.salvaged: str | None = None
        self.encoded_frames = 0
        self.finish_wait_s = 0.0

    # ------------------------------------------------------------------ per frame (the one hand-off)
    def push(self, pose: np.ndarray, hud: tuple | None, samples: np.ndarray, note: str = "") -> None:
        if self.full:
            self.dropped += 1
            return
        if self.ring.push(pose, hud, samples, note):
            self.pushed += 1
            behind = self.pushed - int(self.ring.header[H_ENCODED])
            if behind > self.max_behind:
                self.max_behind = behind
        else:  # the recorder took nothing for a minute (stopped, frozen): stop feeding it
            self.full = True
            self.dropped += 1

    @property
    def state(self) -> int:
        return int(self.ring.header[H_STATE]) if self.ring.header is not None else DONE

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, *, timeout_s: float) -> bool:
        """Wait until the recorder has its encoder running (or failed, or ended), at most ``timeout_s``;
        True if it is running.  Its start-up (imports, the encoder's start) then does not compete with
        the show's first frames."""
        t_end = time.monotonic() + timeout_s
        while self.state == STARTING and self.alive() and time.monotonic() < t_end:
            time.sleep(0.01)
        return self.state == RUNNING

    # ------------------------------------------------------------------ ending
    def stop(self) -> None:
        """Ask the recorder to finish what it has (returns at once)."""
        if self.ring.header is not None and not self.ring.header[H_STOP]:
            self.ring.header[H_STOP] = 1
            self.stopped_at = time.monotonic()

    def finish_now(self) -> None:
        """Ask the recorder process to finish its file now with what it has encoded (its SIGTERM; its
        ffmpeg, in the same process group, is left to close the file)."""
        self.stop()
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass

    def backlog_s(self) -> float:
        """Seconds of display frames handed over but not yet encoded."""
        if self.ring.header is None:
            return 0.0
        return max(0, self.pushed - int(self.ring.header[H_ENCODED])) / DISPLAY_FPS

    def wait(self, *, quiet: bool = False) -> Path | None:
        """Wait (while it makes progress) for the recorder to finish; collect its result.

        Returns the file (None if nothing was recorded); raises ``OutputError`` if it failed.
        """
        if not self.finished:
            self.stop()
            t0 = time.monotonic()
            self._wait_progress(quiet=quiet)
            self.finish_wait_s = time.monotonic() - t0
            self._collect()
        if self.error is not None:
            raise self.error
        return self.result

    def _wait_progress(self, *, quiet: bool) -> None:
        told = False
        last, t_last = -1, time.monotonic()
        t_start = t_last
        while self.proc.poll() is None:
            h = self.ring.header
            progress = int(h[H_READ]) + int(h[H_ENCODED]) + int(h[H_STATE])
            if progress != last:
                last, t_last = progress, time.monotonic()
            elif time.monotonic() - t_last > STUCK_S:  # stuck: stop it, keep what it encoded (below)
                self._kill()
                self.stuck = True
                return
            if not told and not quiet and (self.backlog_s() > 2.0 or time.monotonic() - t_start > 2.0):
                print(f"dancepose-live: finishing the recording ({self.backlog_s():.1f} s of video to encode) …",
                      file=sys.stderr)
                told = True
            try:
                self.proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass

    def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL always ends it
            pass

    def _collect(self) -> None:
        """After the recorder process ended: its result, or salvage what it left."""
        from dancepose.models.media.recorder import salvage_recording

        state = self.state
        message = self.ring.get_text(1)
        tmp = self.ring.get_text(0)
        self.encoded_frames = int(self.ring.header[H_VIDEO_FRAMES])
        self.ring.close()
        self.finished = True
        if state == DONE:
            self.result = Path(message) if message else None
            return
        if state == FAILED:
            self.error = OutputError(message or f"cannot write {self.path}: the recorder failed")
            return
        # Died (killed, crashed): ffmpeg saw its input end and closes its file; keep what it encoded.
        self._wait_group_gone()
        how = (f"stopped after {STUCK_S:.0f} s without progress" if self.stuck
               else _ended(self.proc.returncode))
        if not tmp or not Path(tmp).is_dir():
            self.error = OutputError(f"cannot write {self.path}: the recorder process {how} before it started "
                                     f"recording")
            return
        try:
            self.result = salvage_recording(tmp, self.path, fps=DISPLAY_FPS, sample_rate=SAMPLE_RATE)
            self.salvaged = how
            if self.result is not None:
                from dancepose.models.media.probe import probe_streams

                self.encoded_frames = int(probe_streams(self.result)["video"]["packets"])
        except DanceposeError as exc:
            self.error = exc

    def _wait_group_gone(self, timeout: float = STUCK_S) -> None:
        """Wait for the recorder's process group (its ffmpeg) to end."""
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            try:
                os.killpg(self.proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)
        self._kill()

    def abort(self) -> None:
        """Kill the recorder, discard everything (a failed start)."""
        self._kill()
        tmp = self.ring.get_text(0) if self.ring.header is not None else ""
        if self.ring.header is not None:
            self.ring.close()
        if tmp:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        self.finished = True


def _ended(code: int | None) -> str:
    """How a process ended, in words (``was killed by SIGKILL``, ``ended (exit 1)``)."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"ended (exit {code})"


def auto_record_path(suffix: str = ".mp4") -> Path:
    """``dancepose-live-YYYYmmdd-HHMMSS.mp4`` in the working folder (``.webm`` for a transparent stage)."""
    return Path(time.strftime("dancepose-live-%Y%m%d-%H%M%S") + suffix)


class RecordingSink:
    """Records what the window shows, with the audio of each frame, in a recorder process.

    Parameters
    ----------
    window : dancepose.realtime.window.Window
        Its size when a recording starts is the recording's size.
    style : FigureStyle or OpenPoseStyle
    hud : callable returning HudInfo or None
        The HUD shown this frame (``WindowSink.last_hud``; list the window before this sink).
    source : str
        The source label the HUD shows.
    path : Path or None
        Record from the start to this file (``--record``); None: only when ``r`` is pressed.
    encoder : str
        ``--encoder``.
    quiet : bool

    Attributes
    ----------
    recordings : list of Path
        Finished files.
    dropped_frames : int
        Display frames no recorder took (a recorder process that stopped reading for a minute).
    """

    #: Display frames between two looks at the recorder's health (a process poll).
    CHECK_EVERY = 30

    def __init__(self, *, window, style, hud=lambda: None, source: str = "", path: Path | None = None,
                 encoder: str = "libx264", quiet: bool = False) -> None:
        self.window = window
        self.style = style
        self._hud = hud
        self.source = source
        self.path = path
        self.encoder = encoder
        self.quiet = quiet
        self.recordings: list[Path] = []
        self.dropped_frames = 0
        self._finishing: list[RecorderProcess] = []
        self._errors: list[BaseException] = []
        self._frames = 0
        self._rec: RecorderProcess | None = self._start(path) if path is not None else None

    def _start(self, path: Path) -> RecorderProcess:
        w = self.window
        return RecorderProcess(path, size=w.size, style=self.style, background=w.background,
                               floor_units=w.floor_units, source=self.source, encoder=self.encoder,
                               quiet=self.quiet)

    @property
    def recording(self) -> bool:
        return self._rec is not None

    def wait_ready(self, *, timeout_s: float = 5.0) -> None:
        """Before the show: wait for the recorder started with ``path`` to be encoding (at most
        ``timeout_s``; a recorder that fails is reported by the first health check, as always)."""
        if self._rec is not None:
            self._rec.wait_ready(timeout_s=timeout_s)

    def handle(self, action: str) -> None:
        if action != "record":
            return
        if self._rec is None:
            path = (self.path if (self.path and not self.recordings and not self._finishing)
                    else auto_record_path(".webm" if getattr(self.window, "transparent", False) else ".mp4"))
            try:
                self._rec = self._start(path)
            except DanceposeError as exc:  # e.g. the disk is full: the show goes on without it
                print(f"dancepose-live: cannot record: {exc}", file=sys.stderr)
        else:
            self.stop()

    def send(self, frame) -> None:
        rec = self._rec
        if rec is None:
            return
        hud = self._hud()
        if hud is None:
            rec.push(frame.pose, None, frame.samples)
        else:
            rec.push(frame.pose, hud.numbers(), frame.samples, hud.tempo_note)
        self._frames += 1
        if self._frames % self.CHECK_EVERY == 0:
            self._check(rec)

    def _check(self, rec: RecorderProcess) -> None:
        """The recorder's health, every :attr:`CHECK_EVERY` frames: a dead or failed recorder ends this
        recording (one line now; its result at the end)."""
        state = rec.state
        if rec.alive() and state != FAILED and not rec.full:
            return
        if state == FAILED:
            why = rec.ring.get_text(1)
        elif rec.full:
            why = "the recorder process stopped taking frames"
        else:
            why = f"the recorder process {_ended(rec.proc.returncode)}"
        print(f"dancepose-live: recording stopped at {rec.pushed / DISPLAY_FPS:.1f} s: {why}; the show goes on",
              file=sys.stderr)
        self.stop()

    def stop(self) -> None:
        """Stop the current recording (it finishes in its own process; collected by :meth:`close`)."""
        rec, self._rec = self._rec, None
        if rec is not None:
            rec.stop()
            self._finishing.append(rec)

    def close(self) -> None:
        """Stop recording, wait for every recorder to finish, report; raise the first failure.

        Ctrl-C or SIGTERM while a recorder finishes asks it to finish now with what it has encoded; the
        file is still written and reported, then the signal is raised again (a second signal exits at
        once, :func:`dancepose.models.cli.run_cli`)."""
        self.stop()
        interrupted: KeyboardInterrupt | None = None
        for rec in self._finishing:
            while True:
                try:
                    out = rec.wait(quiet=self.quiet)
                    break
                except DanceposeError as exc:
                    self._errors.append(exc)
                    out = None
                    break
                except KeyboardInterrupt as exc:
                    interrupted = interrupted or exc
                    rec.finish_now()
            self.dropped_frames += rec.dropped
            if out is not None:
                self.recordings.append(out)
                if not self.quiet:
                    print(f"dancepose-live: recorded {out} ({self._summary(rec)})", file=sys.stderr)
        self._finishing = []
        if interrupted is not None:
            raise interrupted
        if self._errors:
            err, self._errors = self._errors[0], []
            raise err

    @staticmethod
    def _summary(rec: RecorderProcess) -> str:
        secs = rec.encoded_frames / DISPLAY_FPS
        text = f"{secs:.2f} s; the recording ran up to {rec.max_behind / DISPLAY_FPS:.2f} s behind the show"
        if rec.finish_wait_s > 0.5:
            text += f"; finishing it took {rec.finish_wait_s:.1f} s"
        if rec.salvaged:
            text += f"; the recorder process {rec.salvaged}: kept what it had encoded"
        if rec.dropped:
            text += f"; {rec.dropped} display frames not recorded"
        return text
