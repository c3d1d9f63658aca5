"""``dancepose-live`` behind the command line: build a :class:`~dancepose.realtime.performance.Performance`
and its sinks, run it, close it.

:func:`run_live` is the keyword-only core the CLI wraps.  The per-frame step (source → engine → sinks) is
:meth:`Performance.step <dancepose.realtime.performance.Performance.step>`; the sinks are the window
(:class:`~dancepose.realtime.window.WindowSink`), the recorder
(:class:`~dancepose.realtime.recording.RecordingSink`), OpenPose JSON, OSC
(:class:`~dancepose.realtime.osc.OscSink`) and Ableton Link (:class:`~dancepose.realtime.link.LinkSync`,
also a tempo source).

Ctrl-C (KeyboardInterrupt), closing the window, q/Esc, the end of the song or ``--duration`` all leave
the recording finalised and the logs written.  OSC and Link failures print one line and the show goes on
without them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from dancepose.models.clock import SAMPLE_RATE
from dancepose.models.errors import ParameterError
from dancepose.models.tempo import check_bpm


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
        Record the performance to this video from the start (``.mp4``, ``.webm`` or ``.mov``; a transparent
        background needs ``.webm`` or ``.mov``).
    encoder : str
        Video encoder of recordings (``--encoder``): ``libx264``, a hardware H.264 encoder of this
        ffmpeg (falls back to libx264 with one line when it does not work here) or ``auto``.
    fullscreen : bool
    size : (int, int)
        Window / frame size.
    background : Path, (r, g, b), ``draw.TRANSPARENT`` or None
        Stage image or a flat colour (chroma key); None: the default stage (black for ``openpose``);
        transparent: recordings and screenshots keep an alpha channel.
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
    style : str
        ``stick`` or ``openpose`` (the ControlNet OpenPose look).
    save_openpose : Path or None
        Write every shown frame's pose as OpenPose JSON into this folder.
    groove : bool or None
        Switch the dancer's groove stage (beat-locked bounce) on or off; None: as saved with the model.
    osc : (str, int) or None
        Send pose, beats and tempo over OSC to (host, port).
    link : bool
        Join an Ableton Link session.
    serve : (str, int) or None
        Serve the browser source (page + pose WebSocket) on (host, port); port 0 picks a free one.
    bpm : float or None
        Hold the tempo (within :data:`dancepose.models.tempo.MIN_BPM` … ``MAX_BPM``; checked here, and by
        the command line while parsing).
    latency_offset_ms : float
        How much later the audience hears the sound than it sees the picture (ms): positive holds the
        picture back (Bluetooth speakers), negative moves the figure earlier (a slow projector).
    priority : str
        ``realtime``: the show thread asks for ``SCHED_FIFO`` while it performs
        (:class:`~dancepose.realtime.priority.ShowPriority`; one line and the ordinary policy when not
        granted); ``normal``: it does not ask.
    """

    input: str = "demo"
    model_dir: Path | None = None
    device: str | None = None
    record: Path | None = None
    encoder: str = "libx264"
    fullscreen: bool = False
    size: tuple[int, int] = (1280, 720)
    background: Path | tuple[int, int, int] | None = None
    headless: bool = False
    duration: float | None = None
    log_timings: Path | None = None
    log_poses: Path | None = None
    sim_clock: bool = False
    screenshot: Path | None = None
    seed: int = 0
    quiet: bool = False
    style: str = "stick"
    groove: bool | None = None
    save_openpose: Path | None = None
    osc: tuple[str, int] | None = None
    link: bool = False
    serve: tuple[str, int] | None = None
    bpm: float | None = None
    latency_offset_ms: float = 0.0
    priority: str = "realtime"

    def __post_init__(self) -> None:
        if self.duration is not None and not self.duration > 0:
            raise ParameterError(f"--duration must be positive, got {self.duration}")
        w, h = self.size
        if w < 64 or h < 64:
            raise ParameterError(f"--size must be at least 64x64, got {w}x{h}")
        if self.sim_clock and self.input == "mic":
            raise ParameterError("--sim-clock needs --input FILE or demo, not mic")
        if self.bpm is not None:
            check_bpm(self.bpm)  # the one range (models/tempo.py), before anything opens
        from dancepose.models.media.encoders import ENCODER_CHOICES

        if self.encoder not in ENCODER_CHOICES:
            raise ParameterError(f"--encoder must be one of {', '.join(ENCODER_CHOICES)}, got {self.encoder!r}")
        from dancepose.realtime.priority import check_priority

        check_priority(self.priority)
        if not (-1000.0 <= self.latency_offset_ms <= 2000.0):
            raise ParameterError(f"--latency-offset must be between -1000 and 2000 ms, got {self.latency_offset_ms}")


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
    #: Wall-clock seconds from the first frame to the end of the show (before a recording's finishing).
    show_seconds: float = 0.0


