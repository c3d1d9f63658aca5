"""Browser source (``dancepose-live --serve [HOST:]PORT``): a page that draws the live figure, and a
WebSocket of the poses the window shows, frame by frame — for OBS's *Browser source* or any browser.

``GET /`` and ``GET /dancepose.js`` are the page (:data:`ASSETS`, fixed files read once at start: no
path from a request ever reaches the file system); ``GET /ws`` is the WebSocket.  The page draws the
figure on a canvas at the browser's frame rate over a transparent background, with the window's look:
the limbs, colours and proportions arrive as data in the socket's first message (:func:`figure_data`,
from :mod:`dancepose.models.skeleton` and :mod:`dancepose.models.media.draw`).

Messages (JSON text, server → page; the page answers each pose with the text ``ack``):

``{"type": "hello", "figure": {...}}``
    once, on connecting.
``{"type": "pose", "i": frame index, "t": show time (Unix s), "pose": 30 numbers, "face": 8, ...}``
    every displayed frame (to a client of ``/ws?push=1``; otherwise whenever the viewer has fewer than
    two poses unacknowledged): the 15 joints (x, y, normalised body units: pelvis at 0, y down, torso ≈ 1),
    the eyes and ears of the OpenPose look, and the HUD's read-outs (``bpm``, ``conf``, ``phase``,
    ``bpb``, ``bib``, ``beat``, ``paused``, ``fps``).

Never slowing the show: the server runs in a process of its own (:class:`ServeProcess`), so its work
never competes with the show for the interpreter lock.  :meth:`ServeSink.send` writes the frame as one
small record into a non-blocking pipe; the server process keeps the newest record (a latest-value slot),
encodes it once, and every viewer's task sends it when the viewer may have one: the page answers every
pose with ``ack`` and has at most two poses in flight, so a slow or stalled viewer gets the newest pose
only (a ``?push=1`` client, which never acks, gets what its small buffers take), and one that stops
answering pings is dropped.  Anything a viewer sends other than ``ack`` closes that viewer's connection
only.  The server process ends when the pipe closes: with the show, also when the show is killed.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Callable

import numpy as np

from dancepose.models.errors import ParameterError

DEFAULT_HOST = "127.0.0.1"
WS_PATH = "/ws"
_WEB = Path(__file__).resolve().parent / "web"
#: URL path → (file in ``realtime/web/``, content type).  The only files the server ever reads.
ASSETS: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dancepose.js": ("dancepose.js", "text/javascript; charset=utf-8"),
}


@dataclass(frozen=True)
class ServeConfig:
    """How the server listens and how much it may buffer per viewer.

    Attributes
    ----------
    host : str
        Address to listen on (loopback by default; anything else prints one warning).
    port : int
        0 picks a free port (:attr:`PoseServer.port` tells which).
    write_limit : int
        Bytes a viewer's WebSocket may hold unsent before its task waits (then it skips to the newest pose).
    send_buffer : int
        The kernel's send buffer per viewer (``SO_SNDBUF``), small so a slow viewer is not fed stale poses.
    ping_interval, ping_timeout : float
        Keep-alive: a viewer that does not answer a ping within the timeout is disconnected.
    ack_window : int
        Poses a viewer that acknowledges (``ack``) may have unacknowledged: 2 keeps 60 poses/s flowing up
        to a 33-ms round trip while a slow viewer lags at most two poses.
    nice : int
        Added to the server process's niceness: on a busy machine the show comes first (waking the server
        then does not take the show's core).
    """

    host: str = DEFAULT_HOST
    port: int = 8080
    write_limit: int = 4096
    send_buffer: int = 8192
    ping_interval: float = 5.0
    ping_timeout: float = 10.0
    ack_window: int = 2
    nice: int = 5

    def __post_init__(self) -> None:
        if not (0 <= self.port <= 65535):
            raise ParameterError(f"--serve port must be in 0 … 65535, got {self.port}")
        if not self.host:
            raise ParameterError("--serve host is empty")


def parse_serve_target(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[v6addr]:PORT`` → (host, port); the host defaults to 127.0.0.1.

    Raises
    ------
    ParameterError
        Malformed (no port, port outside 0 … 65535, empty host).
    """
    text = str(text).strip()
    host, sep, port_s = text.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port_s.isdigit() or not (0 <= int(port_s) <= 65535):
        raise ParameterError(f"--serve must look like PORT or HOST:PORT (e.g. 8080 or 127.0.0.1:8080), "
                             f"got {text!r}")
    return host, int(port_s)


