"""The live performance loop behind ``dancepose-live``: source → engine → window (→ recorder, logs).

:func:`run_live` is the keyword-only core the CLI wraps.  One iteration per display frame:

1. window events (keys, close);
2. ``source.read()`` — the samples heard (playback) or captured (mic) since the last frame;
3. ``Engine.update`` — features, dancer steps, the interpolated pose for this frame;
4. draw stage + figure + HUD, present;
5. when recording: the samples of step 2 go to ``Mp4Recorder.add_audio`` and the presented surface to
   ``Mp4Recorder.process`` as many times as needed to keep the video at ``DISPLAY_FPS`` on the *audio*
   clock (a late frame is repeated, an early one skipped), so picture and sound stay in sync and a
   ``--duration`` recording is exactly that long.  Encoding runs in the recorder's thread.

Ctrl-C (KeyboardInterrupt), closing the window, q/Esc, the end of the song or ``--duration`` all leave
the recording finalised and the logs written.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.errors import ParameterError


@dataclass(frozen=True)
class LiveConfig:
    """Everything ``dancepose-live`` can be asked to do.

    Attributes
    ----------
    input : str
        ``"mic"``, ``"demo"`` or an audio/video file.
    model_dir : Path or None
        Dancer model directory (None: the default dancer).
    device : str or None
        Audio device index or name substring.
    record : Path or None
        Record the performance to this MP4 from the start.
    fullscreen : bool
    size : (int, int)
        Window / frame size.
    background : Path or None
        Stage image.
    headless : bool
        No window (SDL dummy driver); FILE/demo fall back to a simulated clock without an audio device.
    duration : float or None
        Stop after this many seconds of audio.
    log_timings : Path or None
        Per-frame timing CSV.
    log_poses : Path or None
        Shown (and model) poses with their times, ``.npz``.
    sim_clock : bool
        Force the simulated clock (FILE/demo; no audio device used).
    screenshot : Path or None
        Save the last frame as PNG.
    seed : int
    quiet : bool
    """

    input: str = "demo"
    model_dir: Path | None = None
    device: str | None = None
    record: Path | None = None
    fullscreen: bool = False
    size: tuple[int, int] = (1280, 720)
    background: Path | None = None
    headless: bool = False
    duration: float | None = None
    log_timings: Path | None = None
    log_poses: Path | None = None
    sim_clock: bool = False
    screenshot: Path | None = None
    seed: int = 0
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.duration is not None and not self.duration > 0:
            raise ParameterError(f"--duration must be positive, got {self.duration}")
        w, h = self.size
        if w < 64 or h < 64:
            raise ParameterError(f"--size must be at least 64x64, got {w}x{h}")
        if self.sim_clock and self.input == "mic":
            raise ParameterError("--sim-clock needs --input FILE or demo, not mic")


@dataclass(frozen=True)
class LiveResult:
    """Summary of a performance."""

    frames: int
    seconds: float
    first_frame_s: float
    xruns: int
    recordings: tuple[Path, ...]
    dropped_frames: int
    interrupted: bool


class _Recording:
    """One Mp4Recorder paced on the audio clock."""

    def __init__(self, path: Path, *, size: tuple[int, int], block: bool) -> None:
        from dancepose.models.media.recorder import Mp4Recorder

        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        self.rec = Mp4Recorder(path, width=self.size[0], height=self.size[1], fps=DISPLAY_FPS,
                               sample_rate=SAMPLE_RATE, drop_when_behind=not block, quiet=True)
        self.path = Path(path)
        self.samples = 0
        self.frames = 0

    def add(self, y, surface) -> None:
        from dancepose.models.media.draw import surface_to_rgb

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
        rgb = surface_to_rgb(surface)
        while self.frames < target:
            self.rec.process(rgb)
            self.frames += 1

    def close(self) -> Path | None:
        return self.rec.close()


def _auto_record_path() -> Path:
    return Path(time.strftime("dancepose-live-%Y%m%d-%H%M%S.mp4"))


def run_live(*, config: LiveConfig) -> LiveResult:
    """Perform live until the song ends, ``duration`` is reached, the window closes or Ctrl-C.

    Parameters
    ----------
    config : LiveConfig

    Returns
    -------
    LiveResult

    Raises
    ------
    ModelError, DeviceError, InputError, ParameterError
        Bad model, no audio device / display, undecodable input, bad options (before any output).
    KeyboardInterrupt
        Re-raised after the recording and logs are finalised.
    """
    t_start = time.monotonic()
    from dancepose.models.outputs import check_output_file

    # Every output checked before the run (not after it): path, not under a file, not a device, extension.
    for path, suffixes, what in ((config.record, (".mp4",), "--record"),
                                 (config.screenshot, (".png",), "--screenshot"),
                                 (config.log_timings, (".csv",), "--log-timings"),
                                 (config.log_poses, (".npz",), "--log-poses")):
        if path is not None:
            check_output_file(path, suffixes=suffixes, what=what)
    from dancepose.models.dancer import Dancer
    from dancepose.realtime.audio_in import open_source
    from dancepose.models.media.draw import FigureStyle, floor_units_for
    from dancepose.realtime.engine import Engine, EngineConfig, TimingLog
    from dancepose.realtime.window import HudInfo, Window

    dancer = Dancer.load(config.model_dir)
    engine = Engine(dancer=dancer, config=EngineConfig(seed=config.seed))
    window = Window(size=config.size, headless=config.headless, fullscreen=config.fullscreen,
                    background=config.background, floor_units=floor_units_for(dancer.rest_pose))
    try:
        window.ensure_stage()  # a bad background fails here, before any audio starts
        source = open_source(input_spec=config.input, device=config.device, simulate=config.sim_clock,
                             allow_simulated=config.headless)
    except BaseException:
        window.close()
        raise
    style = FigureStyle()
    # Rows are kept only when asked for: a live session may run for hours.
    logging = config.log_timings is not None or config.log_poses is not None
    log = TimingLog(keep_poses=config.log_poses is not None) if logging else None
    engine.keep_model_poses = config.log_poses is not None
    limit = int(round(config.duration * SAMPLE_RATE)) if config.duration else None
    recording: _Recording | None = None
    recordings: list[Path] = []
    dropped = 0
    frame = 0
    first_frame_s = float("nan")
    interrupted = False
    paused = False
    pg = window.pg
    clock = pg.time.Clock()
    dt_est = 1.0 / DISPLAY_FPS
    last_wall = None

    def stop_recording() -> None:
        nonlocal recording, dropped
        if recording is not None:
            rec, recording = recording, None
            dropped += rec.rec.dropped_frames
            out = rec.close()
            if out is not None:
                recordings.append(out)
                if not config.quiet:
                    print(f"dancepose-live: recorded {out} ({rec.frames / DISPLAY_FPS:.2f} s)",
                          file=sys.stderr)

    try:
        with source:
            if config.record is not None:
                recording = _Recording(config.record, size=window.size, block=True)
            while True:
                t_frame = time.perf_counter()
                actions = window.poll()
                if "quit" in actions:
                    break
                if "pause" in actions:
                    paused = not paused
                if "hud" in actions:
                    window.show_hud = not window.show_hud
                if "fullscreen" in actions:
                    window.toggle_fullscreen()
                if "record" in actions:
                    if recording is None:
                        path = config.record if (config.record and not recordings) else _auto_record_path()
                        recording = _Recording(path, size=window.size, block=True)
                    else:
                        stop_recording()
                source.on_frame()
                y = source.read()
                done = source.finished
                if limit is not None and source.samples_read >= limit:
                    y = y[: max(0, len(y) - (source.samples_read - limit))]
                    done = True
                state = engine.update(y, source=source)
                if not paused or frame == 0:
                    shown_pose = state.pose
                window.draw(shown_pose, style=style)
                window.draw_hud(HudInfo(fps=1.0 / dt_est, tempo_bpm=state.tempo_bpm, beat_phase=state.beat_phase,
                                        beat_confidence=state.beat_confidence, level_db=state.level_db,
                                        xruns=source.xruns, recording=recording is not None,
                                        paused=paused, source=source.label))
                window.present()
                if recording is not None:
                    recording.add(y, window.surface)
                wall = time.monotonic()
                if frame == 0:
                    first_frame_s = wall - t_start
                if last_wall is not None and wall > last_wall:
                    dt_est += 0.05 * ((wall - last_wall) - dt_est)
                last_wall = wall
                if log is not None:
                    log.add(frame=frame, wall_time=wall, state=state,
                            frame_ms=(time.perf_counter() - t_frame) * 1e3, xruns=source.xruns,
                            recording=recording is not None)
                frame += 1
                if done:
                    break
                clock.tick(DISPLAY_FPS)
    except KeyboardInterrupt as exc:
        interrupted = exc  # re-raised below: keeps SIGTERM's exit code 143
    finally:
        try:
            stop_recording()
        finally:
            if config.screenshot is not None and frame:
                window.save_png(config.screenshot)
            window.close()
            if log is not None and config.log_timings is not None:
                log.write_csv(config.log_timings)
            if log is not None and config.log_poses is not None:
                log.write_poses(config.log_poses, engine=engine)
    seconds = source.samples_read / SAMPLE_RATE
    result = LiveResult(frames=frame, seconds=seconds, first_frame_s=first_frame_s, xruns=source.xruns,
                        recordings=tuple(recordings), dropped_frames=dropped, interrupted=bool(interrupted))
    if not config.quiet:  # also when interrupted: the figures of a stopped performance matter too
        print(f"dancepose-live: {frame} frames, {min(seconds, (limit or 1e18) / SAMPLE_RATE):.2f} s of "
              f"audio, first frame after {first_frame_s:.2f} s, xruns {source.xruns}, "
              f"dropped video frames {dropped}", file=sys.stderr)
    if interrupted:
        raise interrupted
    return result
