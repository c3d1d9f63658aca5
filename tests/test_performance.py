"""The live Performance step without subprocesses: simulated-clock source, the default dancer, sinks that
collect what they get; the FeatureStream live controls (fix_tempo, tap, read-outs) through it; the
latency offset; the HUD's beat and bar flashes; a real ``t`` key event into the pygame window."""
from __future__ import annotations

import numpy as np
import pytest

from dancepose.models.clock import DISPLAY_FPS, SAMPLE_RATE
from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer
from dancepose.realtime.audio_in import SimulatedPlayback
from dancepose.realtime.engine import Engine, EngineConfig
from dancepose.realtime.performance import Performance

from live_helpers import click_track

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                reason="the default dancer (models/default) is not there yet")


class ListSink:
    """Collects every frame (and every action) it is given."""

    def __init__(self) -> None:
        self.frames = []
        self.actions = []
        self.closed = False

    def send(self, frame) -> None:
        self.frames.append(frame)

    def handle(self, action: str) -> None:
        self.actions.append(action)

    def close(self) -> None:
        self.closed = True


def _perf(y, *, sinks=(), offset_s=0.0, **kw) -> Performance:
    engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0, latency_offset_s=offset_s))
    return Performance(engine=engine, source=SimulatedPlayback(y, loop=False), sinks=sinks, **kw)


def _beat_frames(frames):
    return np.array([f.index for f in frames if f.beat is not None])


def _lag(a, b):
    """Median signed lag (frames) of each event of ``b`` behind its nearest event of ``a``."""
    d = b[:, None] - a[None, :]
    return float(np.median(d[np.arange(len(b)), np.argmin(np.abs(d), axis=1)]))


def test_steps_every_frame_to_the_sinks_and_stops_at_duration():
    y, _ = click_track(seconds=4.0, bpm=120.0)
    sink = ListSink()
    with _perf(y, sinks=[sink], duration_s=2.0) as perf:
        n = perf.run()
    assert sink.closed and perf.finished
    assert n == perf.frames == len(sink.frames) == 2 * DISPLAY_FPS
    assert [f.index for f in sink.frames] == list(range(n))
    assert sum(len(f.samples) for f in sink.frames) == 2 * SAMPLE_RATE  # exactly the duration of audio
    poses = np.stack([f.pose for f in sink.frames])
    assert poses.shape == (n, 15, 2) and np.isfinite(poses).all()
    assert np.ptp(poses[-60:], axis=0).max() > 0.05  # the figure moves to the clicks
    assert sink.frames[0].tempo is not None  # first frame always tells the tempo
    assert sum(f.state.model_steps for f in sink.frames) == pytest.approx(2 * 30, abs=1)


def test_beats_follow_the_clicks_and_count_the_bar():
    y, clicks = click_track(seconds=12.0, bpm=120.0)
    sink = ListSink()
    counts = []

    class CountSink:  # the tracker's own beat counter at every frame
        def send(self, frame):
            counts.append(perf.features.beat_count)

    with _perf(y, sinks=[sink, CountSink()]) as perf:
        perf.run()
    late = [f for f in sink.frames if f.state.display_time > 6.0]
    beats = [f for f in late if f.beat is not None]
    t = np.array([f.state.display_time for f in beats])
    assert len(beats) >= 10
    assert np.median(np.diff(t)) == pytest.approx(0.5, abs=1.5 / DISPLAY_FPS)  # 120 BPM
    # the events are the engine's beats: the tracker's count at that frame (or the one it is about to
    # reach, the event being advanced to the display time by less than a model frame) …
    idx = np.array([f.beat[0] for f in beats])
    at = np.array([counts[f.index] for f in beats])
    assert np.all((idx == at) | (idx == at + 1))
    # … and they follow the clicks (the tracker's accuracy is the beat tracker's tests' business)
    err = np.min(np.abs(t[:, None] - clicks[None, :]), axis=1)
    assert np.median(err) < 0.1
    assert np.all(np.diff(idx) == 1)
    # beat in bar counts 1 … beats_per_bar round (unaccented clicks: the meter is the tracker's guess)
    in_bar = np.array([f.beat[1] for f in beats])
    bpb = np.array([f.state.beats_per_bar for f in beats])
    assert np.all((in_bar >= 1) & (in_bar <= bpb))
    same = bpb[1:] == bpb[:-1]
    steps = ((in_bar[1:] - in_bar[:-1]) % bpb[1:] == 1)[same]
    assert steps.mean() >= 0.7  # mostly counting on (the tracker may re-decide where the bar starts)
    assert 1 in in_bar
    # read-outs
    f = perf.features
    assert f.beats_per_bar in (3, 4) and 0 <= f.bar_phase < 1 and 0 <= f.beat_phase < 1
    assert f.tempo_bpm == pytest.approx(120, rel=0.03) and f.beat_confidence > 0.2
    # every model frame analysed (the last may wait for a display frame after the audio: split steps)
    assert f.beat_count >= 20 and f.frames_done in (12 * 30, 12 * 30 + 1)
    assert max(fr.state.level_db for fr in sink.frames) > -30 and f.level_db < -60  # clicks, then silence