class _OpenPoseSink:
    """Each shown pose as an OpenPose JSON file (``--save-openpose DIR``)."""

    def __init__(self, directory: Path, *, window) -> None:
        from dancepose.models.media.openpose import OpenPoseJsonWriter

        self.window = window
        self.writer = OpenPoseJsonWriter(directory, image_size=window.size)

    def send(self, frame) -> None:
        from dancepose.models.media.draw import coco18_points, pose_to_pixels

        w, h = self.window.size
        self.writer.write(coco18_points(pose_to_pixels(frame.pose, width=w, height=h)))


def _serve_sink(config: LiveConfig):
    """The browser source (``--serve``): started before the show, its address printed on one line."""
    from dancepose.realtime.serve import ServeConfig, ServeProcess, ServeSink

    server = ServeProcess(config=ServeConfig(host=config.serve[0], port=config.serve[1]))
    # printed even with --quiet: with port 0 this line is the only way to learn the address
    print(f"dancepose-live: browser source at {server.url} (OBS: Browser source, this URL, width and height "
          f"of your canvas; the page is transparent)", file=sys.stderr, flush=True)
    return ServeSink(server=server)


def _rig_outputs(config: LiveConfig, *, window) -> tuple[list, object]:
    """The sinks after the window and the recorder: OpenPose JSON, OSC, browser source, Link (also
    returned, or None)."""
    outputs: list = []
    if config.save_openpose is not None:
        outputs.append(_OpenPoseSink(config.save_openpose, window=window))
    if config.osc is not None:
        from dancepose.realtime.osc import OscSink

        outputs.append(OscSink(host=config.osc[0], port=config.osc[1], size=lambda: window.size))
    if config.serve is not None:
        outputs.append(_serve_sink(config))
    link = None
    if config.link:
        from dancepose.realtime.link import LinkSync

        link = LinkSync(start_bpm=config.bpm or 120.0)
        outputs.append(link)
    return outputs, link


def _check_outputs(config: LiveConfig) -> None:
    """Every output checked before the run (not after it): path, not under a file, not a device, extension."""
    from dancepose.models.media.encoders import RECORD_SUFFIXES
    from dancepose.models.outputs import check_output_dir, check_output_file

    for path, suffixes, what in ((config.record, RECORD_SUFFIXES, "--record"),
                                 (config.screenshot, (".png",), "--screenshot"),
                                 (config.log_timings, (".csv",), "--log-timings"),
                                 (config.log_poses, (".npz",), "--log-poses")):
        if path is not None:
            check_output_file(path, suffixes=suffixes, what=what)
    if config.record is not None:  # a transparent stage needs a codec with alpha
        from dancepose.models.media.draw import is_transparent
        from dancepose.models.media.formats import video_format

        video_format(config.record, alpha=is_transparent(config.background), what="--record")
        if config.record.suffix.lower() == ".mov":
            print("dancepose-live: warning: ProRes 4444 (.mov) encodes slower than real time at 60 fps on most "
                  "CPUs (about 14 frames/s per core at 1280x720): the recording falls behind the show; .webm "
                  "keeps the alpha and keeps up", file=sys.stderr)
    if config.save_openpose is not None:
        check_output_dir(config.save_openpose)


