"""The show thread's scheduling: realtime (``SCHED_FIFO``) for the length of the show, when granted.

A busy program beside the show (a browser, OBS, a DAW, a build) shares the cores under the ordinary
scheduler: a frame whose work wakes while the neighbour holds the core waits for the neighbour's slice.
Music software on Linux asks for a realtime policy for its time-critical threads (JACK, PipeWire, Ardour);
the show thread does the same, at the lowest realtime priority (:data:`SHOW_RT_PRIORITY`): it runs before
every ordinary thread and after any audio server's realtime threads (PulseAudio 5, JACK 70+, PipeWire 83–88),
so the sound is never the one to wait.  The show sleeps through most of each frame (about 1.5 ms of work in
16.7), so the rest of the machine keeps over 90 % of the core.

Two guards go with it:

* ``SCHED_RESET_ON_FORK``: threads and processes started from the show thread (the recorder and its
  encoder, the browser-source server) start ordinary, not realtime.
* ``RLIMIT_RTTIME`` (soft, :data:`RT_CPU_LIMIT_S`): if the show thread ever runs that long without sleeping,
  the kernel sends ``SIGXCPU`` and the thread is put back to the ordinary policy with one line, instead of
  holding a core.

Granted when the process may (``CAP_SYS_NICE``, or an ``RLIMIT_RTPRIO`` of at least 1 — the Linux audio
group's ``rtprio`` limit); otherwise the show runs as before and says so in one line.
"""
from __future__ import annotations

import os
import resource
import signal
import sys
import threading
from dataclasses import dataclass

#: ``SCHED_FIFO`` priority of the show thread: the lowest, above every ordinary (``SCHED_OTHER``) thread and
#: below audio servers' realtime threads.  Measured beside busy loops (30-s recorded shows, 2026-12-06,
#: 2 cores): two neighbours at 1920×1080 — ordinary: 3 and 1 late frames, frame p99 9.4 / 8.9 ms; realtime:
#: 0 and 0, frame p99 1.9 / 2.0 ms.
SHOW_RT_PRIORITY: int = 1
#: Soft ``RLIMIT_RTTIME`` while realtime (s): CPU time the show thread may use without sleeping before it
#: is put back to the ordinary policy (a frame's work is about 1.5 ms; 30 frames' worth is a fault).
RT_CPU_LIMIT_S: float = 0.5
#: ``--priority`` choices.
PRIORITY_CHOICES: tuple[str, ...] = ("realtime", "normal")

HOW_TO_GRANT = ("let your user set realtime priority: add it to the audio group with an rtprio limit "
                "(/etc/security/limits.d/audio.conf: '@audio - rtprio 95'), log in again; see the README")


def check_priority(want: str) -> str:
    """``want`` if it is one of :data:`PRIORITY_CHOICES`, else :class:`ParameterError` (the one rule for
    ``--priority``: :class:`~dancepose.realtime.live.LiveConfig` checks it before anything opens)."""
    if want not in PRIORITY_CHOICES:
        from dancepose.models.errors import ParameterError

        raise ParameterError(f"--priority must be one of {', '.join(PRIORITY_CHOICES)}, got {want!r}")
    return want


def _policy() -> int:
    """The calling thread's policy, without the reset-on-fork flag."""
    return os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)


@dataclass(frozen=True)
class PriorityState:
    """What the show thread got: ``granted`` (realtime at the start), ``reason`` when not, ``demoted`` when the
    CPU-time guard put it back to ordinary."""

    wanted: str
    granted: bool
    reason: str = ""
    demoted: bool = False

    def describe(self) -> str:
        """Short text for the end-of-show line."""
        if self.wanted == "normal":
            return "normal priority"
        if not self.granted:
            return "normal priority (realtime not granted)"
        return "realtime priority" + (" until it ran too long without a pause" if self.demoted else "")