def serve_target_arg(text: str) -> tuple[str, int]:
    """argparse type for ``--serve`` (exit 2 when malformed)."""
    import argparse

    try:
        return parse_serve_target(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def figure_data() -> dict:
    """The figure's look as data for the page: limbs with their side, colours, sizes, layout, OpenPose look.

    Everything comes from :mod:`dancepose.models.skeleton` and :mod:`dancepose.models.media.draw`, so the
    page draws what the window draws.
    """
    from dancepose.models.media import draw
    from dancepose.models.skeleton import JOINT_NAMES, Joint

    stick, op = draw.FigureStyle(), draw.OpenPoseStyle()
    return {
        "joints": list(JOINT_NAMES), "head": int(Joint.HEAD), "neck": int(Joint.NECK),
        "limbs": [[a, b, side] for a, b, side in draw._LIMB_TABLE],
        "layout": {"figure_fill": draw.FIGURE_FILL, "figure_height_units": draw.FIGURE_HEIGHT_UNITS,
                   "pelvis_height": draw.PELVIS_HEIGHT},
        "stick": {"body": list(stick.body_colour), "left": list(stick.left_colour),
                  "right": list(stick.right_colour), "joint": list(stick.joint_colour),
                  "limb_width": stick.limb_width, "joint_radius": stick.joint_radius,
                  "head_radius": stick.head_radius, "head_offset": 0.35},
        "openpose": {"limbs": [list(p) for p in draw.OPENPOSE_LIMBS], "colours": [list(c) for c in draw.OPENPOSE_COLOURS],
                     "from_joint": [[k, int(j)] for k, j in draw._COCO18_FROM_JOINT], "face": [14, 15, 16, 17],
                     "limb_half_width": op.limb_half_width, "joint_radius": op.joint_radius,
                     "limb_dim": op.limb_dim},
    }


def _numbers(values: np.ndarray) -> list:
    """Floats rounded to 1e-4 with NaN → null (JSON has no NaN)."""
    return [round(v, 4) if math.isfinite(v) else None for v in np.asarray(values, np.float64).reshape(-1).tolist()]


def encode_pose(item: tuple) -> str:
    """The ``pose`` message for one published frame (see :meth:`PoseServer.publish`)."""
    from dancepose.models.media.draw import coco18_points

    t, index, pose, hud = item
    face = coco18_points(pose)[14:18]
    return json.dumps({"type": "pose", "i": index, "t": round(t, 6), "pose": _numbers(pose),
                       "face": _numbers(face), **hud}, separators=(",", ":"))


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("dancepose.realtime.serve.websockets")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def _warn(msg: str) -> None:
    print(f"dancepose-live: warning: {msg}", file=sys.stderr)


@dataclass
class ServerStats:
    """What the server did (read from any thread; approximate while it runs)."""

    connections: int = 0
    viewers: int = 0
    messages_sent: int = 0
    #: Poses a viewer's task passed over because it was still sending an older one (a slow viewer).
    skipped: int = 0
    #: Viewers whose send is waiting for their buffers to drain (stalled or slow) right now.
    waiting: int = 0
    closed_for_garbage: int = 0
    http_requests: int = 0
    not_found: int = 0


class _Viewer:
    """One connection's flow control.

    A viewer answers each pose with ``ack`` (the page does) and has at most ``ack_window`` poses in flight,
    so however slow it is, each pose it gets is the newest when sent.  A client connected to
    ``/ws?push=1`` never acks and gets every new pose its buffers take (a few kB:
    :attr:`ServeConfig.write_limit`, :attr:`ServeConfig.send_buffer`).
    """

    def __init__(self, *, acking: bool) -> None:
        self.wake = asyncio.Event()
        self.acking = acking
        self.in_flight = 0

    def may_send(self, window: int) -> bool:
        return not self.acking or self.in_flight < window


def page_url(host: str, port: int) -> str:
    """``http://HOST:PORT/`` (this machine's name for 0.0.0.0 / ::, brackets for IPv6)."""
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket of ``--serve`` (bound before the show, so a port in use fails at once).

    Raises
    ------
    ParameterError
        Port in use, unknown host, no permission.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, addr = infos[0]
        return socket.create_server(addr, family=family, backlog=64)
    except (OSError, IndexError) as exc:
        raise ParameterError(f"--serve: cannot listen on {host}:{port} "
                             f"({getattr(exc, 'strerror', None) or exc})") from None


class PoseServer:
    """The page and the pose WebSocket, served by ``websockets``' asyncio server in a daemon thread.

    ``dancepose-live`` runs it inside the process of :class:`ServeProcess`; tests run it in their own
    process to look at its behaviour directly.

    Parameters
    ----------
    config : ServeConfig
    warn : callable(str)
        Where the one warning about listening beyond loopback goes (default: stderr).
    sock : socket.socket or None
        A listening socket to serve on (default: :func:`listen` on the config's host and port).

    Raises
    ------
    ParameterError
        The address cannot be listened on (port in use, unknown host, no permission).

    Notes
    -----
    :meth:`publish` is the only method the show calls; it never blocks.  :meth:`close` stops the thread
    (bounded).  Use as a context manager.
    """

    def __init__(self, *, config: ServeConfig = ServeConfig(), warn: Callable[[str], None] = _warn,
                 sock: socket.socket | None = None) -> None:
        self.config = config
        self.stats = ServerStats()
        self._assets = {path: ((_WEB / name).read_bytes(), ctype) for path, (name, ctype) in ASSETS.items()}
        self._hello = json.dumps({"type": "hello", "figure": figure_data()}, separators=(",", ":"))
        self._sock = sock if sock is not None else listen(config.host, config.port)
        self.port: int = self._sock.getsockname()[1]
        if not is_loopback(config.host):
            warn(f"--serve {config.host}:{self.port} listens beyond this machine: anyone who can reach it "
                 "can watch the poses (there is no password)")
        self._slot: tuple | None = None
        self._pending = False
        self._closed = False
        self._seq = 0
        self._msg = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="dancepose-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10.0) or self._error is not None:
            self.close()
            raise ParameterError(f"--serve: the server did not start ({self._error or 'timeout'})")

    @property
    def url(self) -> str:
        """The page's address (this machine's name when listening on every interface)."""
        return page_url(self.config.host, self.port)

    # ------------------------------------------------------------------ the show's side (any thread)
    def publish(self, item: tuple) -> None:
        """Hand one frame to the server: ``(show time (Unix s), index, pose (J, 2), hud dict)``.

        Never blocks: the item replaces any the server has not taken yet, and the loop is woken once.
        """
        self._slot = item
        if not self._pending and not self._closed:
            self._pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake_up)
            except RuntimeError:  # the loop is closed: the server is shutting down
                pass

    # ------------------------------------------------------------------ the server thread
    def _wake_up(self) -> None:
        self._pending = False
        self._wake.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported by __init__ / close
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        self._viewers: set[_Viewer] = set()
        c = self.config
        async with serve(self._viewer, sock=self._sock, process_request=self._http, compression=None,
                         max_size=256, max_queue=8, write_limit=c.write_limit, ping_interval=c.ping_interval,
                         ping_timeout=c.ping_timeout, close_timeout=2.0, server_header=None,
                         logger=_quiet_logger()) as server:
            self._ready.set()
            broadcaster = asyncio.create_task(self._broadcast())
            await self._stop.wait()
            broadcaster.cancel()
            for viewer in self._viewers:
                viewer.wake.set()
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), timeout=3.0)
            except asyncio.TimeoutError:
                pass

    async def _broadcast(self) -> None:
        """Encode each new frame once and wake the viewers' tasks."""
        last = None
        while True:
            await self._wake.wait()
            self._wake.clear()
            item = self._slot
            if item is None or item is last or not self._viewers:
                continue  # nothing new, or nobody to send it to: no work
            last = item
            self._msg = encode_pose(item)
            self._seq += 1
            for viewer in self._viewers:
                viewer.wake.set()

    def _http(self, connection, request):
        """Fixed assets for plain GETs; the socket only at :data:`WS_PATH`; 404 for anything else."""
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        path = request.path.split("?", 1)[0]
        if path == WS_PATH:
            return None  # the WebSocket handshake (a request without Upgrade gets 426 from websockets)
        self.stats.http_requests += 1
        asset = self._assets.get(path)
        if asset is None:
            self.stats.not_found += 1
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        body, ctype = asset
        headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                           ("Connection", "close")])
        return Response(HTTPStatus.OK.value, "OK", headers, body)

    async def _viewer(self, ws) -> None:
        """One viewer: the hello, then the newest pose whenever it may have one (see :class:`_Viewer`)."""
        from websockets.exceptions import ConnectionClosed

        if ws.request.path.split("?", 1)[0] != WS_PATH:
            await ws.close(1008, "not here")
            return
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer)
        viewer = _Viewer(acking="push=1" not in ws.request.path.partition("?")[2].split("&"))
        self._viewers.add(viewer)
        self.stats.connections += 1
        self.stats.viewers += 1
        reader = asyncio.create_task(self._read_acks(ws, viewer))
        try:
            await ws.send(self._hello)
            seen = self._seq
            while not self._stop.is_set() and not reader.done():
                await viewer.wake.wait()
                viewer.wake.clear()
                if self._seq == seen or not viewer.may_send(self.config.ack_window):
                    continue
                if seen:
                    self.stats.skipped += self._seq - seen - 1
                seen = self._seq
                viewer.in_flight += 1
                self.stats.waiting += 1
                try:
                    await ws.send(self._msg)  # waits while this viewer's buffers are full; newer poses replace it
                finally:
                    self.stats.waiting -= 1
                self.stats.messages_sent += 1
        except ConnectionClosed:
            pass
        finally:
            self._viewers.discard(viewer)
            reader.cancel()
            self.stats.viewers -= 1

    async def _read_acks(self, ws, viewer: "_Viewer") -> None:
        """The page only ever sends ``ack``; anything else closes this connection (and only this one)."""
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                message = await ws.recv()
                if message != "ack":
                    break
                viewer.in_flight = max(0, viewer.in_flight - 1)
                viewer.wake.set()
        except ConnectionClosed:
            return
        self.stats.closed_for_garbage += 1
        await ws.close(1003, "this socket only takes 'ack'")
        viewer.wake.set()

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Close every connection and stop the thread (bounded: about 5 s at most).  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(lambda: self._stop.set() if hasattr(self, "_stop") else None)
            except RuntimeError:
                pass
            self._thread.join(timeout=5.0)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "PoseServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: One frame through the pipe to the server process: index, show time, 15 × (x, y), bpm, confidence, beat