def pacing_for(config: LiveConfig):
    """The engine's config and the window's presentation lead (s) for a show.

    A microphone's sound reaches the audience at once: there every millisecond between the sound and the
    picture shows, so the model step is not split and each frame is made at its deadline (click →
    kinematic beat through a microphone: 42 ms with both, 20 ms without).  A played song or the demo
    gets the split step and the 8-ms lead (no frame pays for features and dancer at once; a frame held up
    by another program for a scheduler slice is still on time).
    """
    from dancepose.realtime.engine import EngineConfig
    from dancepose.realtime.window import PRESENT_LEAD_S

    mic = config.input == "mic"
    engine = EngineConfig(seed=config.seed, split_steps=not mic, latency_offset_s=config.latency_offset_ms / 1e3)
    return engine, (0.0 if mic else PRESENT_LEAD_S)


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
    ModelError, DeviceError, InputError, ParameterError, OutputError
        Bad model, no audio device / display, undecodable input, bad options, unwritable outputs
        (before any output).
    KeyboardInterrupt
        Re-raised after the recording and logs are finalised.
    """
    import time

    t_start = time.monotonic()
    from dancepose.models.dancer import Dancer
    from dancepose.models.media.draw import floor_units_for, look
    from dancepose.models.perform import one_blas_thread
    from dancepose.realtime.audio_in import open_source
    from dancepose.realtime.engine import Engine, TimingLog
    from dancepose.realtime.performance import Performance
    from dancepose.realtime.priority import ShowPriority
    from dancepose.realtime.recording import RecordingSink
    from dancepose.realtime.window import Window, WindowSink

    _check_outputs(config)
    style, background = look(style=config.style, background=config.background)
    dancer = Dancer.load(config.model_dir).with_groove(config.groove)
    engine_config, lead_s = pacing_for(config)
    engine = Engine(dancer=dancer, config=engine_config)
    window = Window(size=config.size, headless=config.headless, fullscreen=config.fullscreen,
                    present_lead_s=lead_s,
                    background=background, floor_units=floor_units_for(dancer.rest_pose))
    # A HUD over a chroma-key or ControlNet picture spoils it: off by default there (h shows it).
    window.show_hud = not (isinstance(background, tuple) or config.style == "openpose")
    sinks: list = []
    try:
        window.scene_for(style)
        window.ensure_stage()  # a bad background fails here, before any audio starts
        source = open_source(input_spec=config.input, device=config.device, simulate=config.sim_clock,
                             allow_simulated=config.headless)
        outputs, link = _rig_outputs(config, window=window)
        sinks = list(outputs)
        shown = WindowSink(window=window, style=style, recording=lambda: recorder.recording)
        recorder = RecordingSink(window=window, style=style, hud=lambda: shown.last_hud, source=source.label,
                                 path=config.record, encoder=config.encoder, quiet=config.quiet)
        sinks = [shown, recorder, *outputs]
    except BaseException:
        for sink in sinks:
            getattr(sink, "close", lambda: None)()
        window.close()
        raise
    # Rows are kept only when asked for: a live session may run for hours.
    logging = config.log_timings is not None or config.log_poses is not None
    log = TimingLog(keep_poses=config.log_poses is not None) if logging else None
    engine.keep_model_poses = config.log_poses is not None
    perf = Performance(engine=engine, source=source, sinks=sinks, inputs=[sinks[0]],
                       tempo_sources=[link] if link is not None and link.enabled else [],
                       duration_s=config.duration, bpm=config.bpm, log=log, display=window)
    priority = ShowPriority(want=config.priority, quiet=config.quiet)
    interrupted: KeyboardInterrupt | None = None
    show_end: float | None = None
    try:
        with one_blas_thread():  # (OpenBLAS's idle worker would spin beside the show)
            # Before the first frame: the model's first calls, and the recorder's start-up (its imports
            # and encoder, on the other core), would otherwise make the show's first frames late.
            engine.warm_up()
            recorder.wait_ready()
            with perf:
                with priority:  # the show thread only, while it performs (not the recorder's finishing)
                    perf.run(pace=window.tick)
                show_end = time.monotonic()  # before the recorder's finishing (the sinks' close)
    except KeyboardInterrupt as exc:
        interrupted = exc  # re-raised below: keeps SIGTERM's exit code 143
    finally:
        show_end = show_end or time.monotonic()
        try:
            if config.screenshot is not None and perf.frames:
                window.save_png(config.screenshot)
        finally:
            window.close()
            if log is not None and config.log_timings is not None:
                log.write_csv(config.log_timings)
            if log is not None and config.log_poses is not None:
                log.write_poses(config.log_poses, engine=engine)
    seconds = source.samples_read / SAMPLE_RATE
    first_frame_s = (perf.first_frame_wall - t_start) if perf.first_frame_wall is not None else float("nan")
    shown_s = show_end - perf.first_frame_wall if perf.first_frame_wall is not None else 0.0
    result = LiveResult(frames=perf.frames, seconds=seconds, first_frame_s=first_frame_s, xruns=source.xruns,
                        recordings=tuple(recorder.recordings), dropped_frames=recorder.dropped_frames,
                        interrupted=bool(interrupted), show_seconds=shown_s)
    if not config.quiet:  # also when interrupted: the figures of a stopped performance matter too
        limit = perf.limit or 1e18
        print(f"dancepose-live: {perf.frames} frames in {shown_s:.2f} s, {min(seconds, limit / SAMPLE_RATE):.2f} s "
              f"of audio, first frame after {first_frame_s:.2f} s, xruns {source.xruns}, "
              f"dropped video frames {recorder.dropped_frames}, {priority.state.describe()}", file=sys.stderr)
    if interrupted:
        raise interrupted
    return result
