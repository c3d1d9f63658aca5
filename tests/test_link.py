"""Ableton Link: a second Link peer inside the test process sets 133 BPM and the figure dances at 133; a
session at 230 or 40 BPM (outside the dancer's range) is danced at 115 or 80 with a HUD note, never fatal;
alone, dancepose publishes the tempo it tracks; without the Link library the show goes on."""
from __future__ import annotations

import contextlib
import sys
import time

import numpy as np
import pytest

from dancepose.models.clock import DISPLAY_FPS
from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer
from dancepose.models.features import COL_TEMPO
from dancepose.realtime.audio_in import SimulatedPlayback
from dancepose.realtime.engine import Engine, EngineConfig
from dancepose.realtime.performance import Performance

from live_helpers import click_track

pytestmark = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                reason="the default dancer (models/default) is not there yet")
link = pytest.importorskip("link", reason="LinkPython-extern is a dependency of dancepose")


class ListSink:
    def __init__(self) -> None:
        self.frames = []

    def send(self, frame) -> None:
        self.frames.append(frame)


class FeatureRows:
    """Keeps the feature rows the dancer steps on (the dancer's view of the tempo)."""

    def __init__(self, engine) -> None:
        self.rows = []
        step = engine.dancer.step

        def spy(row):
            self.rows.append(np.array(row))
            return step(row)

        engine.dancer.step = spy


def _paced(perf, seconds: float) -> None:
    """Step at (up to) the display rate for ``seconds`` of wall time."""
    t0, k0 = time.monotonic(), perf.frames
    while time.monotonic() - t0 < seconds and not perf.finished:
        perf.step()
        k = perf.frames - k0  # frames of this call (a later call must not sleep for the earlier ones)
        time.sleep(max(0.0, t0 + k / DISPLAY_FPS - time.monotonic()))


def _beat_period(frames, *, seconds: float = 4.0) -> float:
    """Seconds per beat of the beat events (HUD flash, OSC /dancepose/beat) over the last ``seconds`` of music
    heard: the Theil–Sen slope of event time against beat index (the median of every pair's slope).  Frames
    are chosen by the music's time, not counted, and the median keeps its value when, on a busy machine, the
    frame loop stalls and one event comes late (or is skipped: the index counts it), or when the music's
    own beat nudges alternate beats (a 120-BPM click under an 80-BPM session)."""
    from scipy.stats import theilslopes

    t_end = frames[-1].state.display_time
    ev = np.array([(f.beat[0], f.state.display_time) for f in frames
                   if f.beat is not None and f.state.display_time >= t_end - seconds])
    assert len(ev) >= 4, (ev, len(frames))
    return float(theilslopes(ev[:, 1], ev[:, 0])[0])


def _last_second(frames) -> list:
    """The frames of the last second of music heard (on a busy machine 60 frames can span much more)."""
    t_end = frames[-1].state.display_time
    return [f for f in frames if f.state.display_time >= t_end - 1.0]


def _wait(cond, timeout: float = 10.0) -> bool:
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    return cond()


@contextlib.contextmanager
def _show_with_a_peer():
    """A performance over 30 s of 120-BPM clicks on the wall clock (like a sound card's: Link's beats are on
    the wall clock too), a LinkSync, and a second Link peer in this process; yields
    ``(perf, sync, peer, frames, rows)`` once the peers have found each other."""
    from dancepose.realtime.link import LinkSync

    y, _ = click_track(seconds=30.0, bpm=120.0)  # the music says 120; the session will say otherwise
    engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0))
    rows = FeatureRows(engine)
    sync = LinkSync()
    assert sync.enabled
    frames = ListSink()
    peer = link.Link(100.0)
    peer.enabled = True
    try:
        perf = Performance(engine=engine, source=SimulatedPlayback(y, wall_clock=True), sinks=[frames, sync],
                           tempo_sources=[sync])
        with perf:
            _paced(perf, 1.0)
            assert _wait(lambda: peer.numPeers() > 0), "the two Link peers did not find each other"
            yield perf, sync, peer, frames, rows
    finally:
        peer.enabled = False


def _set_session_tempo(peer, bpm: float) -> None:
    state = peer.captureAppSessionState()
    state.setTempo(bpm, peer.clock().micros())
    peer.commitAppSessionState(state)