class ShowPriority:
    """Context manager: the calling thread at ``SCHED_FIFO`` :data:`SHOW_RT_PRIORITY` for the ``with`` block.

    Parameters
    ----------
    want : {"realtime", "normal"}
        ``normal`` changes nothing.
    priority : int
        ``SCHED_FIFO`` priority (1–99).
    cpu_limit_s : float
        Soft ``RLIMIT_RTTIME``: a realtime stretch this long without sleeping puts the thread back to
        ordinary scheduling (one line on stderr unless ``quiet``).
    quiet : bool

    Notes
    -----
    Enter it on the main thread (the ``SIGXCPU`` handler lives there); elsewhere it stays ordinary with a
    reason.  On exit the thread's policy, the signal handler and the limit are restored.
    """

    def __init__(self, *, want: str = "realtime", priority: int = SHOW_RT_PRIORITY,
                 cpu_limit_s: float = RT_CPU_LIMIT_S, quiet: bool = False) -> None:
        from dancepose.models.errors import ParameterError

        check_priority(want)
        if not 1 <= int(priority) <= 99:
            raise ParameterError(f"realtime priority must be 1–99, got {priority}")
        if not cpu_limit_s > 0:
            raise ParameterError(f"cpu_limit_s must be positive, got {cpu_limit_s}")
        self.want, self.priority, self.cpu_limit_s, self.quiet = want, int(priority), float(cpu_limit_s), quiet
        self._granted, self._reason, self._demoted = False, "", False
        self._saved: tuple | None = None

    @property
    def state(self) -> PriorityState:
        return PriorityState(wanted=self.want, granted=self._granted, reason=self._reason, demoted=self._demoted)

    def __enter__(self) -> "ShowPriority":
        if self.want == "realtime":
            self._reason = self._enter_realtime()
            self._granted = not self._reason
            if self._reason and not self.quiet:
                print(f"dancepose-live: running at normal priority ({self._reason}); a busy program beside "
                      f"the show can make frames late", file=sys.stderr)
        return self

    def _enter_realtime(self) -> str:
        """Switch to realtime; the reason it could not ("" when it did)."""
        if not hasattr(os, "SCHED_FIFO") or not hasattr(resource, "RLIMIT_RTTIME"):
            return f"realtime scheduling is not available on {sys.platform}"
        if threading.current_thread() is not threading.main_thread():
            return "realtime is only asked for on the main thread"
        if _policy() in (os.SCHED_FIFO, os.SCHED_RR):
            return ""  # already realtime (chrt, a realtime session): left as it is
        old_policy, old_param = os.sched_getscheduler(0), os.sched_getparam(0)
        old_limit = resource.getrlimit(resource.RLIMIT_RTTIME)
        soft = int(self.cpu_limit_s * 1e6)
        if old_limit[1] != resource.RLIM_INFINITY:
            soft = min(soft, old_limit[1])
        old_handler = signal.signal(signal.SIGXCPU, self._on_cpu_limit)
        try:
            resource.setrlimit(resource.RLIMIT_RTTIME, (soft, old_limit[1]))
            os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(self.priority))
        except OSError as exc:
            signal.signal(signal.SIGXCPU, old_handler)
            try:
                resource.setrlimit(resource.RLIMIT_RTTIME, old_limit)
            except OSError:
                pass
            why = "not permitted" if isinstance(exc, PermissionError) else exc.strerror or str(exc)
            return f"realtime scheduling {why}: {HOW_TO_GRANT}"
        self._saved = (old_policy, old_param, old_handler, old_limit)
        return ""

    def _on_cpu_limit(self, signum, frame) -> None:
        """``SIGXCPU``: the show ran :attr:`cpu_limit_s` without sleeping — back to ordinary scheduling."""
        if self._demoted or self._saved is None:
            return
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        self._demoted = True
        if not self.quiet:
            print(f"dancepose-live: the show ran {self.cpu_limit_s:g} s without a pause at realtime priority: "
                  f"back to normal priority", file=sys.stderr)

    def __exit__(self, *exc) -> None:
        if self._saved is None:
            return
        old_policy, old_param, old_handler, old_limit = self._saved
        self._saved = None
        os.sched_setscheduler(0, old_policy, old_param)  # lowering is always allowed
        signal.signal(signal.SIGXCPU, old_handler)
        try:
            resource.setrlimit(resource.RLIMIT_RTTIME, old_limit)
        except OSError:
            pass