#: phase, beats per bar, beat in bar, beat event (index, beat in bar; -1: none), paused, fps.  Smaller than
#: PIPE_BUF, so every write is whole (atomic) and never interleaved.
_RECORD = struct.Struct("<qd30f3f2iqi?f")
#: The counters of :class:`ServerStats` the server process shares with the show's process.
_STAT_FIELDS = ("connections", "viewers", "messages_sent", "skipped", "waiting", "closed_for_garbage",
                "http_requests", "not_found")


def pack_item(item: tuple) -> bytes:
    """A published frame ``(t, index, pose, hud)`` as one fixed-size record (:data:`_RECORD`)."""
    t, index, pose, hud = item
    beat = hud["beat"] or (-1, -1)
    return _RECORD.pack(int(index), float(t), *np.asarray(pose, np.float32).reshape(-1).tolist(), hud["bpm"],
                        hud["conf"], hud["phase"], hud["bpb"], hud["bib"], int(beat[0]), int(beat[1]),
                        bool(hud["paused"]), hud["fps"])


def unpack_item(record: bytes) -> tuple:
    """The inverse of :func:`pack_item`."""
    v = _RECORD.unpack(record)
    hud = {"bpm": round(v[32], 2), "conf": round(v[33], 3), "phase": round(v[34], 4), "bpb": v[35], "bib": v[36],
           "beat": [v[37], v[38]] if v[37] >= 0 else None, "paused": v[39], "fps": round(v[40], 1)}
    return (v[1], v[0], np.array(v[2:32], np.float32).reshape(-1, 2), hud)


