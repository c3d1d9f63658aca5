"""What both command lines (``dancepose``, ``dancepose-live``) share: argument types, progress bars, signals
and turning errors into one line and an exit code.

Signals: :func:`run_cli` installs handlers so that SIGINT and SIGTERM behave the same everywhere — the
first one raises :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every ``finally``
and every :func:`~dancepose.models.outputs.atomic_output` finalises or cleans up, and the command exits
130 (SIGINT) or 143 (SIGTERM); a second signal exits at once with the same code.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Any, Callable, Iterator, TextIO

from .errors import DanceposeError


class Interrupted(KeyboardInterrupt):
    """Raised by the first SIGINT/SIGTERM; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.exit_code = 128 + int(signum)


class _SignalPolicy:
    """The handler :func:`install_signal_handlers` installs: raise once, exit on the second signal."""

    def __init__(self) -> None:
        self.fired = False
        self.signum = 0

    def __call__(self, signum: int, frame: Any) -> None:
        if self.fired:
            os._exit(128 + signum)  # second signal: abort now, no more clean-up
        self.fired = True
        self.signum = int(signum)
        raise Interrupted(signum)


def install_signal_handlers() -> _SignalPolicy | None:
    """SIGINT/SIGTERM → :class:`Interrupted` once, immediate exit on the second (main thread only).

    Returns the installed policy (None when not on the main thread: the defaults are kept).
    """
    policy = _SignalPolicy()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, policy)
    except ValueError:  # not the main thread (a test calling main() in a thread): keep the defaults
        return None
    return policy


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while heavy libraries import and start; deliver them afterwards.

    Importing MediaPipe or TensorFlow takes seconds, and some of the modules imported catch every
    exception: a SIGTERM whose handler raised there was swallowed and extraction went on (seen with
    ``dancepose extract``; the backends wrap their start-up in it).  Meanwhile a recorder stands in for the handlers; on exit they are put
    back and each signal received is raised again, so it arrives where it can be acted on.  Outside the
    main thread (where handlers cannot be changed) this does nothing.
    """
    received: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    try:
        saved = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in sigs}
    except ValueError:   # not the main thread
        yield
        return
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        for s in received:
            signal.raise_signal(s)


def run_cli(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, *, prog: str) -> int:
    """Call a command; turn user-facing errors into one line and an exit code.

    Exit codes: the error's ``exit_code`` (2 parameters, 3 input, 4 model, 5 device, 6 output),
    130 / 143 when interrupted by SIGINT / SIGTERM, 1 out of memory.
    """
    policy = install_signal_handlers()
    try:
        return int(func(args) or 0)
    except BaseException as exc:
        if policy is not None and policy.fired:
            # The signal came first, whatever it became on its way up (C code importing a module
            # turns the KeyboardInterrupt into an ImportError): it is an interruption.
            code = 128 + policy.signum
        elif isinstance(exc, KeyboardInterrupt):
            code = getattr(exc, "exit_code", 130)
        elif isinstance(exc, DanceposeError):
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        elif isinstance(exc, MemoryError):
            print(f"{prog}: error: out of memory", file=sys.stderr)
            return 1
        else:
            raise
        print(f"{prog}: interrupted" + (" (SIGTERM)" if code == 143 else ""), file=sys.stderr)
        return code


def size_arg(text: str) -> tuple[int, int]:
    """argparse type for ``WxH`` frame sizes (even, at least 16×16)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"size must be even and at least 16x16, got {text!r}")
    return w, h


class _LineStream:
    """A file for tqdm when stderr is not a terminal: each refresh becomes one plain line, no ``\\r``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


#: Progress lines in logs (not a terminal): a line when this share more of the work is done …
LOG_STEP_FRACTION: float = 0.10
#: … or, when the share is unknown or slow to move, after this long (s); never two lines closer than
#: :data:`LOG_MIN_INTERVAL_S` (the first and the last line excepted).  pip and docker behave alike.
LOG_HEARTBEAT_S: float = 30.0
LOG_MIN_INTERVAL_S: float = 5.0


def _log_bar_class():
    """tqdm subclass for logs (built lazily: importing tqdm is not free)."""
    from tqdm import tqdm

    class LogBar(tqdm):
        """A tqdm bar whose lines are rationed for logs: the first, one per 10 % of the work or per 30 s of
        progress (never two within 5 s), and the last.  ``set_postfix`` (a refresh per training batch)
        no longer prints a line each time."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._line_t: float | None = None
            self._line_n: float = 0.0
            self._closing = False
            super().__init__(*args, **kwargs)

        def _due(self) -> bool:
            now = self._time()
            if self._line_t is None:
                return True
            if self.n == self._line_n or now - self._line_t < LOG_MIN_INTERVAL_S:
                return False
            if self.total and self.n - self._line_n >= LOG_STEP_FRACTION * self.total:
                return True
            return now - self._line_t >= LOG_HEARTBEAT_S

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if msg is None and not self._closing:
                if not self._due():
                    return True
                self._line_t, self._line_n = self._time(), self.n
            return super().display(msg, pos)

        def close(self) -> None:
            self._closing = True
            super().close()

    return LogBar


def progress(iterable: Any = None, *, quiet: bool = False, **kwargs: Any):
    """The one progress bar of dancepose (tqdm), also in logs.

    On a terminal: the usual bar.  Otherwise (CI logs, ``> run.log``): plain lines, never carriage
    returns or cursor moves — the first, then one when another 10 % of the work is done or (unknown
    total, slow work) 30 s passed, never two within 5 s, and the last.  ``quiet`` disables it.  Other
    keyword arguments go to tqdm.
    """
    from tqdm import tqdm

    stream = kwargs.pop("file", sys.stderr)
    tty = bool(getattr(stream, "isatty", lambda: False)())
    if tty:
        return tqdm(iterable, file=stream, disable=quiet, **kwargs)
    kwargs.update(mininterval=0.5, maxinterval=LOG_HEARTBEAT_S, position=0, dynamic_ncols=False)
    kwargs.setdefault("ascii", True)
    kwargs["ncols"] = kwargs.get("ncols") or 100
    return _log_bar_class()(iterable, file=_LineStream(stream), disable=quiet, **kwargs)


@contextlib.contextmanager
def silence_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a while: native log lines (MediaPipe/TensorFlow Lite C++,
    PortAudio's "Expression … failed" when a stream (re)starts) that the user cannot act on.

    Python-level ``sys.stderr`` writes made meanwhile are lost too, so keep the block short.
    """
    fd = 2
    sys.stderr.flush()
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def add_groove_argument(parser: argparse.ArgumentParser) -> None:
    """``--groove`` / ``--no-groove``: switch the dancer's groove stage (dest ``groove``: True, False or None)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--groove", dest="groove", action="store_const", const=True, default=None,
                       help="switch the dancer's groove stage on: a knee bounce and sway locked to the "
                            "tracked beat (default: as saved with the model; the shipped dancer has it off)")
    group.add_argument("--no-groove", dest="groove", action="store_const", const=False,
                       help="switch the groove stage off: the learned motion alone")
