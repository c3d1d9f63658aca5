"""OSC output (``dancepose-live --osc HOST:PORT``): the figure's pose, beats and tempo for other tools.

Address space (UDP, one message per datagram, python-osc):

``/dancepose/pose``  30 × float32
    Every displayed frame: x, y of the 15 joints in the skeleton's order (:mod:`dancepose.models.skeleton`:
    head, neck, r_shoulder, r_elbow, r_wrist, l_shoulder, l_elbow, l_wrist, r_hip, r_knee, r_ankle, l_hip,
    l_knee, l_ankle, pelvis), normalised to the frame (0 … 1, x right, y *down*): exactly where the
    window draws them.
``/dancepose/beat``  int32 beat index, int32 beat in bar (1 = downbeat)
    When a beat is heard (the HUD's beat flash).
``/dancepose/tempo``  float32 BPM, float32 confidence (0 … 1)
    When the tempo moves by 0.5 BPM or the confidence by 0.05, and on the first frame.

Sending never blocks a frame: the socket is non-blocking and the host is resolved once, before the show.
An unresolvable or unreachable host, or a send error, prints one line and the show goes on without OSC.
"""
from __future__ import annotations

import errno
import socket
import sys
from typing import Callable

import numpy as np

from dancepose.models.errors import ParameterError

POSE_ADDRESS = "/dancepose/pose"
BEAT_ADDRESS = "/dancepose/beat"
TEMPO_ADDRESS = "/dancepose/tempo"
#: Errors after which one more datagram may go through (the kernel's buffer was full): skip that message.
_TRANSIENT = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.EINTR})


def parse_osc_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) → (host, port).

    Raises
    ------
    ParameterError
        Malformed (no port, port not in 1 … 65535, empty host, a colon in a host that is not a bracketed
        IPv6 address).
    """
    import ipaddress

    text = str(text).strip()
    host, sep, port_s = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    ok = bool(sep and host and port_s.isdigit() and 1 <= int(port_s) <= 65535)
    if ok and (bracketed or ":" in host):  # only a bracketed IPv6 address has colons (not ``127.0.0.1:9000:1``)
        try:
            ok = bracketed and isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
        except ValueError:
            ok = False
    if not ok:
        raise ParameterError(f"--osc must look like HOST:PORT (e.g. 127.0.0.1:9000, [::1]:9000), got {text!r}")
    return host, int(port_s)


def osc_target_arg(text: str) -> tuple[str, int]:
    """argparse type for ``--osc`` (exit 2 when malformed)."""
    import argparse

    try:
        return parse_osc_target(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _warn(msg: str) -> None:
    print(f"dancepose-live: warning: {msg}", file=sys.stderr)


class OscSink:
    """Sends every frame's pose and the beat/tempo events over OSC.

    Parameters
    ----------
    host : str
        Name or address; resolved once here.
    port : int
    size : (int, int) or callable returning it
        The frame size the pose is normalised to (the window's: pass ``lambda: window.size``).
    warn : callable(str)
        Where the one line goes when OSC fails (default: stderr).

    Attributes
    ----------
    enabled : bool
        False after a failure (nothing is sent any more).
    sent, skipped : int
        Datagrams sent, and skipped because the socket's buffer was full.
    """

    def __init__(self, *, host: str, port: int, size, warn: Callable[[str], None] = _warn) -> None:
        self.target = f"{host}:{port}"
        self._size = size if callable(size) else (lambda: size)
        self._warn = warn
        self.enabled = False
        self.sent = 0
        self.skipped = 0
        self._client = None
        try:
            from pythonosc.osc_message_builder import OscMessageBuilder
            from pythonosc.udp_client import UDPClient

            self._builder = OscMessageBuilder
            # resolve once (a name lookup per send could block a frame), then hand python-osc the address
            addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
            self._client = UDPClient(addr, port)  # non-blocking UDP socket
        except (OSError, ImportError, IndexError) as exc:
            self._fail(f"cannot send OSC to {self.target} ({getattr(exc, 'strerror', None) or exc})")
            return
        self.enabled = True

    def _fail(self, msg: str) -> None:
        self.enabled = False
        self._warn(f"{msg}; going on without OSC")
        self.close()

    def _send(self, address: str, args: list, arg_type: str) -> None:
        b = self._builder(address=address)
        for a in args:
            b.add_arg(a, arg_type)  # typed: no per-value type inference
        try:
            self._client.send(b.build())
            self.sent += 1
        except OSError as exc:
            if exc.errno in _TRANSIENT:
                self.skipped += 1
                return
            self._fail(f"sending OSC to {self.target} failed ({exc.strerror or exc})")

    def pose_message(self, frame) -> list[float]:
        """The 30 floats of ``/dancepose/pose`` for ``frame`` (x, y per joint, 0…1 of the frame, y down)."""
        from dancepose.models.media.draw import pose_to_pixels

        w, h = self._size()
        px = pose_to_pixels(frame.pose, width=w, height=h)
        return (px / np.array([w, h], dtype=np.float32)).reshape(-1).tolist()

    def send(self, frame) -> None:
        if not self.enabled:
            return
        f, i = self._builder.ARG_TYPE_FLOAT, self._builder.ARG_TYPE_INT
        self._send(POSE_ADDRESS, self.pose_message(frame), f)
        if self.enabled and frame.beat is not None:
            self._send(BEAT_ADDRESS, [int(frame.beat[0]), int(frame.beat[1])], i)
        if self.enabled and frame.tempo is not None:
            self._send(TEMPO_ADDRESS, [float(frame.tempo[0]), float(frame.tempo[1])], f)

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
            self.enabled = False
