"""OSC out: a real python-osc server on 127.0.0.1 receives what a paced live performance sends — about one
pose per display frame, the drawn pose's values, the engine's beats — and bad targets never stop the show."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from dancepose.models.clock import DISPLAY_FPS
from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer
from dancepose.models.media.draw import FigureStyle, pose_to_pixels
from dancepose.realtime.audio_in import SimulatedPlayback
from dancepose.realtime.engine import Engine, EngineConfig
from dancepose.realtime.osc import OscSink, parse_osc_target
from dancepose.realtime.performance import Performance

from live_helpers import click_track, live_cmd, live_env

needs_default = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                   reason="the default dancer (models/default) is not there yet")
SIZE = (320, 240)


class Receiver:
    """A python-osc UDP server in a thread that keeps (arrival time, address, args)."""

    def __init__(self) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        self.messages: list[tuple[float, str, tuple]] = []
        d = Dispatcher()
        d.set_default_handler(lambda addr, *args: self.messages.append((time.monotonic(), addr, args)))
        # one handler thread: datagrams are kept in arrival order
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), d)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, address: str) -> list[tuple[float, tuple]]:
        return [(t, a) for t, addr, a in self.messages if addr == address]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ListSink:
    def __init__(self) -> None:
        self.frames = []

    def send(self, frame) -> None:
        self.frames.append(frame)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_parse_osc_target():
    assert parse_osc_target("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_osc_target("mixer.local:57120") == ("mixer.local", 57120)
    assert parse_osc_target("[::1]:9000") == ("::1", 9000)
    for bad in ("9000", "host:", ":9000", "host:0", "host:70000", "host:port",
                "127.0.0.1:9000:1", "::1:9000", "[1.2.3.4]:9000", "[::1]x:9000", "a:b:9000"):
        with pytest.raises(ValueError):  # "127.0.0.1:9000:1" was taken as the host name "127.0.0.1:9000"
            parse_osc_target(bad)


@needs_default
def test_osc_rate_values_and_beats_on_a_real_server(receiver):
    """5 s paced at the window's 60 fps: one /dancepose/pose per frame, equal to the drawn pose; beats and
    tempo equal the performance's events."""
    from dancepose.realtime.window import Window, WindowSink

    y, _ = click_track(seconds=6.0, bpm=120.0)
    window = Window(size=SIZE, headless=True)
    try:
        ws = WindowSink(window=window, style=FigureStyle())
        osc = OscSink(host="127.0.0.1", port=receiver.port, size=lambda: window.size)
        frames = ListSink()
        engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0))
        perf = Performance(engine=engine, source=SimulatedPlayback(y), sinks=[ws, osc, frames], inputs=[ws],
                           duration_s=5.0)
        with perf:
            t0 = time.monotonic()
            perf.run(pace=window.tick)
            wall = time.monotonic() - t0
        assert not osc.enabled  # closed with the performance
    finally:
        window.close()
    deadline = time.monotonic() + 2.0  # wait for every datagram sent (the last frame's beat comes after its pose)
    while len(receiver.messages) < osc.sent and time.monotonic() < deadline:
        time.sleep(0.02)
    poses = receiver.of("/dancepose/pose")
    n = len(frames.frames)
    assert n == 5 * DISPLAY_FPS and len(poses) == n  # one datagram per frame, none lost on loopback
    times = np.array([t for t, _ in poses])
    rate = (n - 1) / (times[-1] - times[0])
    shown = n / wall  # the display rate achieved (60 fps, less on a loaded machine)
    assert rate == pytest.approx(shown, rel=0.1) and rate < 1.05 * DISPLAY_FPS, (rate, shown)
    assert rate > 0.5 * DISPLAY_FPS, (rate, shown)  # the paced loop did run at about the display rate
    got = np.array([a for _, a in poses], dtype=np.float64)
    assert got.shape == (n, 30) and np.all((got >= 0) & (got <= 1))
    drawn = np.stack([pose_to_pixels(f.pose, width=SIZE[0], height=SIZE[1]) for f in frames.frames])
    np.testing.assert_allclose(got.reshape(n, 15, 2) * np.array(SIZE), drawn, atol=1e-3)
    beats = [tuple(a) for _, a in receiver.of("/dancepose/beat")]
    assert beats == [f.beat for f in frames.frames if f.beat is not None] and len(beats) >= 3
    tempo = [a for _, a in receiver.of("/dancepose/tempo")]
    expected = [f.tempo for f in frames.frames if f.tempo is not None]
    np.testing.assert_allclose(np.array(tempo), np.array(expected), rtol=1e-6)


def _show_goes_on(sink_kw, capsys) -> tuple[OscSink, str]:
    y, _ = click_track(seconds=1.0)
    engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0))
    osc = OscSink(size=SIZE, **sink_kw)
    frames = ListSink()
    with Performance(engine=engine, source=SimulatedPlayback(y), sinks=[osc, frames]) as perf:
        perf.run()
    assert len(frames.frames) == DISPLAY_FPS  # every frame was shown
    return osc, capsys.readouterr().err


@needs_default
def test_unresolvable_host_one_line_and_the_show_goes_on(capsys):
    osc, err = _show_goes_on({"host": "no-such-host.invalid", "port": 9000}, capsys)
    assert not osc.enabled and osc.sent == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "going on without OSC" in lines[0] and "Traceback" not in err


@needs_default
def test_send_error_one_line_and_the_show_goes_on(capsys):
    """The broadcast address without SO_BROADCAST: the kernel refuses the first send (EACCES)."""
    osc, err = _show_goes_on({"host": "255.255.255.255", "port": 9000}, capsys)
    assert not osc.enabled and osc.sent == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "sending OSC" in lines[0] and "going on without OSC" in lines[0]


@needs_default
def test_port_in_use_by_a_deaf_program(capsys):
    """A port held by a program that never reads: sending never blocks, nothing is printed."""
    deaf = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deaf.bind(("127.0.0.1", 0))
    try:
        osc, err = _show_goes_on({"host": "127.0.0.1", "port": deaf.getsockname()[1]}, capsys)
    finally:
        deaf.close()
    assert osc.sent + osc.skipped >= DISPLAY_FPS and err == ""


@pytest.mark.display
@pytest.mark.parametrize("bad", ["localhost", "localhost:99999", "localhost:osc", "127.0.0.1:9000:1"])
def test_malformed_osc_exits_2_at_parse_time(bad):
    proc = subprocess.run(live_cmd("--osc", bad, "--headless"), env=live_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "--osc must look like HOST:PORT" in proc.stderr and "Traceback" not in proc.stderr
