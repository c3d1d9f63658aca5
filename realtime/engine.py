"""The live engine: audio samples → causal features → dancer steps → a pose for each display frame.

Each display frame :meth:`Engine.update` drains the new analysis samples into the one
:class:`~dancepose.models.features.FeatureStream`, steps the numpy :class:`~dancepose.models.dancer.Dancer`
once per new feature frame (30 per second), time-stamps every model pose with the stream time of the
audio it has heard, and interpolates the last two model poses to the display time (60 fps).  Silence
handling (the idle sway when the music stops) lives in ``Dancer.step`` so live, render and evaluate
behave the same.

Timing model
------------
Model pose ``k`` is computed from the audio before sample ``k * HOP_LENGTH``; its time stamp is the
stream time of that sample (DAC time for playback — when it is heard —, ADC time for a microphone).
The engine shows the pose of ``render_time = now - delay - lookback - latency_offset``: ``delay`` follows
the running minimum over the last half second of "age of the newest model pose" (≈ 0 for playback, the
input latency for a microphone), and ``lookback`` (half a model frame) keeps the interpolation mostly
between two known poses.  :class:`TimingLog` writes audio/pose/display times per frame (``--log-timings``).

Latency offset (``--latency-offset MS``)
----------------------------------------
``latency_offset_s`` is how much *later* the audience hears the sound than the stream clock says,
relative to when it sees the picture.  Positive (Bluetooth speakers, a long PA chain): the picture is held
back by that much — poses, beat flashes and the beat/pose messages all come later.  Negative (a projector or
video mixer that delays the picture): the figure moves earlier — the shown pose comes nearer the newest
analysed audio (never past it) and the dancer's groove leads by whatever could not be gained that way,
so its kinematic beats still land on the beats the audience hears.  The beat read-outs of
:class:`FrameState` (``beat_position``, ``beat_phase``, ``beat_in_bar``) are those of the music the
audience hears at the moment the frame is seen.

The model step (features → dancer) is :class:`dancepose.models.perform.Performer`, the same one
``render``, ``evaluate`` and the docs figures use through :func:`~dancepose.models.perform.perform`; the
engine adds only the timing.
"""
from __future__ import annotations

import csv
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dancepose.models.clock import HOP_LENGTH, MODEL_FPS, SAMPLE_RATE
from dancepose.models.errors import ParameterError
from dancepose.models.outputs import atomic_output
from dancepose.models.features import N_FEATURES
from dancepose.models.skeleton import N_JOINTS


@dataclass(frozen=True)
class EngineConfig:
    """Engine parameters.

    Attributes
    ----------
    lookback_s : float
        Extra delay of the shown pose behind the newest model pose (s); half a model frame.
    delay_window : int
        Display frames over which the minimum pose age is taken.
    delay_smoothing : float
        Per-frame smoothing factor (0..1] of the delay estimate.
    seed : int
        Dancer seed.
    steps_per_frame : int
        Model steps (features + dancer) a display frame takes at most while the engine keeps up; the
        audio of any further step waits for the next frame (one 16.7-ms frame later), so a frame never
        pays for two steps because two hops of audio arrived together.
    catch_up_s : float
        Behind by this much audio, a frame takes one step more (up to ``max_steps_per_frame``): a stall
        (a busy machine) is made up over the next frames instead of in one long frame.
    max_steps_per_frame : int
    max_lag_s : float
        Behind by more than this (a machine too busy to keep up even so), a frame analyses everything
        pending: the figure never dances to music further back than this.
    latency_offset_s : float
        How much later the audience hears the sound than it sees the picture (s); see the module notes.
        Between -1 and +2 s.
    split_steps : bool
        A model step in two halves on two display frames: the features in the frame its audio completes,
        the dancer in the next one (half the work, and half the data gone cold during the frame's sleep,
        per frame; the pose comes one display frame, 16.7 ms, later — two when the hops' audio completes
        on the frames that dance, as on the simulated clock, where the first hop sets that phase: bringing
        the split back in step costs a frame with both halves each time, and audio in device blocks
        puts it out of step again every few frames (6–8 % of frames with both halves, simulated).  A frame
        does both halves only when two model frames are waiting besides (audio in a burst, a late frame)
        or while catching up.
    """

    lookback_s: float = 0.5 / MODEL_FPS
    delay_window: int = 30
    delay_smoothing: float = 0.1
    seed: int = 0
    steps_per_frame: int = 1
    catch_up_s: float = 0.25
    max_steps_per_frame: int = 4
    max_lag_s: float = 1.0
    latency_offset_s: float = 0.0
    split_steps: bool = True

    def __post_init__(self) -> None:
        if not (1 <= self.steps_per_frame <= self.max_steps_per_frame) or not self.catch_up_s > 0:
            raise ParameterError(f"invalid EngineConfig {self}")
        if self.lookback_s < 0 or self.delay_window < 1 or not (0 < self.delay_smoothing <= 1):
            raise ParameterError(f"invalid EngineConfig {self}")
        if not (-1.0 <= self.latency_offset_s <= 2.0):
            raise ParameterError(f"--latency-offset must be between -1000 and 2000 ms, "
                                 f"got {self.latency_offset_s * 1e3:.0f}")


