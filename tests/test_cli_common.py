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