def test_bpm_fixes_the_tempo_and_releases():
    """--bpm 96 over clicks at 120: the tempo read-out and the beat clock run at 96; released, the tempo
    goes back to the clicks'."""
    y, _ = click_track(seconds=12.0, bpm=120.0)
    sink = ListSink()
    with _perf(y, sinks=[sink], bpm=96.0) as perf:
        perf.run(max_frames=4 * DISPLAY_FPS)
        assert perf.features.tempo_bpm == pytest.approx(96.0)
        assert all(fr.state.tempo_bpm == pytest.approx(96.0) for fr in sink.frames)
        # the beat position advances at 96 BPM: 1.6 beats a second (the phase may be nudged toward the
        # clicks, never the tempo)
        pos = np.array([fr.state.beat_position for fr in sink.frames])
        rate = (pos[-1] - pos[DISPLAY_FPS]) / ((len(pos) - 1 - DISPLAY_FPS) / DISPLAY_FPS)
        assert rate == pytest.approx(1.6, rel=0.15)
        perf.fix_tempo(None)
        perf.run()
    assert perf.features.tempo_bpm == pytest.approx(120.0, rel=0.05)  # follows the clicks again


def test_tap_sets_tempo_and_beat():
    y = np.zeros(6 * SAMPLE_RATE, np.float32)  # silence: only the taps say where the beat is
    sink = ListSink()
    with _perf(y, sinks=[sink]) as perf:
        perf.run(max_frames=30)
        for _ in range(5):  # taps 0.6 s apart: 100 BPM
            perf.handle("tap")
            perf.run(max_frames=36)
        assert perf.features.tempo_bpm == pytest.approx(100.0, abs=1.0)
        # the beat falls where the taps fell: the phase 0.6 s (one beat) after the last tap is ~0
        phase = perf.features.beat_phase
        assert min(phase, 1 - phase) < 0.1
    assert "tap" in sink.actions


def test_tap_from_a_real_key_event_in_the_window():
    """A ``t`` KEYDOWN posted into pygame's queue reaches the tracker through the window's input."""
    from dancepose.models.media.draw import FigureStyle
    from dancepose.realtime.window import Window, WindowSink

    window = Window(size=(320, 240), headless=True)
    pg = window.pg
    try:
        y = np.zeros(5 * SAMPLE_RATE, np.float32)
        ws = WindowSink(window=window, style=FigureStyle())
        with _perf(y, sinks=[ws], inputs=[ws]) as perf:
            perf.run(max_frames=20)
            for _ in range(4):  # 0.5 s apart: 120 BPM
                pg.event.post(pg.event.Event(pg.KEYDOWN, key=pg.K_t, mod=0, unicode="t", scancode=0))
                perf.run(max_frames=30)
            assert perf.features.tempo_bpm == pytest.approx(120.0, abs=1.0)
    finally:
        window.close()


def test_quit_and_pause_actions():
    y, _ = click_track(seconds=3.0)
    sink = ListSink()
    with _perf(y, sinks=[sink]) as perf:
        perf.run(max_frames=60)
        perf.handle("pause")
        perf.run(max_frames=30)
        held = [f.pose for f in sink.frames[60:]]
        assert all(np.array_equal(p, held[0]) for p in held) and sink.frames[-1].paused
        assert not np.array_equal(sink.frames[-1].state.pose, held[0])  # the engine kept dancing
        perf.handle("quit")
        assert perf.step() is None and perf.finished
    assert sink.actions == ["pause", "quit"]