@dataclass(frozen=True)
class FrameState:
    """What one display frame shows and how it was timed.

    Attributes
    ----------
    pose : np.ndarray [shape=(N_JOINTS, 2)]
        Interpolated pose in normalised body units.
    display_time : float
        Stream time of this frame (s).
    audio_time : float
        Stream time of the newest analysed sample (s).
    pose_time : float
        Stream time the shown pose belongs to (s).
    model_steps : int
        Dancer steps taken this frame.
    model_ms : float
        Features + dancer cost this frame (ms).
    level_db, tempo_bpm, beat_confidence : float
        Read-outs of the feature stream for the HUD.
    new_samples : int
        Analysis samples consumed this frame.
    beat_position : float
        Beats since the start (the feature stream's ``beat_count + beat_phase``) of the music heard when
        this frame is seen: the newest analysed frame's, advanced at the tempo to that moment.
    beat_phase : float
        ``beat_position % 1``: 0 on the beat.
    beats_per_bar : int
    beat_in_bar : int
        0 … beats_per_bar-1, 0 on the downbeat (from the stream's ``bar_phase``).
    """

    pose: np.ndarray
    display_time: float
    audio_time: float
    pose_time: float
    model_steps: int
    model_ms: float
    level_db: float
    tempo_bpm: float
    beat_phase: float
    beat_confidence: float
    new_samples: int
    beat_position: float = 0.0
    beats_per_bar: int = 4
    beat_in_bar: int = 0