class ServeProcess:
    """The browser source in a process of its own — what ``dancepose-live --serve`` runs.

    The show's process binds the port (a port in use fails before the show), starts
    ``python -m dancepose.realtime.serve`` with the listening socket and the read end of a pipe, and
    :meth:`publish` writes each frame as one small record into the pipe's non-blocking write end (a few
    microseconds; when the pipe is full the server is behind and the frame is skipped).  The child keeps
    the newest record and serves it with :class:`PoseServer`: the server's work (JSON, WebSocket framing,
    any number of viewers) never competes with the show for the interpreter lock.

    Parameters
    ----------
    config : ServeConfig
    warn : callable(str)
        One line for listening beyond loopback, and if the server process dies (the show goes on).
    """

    def __init__(self, *, config: ServeConfig = ServeConfig(), warn: Callable[[str], None] = _warn) -> None:
        import os
        import subprocess
        from multiprocessing import shared_memory

        self.config, self._warn = config, warn
        sock = listen(config.host, config.port)
        self.port: int = sock.getsockname()[1]
        if not is_loopback(config.host):
            warn(f"--serve {config.host}:{self.port} listens beyond this machine: anyone who can reach it "
                 "can watch the poses (there is no password)")
        self.skipped = 0
        self._failed = False
        self._shm = shared_memory.SharedMemory(create=True, size=8 * len(_STAT_FIELDS))
        self._counters = np.ndarray((len(_STAT_FIELDS),), np.int64, buffer=self._shm.buf)
        self._counters[:] = 0
        read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        spec = {"config": {**config.__dict__, "port": self.port}, "sock": sock.fileno(), "pipe": read_fd,
                "stats": self._shm.name}
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            # own process group: a Ctrl-C in the terminal reaches the show, which then closes the pipe
            self._proc = subprocess.Popen([sys.executable, "-m", "dancepose.realtime.serve", json.dumps(spec)],
                                          pass_fds=(sock.fileno(), read_fd), stdin=subprocess.DEVNULL, env=env,
                                          process_group=0)
        finally:
            os.close(read_fd)
            sock.close()  # the child holds it now

    @property
    def url(self) -> str:
        """The page's address (this machine's name when listening on every interface)."""
        return page_url(self.config.host, self.port)

    @property
    def stats(self) -> ServerStats:
        """The server process's counters (updated five times a second)."""
        return ServerStats(**{k: int(v) for k, v in zip(_STAT_FIELDS, self._counters)})

    def publish(self, item: tuple) -> None:
        """Write one frame into the pipe; never blocks."""
        import os

        if self._failed:
            return
        try:
            os.write(self._write_fd, pack_item(item))
        except BlockingIOError:
            self.skipped += 1  # the server is behind: it gets the next frame
        except OSError as exc:
            self._failed = True
            self._warn(f"the browser source stopped ({exc.strerror or exc}); the show goes on without it")

    def close(self) -> None:
        """End the server (closing the pipe asks it to; killed after 5 s).  Idempotent."""
        import os
        import subprocess

        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
            self._failed = True
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5.0)
            self._counters = np.array(self._counters)  # keep the last figures, release the shared block
            self._shm.close()
            self._shm.unlink()

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _server_process(spec: dict) -> int:
    """The child of :class:`ServeProcess`: newest record from the pipe → :class:`PoseServer`."""
    import os
    import select
    from multiprocessing import shared_memory

    sock = socket.socket(fileno=spec["sock"])
    fd = spec["pipe"]
    try:
        os.nice(int(spec["config"].get("nice", 0)))
    except OSError:  # not allowed: serve at the show's priority
        pass
    shm = shared_memory.SharedMemory(name=spec["stats"])
    try:  # the show's process owns the block (and unlinks it); this one only writes into it
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001
    except Exception:  # noqa: BLE001 - best effort
        pass
    counters = np.ndarray((len(_STAT_FIELDS),), np.int64, buffer=shm.buf)
    server = PoseServer(config=ServeConfig(**spec["config"]), sock=sock, warn=lambda msg: None)
    pending = b""
    os.set_blocking(fd, False)
    try:
        while True:
            if server.stats.viewers:  # wake up for every frame
                ready = select.select([fd], [], [], 0.2)[0]
            else:  # nobody watches: drain the pipe ten times a second, no wake-up per frame
                time.sleep(0.1)
                ready = True
            if ready:
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    data = None
                if data == b"":  # the show closed the pipe (or ended): stop
                    break
                pending += data or b""
                n = len(pending) // _RECORD.size
                if n:
                    server.publish(unpack_item(pending[(n - 1) * _RECORD.size:n * _RECORD.size]))
                    pending = pending[n * _RECORD.size:]
            counters[:] = [getattr(server.stats, k) for k in _STAT_FIELDS]
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        del counters
        shm.close()
    return 0


class ServeSink:
    """The browser source as a sink of a :class:`~dancepose.realtime.performance.Performance`.

    :meth:`send` takes a few microseconds and never blocks (see :meth:`ServeProcess.publish`).

    Parameters
    ----------
    server : ServeProcess or PoseServer
        Anything with ``publish(item)`` and ``close()``.
    clock : callable returning float
        The show time stamped on each pose (Unix seconds, as the page's ``performance.timeOrigin``).
    """

    def __init__(self, *, server, clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self._clock = clock

    def send(self, frame) -> None:
        st = frame.state
        hud = {"bpm": round(float(st.tempo_bpm), 2), "conf": round(float(st.beat_confidence), 3),
               "phase": round(float(st.beat_phase), 4), "bpb": int(st.beats_per_bar), "bib": int(st.beat_in_bar),
               "beat": list(frame.beat) if frame.beat is not None else None, "paused": bool(frame.paused),
               "fps": round(float(frame.fps), 1)}
        self.server.publish((self._clock(), int(frame.index), np.array(frame.pose, dtype=np.float32), hud))

    def close(self) -> None:
        self.server.close()


if __name__ == "__main__":  # the server process of ServeProcess
    sys.exit(_server_process(json.loads(sys.argv[1])))