def test_latency_offset_holds_picture_and_beats_back():
    """+200 ms: the same poses and beats, 12 display frames later; the groove lead is unchanged."""
    y, _ = click_track(seconds=8.0, bpm=120.0)
    runs = {}
    for off in (0.0, 0.2):
        sink = ListSink()
        with _perf(y, sinks=[sink], offset_s=off) as perf:
            perf.run()
        runs[off] = sink.frames
    a, b = runs[0.0], runs[0.2]
    shift = int(round(0.2 * DISPLAY_FPS))
    pa = np.stack([f.pose for f in a[120:-shift]])
    pb = np.stack([f.pose for f in b[120 + shift:]])
    np.testing.assert_allclose(pb, pa, atol=1e-4)
    ba, bb = _beat_frames(a[60:]), _beat_frames(b[60 + shift:])
    assert len(bb) >= 8 and _lag(ba, bb) == pytest.approx(shift, abs=1)
    with pytest.raises(ValueError):
        EngineConfig(latency_offset_s=5.0)


def test_negative_latency_offset_moves_the_figure_earlier():
    """-100 ms: beats are reported earlier; the dancer's groove leads by the part the pose could not gain."""
    y, _ = click_track(seconds=8.0, bpm=120.0)
    beats, leads = {}, {}
    for off in (0.0, -0.1):
        sink = ListSink()
        with _perf(y, sinks=[sink], offset_s=off) as perf:
            perf.run()
            leads[off] = perf.engine.dancer.lead_s
        beats[off] = _beat_frames(sink.frames[60:])
    assert len(beats[-0.1]) >= 8
    assert _lag(beats[0.0], beats[-0.1]) == pytest.approx(-0.1 * DISPLAY_FPS, abs=1.5)
    assert leads[-0.1] == pytest.approx(leads[0.0] + 0.1, abs=0.02)


def test_hud_flashes_beat_and_bar():
    """The HUD's beat flash lights on every beat, the bar flash only on the downbeat (pixels)."""
    from dancepose.models.media.draw import FigureStyle
    from dancepose.realtime.window import Window, WindowSink

    window = Window(size=(400, 300), headless=True, background=None)
    try:
        y, _ = click_track(seconds=8.0, bpm=120.0)
        ws = WindowSink(window=window, style=FigureStyle())
        seen = {"down": None, "other": None, "off": None}
        with _perf(y, sinks=[ws]) as perf:
            for f in iter(perf.step, None):
                if f.state.display_time < 4.0:
                    continue
                px = window.surface.get_at((10 + 12, 10 + 42))[:3], window.surface.get_at((10 + 36, 10 + 42))[:3]
                if f.beat is not None and f.beat[1] == 1 and seen["down"] is None:
                    seen["down"] = px
                elif f.beat is not None and f.beat[1] != 1 and seen["other"] is None:
                    seen["other"] = px
                elif f.beat is None and f.state.beat_phase > 0.4 and seen["off"] is None:
                    seen["off"] = px
                if all(v is not None for v in seen.values()) or perf.finished:
                    break
        (beat_d, bar_d), (beat_o, bar_o), (beat_x, bar_x) = seen["down"], seen["other"], seen["off"]
        assert beat_d[0] > 200 and beat_o[0] > 200 and beat_x[0] < 100  # beat flash: every beat
        assert bar_d[2] > 200 and bar_o[2] < 100 and bar_x[2] < 100  # bar flash: the downbeat only
    finally:
        window.close()


@pytest.mark.parametrize("music", ["clicks", "irregular"])
def test_live_display_poses_do_not_twitch(music):
    """The poses the live window shows (model poses at 30 fps interpolated to 60 fps on the display
    clock): power above 4 Hz in real dance's range and forward steps equal to central steps, on a click
    track and on clicks without a tempo; the previous release's stages twitch there (the control)."""
    from dancepose.offline import metrics

    from test_dancer import _irregular_clicks, _previous

    y = click_track(seconds=16.0, bpm=120.0)[0] if music == "clicks" else _irregular_clicks(16.0)
    dancer = Dancer.load(None)
    shown = {}
    for label, d in (("now", dancer), ("previous", _previous(dancer))):
        sink = ListSink()
        engine = Engine(dancer=d, config=EngineConfig(seed=0))
        with Performance(engine=engine, source=SimulatedPlayback(y, loop=False), sinks=[sink]) as perf:
            perf.run()
        shown[label] = np.stack([f.pose for f in sink.frames])[3 * DISPLAY_FPS:]
    jitter = {k: metrics.high_frequency_share(poses=p, fps=DISPLAY_FPS) for k, p in shown.items()}
    steps = {k: metrics.step_ratio(poses=p) for k, p in shown.items()}
    assert jitter["now"] < 4e-3 and steps["now"] < 1.02, (jitter, steps)
    if music == "irregular":
        assert jitter["previous"] > 5 * jitter["now"] and steps["previous"] > 1.1, (jitter, steps)
