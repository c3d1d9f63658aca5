"""One live performance: the per-display-frame step, from the audio source to every output.

:class:`Performance` owns the loop body of ``dancepose-live``.  Each :meth:`Performance.step` is one
display frame:

1. the inputs' actions (window keys: quit, pause, tap …) — the performance handles ``quit``, ``pause`` and
   ``tap`` itself and passes every action on to the sinks (``record``, ``hud``, ``fullscreen``);
2. tempo sources (Ableton Link) lead the tempo and place the beat through the performance's
   :class:`~dancepose.models.tempo.TempoAuthority` (the one place the held tempo lives: ``--bpm``, taps,
   Link) before new audio is analysed;
3. ``source.read()`` — the samples heard (playback) or captured (mic) since the last frame, cut at
   ``duration_s``;
4. :meth:`Engine.update <dancepose.realtime.engine.Engine.update>` — features, dancer steps, the pose
   interpolated to the display time (the engine is the one place features meet the dancer);
5. beat and tempo events from the engine's read-outs;
6. every sink's ``send(frame)`` with the resulting :class:`Frame`: the window draws it, the recorder
   encodes it, OSC sends it, Link publishes the tempo.

A sink is any object with ``send(frame)``; optional ``handle(action)`` and ``close()``.  An input is any
object with ``poll() -> list[str]``; a tempo source any object with ``apply(tempo, *, feature_now)``
(``tempo`` is the :class:`~dancepose.models.tempo.TempoAuthority`).
Nothing here needs a window, a device or a subprocess: tests drive a performance on a simulated clock
with a list-collecting sink.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.errors import ParameterError
from dancepose.models.tempo import TempoAuthority

#: Below this beat confidence no beat events are sent and the HUD does not flash.
BEAT_MIN_CONFIDENCE: float = 0.05
#: A tempo event is sent when the tempo moved this much (BPM) or the confidence this much since the last.
TEMPO_EVENT_BPM: float = 0.5
TEMPO_EVENT_CONFIDENCE: float = 0.05


@dataclass(frozen=True)
class Frame:
    """What one display frame shows and sends.

    Attributes
    ----------
    index : int
        Display frame number from 0.
    pose : np.ndarray [shape=(N_JOINTS, 2)]
        The shown pose in normalised body units (held while paused).
    state : dancepose.realtime.engine.FrameState
        The engine's pose, timing and beat read-outs of this frame.
    samples : np.ndarray [shape=(n,)]
        The audio read this frame (what a recording gets).
    beat : (int, int) or None
        ``(beat index, beat in bar 1…beats_per_bar)`` when a beat is heard at this frame.
    tempo : (float, float) or None
        ``(BPM, confidence)`` when the tempo changed (and on the first frame).
    fps : float
        Measured display rate (smoothed).
    paused : bool
    xruns : int
    source : str
        The source's label.
    tempo_held : bool
        The tempo is held (``--bpm``, a Link session), not tracked from the music.
    tempo_note : str
        What the HUD says about the tempo's source (``"Link 230 BPM, half time"``: an outside tempo folded),
        or ``""``.
    """

    index: int
    pose: np.ndarray
    state: object
    samples: np.ndarray
    beat: tuple[int, int] | None
    tempo: tuple[float, float] | None
    fps: float
    paused: bool
    xruns: int
    source: str
    tempo_held: bool = False
    tempo_note: str = ""


class Sink(Protocol):  # pragma: no cover - typing only
    def send(self, frame: Frame) -> None: ...


@dataclass
class _Events:
    """Beat/tempo event state (one per performance)."""

    last_beat: int | None = None
    last_phase: float | None = None
    last_time: float | None = None
    last_tempo: tuple[float, float] | None = None


class Performance:
    """The live step: audio source → features → dancer → pose → sinks, one display frame at a time.

    Parameters
    ----------
    engine : dancepose.realtime.engine.Engine
    source : dancepose.realtime.audio_in.AudioSource
        Started by :meth:`start` (or use the performance as a context manager).
    sinks : iterable of sinks
        Called in order with every :class:`Frame` (draw before record: the recorder encodes what was drawn).
    inputs : iterable of objects with ``poll() -> list[str]``
    tempo_sources : iterable of objects with ``apply(tempo, *, feature_now)``
        Outside clocks (Link); they lead through :attr:`tempo`.
    duration_s : float or None
        Stop after this many seconds of audio.
    bpm : float or None
        Hold the tempo (``--bpm``, within :data:`dancepose.models.tempo.MIN_BPM` … ``MAX_BPM``); taps and
        ``t`` still move the beat.
    log : dancepose.realtime.engine.TimingLog or None
        Per-frame timing rows.
    display : object with ``until_present() -> float`` and ``waited_s``, or None
        The window: each frame is made for the moment it will be shown (``until_present`` from now, unless
        the source's clock is stepped per frame, ``frame_clock``), and the time its sink waited for that
        moment (``waited_s``) is not counted as frame work.

    Attributes
    ----------
    tempo : dancepose.models.tempo.TempoAuthority
        The held tempo (``--bpm``, taps, outside clocks): the one place it lives.
    frames : int
        Frames stepped.
    finished : bool
        The song ended, ``duration_s`` was reached or ``quit`` was asked for.
    """

    def __init__(self, *, engine, source, sinks: Iterable = (), inputs: Iterable = (),
                 tempo_sources: Iterable = (), duration_s: float | None = None, bpm: float | None = None,
                 log=None, display=None) -> None:
        if duration_s is not None and not duration_s > 0:
            raise ParameterError(f"duration must be positive, got {duration_s}")
        self.engine = engine
        self.source = source
        self.sinks = list(sinks)
        self.inputs = list(inputs)
        self.tempo_sources = list(tempo_sources)
        self.log = log
        self.display = display
        self.limit = int(round(duration_s * SAMPLE_RATE)) if duration_s else None
        self.tempo = TempoAuthority(features=engine.features, bpm=bpm)
        self.frames = 0
        self.finished = False
        self.paused = False
        self._shown: np.ndarray | None = None
        self._events = _Events()
        self._dt_est = 1.0 / DISPLAY_FPS
        self._last_wall: float | None = None
        self._started = False
        self.first_frame_wall: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Performance":
        if not self._started:
            self.source.start()
            self._started = True
        return self

    def __enter__(self) -> "Performance":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every sink (even if one fails: the first error is raised after all were closed), then
        stop the source."""
        error: BaseException | None = None
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is None:
                continue
            try:
                close()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                error = error or exc
        if self._started:
            self._started = False
            self.source.stop()
        if error is not None:
            raise error

    # ------------------------------------------------------------------ live controls
    @property
    def features(self):
        """The engine's :class:`~dancepose.models.features.FeatureStream` (live-control API)."""
        return self.engine.features

    def tap(self, time_s: float | None = None) -> None:
        """A tap on the beat at feature-stream time ``time_s`` (default: the stream's now).  Key ``t``
        taps at :meth:`feature_now`: on the beat the audience hears."""
        self.tempo.tap(time_s)

    def fix_tempo(self, bpm: float | None) -> None:
        """Hold the tempo at ``bpm`` (None: follow the music again)."""
        self.tempo.hold(bpm)

    def feature_now(self) -> float:
        """What the audience hears now, on the feature stream's clock (s of analysed audio; what
        :meth:`tap` expects): the stream's "now" less the engine's latency offset."""
        return self.engine.heard_feature_time(self.source)

    def handle(self, action: str) -> None:
        """Act on one input action and pass it on to the sinks."""
        if action == "quit":
            self.finished = True
        elif action == "pause":
            self.paused = not self.paused
        elif action == "tap":
            self.tap(self.feature_now() if self.features.frames_done else None)
        for sink in self.sinks:
            h = getattr(sink, "handle", None)
            if h is not None:
                h(action)

    # ------------------------------------------------------------------ the step
    def step(self) -> Frame | None:
        """One display frame; None (and :attr:`finished`) when ``quit`` arrived before any audio was read."""
        self.start()
        t_frame = time.perf_counter()
        for inp in self.inputs:
            for action in inp.poll():
                self.handle(action)
        if self.finished:
            return None
        src = self.source
        src.on_frame()
        for ts in self.tempo_sources:
            ts.apply(self.tempo, feature_now=self.feature_now())
        y = src.read()
        done = src.finished
        if self.limit is not None and src.samples_read >= self.limit:
            y = y[: max(0, len(y) - (src.samples_read - self.limit))]
            done = True
        display = self.display
        ahead = display.until_present() if display is not None and not src.frame_clock else 0.0
        state = self.engine.update(y, source=src, ahead_s=ahead)
        if not self.paused or self._shown is None:
            self._shown = state.pose
        frame = Frame(index=self.frames, pose=self._shown, state=state, samples=y, beat=self._beat(state),
                      tempo=self._tempo(state), fps=1.0 / self._dt_est, paused=self.paused, xruns=src.xruns,
                      source=src.label, tempo_held=self.tempo.held is not None, tempo_note=self.tempo.note)
        for sink in self.sinks:
            sink.send(frame)
        wall = time.monotonic()
        if self.first_frame_wall is None:
            self.first_frame_wall = wall
        if self._last_wall is not None and wall > self._last_wall:
            self._dt_est += 0.05 * ((wall - self._last_wall) - self._dt_est)
        self._last_wall = wall
        if self.log is not None:
            waited = display.waited_s if display is not None else 0.0
            self.log.add(frame=self.frames, wall_time=wall, state=state,
                         frame_ms=(time.perf_counter() - t_frame - waited) * 1e3, xruns=src.xruns,
                         recording=any(getattr(s, "recording", False) for s in self.sinks))
        self.frames += 1
        if done:
            self.finished = True
        return frame

    def run(self, *, pace: Callable[[], object] | None = None, max_frames: int | None = None) -> int:
        """Step until finished (or ``max_frames``); ``pace()`` is called between frames (the window's
        60-fps clock).  Returns the frames stepped."""
        n = 0
        while not self.finished and (max_frames is None or n < max_frames):
            if self.step() is None:
                break
            n += 1
            if pace is not None and not self.finished:
                pace()
        return n

    # ------------------------------------------------------------------ events
    def _beat(self, state) -> tuple[int, int] | None:
        """A beat event when the heard beat phase wraps (at most one per half beat).

        The index is the engine's beat count there (``floor(beat_position)``), kept strictly increasing:
        a tracker that pulls its phase back over the beat does not make the same beat twice.
        """
        ev = self._events
        phase, t = float(state.beat_phase), float(state.display_time)
        prev, ev.last_phase = ev.last_phase, phase
        if prev is None or not phase < prev - 0.5:
            return None
        half_beat = 30.0 / max(float(state.tempo_bpm), 1.0)
        if ev.last_time is not None and t - ev.last_time < half_beat:
            return None
        # A held clock (--bpm, a Link session) makes beats whatever the tracker's confidence in the music.
        if state.beat_confidence < BEAT_MIN_CONFIDENCE and self.tempo.held is None:
            return None
        index = int(math.floor(state.beat_position))
        if ev.last_beat is not None:
            index = max(index, ev.last_beat + 1)
        ev.last_beat, ev.last_time = index, t
        return (index, int(state.beat_in_bar) + 1)

    def _tempo(self, state) -> tuple[float, float] | None:
        ev = self._events
        now = (float(state.tempo_bpm), float(state.beat_confidence))
        last = ev.last_tempo
        if last is None or abs(now[0] - last[0]) >= TEMPO_EVENT_BPM or abs(now[1] - last[1]) >= TEMPO_EVENT_CONFIDENCE:
            ev.last_tempo = now
            return now
        return None