def test_second_peer_at_133_bpm_sets_the_figures_tempo():
    with _show_with_a_peer() as (perf, sync, peer, frames, rows):
        _set_session_tempo(peer, 133.0)
        _paced(perf, 4.0)
        assert sync.following and sync.peers >= 1
        assert perf.features.tempo_bpm == pytest.approx(133.0, abs=0.01)
        last = _last_second(frames.frames)
        assert all(f.state.tempo_bpm == pytest.approx(133.0, abs=0.01) for f in last)
        # the dancer steps on 133 BPM: its tempo column is log2(133 / 120)
        assert rows.rows[-1][COL_TEMPO] == pytest.approx(np.log2(133.0 / 120.0), abs=1e-3)
        # the beats come at the session's rate
        assert _beat_period(frames.frames) == pytest.approx(60.0 / 133.0, abs=1.5 / DISPLAY_FPS)
        # the peer leaves: the tempo follows the music again
        peer.enabled = False
        assert _wait(lambda: sync._link.numPeers() == 0)
        t0 = time.monotonic()
        while sync.following and time.monotonic() - t0 < 5.0:  # noticed within PEER_POLL_FRAMES frames
            _paced(perf, 0.25)
        assert not sync.following
        # released: the tempo goes back to the music's 120
        t0 = time.monotonic()
        while perf.features.tempo_bpm > 126.0 and time.monotonic() - t0 < 6.0:
            _paced(perf, 0.25)
        assert perf.features.tempo_bpm == pytest.approx(120.0, rel=0.05)


@pytest.mark.parametrize("session, danced", [(230.0, 115.0), (40.0, 80.0)])
def test_session_tempo_outside_the_range_is_folded_not_fatal(session, danced):
    """Issue 17: a peer at 230 (drum and bass) or 40 BPM ended the show with exit 2 after 1.5 s.  Now the
    figure dances at the musical multiple inside the range, its beats on the session's (every other session
    beat at 230), and the HUD says where the tempo comes from."""
    from dancepose.realtime.window import HudInfo

    with _show_with_a_peer() as (perf, sync, peer, frames, rows):
        _set_session_tempo(peer, session)
        _paced(perf, 5.0)
        assert not perf.finished and sync.following
        assert sync.session_tempo == pytest.approx(session, abs=0.01)
        assert perf.features.tempo_bpm == pytest.approx(danced, abs=0.01)
        last = _last_second(frames.frames)
        assert all(f.state.tempo_bpm == pytest.approx(danced, abs=0.01) for f in last)
        assert rows.rows[-1][COL_TEMPO] == pytest.approx(np.log2(danced / 120.0), abs=1e-3)
        assert _beat_period(frames.frames) == pytest.approx(60.0 / danced, abs=1.5 / DISPLAY_FPS)
        # the HUD: held, and where the tempo comes from
        hud = HudInfo.of(last[-1], recording=False)
        word = "half time" if danced < session else "double time"
        assert hud.tempo_fixed and hud.tempo_note == f"Link {session:.0f} BPM, {word}"
        # back inside the range: followed as it is, the note goes
        _set_session_tempo(peer, 133.0)
        t0 = time.monotonic()
        while abs(perf.features.tempo_bpm - 133.0) > 0.01 and time.monotonic() - t0 < 5.0:
            _paced(perf, 0.25)
        assert perf.features.tempo_bpm == pytest.approx(133.0, abs=0.01)
        assert frames.frames[-1].tempo_note == ""


def test_alone_it_publishes_the_tracked_tempo():
    from dancepose.realtime.link import LinkSync

    y, _ = click_track(seconds=12.0, bpm=126.0)
    engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0))
    sync = LinkSync(start_bpm=90.0)
    with Performance(engine=engine, source=SimulatedPlayback(y), sinks=[sync], tempo_sources=[sync]) as perf:
        perf.run()
        tracked = perf.features.tempo_bpm
        session = sync._link.captureAppSessionState().tempo()
        if sync.peers:
            pytest.skip("another Link peer is on this network: dancepose is not alone")
        assert not sync.following
    assert tracked == pytest.approx(126.0, rel=0.03)
    assert session == pytest.approx(tracked, abs=0.6)  # published (within the 0.5 BPM hysteresis)


def test_link_unavailable_one_line_and_the_show_goes_on(monkeypatch, capsys):
    from dancepose.realtime.link import LinkSync

    monkeypatch.setitem(sys.modules, "link", None)  # the library cannot be imported
    sync = LinkSync()
    assert not sync.enabled
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Ableton Link unavailable" in err[0] and "going on without it" in err[0]
    y, _ = click_track(seconds=1.0)
    frames = ListSink()
    engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0))
    with Performance(engine=engine, source=SimulatedPlayback(y), sinks=[frames, sync], tempo_sources=[sync]) as p:
        p.run()
    assert len(frames.frames) == DISPLAY_FPS
