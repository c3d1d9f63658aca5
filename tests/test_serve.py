"""The browser source (``dancepose-live --serve``): the server on its own (real sockets, real WebSocket
clients, real poses from the dancer), and the page in a real Chromium (marker ``browser``)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from dancepose.models.clock import DISPLAY_FPS
from dancepose.models.dancer import DEFAULT_MODEL_DIR, Dancer
from dancepose.models.errors import ParameterError
from dancepose.realtime.serve import (WS_PATH, PoseServer, ServeConfig, ServeProcess, ServeSink, encode_pose,
                                      figure_data, pack_item, parse_serve_target, unpack_item)

from browser_helpers import chromium, chromium_missing, page_state
from live_helpers import live_cmd, live_env, model_args

needs_default = pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "dancer.npz").is_file(),
                                   reason="the default dancer (models/default) is not there yet")
needs_chromium = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")
LOCAL = ServeConfig(host="127.0.0.1", port=0)


def _real_poses(seconds: float = 8.0) -> np.ndarray:
    """The default dancer's poses to the demo loop (30 per s)."""
    from dancepose.models.perform import perform
    from dancepose.realtime.demo_loop import demo_loop

    return perform(demo_loop()[: int(seconds * 24000)], dancer=Dancer.load(None), seed=0).poses


