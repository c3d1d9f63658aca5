"""The shared CLI policy (models/cli.py): real signals to real processes, errors as one line."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

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
    assert "\r" not in text
    assert 1 <= text.count("\n") <= 3 and "1000/1000" in text


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
