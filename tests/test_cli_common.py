"""The shared CLI policy (models/cli.py): real signals to real processes, errors as one line."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dancepose.models.cli import progress

SCRIPT = r"""
import argparse, sys, time
from dancepose.models.cli import run_cli
from dancepose.models.outputs import atomic_output

def work(args):
    with atomic_output(args.out) as tmp:
        tmp.write_text("partial")
        print("ready", flush=True)
        time.sleep(60)
    return 0

p = argparse.ArgumentParser(); p.add_argument("out")
sys.exit(run_cli(work, p.parse_args(), prog="t"))
"""


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_cleans_temp_and_exits_128_plus_signal(tmp_path, sig, code):
    out = tmp_path / "x.txt"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == code
    assert "interrupted" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_progress_writes_lines_not_carriage_returns():
    buf = io.StringIO()  # not a TTY
    for _ in progress(range(1000), file=buf, desc="work"):
        pass
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert 1 <= text.count("\n") <= 3 and "1000/1000" in text


def test_progress_in_a_log_is_not_a_line_per_batch():
    """Issue 17: training refreshes its bar every batch (``set_postfix``), and each refresh was a line in a
    log — 264 lines for one ``dancepose run``.  Now the first and the last line of a fast bar."""
    buf = io.StringIO()
    bar = progress(total=264, desc="epoch 1/1", unit="batch", file=buf)
    for _ in range(264):
        bar.set_postfix(loss="0.1234")
        bar.update()
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and "0/264" in lines[0] and "264/264" in lines[-1] and "loss=0.1234" in lines[-1]


def test_progress_in_a_log_at_most_every_5_s_or_10_percent():
    """A slow bar (7 s): lines no closer than 5 s apart (the last excepted), each after at least 10 % more."""
    buf = io.StringIO()
    stamps = []

    class Stamped(io.StringIO):
        def write(self, text):
            stamps.append(time.monotonic())
            return buf.write(text)

    for _ in progress(range(70), desc="slow", file=Stamped()):
        time.sleep(0.1)
    lines = buf.getvalue().splitlines()
    assert 3 <= len(lines) <= 4, lines
    gaps = np.diff(stamps[:-1])
    assert (gaps >= 4.9).all(), gaps
    done = [int(ln.split("|")[2].split("/")[0]) for ln in lines]
    assert all(b - a >= 7 for a, b in zip(done, done[1:])), done


EARLY = r"""
import argparse, os, signal, sys
from dancepose.models.cli import run_cli

class SignalOnImport:
    # Times a real SIGTERM to land while numpy's C code imports "datetime" (PyCapsule_Import), which
    # turns the KeyboardInterrupt into an ImportError: what dancepose-live met when signalled early.
    def find_spec(self, name, path=None, target=None):
        if name == "datetime":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGTERM)
        return None

def work(args):
    assert "numpy" not in sys.modules and "datetime" not in sys.modules
    sys.meta_path.insert(0, SignalOnImport())
    import numpy  # noqa: F401
    return 0

sys.exit(run_cli(work, argparse.Namespace(), prog="t"))
"""


def test_signal_during_imports_is_an_interruption_not_a_traceback():
    """A signal that arrives while C code imports a module (as in the first seconds of dancepose-live):
    whatever exception it becomes on its way up, the command exits 143 with one line."""
    r = subprocess.run([sys.executable, "-c", EARLY], capture_output=True, text=True, timeout=60)
    assert r.returncode == 143, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines() == ["t: interrupted (SIGTERM)"]