class Engine:
    """Features + dancer + interpolation for the live loop.

    Parameters
    ----------
    dancer : dancepose.models.dancer.Dancer
    config : EngineConfig
    """

    def __init__(self, *, dancer, config: EngineConfig = EngineConfig()) -> None:
        from dancepose.models.perform import Performer

        self.dancer = dancer
        self.config = config
        self.performer = Performer(dancer=dancer, seed=config.seed)
        #: Keep every model step's (time, pose) in :attr:`model_times` / :attr:`model_poses` (pose logs).
        self.keep_model_poses = False
        self.reset()

    @property
    def features(self):
        """The performer's :class:`~dancepose.models.features.FeatureStream` (read-outs, tap, fix_tempo)."""
        return self.performer.features

    def reset(self) -> None:
        """Start a new performance."""
        self.performer.reset(self.config.seed)
        rest = np.asarray(getattr(self.dancer, "rest_pose", np.zeros((N_JOINTS, 2))), dtype=np.float32)
        self._rest = rest.copy()
        # recent model poses (time, pose): enough for the input delay plus a positive latency offset
        n_hist = int(np.ceil((max(self.config.latency_offset_s, 0.0) + 1.0) * MODEL_FPS)) + 4
        self._hist: deque[tuple[float, np.ndarray]] = deque(maxlen=n_hist)
        self._t_last = -np.inf
        self._ages: deque[float] = deque(maxlen=self.config.delay_window)
        self._delay: float | None = None
        self._samples = 0
        # audio read but not analysed yet (its step waits for a later frame): preallocated, grows if needed
        self._pending = np.zeros(4 * HOP_LENGTH, dtype=np.float32)
        self._n_pending = 0
        # feature rows analysed but not danced yet (split steps), the first one's model-frame index
        self._rows = np.zeros((8, N_FEATURES), dtype=np.float32)
        self._n_rows = 0
        #: (time, pose) of every model step, for pose logs and analysis.
        self.model_times: list[float] = []
        self.model_poses: list[np.ndarray] = []

    def warm_up(self, *, seconds: float = 1.0) -> None:
        """Run the features and the dancer once over ``seconds`` of the built-in demo loop, then
        :meth:`reset`: the first calls of every code path (the BLAS buffers, the dancer's first draws,
        lazy set-up) cost 15–20 ms each, which the show's first frames would otherwise pay.  The show's
        poses do not change (the reset restores the seed)."""
        from dancepose.realtime.demo_loop import demo_loop

        n = int(seconds * SAMPLE_RATE)
        y = demo_loop(bars=2)[:n]  # (the loop's last bar is near silence)
        for i in range(0, n, HOP_LENGTH // 2):
            self.performer.process(y[i:i + HOP_LENGTH // 2])
        self.reset()

    def update(self, samples: np.ndarray, *, source, ahead_s: float = 0.0) -> FrameState:
        """Consume new samples and return the pose to show now.

        Parameters
        ----------
        samples : np.ndarray [shape=(n,)]
            New analysis samples (mono float32 at ``SAMPLE_RATE``), as returned by ``source.read()``.
        source : dancepose.realtime.audio_in.AudioSource
            Gives the stream clock (``now``, ``sample_time``).
        ahead_s : float
            How long from now until this frame is shown: the frame is made for that moment.

        Returns
        -------
        FrameState
        """
        now = source.now() + ahead_s
        t0 = time.perf_counter()
        offset = self.config.latency_offset_s
        delay = self._delay or 0.0
        # How far behind `now` the shown pose is: `delay + lookback` plus the latency offset, but never
        # nearer than the newest pose (`delay`).  The groove leads by that minus the offset, so the
        # kinematic beats land on the beats the audience hears (see the module notes).
        behind = max(delay + self.config.lookback_s + offset, delay)
        self.dancer.lead_s = behind - offset
        rows = self._work(samples)
        first_frame = self.performer.frames_done - self._n_rows - len(rows)  # model frame of rows[0]
        poses = self.performer.dance(rows) if len(rows) else ()
        for i, pose in enumerate(poses):
            t_k = source.sample_time((first_frame + i) * HOP_LENGTH)
            self._hist.append((t_k, pose))
            self._t_last = t_k
            if self.keep_model_poses:
                self.model_times.append(t_k)
                self.model_poses.append(pose)
        model_ms = (time.perf_counter() - t0) * 1e3
        audio_time = source.sample_time(self._samples) if self._samples else now
        if math.isfinite(self._t_last):
            self._ages.append(now - self._t_last)
            target = max(0.0, min(self._ages))  # never show a pose before its audio is heard
            if self._delay is None:
                self._delay = target
            else:
                self._delay += self.config.delay_smoothing * (target - self._delay)
            behind = max(self._delay + self.config.lookback_s + offset, self._delay)
            render_time = now - behind
        else:
            render_time = now
        pose = self._interpolate(render_time)
        f = self.features
        bpm = float(f.tempo_bpm)
        bpb = int(f.beats_per_bar)
        # The beat the audience hears now: the newest feature frame's, advanced at the tempo.
        newest = max(f.frames_done - 1, 0) / MODEL_FPS
        ahead = (self.heard_feature_time(source, now=now) - newest) * bpm / 60.0 if f.frames_done else 0.0
        position = float(f.beat_count) + float(f.beat_phase) + ahead
        in_bar = int(math.floor(float(f.bar_phase) * bpb + ahead)) % bpb
        return FrameState(pose=pose, display_time=now, audio_time=audio_time, pose_time=render_time,
                          model_steps=len(poses), model_ms=model_ms, level_db=float(f.level_db),
                          tempo_bpm=bpm, beat_phase=position % 1.0,
                          beat_confidence=float(f.beat_confidence), new_samples=len(samples),
                          beat_position=position, beats_per_bar=bpb, beat_in_bar=in_bar)

    def _work(self, samples: np.ndarray) -> np.ndarray:
        """This frame's share of the model work: append ``samples`` to the pending audio, analyse what the
        frame's budget allows, and return the feature rows to dance now [shape=(n, N_FEATURES)].

        The budget: ``steps_per_frame`` model steps (one more per ``catch_up_s`` of audio behind, up to
        ``max_steps_per_frame``; all of it beyond ``max_lag_s``).  With ``split_steps`` and no catching
        up, a frame either analyses one model frame or dances the row analysed before, not both —
        unless two more model frames are waiting; otherwise it analyses and dances up to ``steps`` each
        (the oldest rows first).  Neither the chunking nor the split changes the poses.
        """
        n = self._append(samples)
        c, perf = self.config, self.performer
        done, fed = perf.frames_done, self._samples
        ready = max(0, (fed + n) // HOP_LENGTH + 1 - done)  # frames whose audio is all here
        behind = n / SAMPLE_RATE
        steps = min(c.steps_per_frame + int(behind / c.catch_up_s), c.max_steps_per_frame)
        if behind > c.max_lag_s:
            steps = ready + self._n_rows
        if c.split_steps and steps == 1 and self._n_rows + ready < 3:
            if self._n_rows:  # analysed last frame: dance now, analyse next frame
                return self._take_rows(1)
            self._keep_rows(self._analyse(min(ready, 1)))
            return self._rows[:0]
        self._keep_rows(self._analyse(min(ready, steps)))
        return self._take_rows(steps)

    def _append(self, samples: np.ndarray) -> int:
        """Add ``samples`` to the pending audio (grown if needed); the number of pending samples."""
        n = self._n_pending + len(samples)
        self._pending = _room(self._pending, used=self._n_pending, need=n)
        self._pending[self._n_pending:n] = samples
        self._n_pending = n
        return n

    def _analyse(self, frames: int) -> np.ndarray:
        """Feed the pending audio up to where ``frames`` more feature frames are complete (nothing when
        no frame would complete); their rows [shape=(≤ frames, N_FEATURES)]."""
        done, fed, n = self.performer.frames_done, self._samples, self._n_pending
        if frames <= 0:
            return self._rows[:0]
        # frame t is ready once t * HOP samples have been fed (frame 0: at once)
        take = max(0, min(n, (done + frames - 1) * HOP_LENGTH - fed))
        if fed + take < done * HOP_LENGTH:
            return self._rows[:0]
        buf = self._pending
        chunk = buf[:take].copy()
        buf[:n - take] = buf[take:n]
        self._n_pending = n - take
        self._samples += take
        return self.performer.analyse(chunk)

    def _keep_rows(self, rows: np.ndarray) -> None:
        n = self._n_rows + len(rows)
        self._rows = _room(self._rows, used=self._n_rows, need=n)
        self._rows[self._n_rows:n] = rows
        self._n_rows = n

    def _take_rows(self, limit: int) -> np.ndarray:
        """The oldest rows analysed and not danced yet, at most ``limit``, in order."""
        k = min(limit, self._n_rows)
        rows = self._rows[:k].copy()
        self._rows[:self._n_rows - k] = self._rows[k:self._n_rows]
        self._n_rows -= k
        return rows

    def heard_feature_time(self, source, *, now: float | None = None) -> float:
        """What the audience hears at stream time ``now`` (default: ``source.now()``), on the feature
        stream's clock (s of analysed audio): the newest feature frame's time plus the stream time since
        it, less the latency offset.  0 before any feature frame."""
        f = self.features
        if not f.frames_done:
            return 0.0
        k = f.frames_done - 1
        heard = (source.now() if now is None else now) - self.config.latency_offset_s
        return k / MODEL_FPS + (heard - source.sample_time(k * HOP_LENGTH))

    def _interpolate(self, t: float) -> np.ndarray:
        """Pose at stream time ``t`` between the two model poses around it (clamped). [shape=(J, 2)]"""
        hist = self._hist
        if not hist:
            return self._rest
        if t >= hist[-1][0] or len(hist) == 1:
            return hist[-1][1]
        if t <= hist[0][0]:
            return hist[0][1]
        i = len(hist) - 1
        while hist[i - 1][0] > t:  # walk back from the newest (the usual answer is the last pair)
            i -= 1
        (t0, p0), (t1, p1) = hist[i - 1], hist[i]
        if t1 <= t0:
            return p1
        a = (t - t0) / (t1 - t0)
        return (1.0 - a) * p0 + a * p1


def _room(buf: np.ndarray, *, used: int, need: int) -> np.ndarray:
    """``buf`` if it holds ``need`` rows, else a buffer twice as long (at least ``need``) with its first
    ``used`` rows: the engine's preallocated stores grow rarely, never per frame."""
    if need <= len(buf):
        return buf
    grown = np.zeros((max(need, 2 * len(buf)),) + buf.shape[1:], dtype=buf.dtype)
    grown[:used] = buf[:used]
    return grown


# ------------------------------------------------------------------------------------ timing log
TIMING_COLUMNS: tuple[str, ...] = (
    "frame", "wall_time", "display_time", "audio_time", "pose_time", "frame_ms", "model_ms",
    "model_steps", "new_samples", "level_db", "tempo_bpm", "beat_phase", "xruns", "recording",
)


class TimingLog:
    """Per-frame timing rows (``--log-timings FILE.csv``) and optional shown poses (``--log-poses``).

    ``wall_time`` is ``time.monotonic()`` just after the frame was presented (comparable across
    processes on one machine); the other times are on the audio stream clock.
    """

    def __init__(self, *, keep_poses: bool = False) -> None:
        self.rows: list[tuple] = []
        self.keep_poses = keep_poses
        self.poses: list[np.ndarray] = []

    def add(self, *, frame: int, wall_time: float, state: FrameState, frame_ms: float, xruns: int,
            recording: bool) -> None:
        self.rows.append((frame, wall_time, state.display_time, state.audio_time, state.pose_time,
                          frame_ms, state.model_ms, state.model_steps, state.new_samples, state.level_db,
                          state.tempo_bpm, state.beat_phase, xruns, int(recording)))
        if self.keep_poses:
            self.poses.append(state.pose)

    def column(self, name: str) -> np.ndarray:
        """One column as an array [shape=(n_frames,)]."""
        i = TIMING_COLUMNS.index(name)
        return np.array([r[i] for r in self.rows], dtype=np.float64)

    def write_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(TIMING_COLUMNS)
            for r in self.rows:
                w.writerow([f"{v:.6f}" if isinstance(v, float) else v for v in r])
        return path

    def write_poses(self, path: str | os.PathLike, *, engine: Engine | None = None) -> Path:
        """Save shown poses (F, J, 2) with their times, plus the model poses (K, J, 2) if kept."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "wall_time": self.column("wall_time"),
            "display_time": self.column("display_time"),
            "pose_time": self.column("pose_time"),
            "poses": (np.stack(self.poses).astype(np.float32) if self.poses
                      else np.zeros((0, N_JOINTS, 2), np.float32)),
        }
        if engine is not None and engine.model_poses:
            arrays["model_time"] = np.asarray(engine.model_times, dtype=np.float64)
            arrays["model_poses"] = np.stack(engine.model_poses).astype(np.float32)
        with atomic_output(path) as tmp:
            np.savez_compressed(tmp, **arrays)
        return path
