"""What the live benchmarks (``live.py``, ``soak.py``) share: busy-loop neighbours and what /proc says of a
show and its children (the recorder process and its ffmpeg).  Imported by the scripts beside it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: What ``dancepose-live`` prints when the show is over and only the recording is being finished.
SHOW_OVER = "finishing the recording"


def busy_loop(*, own_session: bool = True) -> subprocess.Popen:
    """A busy-loop neighbour (``python -c 'while True: pass'``).  In its own session by default, as another
    application is: with the kernel's scheduling autogroups (on by default on desktop Linux) a busy loop in
    the show's own session shares the show's slice of the machine, which no browser or DAW does."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=own_session)


def stop(procs: list[subprocess.Popen]) -> None:
    """Kill the neighbours still running and reap them."""
    for b in procs:
        if b.poll() is None:
            b.kill()
            b.wait()


def status_kib(pid: int, field: str) -> int:
    """A memory line of ``/proc/PID/status`` in KiB (``"VmRSS"``, ``"VmHWM"`` …); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (none once it is gone)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
