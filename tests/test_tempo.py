"""The one tempo authority (models/tempo.py): one range for --bpm, held and outside tempi; outside tempi
folded, never fatal; the range checked by the command line before anything opens."""
from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest

from dancepose.models.beat import BeatConfig
from dancepose.models.errors import ParameterError
from dancepose.models.features import FeatureStream
from dancepose.models.tempo import MAX_BPM, MIN_BPM, TempoAuthority, check_bpm, fold_bpm

from live_helpers import click_track, live_cmd, live_env, model_args


@pytest.mark.parametrize("outside, folded", [(230.0, 115.0), (40.0, 80.0), (500.0, 125.0), (20.0, 80.0),
                                             (MIN_BPM, MIN_BPM), (MAX_BPM, MAX_BPM), (216.0, 108.0),
                                             (54.0, 108.0), (120.0, 120.0)])
def test_fold_to_the_musical_multiple_inside_the_range(outside, folded):
    assert fold_bpm(outside) == pytest.approx(folded)
    assert math.log2(folded / outside) == pytest.approx(round(math.log2(folded / outside)))  # octaves only


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -120.0, None, "fast"])
def test_what_is_no_tempo_folds_to_none(bad):
    assert fold_bpm(bad) is None


def test_one_range_for_the_tracker_and_the_user():
    assert (BeatConfig().min_bpm, BeatConfig().max_bpm) == (MIN_BPM, MAX_BPM)
    assert check_bpm(MIN_BPM) == MIN_BPM and check_bpm("128") == 128.0
    for bad in (MIN_BPM - 1, MAX_BPM + 1, float("nan"), "x"):
        with pytest.raises(ParameterError, match="--bpm must be"):
            check_bpm(bad)


def test_authority_holds_follows_folds_and_releases():
    stream = FeatureStream()
    tempo = TempoAuthority(features=stream, bpm=100.0)
    assert tempo.held.bpm == 100.0 and tempo.held.source == "--bpm" and stream.tempo_bpm == 100.0
    hold = tempo.follow(230.0, source="Link")  # a drum-and-bass session
    assert hold.bpm == 115.0 and hold.ratio == 0.5 and stream.tempo_bpm == 115.0
    assert tempo.note == "Link 230 BPM, half time" and tempo.held is hold
    assert tempo.follow(float("nan"), source="Link") is None  # ignored, with a note; the hold stays
    assert "ignored" in tempo.note and tempo.held is hold and stream.tempo_bpm == 115.0
    tempo.follow(133.0, source="Link")
    assert stream.tempo_bpm == 133.0 and tempo.note == ""
    tempo.release("Link")  # the last peer left: back to the user's --bpm
    assert tempo.held.bpm == 100.0 and stream.tempo_bpm == 100.0
    tempo.hold(None)
    assert tempo.held is None
    with pytest.raises(ParameterError, match="between 55 and 215"):
        tempo.hold(300.0)


def test_taps_outside_the_range_fold_instead_of_clipping():
    """Taps at 230 BPM (eighths of a 115 beat) set 115, not the range's edge 215."""
    y, _ = click_track(seconds=6.0, bpm=115.0)
    stream = FeatureStream()
    stream.process(y)
    now = stream.frames_done / 30.0
    for k in range(6):
        stream.tap(now - 2.0 + k * 60.0 / 230.0)
    assert stream.tempo_bpm == pytest.approx(115.0, rel=0.01)


def test_bpm_outside_the_range_exits_2_before_anything_opens(tmp_path):
    """--bpm was checked twice with two ranges (20–400, then 55–215 after the window, audio and sinks were
    open, outside the clean-up).  Now argparse checks the one range: exit 2, nothing opened or written."""
    for bpm in ("300", "40", "nan"):
        t0 = time.monotonic()
        r = subprocess.run(live_cmd("--input", "demo", "--headless", "--sim-clock", "--duration", "2",
                                    "--record", str(tmp_path / "r.mp4"), "--bpm", bpm),
                           env=live_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().splitlines()[-1].endswith(f"argument --bpm: must be between 55 and 215 BPM, "
                                                          f"got {bpm}")
        assert time.monotonic() - t0 < 10
    assert list(tmp_path.iterdir()) == []
    r = subprocess.run(live_cmd("--help"), env=live_env(), capture_output=True, text=True, timeout=60)
    assert "55–215" in " ".join(r.stdout.split())


@pytest.fixture
def link_peer():
    """A second, real Ableton Link peer in its own process; ``start(bpm)`` sets its session tempo."""
    pytest.importorskip("link", reason="LinkPython-extern is a dependency of dancepose")
    procs = []
    code = ("import sys, time, link\n"
            "bpm = float(sys.argv[1]); lk = link.Link(bpm); lk.enabled = True\n"
            "while True:\n"
            "    st = lk.captureAppSessionState()\n"
            "    if abs(st.tempo() - bpm) > 1e-6:\n"
            "        st.setTempo(bpm, lk.clock().micros()); lk.commitAppSessionState(st)\n"
            "    time.sleep(0.05)\n")

    def start(bpm: float) -> None:
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(bpm)]))

    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("session, danced", [(230.0, 115.0), (40.0, 80.0)])
def test_live_with_a_link_peer_outside_the_range_keeps_dancing(link_peer, tmp_path, session, danced):
    """The issue's probe through the real command line: a Link peer at 230 or 40 BPM ended the show with
    exit 2 about 1.5 s in.  Now the show runs to the end, dancing at 115 or 80."""
    import csv

    link_peer(session)
    time.sleep(1.0)
    log = tmp_path / "t.csv"
    r = subprocess.run(live_cmd("--input", "demo", *model_args(), "--headless", "--sim-clock", "--link",
                                "--size", "320x240", "--duration", "6", "--log-timings", str(log), "-q"),
                       env=live_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    rows = list(csv.DictReader(log.open()))
    tempo = np.array([float(row["tempo_bpm"]) for row in rows])
    assert len(rows) >= 300
    assert np.mean(np.abs(tempo[-120:] - danced) < 0.01) == 1.0, tempo[-120:]