class Feeder:
    """Publishes real poses at the display rate from a thread (the show's side); times every publish."""

    def __init__(self, server: PoseServer, poses: np.ndarray, *, hold: int | None = None) -> None:
        self.server, self.poses, self.hold = server, poses, hold
        self.published = 0
        self.publish_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        hud = {"bpm": 120.0, "conf": 0.8, "phase": 0.0, "bpb": 4, "bib": 0, "beat": None, "paused": False,
               "fps": 60.0}
        t_next = time.monotonic()
        while not self._stop.is_set():
            k = self.hold if self.hold is not None else (self.published // 2) % len(self.poses)
            t0 = time.perf_counter()
            self.server.publish((time.time(), self.published, self.poses[k], hud))
            self.publish_ms.append((time.perf_counter() - t0) * 1e3)
            self.published += 1
            t_next += 1.0 / DISPLAY_FPS
            self._stop.wait(max(0.0, t_next - time.monotonic()))

    def __enter__(self) -> "Feeder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _http(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return out


def _ws_socket(port: int, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def _viewer(port: int, rcvbuf: int | None = None, *, push: bool = False):
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{port}{WS_PATH}{'?push=1' if push else ''}"
    ws = connect(url, sock=_ws_socket(port, rcvbuf), open_timeout=30).__enter__()
    hello = json.loads(ws.recv(timeout=30))  # a server process may take seconds to start on a loaded machine
    assert hello["type"] == "hello"
    return ws


class Reader(threading.Thread):
    """A viewer that reads every message (optionally sleeping between reads, then acking as the page does);
    keeps (arrival, message)."""

    def __init__(self, port: int, *, pause: float = 0.0, rcvbuf: int | None = None, ack: bool = True,
                 stop_after: int | None = None) -> None:
        super().__init__(daemon=True)
        self.ws = _viewer(port, rcvbuf)
        self.pause, self.ack, self.stop_after = pause, ack, stop_after
        self.got: list[tuple[float, dict]] = []
        self.closed = None
        self.start()

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                m = json.loads(self.ws.recv())
                self.got.append((time.time(), m))
                if self.stop_after is not None and len(self.got) >= self.stop_after:
                    return  # stalls: never reads nor acks again
                if self.pause:
                    time.sleep(self.pause)
                if self.ack:
                    self.ws.send("ack")
        except ConnectionClosed as exc:
            self.closed = exc


# ---------------------------------------------------------------------------------------------- options
def test_parse_serve_target():
    assert parse_serve_target("8080") == ("127.0.0.1", 8080)
    assert parse_serve_target("0") == ("127.0.0.1", 0)
    assert parse_serve_target("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_serve_target("localhost:9000") == ("localhost", 9000)
    assert parse_serve_target("[::1]:8080") == ("::1", 8080)
    for bad in ("", "http", ":8080", "host:", "host:70000", "8080x", "-1"):
        with pytest.raises(ParameterError):
            parse_serve_target(bad)


def test_bad_serve_option_exits_2():
    r = subprocess.run(live_cmd("--serve", "localhost:http", "--headless"), env=live_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--serve must look like PORT or HOST:PORT" in r.stderr


def test_port_in_use_and_one_warning_beyond_loopback():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        with pytest.raises(ParameterError, match="cannot listen on 127.0.0.1"):
            PoseServer(config=ServeConfig(port=busy.getsockname()[1]))
    warnings: list[str] = []
    with PoseServer(config=LOCAL, warn=warnings.append):
        pass
    assert warnings == []
    with PoseServer(config=ServeConfig(host="0.0.0.0", port=0), warn=warnings.append) as server:
        assert server.port > 0
    assert len(warnings) == 1 and "beyond this machine" in warnings[0]


def test_cli_beyond_loopback_warns_once_and_a_busy_port_exits_2():
    r = subprocess.run(live_cmd(*model_args(), "--input", "demo", "--headless", "--sim-clock", "--duration", "1",
                                "--serve", "0.0.0.0:0", "-q"), env=live_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "beyond this machine" in warnings[0], r.stderr
    with socket.create_server(("127.0.0.1", 0)) as busy:
        r = subprocess.run(live_cmd("--headless", "--sim-clock", "--duration", "1", "--serve",
                                    f"127.0.0.1:{busy.getsockname()[1]}"), env=live_env(), capture_output=True,
                           text=True, timeout=120)
    assert r.returncode == 2 and "cannot listen on 127.0.0.1" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_figure_data_is_the_windows_look():
    from dancepose.models.media.draw import OPENPOSE_COLOURS, FigureStyle
    from dancepose.models.skeleton import LIMBS

    f = figure_data()
    assert [(a, b) for a, b, _ in f["limbs"]] == [(int(a), int(b)) for a, b in LIMBS]
    assert {side for *_, side in f["limbs"]} == {"body", "left", "right"}
    assert f["stick"]["left"] == list(FigureStyle().left_colour)
    assert f["openpose"]["colours"] == [list(c) for c in OPENPOSE_COLOURS]
    json.dumps(f)  # it travels as JSON


# ---------------------------------------------------------------------------------------------- server
@needs_default
def test_server_process_gets_each_frame_through_its_pipe_and_ends_with_the_show():
    poses = _real_poses(1.0)
    hud = {"bpm": 121.5, "conf": 0.75, "phase": 0.25, "bpb": 3, "bib": 2, "beat": [7, 3], "paused": False,
           "fps": 59.9}
    item = (time.time(), 42, poses[10], hud)
    assert encode_pose(unpack_item(pack_item(item))) == encode_pose(item)  # the record loses nothing shown
    with ServeProcess(config=LOCAL) as server, Feeder(server, poses):
        viewer = Reader(server.port)
        time.sleep(2.0)
        got = [m for _, m in viewer.got]
        assert len(got) > 40 and got[-1]["i"] > got[0]["i"]
        assert server.stats.viewers == 1 and server.stats.messages_sent >= len(got) - 20
        proc = server._proc
    assert proc.poll() is not None  # closing the pipe ended it
    np.testing.assert_allclose(np.array(got[-1]["pose"], float).reshape(15, 2),
                               poses[(got[-1]["i"] // 2) % len(poses)], atol=1e-4)


def test_server_process_ends_when_the_show_is_killed(tmp_path):
    """SIGKILL to dancepose-live: its server process sees the pipe close and ends too (no orphan)."""
    import signal

    proc = subprocess.Popen(live_cmd("--input", "demo", "--headless", "--sim-clock", "--duration", "60", "--serve",
                                     "127.0.0.1:0", "-q"), env=live_env(), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        url, _ = _url_from(proc)
        port = url.rsplit(":", 1)[1].strip("/")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the child has the socket once it answers
            try:
                if _http(int(port), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200"):
                    break
            except OSError:
                time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert children, "no server process"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        alive = children
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [c for c in children if subprocess.run(["kill", "-0", c], capture_output=True).returncode == 0]
        assert not alive, alive
        with pytest.raises(OSError):
            _http(int(port), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_http_serves_only_its_own_assets():
    from dancepose.realtime.serve import _WEB

    with PoseServer(config=LOCAL) as server:
        port = server.port
        page = _http(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert page.startswith(b"HTTP/1.1 200") and b"text/html" in page
        assert page.endswith((_WEB / "index.html").read_bytes())
        js = _http(port, b"GET /dancepose.js?style=stick HTTP/1.1\r\nHost: x\r\n\r\n")
        assert js.startswith(b"HTTP/1.1 200") and js.endswith((_WEB / "dancepose.js").read_bytes())
        for path in ("/../serve.py", "/%2e%2e/serve.py", "/web/index.html", "/web/", "/index.html",
                     "//etc/passwd", "/dancepose.js/../../serve.py", "/../../../../etc/passwd", "/realtime/"):
            r = _http(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert r.startswith(b"HTTP/1.1 404"), (path, r[:40])
            assert b"import" not in r and b"root:" not in r
        for raw in (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", b"\x00\xff garbage\r\n\r\n",
                    b"GET / HTTP/1.0\r\n\r\n" + b"A" * 100_000):
            assert not _http(port, raw).startswith(b"HTTP/1.1 200")
        # still serving after all that
        assert _http(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")
        assert server.stats.not_found >= 9


@needs_default
def test_garbage_on_the_socket_closes_that_connection_only():
    from websockets.exceptions import ConnectionClosed

    with PoseServer(config=LOCAL) as server, Feeder(server, _real_poses(2.0)) as feeder:
        good = Reader(server.port)
        talker = _viewer(server.port)
        talker.send("hello")  # the page never sends: closed with 1003
        with pytest.raises(ConnectionClosed) as info:
            while True:
                talker.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1003
        raw = _ws_socket(server.port)  # a hand-made handshake, then an unmasked (invalid) client frame
        raw.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        time.sleep(0.3)
        raw.sendall(b"\x81\x05hello" + bytes(range(256)))
        raw.settimeout(5)
        data = b""
        try:
            while chunk := raw.recv(65536):
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        raw.close()
        assert data.startswith(b"HTTP/1.1 101") and b"\x88" in data  # upgraded, then closed by the server
        assert _http(server.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n") == b""  # TLS/junk: closed, no reply
        n0, t0 = len(good.got), time.monotonic()
        time.sleep(1.0)
        rate = (len(good.got) - n0) / (time.monotonic() - t0)
        assert good.closed is None and rate > 0.8 * DISPLAY_FPS, rate  # the good viewer never noticed
        assert server.stats.closed_for_garbage == 1 and server.stats.viewers == 1
        good.ws.close()
    assert feeder.published > 0


@needs_default
def test_slow_and_stalled_viewers_get_the_newest_pose_and_never_slow_the_show():
    with ServeProcess(config=LOCAL) as server, Feeder(server, _real_poses(6.0)) as feeder:  # as live runs it
        good = Reader(server.port)
        slow = Reader(server.port, pause=0.25, rcvbuf=4096)
        stalled = Reader(server.port, rcvbuf=4096, stop_after=3)  # acks twice, then stops reading
        mute = _viewer(server.port, rcvbuf=4096, push=True)  # never acks nor reads: only its buffers fill
        time.sleep(4.0)
        slow_during = list(slow.got)
        slow.pause = 0.0  # reads at full speed again
        time.sleep(1.5)
        published = feeder.published
        skipped = server.stats.skipped
        assert not os.get_blocking(server._write_fd)  # the show's write can never wait for the server
        mute.close_socket()
        stalled.ws.close_socket()
    index = np.array([m["i"] for _, m in slow_during])
    ages = np.array([t - m["t"] for t, m in slow_during])
    assert len(index) < 25 and np.median(np.diff(index)) >= 10, index  # it skipped to the newest pose
    assert np.max(ages[2:]) < 0.7, ages  # never more than its two poses in flight behind
    assert max(t - m["t"] for t, m in slow.got[-20:]) < 0.1  # and live again once it reads fast
    got = [m["i"] for _, m in good.got]
    assert len(got) > 0.85 * (published - got[0])  # the fast viewer got (almost) every pose
    publish_ms = np.array(feeder.publish_ms)
    # one small non-blocking write into a pipe: microseconds (the tail is the scheduler's on a loaded machine)
    assert np.percentile(publish_ms, 50) < 0.5 and np.percentile(publish_ms, 90) < 2.0, \
        np.percentile(publish_ms, [50, 90, 99, 100])
    assert skipped > 0


# --------------------------------------------------------------------------------------------- browser
def _url_from(proc: subprocess.Popen, timeout: float = 60.0) -> tuple[str, list[str]]:
    """The browser-source URL dancepose-live prints on stderr (read in a thread, lines kept)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if "browser source at" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        proc.kill()
        raise AssertionError(f"no URL printed: {''.join(lines)}")
    url = next(line for line in lines if "browser source at" in line).split(" at ")[1].split()[0]
    return url, lines


@pytest.mark.browser
@needs_chromium
def test_page_draws_the_shown_poses_at_the_browsers_frame_rate(tmp_path):
    """dancepose-live --headless --serve: the page connects, receives every shown pose (equal to the logged
    ones) for several seconds and draws at ≥ 50 fps."""
    log = tmp_path / "poses.npz"
    # the browser first: the 14-s show must not spend its time on Chromium's start (a loaded machine)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 640, "height": 360})
        proc = subprocess.Popen(live_cmd(*model_args(), "--input", "demo", "--headless", "--sim-clock",
                                         "--duration", "14", "--serve", "127.0.0.1:0", "--log-poses", str(log),
                                         "-q"),
                                env=live_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        lines: list[str] = []
        t0 = time.monotonic()
        try:
            url, lines = _url_from(proc)
            page.goto(url + "?hud=1")
            page.wait_for_function("window.dancepose && dancepose.received > 10", timeout=20_000)
            a = page_state(page)
            time.sleep(4.0)
            b = page_state(page)
            received = page.evaluate("dancepose.log")
            proc.wait(timeout=60)
        except Exception as exc:  # say what the show was doing: running, or ended (how, and what it printed)
            state = "running" if proc.poll() is None else f"exited {proc.returncode}"
            raise AssertionError(f"{exc}\n{time.monotonic() - t0:.1f} s after its start, dancepose-live {state}: "
                                 f"{''.join(lines)}") from exc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, "".join(lines)
    seconds = (b["elapsed"] - a["elapsed"]) / 1e3
    fps = (b["frames"] - a["frames"]) / seconds
    rate = (b["received"] - a["received"]) / seconds
    assert fps >= 50, fps
    assert rate * seconds > 50 and b["connected"], rate  # poses kept coming (at the show's rate: 60/s idle)
    shown = np.load(log)["poses"]
    index = np.array([i for i, _ in received])
    assert np.all(np.diff(index) >= 1)
    # (almost) every shown pose reached the page (a starved page skips to the newest: flow control)
    assert len(index) > 0.75 * (index[-1] - index[0] + 1)
    got = np.array([p for _, p in received], dtype=np.float64).reshape(-1, 15, 2)
    np.testing.assert_allclose(got, shown[index], atol=1e-4)  # exactly the poses the window showed


def _expected_rgba(pose: np.ndarray, *, style: str, size: tuple[int, int], mirror: bool) -> np.ndarray:
    """What the window would draw (draw.py, exact alpha) for the pose on a transparent stage."""
    from dancepose.models.media import draw

    st, bg = draw.look(style=style, background=draw.TRANSPARENT)
    surface = draw.make_stage(*size, background=bg)
    draw.AlphaFigure(size).draw(surface, draw.pose_to_pixels(pose, width=size[0], height=size[1]), style=st)
    rgba = draw.surface_to_rgba(surface)
    return rgba[:, ::-1] if mirror else rgba


@pytest.mark.browser
@needs_chromium
@needs_default
@pytest.mark.parametrize("query,style,mirror", [("", "stick", False), ("?style=openpose&mirror=1", "openpose", True)])
def test_screenshot_is_transparent_with_the_figure_where_the_pose_is(query, style, mirror):
    from io import BytesIO

    from PIL import Image
    from scipy import ndimage

    size = (640, 360)
    pose = _real_poses(3.0)[75]
    with PoseServer(config=LOCAL) as server, Feeder(server, pose[None], hold=0), chromium() as browser:
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.goto(f"http://127.0.0.1:{server.port}/{query}")
        page.wait_for_function("window.dancepose && dancepose.drawn > 10", timeout=20_000)
        shot = np.asarray(Image.open(BytesIO(page.screenshot(omit_background=True))).convert("RGBA"))
    want = _expected_rgba(pose, style=style, size=size, mirror=mirror)
    figure = want[..., 3] > 0
    assert shot.shape == want.shape and figure.sum() > 500
    near = ndimage.binary_dilation(figure, iterations=3)
    assert np.count_nonzero(shot[..., 3][~near]) == 0  # nothing off the figure: fully transparent
    assert (shot[..., 3] == 0).mean() > 0.9
    core = ndimage.binary_erosion(want[..., 3] == 255, iterations=2)
    opaque = shot[..., 3][core] >= 250
    assert opaque.mean() > 0.97, opaque.mean()  # figure pixels where the pose is
    colour = np.abs(shot[..., :3][core].astype(int) - want[..., :3][core]).mean()
    assert colour < 12, colour  # in the window's colours
    drawn, solid = shot[..., 3] > 128, want[..., 3] > 128
    # the same figure to within a pixel (SDL's anti-aliased outline makes the window's limbs ~1 px wider)
    assert np.count_nonzero(solid & ~ndimage.binary_dilation(drawn, iterations=1)) <= 0.01 * solid.sum()
    assert np.count_nonzero(drawn & ~ndimage.binary_dilation(solid, iterations=1)) <= 0.01 * solid.sum()


@pytest.mark.browser
@needs_chromium
@needs_default
def test_a_stalled_second_viewer_does_not_change_the_windows_frame_times():
    """A paced show (window + browser source) with a browser viewer; in alternate 1.5-s blocks a second
    viewer is connected that has stopped reading (a new one each time, measured once its buffers are full
    and the server's send to it waits).  The window's frame times (median over the blocks of each block's
    p50 / p99 / late frames) and the browser's pose rate are the same with and without it (alternating
    blocks: the load of a shared machine drifts)."""
    from dancepose.models.media.draw import FigureStyle
    from dancepose.realtime.audio_in import SimulatedPlayback
    from dancepose.realtime.demo_loop import demo_loop
    from dancepose.realtime.engine import Engine, EngineConfig, TimingLog
    from dancepose.realtime.performance import Performance
    from dancepose.realtime.window import Window, WindowSink

    window = Window(size=(640, 360), headless=True)
    server = ServeProcess(config=LOCAL)  # as dancepose-live runs it
    log = TimingLog()
    engine = Engine(dancer=Dancer.load(None), config=EngineConfig(seed=0))
    ws = WindowSink(window=window, style=FigureStyle())
    perf = Performance(engine=engine, source=SimulatedPlayback(demo_loop()), inputs=[ws],
                       sinks=[ws, ServeSink(server=server)], duration_s=18.0, log=log)
    blocks: list[tuple[float, float, bool]] = []  # (start, end, stalled viewer connected)
    waiting: list[int] = []  # the server's viewers waiting on a full buffer at the end of each stalled block
    stop = threading.Event()

    def alternate() -> None:
        stop.wait(1.5)
        while not stop.is_set():
            t0 = time.monotonic()  # without
            stop.wait(1.5)
            blocks.append((t0, time.monotonic(), False))
            try:
                stalled = _viewer(server.port, rcvbuf=4096, push=True)  # connected, never reads
            except OSError:  # the show (and its server) just ended
                return
            stop.wait(2.0)  # its buffers fill (≈ 1 s of poses) and the server's send to it waits
            t0 = time.monotonic()  # with a stalled viewer
            if not stop.wait(1.5):  # (the show did not end meanwhile)
                waiting.append(server.stats.waiting)
                blocks.append((t0, time.monotonic(), True))
            stalled.close_socket()

    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 640, "height": 360})
            page.goto(f"http://127.0.0.1:{server.port}/")
            helper = threading.Thread(target=alternate, daemon=True)
            helper.start()
            with perf:
                perf.run(pace=window.tick)
            stop.set()
            helper.join(timeout=10)
            received = set(page.evaluate("dancepose.log.map(e => e[0])"))
    finally:
        stop.set()
        window.close()
        server.close()
    wall, frame_ms = log.column("wall_time"), log.column("frame_ms")
    per_block: dict[bool, list] = {False: [], True: []}
    got: dict[bool, list] = {False: [], True: []}  # per block: the share of its shown poses the browser got
    for t0, t1, stalled in blocks:
        m = (wall >= t0) & (wall < t1)
        if m.sum() < 30:
            continue
        late = int(np.sum(np.diff(wall[m]) > 2.5 / DISPLAY_FPS))
        per_block[stalled].append([*np.percentile(frame_ms[m], [50, 99]), late])
        got[stalled].append(np.mean([i in received for i in np.nonzero(m)[0]]))
    free, stall = (np.median(np.array(per_block[k]), axis=0) for k in (False, True))
    stats = {"free": free, "stalled": stall, "blocks": {k: len(v) for k, v in per_block.items()}}
    assert len(per_block[False]) >= 3 and len(per_block[True]) >= 3, stats
    assert stall[0] <= free[0] * 1.5 + 1.0, stats
    # p99 on a loaded 2-core machine is the scheduler's: within a display frame, or twice / 8 ms of the other
    assert stall[1] <= max(2.0 * free[1], free[1] + 8.0, 1e3 / DISPLAY_FPS), stats
    assert stall[2] <= 2 * free[2] + 3, stats
    # Shown poses that reached the browser: the median over the blocks, as for the frame times (one block in
    # which a busy neighbour took the browser's CPU does not decide it; a stalled viewer that held up the
    # others would lower every stalled block).
    got_free, got_stall = np.median(got[False]), np.median(got[True])
    assert got_free > 0.75 and got_stall > 0.75 and got_stall >= got_free - 0.1, got
    assert waiting and max(waiting) >= 1, waiting  # the second viewer had stalled: the server's send waited
