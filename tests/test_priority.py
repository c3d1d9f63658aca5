"""realtime/priority.py: the show thread at SCHED_FIFO (only it, only while it performs), the CPU-time guard
that puts a runaway back to normal, and the one line when realtime is not granted.  Each case runs in its own
Python process: a scheduling policy and a signal handler are per process/thread state."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from live_helpers import rt_permitted

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_FIFO") or sys.platform != "linux",
                                reason="realtime scheduling is Linux's")

PR_CAPBSET_DROP, CAP_SYS_NICE = 24, 23  # <linux/prctl.h>, <linux/capability.h>


def _run(code: str, *, unprivileged: bool = False) -> subprocess.CompletedProcess:
    def drop() -> None:  # no CAP_SYS_NICE and no rtprio limit: an ordinary desktop user
        if os.geteuid() == 0:  # root keeps every capability left in its bounding set across exec
            import ctypes

            if ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0, 0) != 0:
                os._exit(97)
        resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          preexec_fn=drop if unprivileged else None, cwd="/")


_REPORT = """
import json, os, resource, signal, subprocess, sys, threading
from dancepose.realtime.priority import ShowPriority
R = os.SCHED_RESET_ON_FORK
def now():
    return [os.sched_getscheduler(0) & ~R, os.sched_getparam(0).sched_priority,
            list(resource.getrlimit(resource.RLIMIT_RTTIME)), signal.getsignal(signal.SIGXCPU) is signal.SIG_DFL]
out = {"before": now()}
with ShowPriority(want=WANT) as sp:
    out["inside"] = now()
    seen = {}
    th = threading.Thread(target=lambda: seen.update(p=os.sched_getscheduler(0) & ~R))
    th.start(); th.join()
    out["thread"] = seen["p"]
    child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                           capture_output=True, text=True)
    out["child"] = int(child.stdout)
    out["state"] = [sp.state.granted, sp.state.describe()]
out["after"] = now()
print(json.dumps(out))
"""


def test_the_show_thread_alone_is_realtime_and_everything_is_restored():
    if not rt_permitted():
        pytest.skip("this user may not set realtime priority (not root, RLIMIT_RTPRIO 0)")
    proc = _run(_REPORT.replace("WANT", '"realtime"'))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # granted: nothing said
    out = json.loads(proc.stdout)
    assert out["inside"][:2] == [os.SCHED_FIFO, 1]
    assert out["inside"][2][0] == 500_000 and out["inside"][3] is False  # the CPU-time guard is armed
    assert out["thread"] == os.SCHED_OTHER  # threads and processes it starts are ordinary (reset on fork)
    assert out["child"] == os.SCHED_OTHER
    assert out["state"] == [True, "realtime priority"]
    assert out["after"] == out["before"] and out["before"][:2] == [os.SCHED_OTHER, 0]


def test_normal_asks_for_nothing():
    proc = _run(_REPORT.replace("WANT", '"normal"'))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    out = json.loads(proc.stdout)
    assert out["inside"] == out["before"] == out["after"]
    assert out["state"] == [False, "normal priority"]


def test_not_granted_runs_normal_and_says_so_in_one_line():
    proc = _run(_REPORT.replace("WANT", '"realtime"'), unprivileged=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["inside"] == out["before"] == out["after"]  # policy, limit and handler untouched
    assert out["state"] == [False, "normal priority (realtime not granted)"]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dancepose-live: running at normal priority (realtime scheduling not permitted")
    assert "rtprio" in lines[0]


def test_a_show_thread_that_never_sleeps_is_put_back_to_normal():
    """The ``RLIMIT_RTTIME`` guard: 0.1 s of realtime CPU without a pause → SIGXCPU → ordinary policy, one
    line, and the process lives on."""
    if not rt_permitted():
        pytest.skip("this user may not set realtime priority (not root, RLIMIT_RTPRIO 0)")
    code = """
import json, os, time
from dancepose.realtime.priority import ShowPriority
with ShowPriority(cpu_limit_s=0.1) as sp:
    t0 = time.monotonic()
    while not sp.state.demoted and time.monotonic() - t0 < 5.0:
        pass
    spun = time.monotonic() - t0
    policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    print(json.dumps([sp.state.demoted, policy, spun, sp.state.describe()]))
"""
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    demoted, policy, spun, text = json.loads(proc.stdout)
    assert demoted and policy == os.SCHED_OTHER
    assert 0.1 <= spun < 2.0
    assert text == "realtime priority until it ran too long without a pause"
    assert proc.stderr.strip() == ("dancepose-live: the show ran 0.1 s without a pause at realtime priority: "
                                   "back to normal priority")


def test_bad_priority_values():
    from dancepose.models.errors import ParameterError
    from dancepose.realtime.live import LiveConfig
    from dancepose.realtime.priority import ShowPriority

    with pytest.raises(ParameterError, match="--priority must be one of realtime, normal"):
        LiveConfig(priority="high")
    with pytest.raises(ParameterError):
        ShowPriority(priority=0)
    with pytest.raises(ParameterError):
        ShowPriority(cpu_limit_s=0)
